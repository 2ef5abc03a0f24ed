/**
 * The guards of `mcplens proxy --guards FILE`, with real processes: the SDK's Streamable HTTP
 * client (and plain fetch, to read the HTTP answer) talk through the proxy to an SDK v1 server;
 * JWTs are signed in the test; spans go to an OTLP receiver on loopback. A call whose token lacks
 * a scope gets 403 with the challenge naming the scope, a call without a token 401, neither
 * reaches the server; a retry with the same idempotency key is replayed without reaching it; a slow
 * call is answered "timed out" in time and the server is told to cancel.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ATTR, META_KEYS } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { startMcpHttpFixture, type McpHttpFixture } from './mcp-http-fixture.js';
import { startProxy, type ProxyProcess } from './proxy-process.js';

const SERVER_KIND = 2;
const issuer = 'https://auth.example.test';
const audience = 'https://mcp.example.test/mcp';

let privateKey: Parameters<SignJWT['sign']>[0];
let publicJwk: JWK;
let otlp: OtlpReceiver;
let fixture: McpHttpFixture;
let proxy: ProxyProcess;
let dir: string;
const cleanups: Array<() => Promise<unknown> | unknown> = [];

const token = (scope: string): Promise<string> =>
  new SignJWT({ scope, client_id: 'agent-1' })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setSubject('user-7')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);

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
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { a: 1, b: 2 } } });
  return fetch(proxy.url, { method: 'POST', headers, body });
}

function callsForwarded(): string[] {
  return fixture.requests.flatMap((r) => r.rpc).filter((m) => m === 'tools/call' || m === 'notifications/cancelled');
}

async function spanWithId(id: number): Promise<ReceivedSpan> {
  const match = (s: ReceivedSpan): boolean =>
    s.kind === SERVER_KIND && s.resource['service.name'] === 'proxy-guards' && s.attributes[ATTR.JSONRPC_REQUEST_ID] === String(id);
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

  it('replays a retry with the same idempotency key without forwarding it again', async () => {
    const { client } = await connect(await token('orders:read'));
    const first = await client.callTool({ name: 'add', arguments: { a: 2, b: 5, key: 'order-42' } });
    const forwarded = callsForwarded().length;
    const again = await client.callTool({ name: 'add', arguments: { a: 2, b: 5, key: 'order-42' } });
    expect(again.content).toEqual(first.content);
    expect(again._meta?.[META_KEYS.IDEMPOTENT_REPLAY]).toBe(true);
    expect(callsForwarded().length).toBe(forwarded);
    const spans = await otlp.waitFor(
      (all) => all.some((s) => s.resource['service.name'] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'replayed'),
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
      (all) => all.some((s) => s.resource['service.name'] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'timeout'),
      10_000,
    );
    const span = spans.find((s) => s.resource['service.name'] === 'proxy-guards' && s.attributes[ATTR.OUTCOME] === 'timeout')!;
    expect(span.attributes[ATTR.GEN_AI_TOOL_NAME]).toBe('progress_steps');
    expect(span.attributes[ATTR.TIMEOUT_MS]).toBe(300);
  }, 30_000);
});
