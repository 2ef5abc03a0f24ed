/**
 * Forwarding to a second OTLP receiver (a real HTTP server on 127.0.0.1) that is down and
 * then up again: ingest is never held up, bodies arrive unchanged with their content type
 * and encoding, retryable statuses are retried, and a full queue drops and counts.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from '@jest/globals';
import { FORWARD_DROP_REASONS, LABEL, METRICS } from '../../contract/index.js';
import { decodeTracesProtobuf } from '../../collector/decode-protobuf.js';
import { emitCall, makeTracer, scrape, startCollector, sumOf, type Started } from './collector-harness.js';

interface Received {
  body: Buffer;
  contentType: string | undefined;
  contentEncoding: string | undefined;
}

/** A minimal upstream OTLP receiver that records what it gets; `answer` picks each status. */
class Upstream {
  readonly received: Received[] = [];
  private server: Server | undefined;
  constructor(private answer: (n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 })) {}

  async listen(port = 0): Promise<number> {
    const srv = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const a = this.answer(this.received.length);
        if (a.status === 200) {
          this.received.push({
            body: Buffer.concat(chunks),
            contentType: req.headers['content-type'],
            contentEncoding: req.headers['content-encoding'],
          });
        }
        res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
        res.end('{}');
      });
    });
    this.server = srv;
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    return (srv.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

/** A free port: listen on 0, note it, close. */
async function freePort(): Promise<number> {
  const u = new Upstream();
  const p = await u.listen();
  await u.close();
  return p;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const fast = { forwardInitialBackoffMs: 50, forwardMaxBackoffMs: 200, forwardMaxRetries: 100, forwardTimeoutMs: 2000 };

async function collectorTo(port: number, extra: Record<string, number> = {}): Promise<Started> {
  const s = await startCollector({ ...fast, ...extra, forwardEndpoints: [`http://127.0.0.1:${port}/v1/traces`] });
  cleanups.push(() => s.collector.close());
  return s;
}

describe('forwarding', () => {
  it('keeps accepting while the upstream is down and delivers the bodies unchanged once it is up', async () => {
    const port = await freePort();
    const c = await collectorTo(port);
    // A hand-made gzip JSON body, so the exact bytes are known.
    const json = JSON.stringify({ resourceSpans: [] });
    const gz = gzipSync(json);
    const t0 = Date.now();
    const r = await fetch(`${c.url}/v1/traces`, {
      method: 'POST',
      body: gz,
      headers: { 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip' },
    });
    expect(r.status).toBe(200);
    // And spans from the real protobuf exporter with gzip.
    const t = makeTracer(c.url, 'protobuf', 'svc-fwd');
    emitCall(t.tracer, { tool: 'add', provider: 'openai', model: 'm', startMs: Date.now(), outcome: 'ok' });
    await t.flush();
    await t.shutdown();
    // Ingest did not wait for the dead upstream.
    expect(Date.now() - t0).toBeLessThan(1500);

    const up = new Upstream();
    await up.listen(port);
    cleanups.push(() => up.close());
    await waitFor(() => up.received.length >= 2, 5000);
    expect(up.received.length).toBe(2);
    const [first, second] = up.received as [Received, Received];
    expect(first.body.equals(gz)).toBe(true);
    expect(first.contentType).toBe('application/json; charset=utf-8');
    expect(first.contentEncoding).toBe('gzip');
    expect(second.contentType).toBe('application/x-protobuf');
    expect(second.contentEncoding).toBe('gzip');
    const spans = decodeTracesProtobuf(gunzipSync(second.body));
    expect(spans.map((s) => s.resource['service.name'])).toEqual(['svc-fwd']);
    const { samples } = await scrape(c.url);
    expect(sumOf(samples, METRICS.COLLECTOR_FORWARD_SENT.name, { [LABEL.ENDPOINT]: `http://127.0.0.1:${port}/v1/traces` })).toBe(2);
    expect(sumOf(samples, METRICS.COLLECTOR_FORWARD_DROPPED.name)).toBe(0);
  });

  it('retries 503 honouring Retry-After, drops a 400 as rejected', async () => {
    const up = new Upstream((n) => (n === 0 && retries++ < 2 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 }));
    let retries = 0;
    const port = await up.listen();
    cleanups.push(() => up.close());
    const c = await collectorTo(port);
    const body = JSON.stringify({ resourceSpans: [] });
    expect((await fetch(`${c.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status).toBe(200);
    await waitFor(() => up.received.length >= 1, 5000);
    expect(retries).toBe(3);
    expect(up.received.map((x) => x.body.toString())).toEqual([body]);

    const bad = new Upstream(() => ({ status: 400 }));
    const badPort = await bad.listen();
    cleanups.push(() => bad.close());
    const c2 = await collectorTo(badPort);
    await fetch(`${c2.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    let dropped = 0;
    for (let i = 0; i < 100 && dropped === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      dropped = sumOf((await scrape(c2.url)).samples, METRICS.COLLECTOR_FORWARD_DROPPED.name, {
        [LABEL.REASON]: FORWARD_DROP_REASONS.REJECTED,
      });
    }
    expect(dropped).toBe(1);
  });

  it('drops and counts bodies when the queue is full; the queued ones arrive later', async () => {
    const port = await freePort();
    const c = await collectorTo(port, { forwardQueueSize: 2 });
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${c.url}/v1/traces`, {
        method: 'POST',
        body: JSON.stringify({ resourceSpans: [], i }),
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(200);
    }
    const { samples } = await scrape(c.url);
    expect(sumOf(samples, METRICS.COLLECTOR_FORWARD_DROPPED.name, { [LABEL.REASON]: FORWARD_DROP_REASONS.QUEUE_FULL })).toBe(3);
    const up = new Upstream();
    await up.listen(port);
    cleanups.push(() => up.close());
    await waitFor(() => up.received.length >= 2, 5000);
    expect(up.received.map((x) => (JSON.parse(x.body.toString()) as { i: number }).i)).toEqual([0, 1]);
  });

  it('drops what is left at shutdown and counts it', async () => {
    const port = await freePort();
    const s = await startCollector({ ...fast, shutdownTimeoutMs: 200, forwardEndpoints: [`http://127.0.0.1:${port}/v1/traces`] });
    await fetch(`${s.url}/v1/traces`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    await s.collector.close();
    const text = await s.collector.registry.metrics();
    expect(text).toMatch(/mcplens_collector_forward_dropped_total\{endpoint="[^"]+",reason="shutdown"\} 1/);
  });
});
