/**
 * Calls that arrive before mcplens knows the tool catalog: grading waits for the server's own
 * tools/list handler. These tests force the interleavings with a real SDK 1.3x low-level Server
 * over InMemoryTransport whose tools/list handler is held until the test lets it answer.
 *
 * Each test has its own tracer provider and no token counting, so its spans end at the deferred
 * drain and nothing of another test (or a starved token worker) can mix in.
 */
import { describe, expect, it } from '@jest/globals';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';

const ORDER_SCHEMA = {
  type: 'object',
  properties: {
    sku: { type: 'string' },
    quantity: { type: 'integer', minimum: 1 },
    address: { type: 'object', properties: { zip: { type: 'string' } }, required: ['zip'] },
  },
  required: ['sku', 'quantity'],
};

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

type ToolList = Array<{ name: string; inputSchema: Record<string, unknown> }>;

/**
 * A low-level Server whose tools/list handler takes its list when asked and answers only when
 * `listGate` opens; its tools/call handler runs `onCall` and answers ok.
 */
async function start(
  tools: () => ToolList,
  listGate: Gate,
  onCall: (args: Record<string, unknown>) => void = () => undefined,
): Promise<{ client: Client; server: Server; spans: (n: number) => Promise<ReadableSpan[]>; listAsked: () => number }> {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const server = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
  let asked = 0;
  server.setRequestHandler(ListToolsRequestSchema, async () => {
    asked++;
    const listed = tools();
    await listGate.promise;
    return { tools: listed };
  });
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    onCall((request.params.arguments ?? {}) as Record<string, unknown>);
    return { content: [{ type: 'text', text: 'done' }] };
  });
  instrumentServer(server, { tracerProvider, countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'race-client', version: '1.0.0' });
  await client.connect(clientTransport);
  const spans = async (n: number): Promise<ReadableSpan[]> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const calls = exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call');
      if (calls.length >= n || Date.now() > deadline) {
        return calls.sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { client, server, spans, listAsked: () => asked };
}

async function stop(client: Client, server: Server): Promise<void> {
  await client.close().catch(() => undefined);
  await server.close().catch(() => undefined);
}

const violation = (span: ReadableSpan | undefined): unknown => span?.attributes[ATTR.VIOLATION_KIND];
const outcome = (span: ReadableSpan | undefined): unknown => span?.attributes[ATTR.OUTCOME];

describe('a call that arrives before the tool catalog is known', () => {
  it('is graded as it arrived, even when its nested arguments change before the catalog is loaded', async () => {
    const listGate = gate();
    // A handler consuming its input in place: over an in-memory transport the nested object
    // is the one the client sent (the SDK's request parsing copies only the top level).
    const { client, server, spans } = await start(
      () => [{ name: 'create_order', inputSchema: ORDER_SCHEMA }],
      listGate,
      (args) => {
        delete (args.address as Record<string, unknown>).zip;
      },
    );
    const result = await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 1, address: { zip: '12345' } } });
    expect(result.isError).toBeFalsy(); // answered before the catalog was loaded
    listGate.open();
    const [call] = await spans(1);
    expect(outcome(call)).toBe('ok');
    expect(violation(call)).toBeUndefined(); // the model's call was well formed
    await stop(client, server);
  });

  it('is graded as it arrived, even when the client reuses its arguments object for the next call', async () => {
    const listGate = gate();
    const { client, server, spans } = await start(() => [{ name: 'create_order', inputSchema: ORDER_SCHEMA }], listGate);
    const args: Record<string, unknown> = { sku: 'SKU-1', quantity: 2 };
    await client.callTool({ name: 'create_order', arguments: args });
    delete args.sku; // the in-memory transport handed the server this very object
    await client.callTool({ name: 'create_order', arguments: args });
    listGate.open();
    const calls = await spans(2);
    expect(calls.map(outcome)).toEqual(['ok', 'ok']);
    expect(calls.map(violation)).toEqual([undefined, 'missing_required']);
    await stop(client, server);
  });

  it('grades calls racing while one load is in flight against that load, asking the server once', async () => {
    const listGate = gate();
    const { client, server, spans, listAsked } = await start(() => [{ name: 'create_order', inputSchema: ORDER_SCHEMA }], listGate);
    const answers = Promise.all([
      client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 1 } }),
      client.callTool({ name: 'create_order', arguments: { quantity: 1 } }),
      client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: '1' } }),
      client.callTool({ name: 'nope', arguments: {} }),
    ]);
    await answers;
    listGate.open();
    const calls = await spans(4);
    expect(calls.map(outcome)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(calls.map(violation)).toEqual([undefined, 'missing_required', 'wrong_type', 'unknown_tool']);
    expect(listAsked()).toBe(1);
    await stop(client, server);
  });

  it('does not lose a tools/list_changed that comes while the catalog is loading', async () => {
    const listGate = gate();
    let tools: ToolList = [
      { name: 'add', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] } },
    ];
    const { client, server, spans, listAsked } = await start(() => tools, listGate);
    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }); // starts the load, which took the old list
    // The tool changes (b becomes optional) while that load is still waiting to answer.
    tools = [
      { name: 'add', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a'] } },
    ];
    await server.sendToolListChanged();
    listGate.open();
    await spans(1);
    await client.callTool({ name: 'add', arguments: { a: 1 } }); // well formed for the tool as it is now
    const calls = await spans(2);
    expect(calls.map(outcome)).toEqual(['ok', 'ok']);
    expect(calls.map(violation)).toEqual([undefined, undefined]);
    expect(listAsked()).toBe(2); // the list taken before the change was not kept as current
    await stop(client, server);
  });
});
