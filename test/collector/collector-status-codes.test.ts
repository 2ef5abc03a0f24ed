/**
 * Every status code of the OTLP/HTTP receiver and the read endpoints, against the real
 * collector over real HTTP, with error bodies decoded as google.rpc.Status.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ATTR, LABEL, METRICS, SPAN_REJECT_REASONS } from '../../contract/index.js';
import { RPC_CODE } from '../../collector/receiver.js';
import { emitCall, makeTracer, scrape, startCollector, sumOf, type Started } from './collector-harness.js';

const TRACES = '/v1/traces';
const JSON_CT = 'application/json';
const PB_CT = 'application/x-protobuf';

/** A valid OTLP/JSON body with one SERVER tools/call span (hex ids, integer enums, int64 as string). */
function jsonBody(
  opts: { traceId?: string; spanId?: string; start?: string; end?: string; extra?: Array<{ key: string; value: unknown }> } = {},
): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
        scopeSpans: [
          {
            scope: { name: 't' },
            spans: [
              {
                traceId: opts.traceId ?? '5b8efff798038103d269b633813fc60c',
                spanId: opts.spanId ?? 'eee19b7ec3c1b174',
                name: 'tools/call add',
                kind: 2,
                startTimeUnixNano: opts.start ?? '1700000000000000000',
                endTimeUnixNano: opts.end ?? '1700000000020000000',
                attributes: [
                  { key: 'mcp.method.name', value: { stringValue: 'tools/call' } },
                  { key: 'gen_ai.tool.name', value: { stringValue: 'add' } },
                  ...(opts.extra ?? []),
                ],
              },
            ],
          },
        ],
      },
    ],
  });
}

async function post(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Headers; bytes: Uint8Array }> {
  const res = await fetch(`${url}${TRACES}`, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

/** Decodes a protobuf google.rpc.Status {code = 1, message = 2} (small test reader). */
function decodeStatusPb(b: Uint8Array): { code: number; message: string } {
  let i = 0;
  let code = 0;
  let message = '';
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const x = b[i++]!;
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) return v;
      shift += 7;
    }
  };
  while (i < b.length) {
    const tag = varint();
    if (tag === 0x08) code = varint();
    else if (tag === 0x12) {
      const n = varint();
      message = Buffer.from(b.subarray(i, i + n)).toString('utf8');
      i += n;
    } else throw new Error(`unexpected tag ${tag}`);
  }
  return { code, message };
}

let open: Started;
let secured: Started;
let tiny: Started;

beforeAll(async () => {
  open = await startCollector();
  secured = await startCollector({ ingestToken: 'in-secret', readToken: 'read-secret' });
  tiny = await startCollector({ maxBodyBytes: 4096, maxConcurrentIngest: 1 });
});

afterAll(async () => {
  await Promise.all([open.collector.close(), secured.collector.close(), tiny.collector.close()]);
});

