/**
 * The guards around real SDK servers (v1 and v2): idempotency keys in memory and on a real
 * redis-server shared by two server instances, and scoped authorization with real JWTs over
 * Streamable HTTP on loopback.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { ATTR, MCP_METHOD, META_KEYS } from '../../contract/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import type { GuardsConfig } from '../../instrumentation/guards/guard-config.js';
import { sdkV1, sdkV2, type LineClient, type LineServer, type SdkLine, type ToolResult } from '../support/sdk-lines.js';
import { createTracing, serverSpans } from '../support/tracing.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { accessToken, type SigningKey } from '../support/access-token.js';

const { provider, exporter, waitForSpans } = createTracing();
const LINES: SdkLine[] = [sdkV1(() => undefined), sdkV2(() => undefined)];

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
  await flush(provider);
  exporter.reset();
});
afterAll(async () => {
  await provider.shutdown();
});

const outcomes = (spans: ReadableSpan[], tool: string): unknown[] =>
  serverSpans(spans, MCP_METHOD.TOOLS_CALL)
    .filter((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === tool)
    .map((s) => s.attributes[ATTR.OUTCOME]);

const text = (r: ToolResult): string => r.content[0]!.text;

/** A refund tool whose key argument is declared in its schema, and a counter of its runs. */
function refundServer(line: SdkLine, guards: GuardsConfig, delayMs = 0): { server: LineServer; runs: { n: number } } {
  const server = line.createMcpServer();
  const runs = { n: 0 };
  server.registerTool('refund', {
    description: 'Refunds an order. Reuse the same idempotency_key when you retry.',
    inputSchema: { order: z.string(), amount: z.number(), idempotency_key: z.string() },
    handler: async (args) => {
      runs.n++;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { content: [{ type: 'text', text: `refunded ${String(args.amount)} on ${String(args.order)} (run ${runs.n})` }] };
    },
  });
  instrumentServer(server.sdk, { guards });
  return { server, runs };
}

describe.each(LINES)('idempotency keys on SDK $name, in memory', (line) => {
  const guards: GuardsConfig = {
    tools: { refund: { timeoutMs: 100 } },
    idempotency: { tools: { refund: { keyArgument: 'idempotency_key' } } },
  };

  async function connect(server: LineServer): Promise<LineClient> {
    const client = await line.connect(server);
    open.push(client, server);
    return client;
  }

  it('runs the first call, replays a retry with the same arguments (key order ignored), refuses other arguments', async () => {
    const { server, runs } = refundServer(line, guards);
    const client = await connect(server);
    const first = await client.callTool({ name: 'refund', arguments: { order: 'A-1', amount: 5, idempotency_key: 'k1' } });
    const retry = await client.callTool({ name: 'refund', arguments: { idempotency_key: 'k1', amount: 5, order: 'A-1' } });
    const other = await client.callTool({ name: 'refund', arguments: { order: 'A-2', amount: 5, idempotency_key: 'k1' } });
    expect(runs.n).toBe(1);
    expect(text(first)).toBe('refunded 5 on A-1 (run 1)');
    expect(text(retry)).toBe('refunded 5 on A-1 (run 1)');
    expect((retry as { _meta?: Record<string, unknown> })._meta?.[META_KEYS.IDEMPOTENT_REPLAY]).toBe(true);
    expect(other.isError).toBe(true);
    expect(text(other)).toBe('Idempotency key "k1" was already used with different arguments; use a new key for a different request.');
    expect(outcomes(await waitForSpans((s) => outcomes(s, 'refund').length === 3), 'refund')).toEqual([
      'ok',
      'replayed',
      'idempotency_conflict',
    ]);
  });

  it('refuses a duplicate that arrives while the first is running, and never runs it twice', async () => {
    const { server, runs } = refundServer(line, { idempotency: guards.idempotency }, 80);
    const client = await connect(server);
    const call = (): Promise<ToolResult> =>
      client.callTool({ name: 'refund', arguments: { order: 'B', amount: 1, idempotency_key: 'k2' } });
    const [a, b] = await Promise.all([call(), call()]);
    expect(runs.n).toBe(1);
    expect([a, b].map(text).sort()).toEqual([
      'A call with idempotency key "k2" is still in progress; retry in a moment with the same key.',
      'refunded 1 on B (run 1)',
    ]);
    expect(outcomes(await waitForSpans((s) => outcomes(s, 'refund').length === 2), 'refund').sort()).toEqual(['in_progress', 'ok']);
  });

  it('after a timeout, stores the late completion: a retry with the same key gets the real result', async () => {
    const { server, runs } = refundServer(line, guards, 250);
    const client = await connect(server);
    const args = { order: 'C', amount: 9, idempotency_key: 'k3' };
    const timedOut = await client.callTool({ name: 'refund', arguments: args });
    expect(text(timedOut)).toBe(
      'Tool call timed out after 0.1 s; it may still complete; retry with the same idempotency key to get its result.',
    );
    await new Promise((resolve) => setTimeout(resolve, 350));
    const retry = await client.callTool({ name: 'refund', arguments: args });
    expect(text(retry)).toBe('refunded 9 on C (run 1)');
    expect(runs.n).toBe(1);
    expect(outcomes(await waitForSpans((s) => outcomes(s, 'refund').length === 2), 'refund')).toEqual(['timeout', 'replayed']);
  });

  it('calls without the key argument run as usual', async () => {
    const { server, runs } = refundServer(line, { idempotency: guards.idempotency });
    const client = await connect(server);
    await client
      .request('tools/call', { name: 'refund', arguments: { order: 'D', amount: 1, idempotency_key: '' } })
      .catch(() => undefined);
    await client
      .request('tools/call', { name: 'refund', arguments: { order: 'D', amount: 1, idempotency_key: '' } })
      .catch(() => undefined);
    expect(runs.n).toBe(2);
  });
});

