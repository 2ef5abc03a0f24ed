import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SpanKind, trace } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';
import { createTracing, serverSpans } from '../support/tracing.js';

const { provider, exporter, waitForSpans } = createTracing();
const open: Array<{ close(): Promise<void> }> = [];

function createServer(): McpServer {
  const server = new McpServer({ name: 'calc-v2', version: '2.0.0' });
  server.registerTool('add', { description: 'Add two numbers', inputSchema: z.object({ a: z.number(), b: z.number() }) }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('fail', { description: 'Always fails', inputSchema: z.object({}) }, async () => {
    throw new Error('kaboom');
  });
  server.registerTool('traced', { description: 'Makes its own span', inputSchema: z.object({}) }, async () => {
    trace.getTracer('app').startSpan('db.query').end();
    return { content: [{ type: 'text', text: 'ok' }] };
  });
  return server;
}

async function connect(server: McpServer): Promise<Client> {
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'gemini-cli', version: '1.0.0' });
  await client.connect(clientTransport);
  open.push(client, server);
  return client;
}

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

describe('instrumentServer with SDK v2 (@modelcontextprotocol/server)', () => {
  it('records SERVER spans with outcome, violations and provider', async () => {
    const client = await connect(instrumentServer(createServer()));
    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    await client.callTool({ name: 'add', arguments: { a: 1 } });
    await client.callTool({ name: 'fail', arguments: {} });
    await client.callTool({ name: 'nope', arguments: {} }).catch(() => undefined); // v2: a real -32602 error
    const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 4);
    const calls = serverSpans(spans, 'tools/call').sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
    const [ok, missing, failed, unknown] = calls;
    expect(ok!.kind).toBe(SpanKind.SERVER);
    expect(ok!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'ok', [ATTR.GEN_AI_PROVIDER_NAME]: 'gcp.gemini', [ATTR.PROVIDER_SOURCE]: 'client_info' });
    expect(ok!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    expect(missing!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.ERROR_TYPE]: 'tool_error', [ATTR.VIOLATION_KIND]: 'missing_required' });
    expect(missing!.attributes[ATTR.VIOLATION_PATHS]).toEqual(['/b']);
    expect(failed!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'tool_error', [ATTR.ERROR_TYPE]: 'tool_error' });
    expect(unknown!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.ERROR_TYPE]: '-32602', [ATTR.VIOLATION_KIND]: 'unknown_tool' });
  });

  it('makes the handler span a child of the request span', async () => {
    const client = await connect(instrumentServer(createServer()));
    await client.callTool({ name: 'traced', arguments: {} });
    const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1 && s.some((x) => x.name === 'db.query'));
    const call = serverSpans(spans, 'tools/call')[0]!;
    expect(spans.find((s) => s.name === 'db.query')!.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
  });
});
