/**
 * Servers in other languages word their refusals their own way: FastMCP answers an unknown tool with
 * isError `Unknown tool: NAME` and invalid arguments with isError `Error executing tool NAME: 1 validation
 * error ...`. A call mcplens graded malformed and answered with an error is `rejected` whatever the text;
 * a well-formed call answered with an error stays `tool_error` / `error`.
 * A real SDK v1 low-level Server answering with FastMCP's texts, and a real Client over InMemoryTransport.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';

const DIVIDE = {
  name: 'divide',
  description: 'Divides a by b.',
  inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
};

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const server = new Server({ name: 'fastmcp-like', version: '1.0.0' }, { capabilities: { tools: {} } });
const client = new Client({ name: 'refusals-client', version: '1.0.0' });

const failed = (text: string) => ({ content: [{ type: 'text' as const, text }], isError: true });

// What FastMCP (Python) answers; `raise` stands for a handler whose exception becomes a JSON-RPC error.
server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [DIVIDE] }));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const { name, arguments: args = {} } = request.params;
  if (name !== DIVIDE.name) return failed(`Unknown tool: ${name}`);
  if (args.raise === true) throw new Error('internal failure');
  if (typeof args.b !== 'number') {
    return failed(
      'Error executing tool divide: 1 validation error for divideArguments\nb\n  Field required ' +
        "[type=missing, input_value={'a': 1}, input_type=dict]",
    );
  }
  if (args.b === 0) return failed('Error executing tool divide: division by zero');
  return { content: [{ type: 'text' as const, text: String(Number(args.a) / args.b) }] };
});
instrumentServer(server, { tracerProvider, countTokens: false });

beforeAll(async () => {
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  await client.connect(clientTransport);
});

afterAll(async () => {
  await client.close().catch(() => undefined);
  await server.close().catch(() => undefined);
});

async function callSpan(name: string, args: Record<string, unknown>): Promise<ReadableSpan> {
  exporter.reset();
  await client.callTool({ name, arguments: args }).catch(() => undefined); // a JSON-RPC error rejects
  const deadline = Date.now() + 10_000;
  for (;;) {
    const span = exporter.getFinishedSpans().find((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call');
    if (span !== undefined) return span;
    if (Date.now() > deadline) throw new Error('no tools/call span');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('error answers to calls mcplens graded malformed', () => {
  it.each([
    ['an unknown tool answered "Unknown tool: NAME"', 'nope', { a: 1, b: 2 }, 'unknown_tool', 'tool_error'],
    ['a missing argument answered "Error executing tool ...: 1 validation error"', 'divide', { a: 1 }, 'missing_required', 'tool_error'],
    ['a wrong type answered with a JSON-RPC error', 'divide', { a: 1, b: 'x', raise: true }, 'wrong_type', '-32603'],
  ])('%s is rejected, its status unset', async (_title, name, args, violation, errorType) => {
    const span = await callSpan(name, args);
    expect(span.attributes).toMatchObject({
      [ATTR.VIOLATION_KIND]: violation,
      [ATTR.OUTCOME]: 'rejected',
      [ATTR.ERROR_TYPE]: errorType,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a well-formed call answered isError stays tool_error', async () => {
    const span = await callSpan('divide', { a: 1, b: 0 });
    expect(span.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    expect(span.attributes).toMatchObject({ [ATTR.OUTCOME]: 'tool_error', [ATTR.ERROR_TYPE]: 'tool_error' });
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('a well-formed call answered with a JSON-RPC error stays error', async () => {
    const span = await callSpan('divide', { a: 1, b: 2, raise: true });
    expect(span.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    expect(span.attributes).toMatchObject({ [ATTR.OUTCOME]: 'error', [ATTR.ERROR_TYPE]: '-32603' });
  });

  it('a well-formed call answered ok is ok', async () => {
    const span = await callSpan('divide', { a: 1, b: 2 });
    expect(span.attributes[ATTR.OUTCOME]).toBe('ok');
  });
});
