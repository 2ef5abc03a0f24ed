/**
 * The guards of `mcplens proxy --guards FILE`, with real processes: the SDK's Streamable HTTP
 * client (and plain fetch, to read the HTTP answer) talk through the proxy to an SDK v1 server;
 * JWTs are signed in the test; spans go to an OTLP receiver on loopback. A call whose token lacks
 * a scope gets 403 with the challenge naming the scope, a call without a token 401, neither
 * reaches the server; a retry with the same idempotency key is replayed without reaching it; a slow
 * call is answered "timed out" in time and the server is told to cancel. With
 * `hideUnauthorizedTools`, tools/list answers (JSON and event streams, page by page) lose the tools
 * the caller may not call; without it they pass byte for byte.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { accessToken, type SigningKey } from '../support/access-token.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTR, MCP_METHOD, META_KEYS } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { startMcpHttpFixture, type McpHttpFixture } from './mcp-http-fixture.js';
import { startProxy, type ProxyProcess } from './proxy-process.js';

const SERVER_KIND = 2;
const issuer = 'https://auth.example.test';
const audience = 'https://mcp.example.test/mcp';

let privateKey: SigningKey;
let publicJwk: JWK;
let otlp: OtlpReceiver;
let fixture: McpHttpFixture;
let proxy: ProxyProcess;
let dir: string;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

const token = (scope: string): Promise<string> => accessToken(privateKey, { issuer, audience, scope });

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  publicJwk = await exportJWK(pair.publicKey);
  otlp = await startOtlpReceiver();
  fixture = await startMcpHttpFixture({ stateful: true });
  dir = mkdtempSync(join(tmpdir(), 'mcplens-proxy-guards-'));
  const file = join(dir, 'guards.json');
  writeFileSync(
    file,
    JSON.stringify({
      tools: { progress_steps: { timeoutMs: 300, circuitBreaker: false } },
      idempotency: { tools: { add: { keyArgument: 'key' } } },
      authorization: {
        tools: { add: ['orders:read'], progress_steps: ['orders:read'] },
        token: { issuer, audience, algorithms: ['ES256'], key: publicJwk },
      },
    }),
  );
  proxy = await startProxy(fixture.url, ['--guards', file], {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
    OTEL_SERVICE_NAME: 'proxy-guards',
  });
}, 30_000);
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await proxy.stop();
  await fixture.close();
  await otlp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(bearer: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(proxy.url), {
    requestInit: { headers: { authorization: `Bearer ${bearer}` } },
  });
  const client = new Client({ name: 'proxy-guards-test', version: '1.0.0' });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

/** A tools/call POSTed as a client would, in the session, with `authorization` (or none). */
function post(sessionId: string, id: number, name: string, authorization: string | undefined): Promise<Response> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-session-id': sessionId,
    'mcp-protocol-version': '2025-06-18',
  };
  if (authorization !== undefined) headers.authorization = authorization;
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: MCP_METHOD.TOOLS_CALL, params: { name, arguments: { a: 1, b: 2 } } });
  return fetch(proxy.url, { method: 'POST', headers, body });
}

function callsForwarded(): string[] {
  return fixture.requests.flatMap((r) => r.rpc).filter((m) => m === 'tools/call' || m === 'notifications/cancelled');
}

async function spanWithId(id: number): Promise<ReceivedSpan> {
  const match = (s: ReceivedSpan): boolean =>
    s.kind === SERVER_KIND && s.resource[ATTR.SERVICE_NAME] === 'proxy-guards' && s.attributes[ATTR.JSONRPC_REQUEST_ID] === String(id);
  const spans = await otlp.waitFor((all) => all.some(match), 10_000);
  return spans.find(match)!;
}

