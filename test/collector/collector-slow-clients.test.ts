/**
 * Slots that slow clients cannot hold. Uploads that stall or trickle take every
 * ingest slot; within `bodyTimeoutMs` each gets 408 (a google.rpc.Status) and its slot is
 * free again; meanwhile legitimate exports get 429 with Retry-After and `/readyz` says 503,
 * after it they are accepted and `/readyz` says 200. A client that never finishes its headers
 * is cut by the server's headers timeout. Real collector on loopback, real sockets.
 */
import { connect } from 'node:net';
import { request, type ClientRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ATTR, LABEL, METRICS } from '../../contract/index.js';
import { serverTimeouts } from '../../collector/receiver.js';
import { parseExposition, scrape, startCollector, sumOf, type Started } from './collector-harness.js';
import { postRaw, spansJson, tracesAnswers } from './ingest-abuse-harness.js';

const BODY_TIMEOUT_MS = 1000;
const SLOTS = 4;
const JSON_HEADERS = { 'content-type': 'application/json' };

let started: Started;

beforeAll(async () => {
  started = await startCollector({ bodyTimeoutMs: BODY_TIMEOUT_MS, maxConcurrentIngest: SLOTS });
});

afterAll(async () => {
  await started.collector.close();
});

/** An upload that declares `declared` bytes, sends `first`, then nothing (or `trickle` bytes every 100 ms). */
function slowUpload(
  url: string,
  declared: number,
  first: string,
  trickle = false,
): { req: ClientRequest; answer: Promise<{ status: number; body: string; ms: number }> } {
  const u = new URL(`${url}/v1/traces`);
  const t0 = Date.now();
  const req = request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    method: 'POST',
    agent: false,
    headers: { ...JSON_HEADERS, 'content-length': String(declared) },
  });
  let timer: NodeJS.Timeout | undefined;
  const answer = new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
    req.on('response', (res) => {
      clearInterval(timer);
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - t0 }));
    });
    req.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
  });
  req.write(first);
  req.flushHeaders();
  if (trickle) timer = setInterval(() => req.write(' '), 100);
  return { req, answer };
}

const oneSpan = (n: number): Buffer =>
  Buffer.from(
    spansJson('slow-test', [{ [ATTR.GEN_AI_TOOL_NAME]: 'lookup', [ATTR.GEN_AI_PROVIDER_NAME]: 'openai', [ATTR.OUTCOME]: 'ok' }], n),
  );

