/**
 * The client's view of malformed calls equals the server's: one corpus of calls, graded on the
 * agent's CLIENT span (against the tools the client listed) and on the server's SERVER span.
 */
import { afterAll, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ATTR, MCP_METHOD, VIOLATION_KINDS } from '../../contract/index.js';
import { instrumentClient, instrumentServer } from '../../instrumentation/index.js';
import { createTracing } from '../support/tracing.js';
import { pairOf } from './client-fixture.js';

const { provider, waitForSpans } = createTracing();

const SHIPMENT_SCHEMA = {
  type: 'object',
  properties: {
    order_id: { type: 'string', pattern: '^ORD-[0-9]+$' },
    quantity: { type: 'integer', minimum: 1, maximum: 100 },
    email: { type: 'string', format: 'email' },
    speed: { enum: ['standard', 'express'] },
    address: {
      type: 'object',
      properties: { zip: { type: 'string', maxLength: 5 }, country: { type: 'string', minLength: 2, maxLength: 2 } },
      required: ['zip'],
      additionalProperties: false,
    },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
    gift: { type: 'boolean' },
  },
  required: ['order_id', 'quantity'],
  additionalProperties: false,
};

const GOOD = { order_id: 'ORD-1', quantity: 2 };
const CORPUS: Array<{ name: string; arguments?: unknown }> = [
  { name: 'ship', arguments: GOOD },
  {
    name: 'ship',
    arguments: { ...GOOD, email: 'a@example.com', speed: 'express', address: { zip: '12345', country: 'DE' }, tags: ['a'], gift: true },
  },
  { name: 'ship', arguments: { quantity: 2 } },
  { name: 'ship', arguments: {} },
  { name: 'ship', arguments: { order_id: null, quantity: 2 } },
  { name: 'ship', arguments: { order_id: 'ORD-1', quantity: '2' } },
  { name: 'ship', arguments: { order_id: 'ORD-1', quantity: 2.5 } },
  { name: 'ship', arguments: { order_id: 'ORD-1', quantity: 0 } },
  { name: 'ship', arguments: { order_id: 'ORD-1', quantity: 101 } },
  { name: 'ship', arguments: { order_id: 'order-1', quantity: 2 } },
  { name: 'ship', arguments: { ...GOOD, email: 'not-an-email' } },
  { name: 'ship', arguments: { ...GOOD, speed: 'overnight' } },
  { name: 'ship', arguments: { ...GOOD, address: { country: 'DE' } } },
  { name: 'ship', arguments: { ...GOOD, address: { zip: '1234567' } } },
  { name: 'ship', arguments: { ...GOOD, address: 'Main Street 1' } },
  { name: 'ship', arguments: { ...GOOD, address: { zip: '12345', street: 'Main' } } },
  { name: 'ship', arguments: { ...GOOD, tags: ['a', 'b', 'c', 'd'] } },
  { name: 'ship', arguments: { ...GOOD, tags: [1, 2] } },
  { name: 'ship', arguments: { ...GOOD, gift: 'yes' } },
  { name: 'ship', arguments: { ...GOOD, priority: 'high' } },
  { name: 'ship', arguments: { quantity: 'many', speed: 'overnight', extra: 1 } },
  { name: 'ship', arguments: ['ORD-1', 2] },
  { name: 'ship_fast', arguments: GOOD },
  { name: 'ship', arguments: { order_id: 'ORD-1', quantity: 2, address: { zip: null } } },
];

afterAll(async () => {
  await provider.shutdown();
});

it('grades every call of a corpus the same on the client and the server span (kind, count, paths, undeclared)', async () => {
  const server = new Server({ name: 'shipping', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [{ name: 'ship', inputSchema: SHIPMENT_SCHEMA as never }] }));
  // Checks nothing: every call reaches the handler, so both sides grade the same arguments.
  server.setRequestHandler(CallToolRequestSchema, async () => ({ content: [{ type: 'text', text: 'ok' }] }));
  instrumentServer(server, { countTokens: false });
  const client = instrumentClient(new Client({ name: 'agent', version: '1.0.0' }));
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  await client.connect(a);
  try {
    await client.listTools();
    for (const call of CORPUS)
      await client.request({ method: 'tools/call', params: call } as never, CallToolRequestSchema.shape.params).catch(() => undefined);
    const spans = await waitForSpans(
      (all) =>
        all.filter(
          (s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL && pairOf(all, s) !== undefined,
        ).length === CORPUS.length,
    );
    const calls = spans.filter((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL);
    const graded = (s: (typeof spans)[number]): unknown[] => [
      s.attributes[ATTR.VIOLATION_KIND],
      s.attributes[ATTR.VIOLATION_COUNT],
      s.attributes[ATTR.VIOLATION_PATHS],
      s.attributes[ATTR.ARGUMENTS_UNDECLARED],
    ];
    for (const c of calls)
      expect({ args: c.attributes[ATTR.JSONRPC_REQUEST_ID], ...graded(c) }).toEqual({
        args: c.attributes[ATTR.JSONRPC_REQUEST_ID],
        ...graded(pairOf(spans, c)!),
      });
    // The corpus exercises every violation kind.
    const kinds = new Set(calls.map((c) => c.attributes[ATTR.VIOLATION_KIND]));
    expect([...VIOLATION_KINDS].filter((k) => !kinds.has(k))).toEqual([]);
    expect(calls.filter((c) => c.attributes[ATTR.VIOLATION_KIND] === undefined)).toHaveLength(2);
  } finally {
    await client.close();
    await server.close();
  }
});
