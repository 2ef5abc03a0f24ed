import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
// SDK 1.15.x, still pinned by published servers: it answers bad arguments and unknown tools
// with JSON-RPC -32602 errors instead of isError results. Installed as the alias mcp-sdk-115.
import { createRequire } from 'node:module';
import { Client } from 'mcp-sdk-115/client/index.js';
import { InMemoryTransport } from 'mcp-sdk-115/inMemory.js';
import { McpServer } from 'mcp-sdk-115/server/mcp.js';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';
import { createTracing, serverSpans } from '../support/tracing.js';

// The zod 3 copy that SDK 1.15 itself uses.
const require = createRequire(createRequire(import.meta.url).resolve('mcp-sdk-115/server/mcp.js'));
const { z } = require('zod') as { z: { number(): unknown } };
const { provider, exporter, waitForSpans } = createTracing();
const open: Array<{ close(): Promise<void> }> = [];
afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await provider.shutdown();
});
beforeEach(() => exporter.reset());

describe('instrumentServer with SDK 1.15', () => {
  it('grades -32602 errors as rejected and classifies the violations all the same', async () => {
    const server = instrumentServer(new McpServer({ name: 'old', version: '1.0.0' }));
    server.tool(
      'add',
      { a: z.number(), b: z.number() } as never,
      (async ({ a, b }: { a: number; b: number }) => ({ content: [{ type: 'text', text: String(a + b) }] })) as never,
    );
    server.tool('fail', async () => {
      throw new Error('kaboom');
    });
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await server.connect(serverTransport);
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await client.connect(clientTransport);
    open.push(client, server);

    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    await expect(client.callTool({ name: 'add', arguments: { a: 1 } })).rejects.toThrow(/-32602/);
    await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/-32602/);
    await client.callTool({ name: 'fail', arguments: {} });
    const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 4);
    const calls = serverSpans(spans, 'tools/call').sort(
      (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
    );
    expect(calls.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'rejected', 'rejected', 'tool_error']);
    expect(calls.map((s) => s.attributes[ATTR.ERROR_TYPE])).toEqual([undefined, '-32602', '-32602', 'tool_error']);
    expect(calls.map((s) => s.attributes[ATTR.VIOLATION_KIND])).toEqual([undefined, 'missing_required', 'unknown_tool', undefined]);
    expect(calls[0]!.attributes[ATTR.GEN_AI_PROVIDER_NAME]).toBe('anthropic');
  });
});