describe('mcplens proxy --guards', () => {
  it('answers a missing scope with 403 naming it, a missing token with 401; neither reaches the server', async () => {
    const { client, transport } = await connect(await token('orders:read'));
    expect(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).toMatchObject({ content: [{ type: 'text', text: '3' }] });
    const forwardedBefore = callsForwarded().length;

    const denied = await post(transport.sessionId!, 901, 'add', `Bearer ${await token('profile')}`);
    expect(denied.status).toBe(403);
    const challenge = denied.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="orders:read"');
    expect(((await denied.json()) as { error: string }).error).toBe('insufficient_scope');

    const anonymous = await post(transport.sessionId!, 902, 'add', undefined);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await anonymous.arrayBuffer();

    const broken = await post(transport.sessionId!, 903, 'add', 'Bearer not-a-jwt');
    expect(broken.status).toBe(401);
    expect(broken.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await broken.arrayBuffer();
    expect(callsForwarded().length).toBe(forwardedBefore);

    const span = await spanWithId(901);
    expect(span.attributes[ATTR.OUTCOME]).toBe('unauthorized');
    expect(span.attributes[ATTR.MISSING_SCOPES]).toEqual(['orders:read']);
    expect((await spanWithId(902)).attributes[ATTR.OUTCOME]).toBe('unauthorized');
  }, 30_000);

  it('refuses a tools/call inside a batch (400) rather than pass it unguarded', async () => {
    const { transport } = await connect(await token('orders:read'));
    const forwardedBefore = callsForwarded().length;
    const batched = await fetch(proxy.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-03-26',
      },
      body: JSON.stringify([
        { jsonrpc: '2.0', id: 905, method: 'ping' },
        { jsonrpc: '2.0', id: 906, method: MCP_METHOD.TOOLS_CALL, params: { name: 'add', arguments: { a: 1, b: 2 } } },
      ]),
    });
    expect(batched.status).toBe(400);
    expect(((await batched.json()) as { error: { message: string } }).error.message).toContain('batch');
    expect(callsForwarded().length).toBe(forwardedBefore);
  }, 30_000);

  it('replays a retry with the same idempotency key without forwarding it again', async () => {
    const { client } = await connect(await token('orders:read'));
    const first = await client.callTool({ name: 'add', arguments: { a: 2, b: 5, key: 'order-42' } });
    const forwarded = callsForwarded().length;
    const again = await client.callTool({ name: 'add', arguments: { a: 2, b: 5, key: 'order-42' } });
    expect(again.content).toEqual(first.content);
    expect(again._meta?.[META_KEYS.IDEMPOTENT_REPLAY]).toBe(true);
    expect(callsForwarded().length).toBe(forwarded);
    const spans = await otlp.waitFor(
      (all) => all.some((s) => s.resource[ATTR.SERVICE_NAME] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'replayed'),
      10_000,
    );
    expect(spans.filter((s) => s.attributes[ATTR.OUTCOME] === 'replayed')).toHaveLength(1);
  }, 30_000);

  it('answers a slow call "timed out" in time and tells the server to cancel it', async () => {
    const { client } = await connect(await token('orders:read'));
    const started = performance.now();
    const result = await client.callTool({ name: 'progress_steps', arguments: { steps: 2, delayMs: 500 } });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(result.isError).toBe(true);
    expect((result.content as Array<{ text: string }>)[0]!.text).toMatch(/timed out after 0.3 s/);
    const deadline = Date.now() + 5000;
    while (!callsForwarded().includes('notifications/cancelled') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(callsForwarded().slice(-2)).toEqual(['tools/call', 'notifications/cancelled']);

    const spans = await otlp.waitFor(
      (all) => all.some((s) => s.resource[ATTR.SERVICE_NAME] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'timeout'),
      10_000,
    );
    const span = spans.find((s) => s.resource[ATTR.SERVICE_NAME] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'timeout')!;
    expect(span.attributes[ATTR.GEN_AI_TOOL_NAME]).toBe('progress_steps');
    expect(span.attributes[ATTR.TIMEOUT_MS]).toBe(300);
  }, 30_000);
});

/** Two pages of tools: a read tool and an admin tool on each. */
const PAGES: Record<string, { tools: Array<{ name: string }>; nextCursor?: string }> = {
  first: { tools: [{ name: 'read_orders' }, { name: 'refund_order' }], nextCursor: 'page-2' },
  'page-2': { tools: [{ name: 'read_stock' }, { name: 'delete_order' }] },
};

/**
 * A stateless SDK v1 low-level server listing {@link PAGES}: it answers with an event stream (a log
 * notification before the answer) or, when the request says `x-answer: json`, with a JSON body.
 */
async function startPagedUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const http: HttpServer = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const server = new Server({ name: 'paged', version: '1.0.0' }, { capabilities: { tools: {}, logging: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async (request, extra) => {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'listing' } });
        const page = PAGES[request.params?.cursor ?? 'first']!;
        return { ...page, tools: page.tools.map((tool) => ({ ...tool, description: `${tool.name} ✓`, inputSchema: { type: 'object' } })) };
      });
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: req.headers['x-answer'] === 'json',
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, text === '' ? undefined : (JSON.parse(text) as unknown));
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

