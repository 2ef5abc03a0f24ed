/**
 * Span status of SERVER spans, as the MCP semantic conventions say: `error.type` on every failure,
 * status ERROR only for the server's own failures (a tool error, an internal error, no answer),
 * never for a caller's fault (rejected arguments, unknown tool or method), whichever way the SDK
 * answers it: SDK 1.3x with `isError` results and -32603 for non-object arguments, SDK 1.15 with
 * JSON-RPC -32602, v2 with `isError` results and JSON-RPC -32602.
 *
 * Each test has its own tracer provider and no token counting: spans end at the deferred drain
 * and nothing of another test can mix in.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from '@jest/globals';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, CallToolResultSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client115 } from 'mcp-sdk-115/client/index.js';
import { InMemoryTransport as InMemoryTransport115 } from 'mcp-sdk-115/inMemory.js';
import { McpServer as McpServer115 } from 'mcp-sdk-115/server/mcp.js';
import { CallToolResultSchema as CallToolResultSchema115 } from 'mcp-sdk-115/types.js';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { InMemoryTransport as InMemoryTransportV2, McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';

// The zod 3 copy that SDK 1.15 itself uses.
const require115 = createRequire(createRequire(import.meta.url).resolve('mcp-sdk-115/server/mcp.js'));
const { z: z3 } = require115('zod') as { z: { number(): unknown } };

/** Sends one request and ignores how it was answered (the span is what is checked). */
type Send = (method: string, params: Record<string, unknown>) => Promise<void>;

interface Session {
  send: Send;
  close(): Promise<void>;
  /** The session's tools/call and other spans, once `count` of them have ended, in request order. */
  spans(count: number): Promise<ReadableSpan[]>;
}

