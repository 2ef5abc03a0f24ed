/** instrumentClient on an SDK v2 `Client` (`@modelcontextprotocol/client`) against a v2 server over its InMemoryTransport. */
import { afterAll, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/client';
import { InMemoryTransport, Server } from '@modelcontextprotocol/server';
import { ATTR, type ViolationKind } from '../../contract/index.js';
import { instrumentClient, instrumentServer, withModel } from '../../instrumentation/index.js';
import { createTracing } from '../support/tracing.js';
import { ORDER_SCHEMA, pairOf } from './client-fixture.js';

const { provider, waitForSpans } = createTracing();

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
  } finally {
    await client.close();
    await server.close();
  }
});