describe('idempotency keys on a real redis-server shared by two server instances', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('100 races of the same key across two replicas run the handler exactly once each; Redis killed: refused, nothing runs', async () => {
    const line = sdkV1(() => undefined);
    const guards: GuardsConfig = {
      idempotency: { store: 'redis', redisUrl: redis.url, commandTimeoutMs: 300, tools: { refund: { keyArgument: 'idempotency_key' } } },
    };
    const a = refundServer(line, guards, 5);
    const b = refundServer(line, { ...guards }, 5);
    const clientA = await line.connect(a.server);
    const clientB = await line.connect(b.server);
    open.push(clientA, a.server, clientB, b.server);
    for (let round = 0; round < 100; round++) {
      const args = { order: `R-${round}`, amount: round, idempotency_key: `race-${round}` };
      await Promise.all([clientA, clientB, clientA, clientB].map((c) => c.callTool({ name: 'refund', arguments: args })));
      expect(a.runs.n + b.runs.n).toBe(round + 1);
    }
    // A retry after the race replays from Redis on either replica.
    expect(text(await clientB.callTool({ name: 'refund', arguments: { order: 'R-0', amount: 0, idempotency_key: 'race-0' } }))).toMatch(
      /^refunded 0 on R-0/,
    );

    await redis.kill();
    const before = a.runs.n + b.runs.n;
    const started = Date.now();
    const refused = await clientA.callTool({ name: 'refund', arguments: { order: 'X', amount: 1, idempotency_key: 'after-kill' } });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(text(refused)).toBe('The idempotency store is unavailable; nothing was done; retry later with the same key.');
    expect(a.runs.n + b.runs.n).toBe(before);
  });
});

describe.each(LINES)('scoped authorization on SDK $name over Streamable HTTP', (line) => {
  let privateKey: SigningKey;
  let publicJwk: JWK;
  const issuer = 'https://auth.example.test';
  const audience = 'https://mcp.example.test/mcp';
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    publicJwk = await exportJWK(pair.publicKey);
  });

  const token = (scope: string, expiresIn = '5m'): Promise<string> => accessToken(privateKey, { issuer, audience, scope, expiresIn });

  async function endpoint(): Promise<{ connect(headers: Record<string, string>): Promise<LineClient>; runs: { n: number } }> {
    const runs = { n: 0 };
    const guards: GuardsConfig = {
      authorization: {
        tools: { add: ['orders:read'], refund: ['orders:write', 'orders:admin'] },
        token: { issuer, audience, algorithms: ['ES256'], key: publicJwk },
        hideUnauthorizedTools: true,
      },
    };
    const served = await line.serveHttp((server) => {
      server.registerTool('refund', {
        description: 'Refunds an order.',
        handler: async () => {
          runs.n++;
          return { content: [{ type: 'text', text: 'refunded' }] };
        },
      });
      return instrumentServer(server.sdk, { guards });
    });
    open.push(served);
    return {
      runs,
      connect: async (headers) => {
        const client = await served.connect('agent', headers);
        open.push(client);
        return client;
      },
    };
  }

  it('lets a caller with the scope through, refuses a missing scope naming it, hides what it may not call', async () => {
    const { connect, runs } = await endpoint();
    const reader = await connect({ authorization: `Bearer ${await token('orders:read orders:write')}` });
    expect(text(await reader.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    const denied = await reader.callTool({ name: 'refund', arguments: {} });
    expect(denied.isError).toBe(true);
    expect(text(denied)).toContain('requires the scope orders:admin');
    expect(runs.n).toBe(0);
    expect((await reader.listTools()).tools.map((t) => t.name)).toEqual(['add']);
    const admin = await connect({ authorization: `Bearer ${await token('orders:write orders:admin')}` });
    expect(text(await admin.callTool({ name: 'refund', arguments: {} }))).toBe('refunded');
    expect(runs.n).toBe(1);
    const spans = await waitForSpans((s) => outcomes(s, 'refund').length === 2);
    expect(outcomes(spans, 'refund')).toEqual(['unauthorized', 'ok']);
    const deniedSpan = serverSpans(spans, MCP_METHOD.TOOLS_CALL).find((s) => s.attributes[ATTR.OUTCOME] === 'unauthorized')!;
    expect(deniedSpan.attributes[ATTR.MISSING_SCOPES]).toEqual(['orders:admin']);
    expect(deniedSpan.attributes[ATTR.ERROR_TYPE]).toBe('unauthorized');
    // The reader was sent one tool; the span records the server's whole catalog (the line's four
    // tools and refund), as the proxy does.
    const listings = serverSpans(spans, MCP_METHOD.TOOLS_LIST);
    expect(listings.length).toBeGreaterThan(0);
    for (const listing of listings) expect(listing.attributes[ATTR.CATALOG_TOOL_COUNT]).toBe(5);
    // Tokens are never recorded.
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toMatch(/eyJ/);
  });

  it('refuses an expired token and a call without one', async () => {
    const { connect, runs } = await endpoint();
    const expired = await connect({ authorization: `Bearer ${await token('orders:read', '-2m')}` });
    const r1 = await expired.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    expect(r1.isError).toBe(true);
    expect(text(r1)).toMatch(/^Unauthorized: /);
    const anonymous = await connect({});
    const r2 = await anonymous.callTool({ name: 'refund', arguments: {} });
    expect(text(r2)).toMatch(/^Unauthorized: /);
    expect(runs.n).toBe(0);
    expect(outcomes(await waitForSpans((s) => outcomes(s, 'add').length === 1 && outcomes(s, 'refund').length === 1), 'add')).toEqual([
      'unauthorized',
    ]);
  });
});