describe('mcplens proxy --guards with hideUnauthorizedTools', () => {
  let upstream: { url: string; close(): Promise<void> };
  let hiding: ProxyProcess;
  let plain: ProxyProcess;
  let reader: string;
  let admin: string;

  beforeAll(async () => {
    upstream = await startPagedUpstream();
    const authorization = {
      tools: { read_orders: ['orders:read'], read_stock: ['orders:read'], refund_order: ['orders:admin'], delete_order: ['orders:admin'] },
      token: { issuer, audience, algorithms: ['ES256'], key: publicJwk },
    };
    const hideFile = join(dir, 'hide.json');
    const plainFile = join(dir, 'plain.json');
    writeFileSync(hideFile, JSON.stringify({ authorization: { ...authorization, hideUnauthorizedTools: true } }));
    writeFileSync(plainFile, JSON.stringify({ authorization }));
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_SERVICE_NAME: 'proxy-hide' };
    [hiding, plain] = await Promise.all([
      startProxy(upstream.url, ['--guards', hideFile], env),
      startProxy(upstream.url, ['--guards', plainFile], env),
    ]);
    reader = await token('orders:read');
    admin = await token('orders:read orders:admin');
  }, 30_000);
  afterAll(async () => {
    await Promise.all([hiding.stop(), plain.stop()]);
    await upstream.close();
  });

  async function listAll(answer: 'json' | 'sse', bearer: string): Promise<Array<{ names: string[]; nextCursor: string | undefined }>> {
    const transport = new StreamableHTTPClientTransport(new URL(hiding.url), {
      requestInit: { headers: { authorization: `Bearer ${bearer}`, 'x-answer': answer } },
    });
    const client = new Client({ name: 'proxy-hide-test', version: '1.0.0' });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const pages: Array<{ names: string[]; nextCursor: string | undefined }> = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      pages.push({ names: page.tools.map((tool) => tool.name), nextCursor: page.nextCursor });
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages.length < 5);
    return pages;
  }

  /** A raw tools/list POST; `url` the proxy's or the upstream's. */
  async function rawList(
    url: string,
    id: number,
    answer: 'json' | 'sse',
    authorization: string,
  ): Promise<{ response: Response; bytes: Buffer }> {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        'x-answer': answer,
        authorization,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: MCP_METHOD.TOOLS_LIST, params: {} }),
    });
    return { response, bytes: Buffer.from(await response.arrayBuffer()) };
  }

  for (const answer of ['json', 'sse'] as const) {
    it(`lists a reader only the read tools, an admin every tool, page by page (${answer} answers)`, async () => {
      expect(await listAll(answer, reader)).toEqual([
        { names: ['read_orders'], nextCursor: 'page-2' },
        { names: ['read_stock'], nextCursor: undefined },
      ]);
      expect(await listAll(answer, admin)).toEqual([
        { names: ['read_orders', 'refund_order'], nextCursor: 'page-2' },
        { names: ['read_stock', 'delete_order'], nextCursor: undefined },
      ]);
    }, 30_000);

    it(`passes the answer byte for byte without the option, and with it when nothing is hidden (${answer})`, async () => {
      const direct = await rawList(upstream.url, 7, answer, `Bearer ${reader}`);
      const viaPlain = await rawList(plain.url, 7, answer, `Bearer ${reader}`);
      const adminView = await rawList(hiding.url, 7, answer, `Bearer ${admin}`);
      expect(direct.bytes.toString('utf8')).toContain('refund_order');
      expect(viaPlain.bytes.equals(direct.bytes)).toBe(true);
      expect(adminView.bytes.equals(direct.bytes)).toBe(true);
      expect(viaPlain.response.headers.get('content-type')).toBe(direct.response.headers.get('content-type'));
    }, 30_000);
  }

  it('changes only the answering event of a stream, and recomputes a JSON body length', async () => {
    const direct = (await rawList(upstream.url, 8, 'sse', `Bearer ${reader}`)).bytes.toString('utf8');
    const { response, bytes } = await rawList(hiding.url, 8, 'sse', `Bearer ${reader}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = bytes.toString('utf8').split('\n\n');
    const directEvents = direct.split('\n\n');
    expect(events).toHaveLength(directEvents.length);
    // The log notification first, untouched; then the answer, filtered.
    expect(events[0]).toBe(directEvents[0]);
    expect(events[0]).toContain('notifications/message');
    const answer = JSON.parse(
      events[1]!
        .split('\n')
        .find((line) => line.startsWith('data: '))!
        .slice(6),
    ) as {
      id: number;
      result: { tools: Array<{ name: string; description: string }>; nextCursor: string };
    };
    expect(answer.id).toBe(8);
    expect(answer.result.tools.map((tool) => [tool.name, tool.description])).toEqual([['read_orders', 'read_orders ✓']]);
    expect(answer.result.nextCursor).toBe('page-2');

    const json = await rawList(hiding.url, 9, 'json', `Bearer ${reader}`);
    expect(json.response.headers.get('content-type')).toContain('application/json');
    expect(Number(json.response.headers.get('content-length'))).toBe(json.bytes.length);
    const message = JSON.parse(json.bytes.toString('utf8')) as {
      id: number;
      result: { tools: Array<{ name: string }>; nextCursor: string };
    };
    expect(message.id).toBe(9);
    expect(message.result.tools.map((tool) => tool.name)).toEqual(['read_orders']);
    expect(message.result.nextCursor).toBe('page-2');
  }, 30_000);

  it('shows a caller without a valid token only what needs no scope', async () => {
    const { response, bytes } = await rawList(hiding.url, 10, 'json', 'Bearer not-a-jwt');
    expect(response.status).toBe(200);
    expect((JSON.parse(bytes.toString('utf8')) as { result: { tools: unknown[] } }).result.tools).toEqual([]);
  }, 30_000);

  it("records the server's whole catalog on the tools/list span, not the caller's view", async () => {
    await rawList(hiding.url, 11, 'sse', `Bearer ${reader}`);
    const match = (s: ReceivedSpan): boolean =>
      s.kind === SERVER_KIND && s.resource[ATTR.SERVICE_NAME] === 'proxy-hide' && s.attributes[ATTR.JSONRPC_REQUEST_ID] === '11';
    const spans = await otlp.waitFor((all) => all.some(match), 10_000);
    expect(spans.find(match)!.attributes[ATTR.CATALOG_TOOL_COUNT]).toBe(2);
  }, 30_000);
});