function tracing(): { tracerProvider: BasicTracerProvider; spans: (count: number) => Promise<ReadableSpan[]> } {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const spans = async (count: number): Promise<ReadableSpan[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ended = exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] !== 'initialize');
      if (ended.length >= count)
        return ended.sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
      if (Date.now() > deadline) throw new Error(`${count} spans did not end in 10 s; have ${ended.map((s) => s.name).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { tracerProvider, spans };
}

const swallow = async (answer: Promise<unknown>): Promise<void> => {
  await answer.catch(() => undefined);
};

/** SDK 1.3x McpServer: bad arguments and unknown tools are `isError` results, non-object arguments -32603. */
async function sdk1(): Promise<Session> {
  const { tracerProvider, spans } = tracing();
  const server = new McpServer({ name: 'calc', version: '1.0.0' });
  server.registerTool('add', { description: 'Add', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('fail', { description: 'Fails', inputSchema: {} }, async () => {
    throw new Error('kaboom');
  });
  instrumentServer(server, { tracerProvider, countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'status-client', version: '1.0.0' });
  await client.connect(clientTransport);
  return {
    send: (method, params) => swallow(client.request({ method, params } as never, CallToolResultSchema)),
    close: async () => {
      await client.close();
      await server.close();
    },
    spans,
  };
}

/** SDK 1.15 McpServer: bad arguments and unknown tools are JSON-RPC -32602 errors, non-object arguments -32603. */
async function sdk115(): Promise<Session> {
  const { tracerProvider, spans } = tracing();
  const server = new McpServer115({ name: 'calc', version: '1.0.0' });
  server.tool(
    'add',
    { a: z3.number(), b: z3.number() } as never,
    (async ({ a, b }: { a: number; b: number }) => ({ content: [{ type: 'text', text: String(a + b) }] })) as never,
  );
  server.tool('fail', async () => {
    throw new Error('kaboom');
  });
  instrumentServer(server, { tracerProvider, countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransport115.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client115({ name: 'status-client', version: '1.0.0' });
  await client.connect(clientTransport);
  return {
    send: (method, params) => swallow(client.request({ method, params } as never, CallToolResultSchema115)),
    close: async () => {
      await client.close();
      await server.close();
    },
    spans,
  };
}

/** SDK v2 McpServer: bad arguments are `isError` results, unknown tools and non-object arguments JSON-RPC -32602. */
async function sdk2(): Promise<Session> {
  const { tracerProvider, spans } = tracing();
  const server = new McpServerV2({ name: 'calc', version: '2.0.0' });
  server.registerTool('add', { description: 'Add', inputSchema: z.object({ a: z.number(), b: z.number() }) }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('fail', { description: 'Fails', inputSchema: z.object({}) }, async () => {
    throw new Error('kaboom');
  });
  instrumentServer(server, { tracerProvider, countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransportV2.createLinkedPair();
  await server.connect(serverTransport);
  const client = new ClientV2({ name: 'status-client', version: '1.0.0' });
  await client.connect(clientTransport);
  return {
    send: (method, params) => swallow(client.request({ method: method as 'tools/call', params })),
    close: async () => {
      await client.close();
      await server.close();
    },
    spans,
  };
}

const SDKS: Array<[string, () => Promise<Session>, { missing: string; unknown: string; string: string }]> = [
  ['SDK 1.3x', sdk1, { missing: 'tool_error', unknown: 'tool_error', string: '-32603' }],
  ['SDK 1.15', sdk115, { missing: '-32602', unknown: '-32602', string: '-32603' }],
  ['SDK v2', sdk2, { missing: 'tool_error', unknown: '-32602', string: '-32602' }],
];

const summary = (s: ReadableSpan): Record<string, unknown> => ({
  name: s.name,
  outcome: s.attributes[ATTR.OUTCOME],
  errorType: s.attributes[ATTR.ERROR_TYPE],
  status: s.status.code,
});

describe.each(SDKS)('span status with %s', (_name, connect, errorTypes) => {
  it('leaves the status unset on rejected calls and keeps error.type, whatever way the SDK answered', async () => {
    const session = await connect();
    await session.send('tools/call', { name: 'add', arguments: { a: 1 } }); // missing field
    await session.send('tools/call', { name: 'add', arguments: { a: '1', b: 2 } }); // wrong type
    await session.send('tools/call', { name: 'nope', arguments: {} }); // unknown tool
    await session.send('tools/call', { name: 'add', arguments: '{"a":1,"b":2}' }); // arguments as a JSON string
    const spans = await session.spans(4);
    expect(spans.map(summary)).toEqual([
      { name: 'tools/call add', outcome: 'rejected', errorType: errorTypes.missing, status: SpanStatusCode.UNSET },
      { name: 'tools/call add', outcome: 'rejected', errorType: errorTypes.missing, status: SpanStatusCode.UNSET },
      { name: 'tools/call nope', outcome: 'rejected', errorType: errorTypes.unknown, status: SpanStatusCode.UNSET },
      { name: 'tools/call add', outcome: 'rejected', errorType: errorTypes.string, status: SpanStatusCode.UNSET },
    ]);
    expect(spans.map((s) => s.attributes[ATTR.VIOLATION_KIND])).toEqual([
      'missing_required',
      'wrong_type',
      'unknown_tool',
      'not_an_object',
    ]);
    await session.close();
  });

  it('marks a throwing tool handler (tool_error) as an error; an unknown method (-32601) is a caller fault', async () => {
    const session = await connect();
    await session.send('tools/call', { name: 'add', arguments: { a: 1, b: 2 } });
    await session.send('tools/call', { name: 'fail', arguments: {} });
    await session.send('prompts/list', {}); // no prompts capability: method not found
    const spans = await session.spans(3);
    expect(spans.map(summary)).toEqual([
      { name: 'tools/call add', outcome: 'ok', errorType: undefined, status: SpanStatusCode.UNSET },
      { name: 'tools/call fail', outcome: 'tool_error', errorType: 'tool_error', status: SpanStatusCode.ERROR },
      { name: 'prompts/list', outcome: 'error', errorType: '-32601', status: SpanStatusCode.UNSET },
    ]);
    expect(spans[1]!.status.message).toBeUndefined(); // an isError result carries no JSON-RPC message
    expect(spans[2]!.attributes[ATTR.RPC_RESPONSE_STATUS_CODE]).toBe('-32601');
    await session.close();
  });
});

describe('span status of failures of the server itself (SDK 1.3x low-level Server)', () => {
  it('marks an internal error (-32603 from a throwing handler) and a request never answered as errors', async () => {
    const { tracerProvider, spans } = tracing();
    const server = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [
        { name: 'crash', inputSchema: { type: 'object' } },
        { name: 'hang', inputSchema: { type: 'object' } },
      ],
    }));
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      if (request.params.name === 'hang') return new Promise<never>(() => undefined);
      throw new Error('database unreachable');
    });
    instrumentServer(server, { tracerProvider, countTokens: false });
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await server.connect(serverTransport);
    const client = new Client({ name: 'status-client', version: '1.0.0' });
    await client.connect(clientTransport);
    await client.listTools();
    await expect(client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/-32603/);
    const hanging = client.callTool({ name: 'hang', arguments: {} }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.close(); // the transport closes before any answer
    await hanging;
    const [list, crash, hang] = await spans(3);
    expect(summary(list!)).toEqual({ name: 'tools/list', outcome: 'ok', errorType: undefined, status: SpanStatusCode.UNSET });
    expect(summary(crash!)).toEqual({ name: 'tools/call crash', outcome: 'error', errorType: '-32603', status: SpanStatusCode.ERROR });
    expect(crash!.status.message).toBe('database unreachable');
    expect(summary(hang!)).toEqual({ name: 'tools/call hang', outcome: 'error', errorType: 'no_response', status: SpanStatusCode.ERROR });
    await client.close();
  });
});
