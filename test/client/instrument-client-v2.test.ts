/** instrumentClient on an SDK v2 `Client` (`@modelcontextprotocol/client`) against a v2 server over its InMemoryTransport. */
import { afterAll, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createMcpHandler, InMemoryTransport, Server } from '@modelcontextprotocol/server';
import { ATTR, type ViolationKind } from '../../contract/index.js';
import { instrumentClient, instrumentServer, withModel } from '../../instrumentation/index.js';
import { createTracing } from '../support/tracing.js';
import { ORDER_SCHEMA, pairOf } from './client-fixture.js';

const { provider, exporter, waitForSpans } = createTracing();

afterAll(async () => {
  await provider.shutdown();
});

it('traces a v2 client: server spans are children, model and grading as on v1', async () => {
  const server = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler('tools/list', async () => ({ tools: [{ name: 'create_order', inputSchema: ORDER_SCHEMA as never }] }));
  server.setRequestHandler('tools/call', async () => ({ content: [{ type: 'text' as const, text: 'created' }] }));
  instrumentServer(server, { countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(clientTransport);
  // After connect this time.
  instrumentClient(client);
  try {
    await withModel({ provider: 'openai', model: 'gpt-4.1' }, () =>
      client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 'three' } }),
    );
    const spans = await waitForSpans((all) => all.some((s) => s.kind === SpanKind.CLIENT && pairOf(all, s) !== undefined));
    const call = spans.find((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'create_order')!;
    const served = pairOf(spans, call)!;
    expect(served.spanContext().traceId).toBe(call.spanContext().traceId);
    expect(call.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe('gpt-4.1');
    expect(served.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe('gpt-4.1');
    expect(call.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type' satisfies ViolationKind);
    expect(call.attributes[ATTR.VIOLATION_KIND]).toBe(served.attributes[ATTR.VIOLATION_KIND]);
    expect(call.attributes[ATTR.SERVER_NAME]).toBe('orders');
  } finally {
    await client.close();
    await server.close();
  }
});

it('names the called server on a 2026-07-28 connection (server/discover, no initialize)', async () => {
  // The modern era is served by the SDK's HTTP entry; the client's HTTP transport reaches it through its `fetch` option.
  const handler = createMcpHandler(() => {
    const server = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler('tools/list', async () => ({ tools: [{ name: 'create_order', inputSchema: ORDER_SCHEMA as never }] }));
    server.setRequestHandler('tools/call', async () => ({ content: [{ type: 'text' as const, text: 'created' }] }));
    return server;
  });
  const transport = new StreamableHTTPClientTransport(new URL('http://127.0.0.1/mcp'), {
    fetch: (url, init) => handler.fetch(new Request(url, init)),
  });
  exporter.reset();
  const client = instrumentClient(new Client({ name: 'agent', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } }));
  await client.connect(transport);
  try {
    expect(client.getProtocolEra()).toBe('modern');
    await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-2', quantity: 1 } });
    const spans = await waitForSpans((all) =>
      all.some((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'create_order'),
    );
    const ofClient = spans.filter((s) => s.kind === SpanKind.CLIENT);
    const call = ofClient.find((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'create_order')!;
    expect(call.attributes[ATTR.SERVER_NAME]).toBe('orders');
    // The probe's own span: the name comes from its answer's `_meta` serverInfo.
    const discover = ofClient.find((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'server/discover');
    expect(discover?.attributes[ATTR.SERVER_NAME]).toBe('orders');
    expect(ofClient.some((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'initialize')).toBe(false);
  } finally {
    await client.close();
  }
});
