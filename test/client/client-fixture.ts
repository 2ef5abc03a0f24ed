import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { instrumentClient, instrumentServer, type ClientInstrumentOptions } from '../../instrumentation/index.js';

export const ORDER_SCHEMA = {
  type: 'object',
  properties: { sku: { type: 'string', pattern: '^SKU-' }, quantity: { type: 'integer', minimum: 1 } },
  required: ['sku', 'quantity'],
  additionalProperties: false,
};

/** A v1 low-level server (checks no arguments) with `create_order` and `echo_meta`, which answers the `_meta` it received. */
function createServer(): Server {
  const server = new Server({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: 'create_order', inputSchema: ORDER_SCHEMA as never },
      { name: 'echo_meta', inputSchema: { type: 'object', properties: { delayMs: { type: 'number' } } } },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name, arguments: args, _meta } = request.params;
    if (name === 'create_order') return { content: [{ type: 'text', text: 'created' }] };
    if (name === 'echo_meta') {
      const delay = typeof args?.delayMs === 'number' ? args.delayMs : 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      return { content: [{ type: 'text', text: JSON.stringify(_meta ?? {}) }] };
    }
    return { isError: true, content: [{ type: 'text', text: `Unknown tool: ${name}` }] };
  });
  return server;
}

/** A real v1 client and server over InMemoryTransport, both instrumented (the client before `connect()`). */
export async function connectPair(options?: ClientInstrumentOptions): Promise<{ client: Client; close(): Promise<void> }> {
  const server = instrumentServer(createServer(), { countTokens: false });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = instrumentClient(new Client({ name: 'agent', version: '1.0.0' }), options);
  await client.connect(clientTransport);
  return {
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** The `_meta` echo_meta answered. */
export function echoedMeta(result: unknown): Record<string, unknown> {
  const content = (result as { content: Array<{ text: string }> }).content;
  return JSON.parse(content[0]!.text) as Record<string, unknown>;
}

/** The CLIENT span of one request id and the SERVER span whose parent it is. */
export function pairOf(spans: ReadableSpan[], client: ReadableSpan): ReadableSpan | undefined {
  return spans.find((s) => s.kind === SpanKind.SERVER && s.parentSpanContext?.spanId === client.spanContext().spanId);
}
