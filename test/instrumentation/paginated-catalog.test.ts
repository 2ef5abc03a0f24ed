/**
 * A server whose tools/list is paginated (two tools a page, `nextCursor`): calls are graded against
 * every page, whichever pages the client read, and the catalog tokens on tools/list spans sum all pages.
 * A real SDK v1 low-level Server, instrumented with instrumentServer, and a real Client over InMemoryTransport.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ATTR, EVENT } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';

/** Six tools, each with a schema of its own (so their catalog token counts differ): pages 1, 2, 3 of two. */
const TOOLS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'].map((name, i) => ({
  name,
  description: `Tool ${name}: ${'does something useful. '.repeat(i + 1)}`,
  inputSchema: {
    type: 'object',
    properties: { count: { type: 'integer' }, [`${name}_label`]: { type: 'string' } },
    required: ['count'],
  },
}));

interface Started {
  client: Client;
  /** Cursors the tools/list handler was asked with, in order (undefined: first page). */
  cursors: Array<string | undefined>;
  /** Finished spans of one method, in request-id order, once `n` of them are in. */
  spans: (method: string, n: number) => Promise<ReadableSpan[]>;
}

const open: Array<{ close(): Promise<void> }> = [];

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
});

/** A low-level server listing TOOLS `pageSize` at a time; its call handler answers ok for a listed tool. */
async function start(pageSize: number, countTokens = false): Promise<Started> {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const server = new Server({ name: 'paged', version: '1.0.0' }, { capabilities: { tools: {} } });
  const cursors: Array<string | undefined> = [];
  server.setRequestHandler(ListToolsRequestSchema, async (request) => {
    const cursor = request.params?.cursor;
    cursors.push(cursor);
    const from = cursor === undefined ? 0 : Number(cursor);
    const to = from + pageSize;
    return { tools: TOOLS.slice(from, to), ...(to < TOOLS.length ? { nextCursor: String(to) } : {}) };
  });
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const known = TOOLS.some((t) => t.name === request.params.name);
    return known
      ? { content: [{ type: 'text', text: 'done' }] }
      : { content: [{ type: 'text', text: `no tool ${request.params.name}` }], isError: true };
  });
  instrumentServer(server, { tracerProvider, countTokens });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await server.connect(serverTransport);
  const client = new Client({ name: 'paged-client', version: '1.0.0' });
  await client.connect(clientTransport);
  open.push(client, server);
  const spans = async (method: string, n: number): Promise<ReadableSpan[]> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === method);
      if (found.length >= n || Date.now() > deadline) {
        return found.sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { client, cursors, spans };
}

const graded = (span: ReadableSpan | undefined): unknown[] => [
  span?.attributes[ATTR.GEN_AI_TOOL_NAME],
  span?.attributes[ATTR.VIOLATION_KIND],
];

describe('a paginated tool catalog', () => {
  it('grades a page-1 tool and a page-3 tool after the client listed pages 1 and 2', async () => {
    const { client, cursors, spans } = await start(2);
    const page1 = await client.listTools();
    expect(page1.nextCursor).toBe('2');
    const page2 = await client.listTools({ cursor: page1.nextCursor });
    expect(page2.tools.map((t) => t.name)).toEqual(['charlie', 'delta']);

    await client.callTool({ name: 'alpha', arguments: { count: 1 } });
    await client.callTool({ name: 'echo', arguments: { count: 'one' } });
    const calls = await spans('tools/call', 2);
    expect(calls.map(graded)).toEqual([
      ['alpha', undefined],
      ['echo', 'wrong_type'],
    ]);
    expect(calls[0]!.attributes[ATTR.OUTCOME]).toBe('ok');
    // The page-1 tool was graded from the pages seen; the page-3 one made mcplens read on from the last cursor only.
    expect(cursors).toEqual([undefined, '2', '4']);
  });

  it('grades a call that comes before any list against every page', async () => {
    const { client, cursors, spans } = await start(2);
    await client.callTool({ name: 'foxtrot', arguments: { count: 3 } });
    await client.callTool({ name: 'bravo', arguments: {} });
    await client.callTool({ name: 'delta', arguments: { count: 2 } });
    const calls = await spans('tools/call', 3);
    expect(calls.map(graded)).toEqual([
      ['foxtrot', undefined],
      ['bravo', 'missing_required'],
      ['delta', undefined],
    ]);
    // Loaded once, to the last page.
    expect(cursors).toEqual([undefined, '2', '4']);
  });

  it('grades a tool on no page as unknown_tool, whether the client listed some pages or none', async () => {
    const listedSome = await start(2);
    await listedSome.client.listTools();
    await listedSome.client.callTool({ name: 'zulu', arguments: { count: 1 } });
    await listedSome.client.callTool({ name: 'yankee', arguments: { count: 1 } });
    const afterPage1 = await listedSome.spans('tools/call', 2);
    expect(afterPage1.map(graded)).toEqual([
      ['zulu', 'unknown_tool'],
      ['yankee', 'unknown_tool'],
    ]);
    // The rest was read once; the catalog is complete after it.
    expect(listedSome.cursors).toEqual([undefined, '2', '4']);

    const listedNone = await start(2);
    await listedNone.client.callTool({ name: 'zulu', arguments: { count: 1 } });
    expect((await listedNone.spans('tools/call', 1)).map(graded)).toEqual([['zulu', 'unknown_tool']]);
  });

  it('puts the catalog tokens of all pages listed so far on each tools/list span', async () => {
    const paged = await start(2, true);
    let cursor: string | undefined;
    do cursor = (await paged.client.listTools(cursor === undefined ? undefined : { cursor })).nextCursor;
    while (cursor !== undefined);
    const whole = await start(TOOLS.length, true);
    await whole.client.listTools();

    const pages = await paged.spans('tools/list', 3);
    const [reference] = await whole.spans('tools/list', 1);
    const perTool = (span: ReadableSpan | undefined): Map<unknown, number> =>
      new Map(
        (span?.events ?? [])
          .filter((e) => e.name === EVENT.CATALOG_TOOL)
          .map((e) => [e.attributes?.[ATTR.GEN_AI_TOOL_NAME], Number(e.attributes?.[ATTR.TOKENS_CATALOG])]),
      );
    const all = perTool(reference);
    expect(all.size).toBe(TOOLS.length);
    expect(pages.map((s) => s.attributes[ATTR.CATALOG_TOOL_COUNT])).toEqual([2, 4, 6]);
    pages.forEach((span, i) => {
      const expected = TOOLS.slice(0, 2 * (i + 1)).map((t) => [t.name, all.get(t.name)]);
      expect([...perTool(span)]).toEqual(expected);
      const sum = expected.reduce((n, [, tokens]) => n + Number(tokens), 0);
      expect(span.attributes[ATTR.TOKENS_CATALOG]).toBe(sum);
    });
    expect(pages[2]!.attributes[ATTR.TOKENS_CATALOG]).toBe(reference!.attributes[ATTR.TOKENS_CATALOG]);

    // A fresh first page starts the listing again: its span counts that page alone.
    await paged.client.listTools();
    const again = await paged.spans('tools/list', 4);
    expect(again[3]!.attributes[ATTR.CATALOG_TOOL_COUNT]).toBe(2);
  });
});