describe('OTLP/HTTP receiver status codes', () => {
  it('200 with an empty ExportTraceServiceResponse for a valid JSON body (charset allowed)', async () => {
    const r = await post(open.url, jsonBody(), { 'content-type': 'application/json; charset=utf-8' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe(JSON_CT);
    expect(JSON.parse(Buffer.from(r.bytes).toString())).toEqual({});
  });

  it('200 with partial_success naming the rejected spans', async () => {
    const r = await post(open.url, jsonBody({ start: '1700000000020000000', end: '1700000000000000000' }), { 'content-type': JSON_CT });
    expect(r.status).toBe(200);
    const body = JSON.parse(Buffer.from(r.bytes).toString()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(body.partialSuccess.rejectedSpans).toBe('1');
    expect(body.partialSuccess.errorMessage).toMatch(/invalid_time/);
    const { samples } = await scrape(open.url);
    expect(sumOf(samples, METRICS.COLLECTOR_SPANS_REJECTED.name, { [LABEL.REASON]: SPAN_REJECT_REASONS.INVALID_TIME })).toBe(1);
  });

  it('rejects an adjusted count that is not a number (a boolean, an array)', async () => {
    for (const value of [{ boolValue: true }, { arrayValue: { values: [{ intValue: '5' }] } }]) {
      const r = await post(open.url, jsonBody({ extra: [{ key: ATTR.ADJUSTED_COUNT, value }] }), { 'content-type': JSON_CT });
      expect(r.status).toBe(200);
      const body = JSON.parse(Buffer.from(r.bytes).toString()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
      expect(body.partialSuccess.errorMessage).toMatch(new RegExp(SPAN_REJECT_REASONS.INVALID_ADJUSTED_COUNT));
    }
  });

  it('400 with the reason for an undecodable body, in the request encoding', async () => {
    const j = await post(open.url, '{"resourceSpans": [', { 'content-type': JSON_CT });
    expect(j.status).toBe(400);
    const status = JSON.parse(Buffer.from(j.bytes).toString()) as { code: number; message: string };
    expect(status.code).toBe(RPC_CODE.INVALID_ARGUMENT);
    expect(status.message).toMatch(/could not decode json/);
    const p = await post(open.url, Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), { 'content-type': PB_CT });
    expect(p.status).toBe(400);
    expect(p.headers.get('content-type')).toBe(PB_CT);
    const ps = decodeStatusPb(p.bytes);
    expect(ps.code).toBe(RPC_CODE.INVALID_ARGUMENT);
    expect(ps.message).toMatch(/could not decode protobuf/);
    const g = await post(open.url, Uint8Array.from([1, 2, 3, 4]), { 'content-type': PB_CT, 'content-encoding': 'gzip' });
    expect(g.status).toBe(400);
    expect(decodeStatusPb(g.bytes).message).toMatch(/gzip/);
  });

  it('405 with Allow for another method', async () => {
    const res = await fetch(`${open.url}${TRACES}`, { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(((await res.json()) as { message: string }).message).toMatch(/GET/);
    expect((await fetch(`${open.url}${TRACES}`, { method: 'PUT', body: 'x' })).status).toBe(405);
  });

  it('415 for an unsupported media type, charset or content encoding', async () => {
    expect((await post(open.url, jsonBody(), { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post(open.url, jsonBody(), { 'content-type': 'application/json; charset=latin1' })).status).toBe(415);
    const br = await post(open.url, jsonBody(), { 'content-type': JSON_CT, 'content-encoding': 'br' });
    expect(br.status).toBe(415);
    expect((JSON.parse(Buffer.from(br.bytes).toString()) as { message: string }).message).toMatch(/br/);
  });

  it('413 on Content-Length, on a streamed body, and on a gzip bomb small compressed and large decompressed', async () => {
    const big = 'x'.repeat(5000);
    expect((await post(tiny.url, big, { 'content-type': JSON_CT })).status).toBe(413);
    // Chunked (no Content-Length): stopped while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${tiny.url}${TRACES}`);
      const req = request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': JSON_CT } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(big.slice(0, 2500));
      req.end(big.slice(2500));
    });
    expect(chunked).toBe(413);
    const bomb = gzipSync(Buffer.alloc(3 * 1024 * 1024, 0x20), { level: 9 });
    expect(bomb.length).toBeLessThan(4096);
    const r = await post(tiny.url, bomb, { 'content-type': JSON_CT, 'content-encoding': 'gzip' });
    expect(r.status).toBe(413);
    expect((JSON.parse(Buffer.from(r.bytes).toString()) as { message: string }).message).toMatch(/decompressed/);
    // Still answering afterwards.
    expect((await post(tiny.url, jsonBody(), { 'content-type': JSON_CT })).status).toBe(200);
  });

  it('429 with Retry-After past the concurrent-ingest limit', async () => {
    // Hold one ingest request open (body not finished), then send another.
    const u = new URL(`${tiny.url}${TRACES}`);
    let firstStatus = 0;
    const first = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'content-type': JSON_CT } });
    const firstDone = new Promise<void>((resolve, reject) => {
      first.on('response', (res) => {
        firstStatus = res.statusCode ?? 0;
        res.resume();
        res.on('end', resolve);
      });
      first.on('error', reject);
    });
    const body = jsonBody();
    first.write(body.slice(0, 10));
    first.flushHeaders();
    // Wait until the server counts it in flight: poll with a bounded loop.
    let second = 0;
    let retryAfter: string | null = null;
    for (let i = 0; i < 50 && second !== 429; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const r = await post(tiny.url, body, { 'content-type': JSON_CT });
      second = r.status;
      retryAfter = r.headers.get('retry-after');
    }
    expect(second).toBe(429);
    expect(retryAfter).toBe('1');
    first.end(body.slice(10));
    await firstDone;
    expect(firstStatus).toBe(200);
  });

  it('503 with Retry-After under memory pressure', async () => {
    const c = await startCollector({ maxRssBytes: 1 });
    try {
      const r = await post(c.url, jsonBody(), { 'content-type': PB_CT });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(decodeStatusPb(r.bytes).code).toBe(RPC_CODE.UNAVAILABLE);
    } finally {
      await c.collector.close();
    }
  });
});

describe('bearer tokens', () => {
  it('401 with WWW-Authenticate on ingest without or with a wrong token; 200 with it', async () => {
    const none = await post(secured.url, jsonBody(), { 'content-type': JSON_CT });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="mcplens"/);
    const wrong = await post(secured.url, jsonBody(), { 'content-type': JSON_CT, authorization: 'Bearer read-secret' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/invalid_token/);
    expect((await post(secured.url, jsonBody(), { 'content-type': JSON_CT, authorization: 'Bearer in-secret' })).status).toBe(200);
  });

  it('a real exporter with the ingest token gets its spans counted', async () => {
    const t = makeTracer(secured.url, 'protobuf', 'svc-auth', { authorization: 'Bearer in-secret' });
    emitCall(t.tracer, { tool: 'add', provider: 'openai', model: 'm', startMs: Date.now(), outcome: 'ok' });
    await t.flush();
    await t.shutdown();
    const { samples } = await scrape(secured.url, false, 'read-secret');
    expect(sumOf(samples, METRICS.TOOL_CALLS.name, { [LABEL.SERVICE_NAME]: 'svc-auth' })).toBe(1);
  });

  it('401 on /metrics, /api/summary and / without the read token; the ingest token does not read', async () => {
    for (const path of ['/metrics', '/api/summary', '/']) {
      const r = await fetch(`${secured.url}${path}`);
      expect([path, r.status]).toEqual([path, 401]);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await fetch(`${secured.url}${path}`, { headers: { authorization: 'Bearer in-secret' } })).status).toBe(401);
      expect((await fetch(`${secured.url}${path}`, { headers: { authorization: 'Bearer read-secret' } })).status).toBe(200);
    }
    // The status page also takes ?token= (a browser cannot set headers on a page load), once:
    // it is exchanged for a cookie and the browser sent to the page without it.
    const exchange = await fetch(`${secured.url}/?token=read-secret`, { redirect: 'manual' });
    expect([exchange.status, exchange.headers.get('location')]).toEqual([303, './']);
    const cookie = (exchange.headers.get('set-cookie') ?? '').split(';')[0]!;
    for (const path of ['/metrics', '/api/summary', '/'])
      expect([path, (await fetch(`${secured.url}${path}`, { headers: { cookie } })).status]).toEqual([path, 200]);
    expect((await fetch(`${secured.url}/healthz`)).status).toBe(200);
  });
});