describe('slow clients (bodyTimeoutMs 1000, 4 ingest slots)', () => {
  it('stalled and trickling uploads get 408 within the body timeout and free their slots; meanwhile 429 and /readyz 503, then 200', async () => {
    const before = tracesAnswers(parseExposition((await scrape(started.url)).text));
    expect((await fetch(`${started.url}/readyz`)).status).toBe(200);
    const slow = [
      slowUpload(started.url, 100_000, '{"resourceSpans":['),
      slowUpload(started.url, 100_000, '{"resourceSpans":['),
      slowUpload(started.url, 100_000, '{"resourceSpans":[', true),
      slowUpload(started.url, 100_000, '{"resourceSpans":[', true),
    ];
    // Every slot taken: a legitimate export is refused with Retry-After, and readiness says so.
    let refused: Awaited<ReturnType<typeof postRaw>> | undefined;
    for (let i = 0; i < 40 && refused?.status !== 429; i++) {
      await new Promise((r) => setTimeout(r, 10));
      refused = await postRaw(started.url, oneSpan(0), JSON_HEADERS);
    }
    expect(refused?.status).toBe(429);
    expect(refused?.retryAfter).toBe('1');
    expect((await fetch(`${started.url}/readyz`)).status).toBe(503);

    const answers = await Promise.all(slow.map((s) => s.answer));
    for (const a of answers) {
      expect(a.status).toBe(408);
      expect((JSON.parse(a.body) as { message: string }).message).toMatch(/body not received within 1000 ms/);
      // Within the timeout (plus scheduling slack), not Node's 300 s request timeout.
      expect(a.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(a.ms).toBeLessThan(BODY_TIMEOUT_MS + 1500);
    }
    for (const s of slow) s.req.destroy();

    // Slots free: accepted at once; ready again once refusals are a Retry-After old.
    expect((await postRaw(started.url, oneSpan(1), JSON_HEADERS)).status).toBe(200);
    let ready = 0;
    for (let i = 0; i < 40 && ready !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = (await fetch(`${started.url}/readyz`)).status;
    }
    expect(ready).toBe(200);

    // Each 408 and 429 counted by the collector.
    const { samples } = await scrape(started.url);
    const after = tracesAnswers(samples);
    expect((after['408'] ?? 0) - (before['408'] ?? 0)).toBe(4);
    expect((after['429'] ?? 0) - (before['429'] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(sumOf(samples, METRICS.TOOL_CALLS.name, { [LABEL.SERVICE_NAME]: 'slow-test' })).toBe(1);
  }, 20_000);

  it('a client that never finishes its headers is cut by the headers timeout', async () => {
    const u = new URL(started.url);
    const t0 = Date.now();
    const { got, ms } = await new Promise<{ got: string; ms: number }>((resolve, reject) => {
      const socket = connect(Number(u.port), u.hostname, () =>
        socket.write(`POST /v1/traces HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\n`),
      );
      let got = '';
      socket.on('data', (d: Buffer) => (got += d.toString()));
      socket.on('close', () => resolve({ got, ms: Date.now() - t0 }));
      socket.on('error', reject);
      setTimeout(() => socket.destroy(new Error('not cut within 10 s')), 10_000).unref();
    });
    expect(got).toMatch(/^HTTP\/1\.1 408/);
    // headersTimeout = bodyTimeoutMs, checked every second at most.
    expect(ms).toBeLessThan(BODY_TIMEOUT_MS + 2500);
  }, 15_000);

  it('past maxConnections a new connection is closed at once; the collector answers again once connections close', async () => {
    const small = await startCollector({ maxConnections: 8 });
    const u = new URL(small.url);
    const open = (): Promise<{ socket: ReturnType<typeof connect>; closed: Promise<number> }> =>
      new Promise((resolve, reject) => {
        const t0 = Date.now();
        const socket = connect(Number(u.port), u.hostname, () => resolve({ socket, closed }));
        const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - t0)));
        socket.once('error', () => {});
        socket.once('error', reject);
      });
    try {
      const held = [];
      for (let i = 0; i < 8; i++) {
        const h = await open();
        h.socket.write(`POST /v1/traces HTTP/1.1\r\nHost: ${u.host}\r\n`);
        held.push(h);
      }
      await new Promise((r) => setTimeout(r, 100));
      const ninth = await open();
      expect(await ninth.closed).toBeLessThan(1000);
      for (const h of held) h.socket.destroy();
      let status = 0;
      for (let i = 0; i < 20 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await postRaw(small.url, oneSpan(2), JSON_HEADERS)).status as number;
      }
      expect(status).toBe(200);
    } finally {
      await small.collector.close();
    }
  }, 15_000);

  it('derives the server timeouts from bodyTimeoutMs', () => {
    expect(serverTimeouts({ bodyTimeoutMs: 10_000 })).toEqual({
      headersTimeout: 10_000,
      requestTimeout: 21_000,
      keepAliveTimeout: 5000,
      connectionsCheckingInterval: 1000,
      socketTimeout: 21_000,
    });
    expect(serverTimeouts({ bodyTimeoutMs: 500 })).toEqual({
      headersTimeout: 500,
      requestTimeout: 2000,
      keepAliveTimeout: 500,
      connectionsCheckingInterval: 500,
      socketTimeout: 2000,
    });
  });
});
