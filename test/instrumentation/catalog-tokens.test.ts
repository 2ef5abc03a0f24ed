/**
 * The tool catalog's token counts on a tools/list span, with a real SDK server and client:
 * one positive count per tool, summing to the catalog total, and a longer description costs more.
 */
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ATTR, EVENT } from '../../contract/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import { createTracing, serverSpans } from '../support/tracing.js';

const { provider, exporter, waitForSpans } = createTracing();
const open: Array<{ close(): Promise<void> }> = [];

const LONG_DESCRIPTION =
  'Looks up the current weather for a city and returns the temperature in degrees Celsius, the wind speed in ' +
  'kilometres per hour, the relative humidity and a short forecast for the next six hours, as plain text.';

function createServer(): McpServer {
  const server = new McpServer({ name: 'catalog', version: '1.0.0' });
  const text = (t: string) => ({ content: [{ type: 'text' as const, text: t }] });
  server.registerTool('short_a', { description: 'Echo.', inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  server.registerTool('short_b', { description: 'Echo.', inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  server.registerTool('long_a', { description: LONG_DESCRIPTION, inputSchema: { text: z.string() } }, async ({ text: t }) => text(t));
  return server;
}

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await provider.shutdown();
});

beforeEach(async () => {
  await flush(provider);
  exporter.reset();
});

describe('catalog tokens on tools/list', () => {
  it('gives each tool a positive count, summing to the total; a longer description counts more', async () => {
    const server = instrumentServer(createServer());
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await server.connect(serverTransport);
    const client = new Client({ name: 'catalog-client', version: '1.0.0' });
    await client.connect(clientTransport);
    open.push(client, server);

    const { tools } = await client.listTools();
    // Counts come from the token worker after the answer; the span ends once they are in.
    const spans = await waitForSpans((s) => serverSpans(s, 'tools/list').length === 1, 15_000);
    const list = serverSpans(spans, 'tools/list')[0]!;
    expect(list.attributes[ATTR.TOKENS_NOT_COUNTED]).toBeUndefined();
    const perTool = new Map(
      list.events
        .filter((e) => e.name === EVENT.CATALOG_TOOL)
        .map((e) => [e.attributes?.[ATTR.GEN_AI_TOOL_NAME], Number(e.attributes?.[ATTR.TOKENS_CATALOG])]),
    );
    expect([...perTool.keys()].sort()).toEqual(tools.map((t) => t.name).sort());
    for (const tokens of perTool.values()) expect(tokens).toBeGreaterThan(0);
    const sum = [...perTool.values()].reduce((n, t) => n + t, 0);
    expect(list.attributes[ATTR.TOKENS_CATALOG]).toBe(sum);
    expect(list.attributes[ATTR.CATALOG_TOOL_COUNT]).toBe(3);
    // Same schema, same description length: same count; the long description costs more.
    expect(perTool.get('short_a')).toBe(perTool.get('short_b'));
    expect(perTool.get('long_a')).toBeGreaterThan(perTool.get('short_a')!);
  });
});
