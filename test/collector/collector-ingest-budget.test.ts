/**
 * Memory bounded by design. The real `mcplens collector` command with its default
 * options, in a child process, every metric first taken to the cardinality cap; then bursts of
 * 64 concurrent gzip bombs, 64 concurrent 16 MiB bodies that decode to 33 times their size,
 * 16 MiB protobuf bodies of empty spans and chunked 16 MiB uploads, while a legitimate exporter
 * keeps sending. Asserted: every attack request is refused (413/429, never 200, never a
 * reset), the collector's peak RSS (VmHWM of the child) stays under the bound the README
 * documents, each refusal is counted in the collector's own metrics, `/readyz` says 503 while
 * ingest refuses and 200 again after, and every legitimate span is counted exactly once. Then
 * 32 concurrent scrapes of the capped metrics share their renders and stay under the bound too.
 */
import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ATTR, LABEL, METRICS, OUTCOMES } from '../../contract/index.js';
import { estimateJsonDecodedBytes, IngestBudget, protobufDecodePlan } from '../../collector/ingest-budget.js';
import { parseExposition, startCollector, sumOf } from './collector-harness.js';
import {
  hexId,
  postRaw,
  procStatusBytes,
  spansJson,
  spawnCollector,
  tracesAnswers,
  type ChildCollector,
  type PostResult,
  type SpanAttrs,
} from './ingest-abuse-harness.js';

const MiB = 1024 * 1024;
/** The bound the README documents for the default options, series cap full included. */
const RSS_BOUND = 512 * 1000 * 1000;
const JSON_HEADERS = { 'content-type': 'application/json' };
const PB_HEADERS = { 'content-type': 'application/x-protobuf' };

let c: ChildCollector;
const log: string[] = [];

async function scrapeText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Spans whose label values take every per-call metric past the cardinality cap (as the RSS bench does). */
function capAttrs(from: number, count: number): SpanAttrs[] {
  const out: SpanAttrs[] = [];
  for (let i = from; i < from + count; i++) {
    const outcome = OUTCOMES[i % OUTCOMES.length]!;
    const a: SpanAttrs = {
      [ATTR.GEN_AI_TOOL_NAME]: `tool_${Math.floor(i / 20) % 2600}`,
      [ATTR.GEN_AI_PROVIDER_NAME]: `provider_${Math.floor(i / 5) % 4}`,
      [ATTR.GEN_AI_REQUEST_MODEL]: `model_${Math.floor(i / 5) % 4}`,
      [ATTR.OUTCOME]: outcome,
      [ATTR.SESSION_KEY]: `s-${i % 500}`,
      [ATTR.TOKENS_ARGUMENTS]: 10 + (i % 90),
      [ATTR.TOKENS_RESULT]: 100 + (i % 900),
    };
    if (outcome !== 'ok') a[ATTR.ERROR_TYPE] = outcome;
    out.push(a);
  }
  return out;
}

/** Protobuf ExportTraceServiceRequest of `n` empty spans (2 bytes each on the wire, about 320 bytes each decoded). */
function emptySpansProtobuf(n: number): Buffer {
  const varint = (v: number): number[] => {
    const o: number[] = [];
    while (v > 127) {
      o.push((v & 127) | 128);
      v = Math.floor(v / 128);
    }
    o.push(v);
    return o;
  };
  const spans = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) spans[2 * i] = 0x12; // ScopeSpans.spans, length 0
  const scope = Buffer.concat([Buffer.from([0x12, ...varint(spans.length)]), spans]); // ResourceSpans.scope_spans
  return Buffer.concat([Buffer.from([0x0a, ...varint(scope.length)]), scope]); // request.resource_spans
}

beforeAll(async () => {
  c = await spawnCollector();
  // Take every metric to the cardinality cap: 60,000 distinct calls in 30 JSON requests.
  for (let i = 0; i < 60_000; i += 2000) {
    const r = await postRaw(c.url, Buffer.from(spansJson('cap-fill', capAttrs(i, 2000), i)), JSON_HEADERS);
    expect(r.status).toBe(200);
  }
  const text = await scrapeText(c.url);
  const dropped = sumOf(parseExposition(text), METRICS.COLLECTOR_SERIES_DROPPED.name);
  expect(dropped).toBeGreaterThan(0);
  log.push(
    `at cap: RSS ${(procStatusBytes(c.pid, 'VmRSS') / 1e6).toFixed(0)} MB, peak ${(procStatusBytes(c.pid, 'VmHWM') / 1e6).toFixed(0)} MB, ${dropped} label sets dropped, /metrics ${(text.length / 1e6).toFixed(1)} MB`,
  );
}, 120_000);

afterAll(async () => {
  await c?.stop();
  process.stdout.write(`${log.join('\n')}\n`);
});

describe('ingest memory budget under attack (default options, real collector in a child process)', () => {
  it('refuses concurrent bombs and large bodies with 413/429, keeps peak RSS under the bound, counts every refusal and every legitimate span', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
    expect(bomb.length).toBeLessThan(70 * 1024);
    // Valid JSON that JSON.parse blows up 33 times (empty objects), 16 MiB less a little.
    const objs = Buffer.from(`{"resourceSpans":[],"x":[${'{},'.repeat(Math.floor((16 * MiB - 64) / 3) - 1)}{}]}`);
    expect(objs.length).toBeLessThanOrEqual(16 * MiB);
    const longString = Buffer.from(`{"resourceSpans":[],"x":"${'a'.repeat(16 * MiB - 64)}"}`);
    // ExportTraceServiceRequest with one unknown length-delimited field 15 of 16 MiB less a little (skipped by the reader).
    const unknownField = Buffer.concat([Buffer.from([0x7a, 0xe0, 0xff, 0xff, 0x07]), Buffer.alloc(16 * MiB - 32)]);
    const empties = emptySpansProtobuf(Math.floor((16 * MiB - 16) / 2));
    expect(empties.length).toBeLessThanOrEqual(16 * MiB);

    const client: Record<string, number> = {};
    const note = (r: PostResult): PostResult => {
      client[String(r.status)] = (client[String(r.status)] ?? 0) + 1;
      return r;
    };

    // A legitimate exporter: 20-span batches, retrying refused ones (Retry-After shortened for the test).
    // Its calls join a label set the cap fill created (a new one would go to the overflow series at the cap).
    const legitAttrs = capAttrs(0, 1)[0]!;
    const legitMatch = {
      [LABEL.SERVICE_NAME]: 'cap-fill',
      [LABEL.GEN_AI_TOOL_NAME]: String(legitAttrs[ATTR.GEN_AI_TOOL_NAME]),
      [LABEL.GEN_AI_PROVIDER_NAME]: String(legitAttrs[ATTR.GEN_AI_PROVIDER_NAME]),
      [LABEL.OUTCOME]: String(legitAttrs[ATTR.OUTCOME]),
    };
    const legitBefore = sumOf(parseExposition(await scrapeText(c.url)), METRICS.TOOL_CALLS.name, legitMatch);
    expect(legitBefore).toBeGreaterThan(0);
    const legitBody = (n: number): Buffer =>
      Buffer.from(
        spansJson(
          'cap-fill',
          Array.from({ length: n }, () => legitAttrs),
          1_000_000 + legitSent,
        ),
      );
    let attacking = true;
    let legitSent = 0;
    let legitBatches = 0;
    const legit = (async () => {
      for (let n = 0; attacking || n < 5; n++) {
        const body = legitBody(20);
        for (let attempt = 0; ; attempt++) {
          const r = note(await postRaw(c.url, body, JSON_HEADERS));
          if (r.status === 200) break;
          expect([429, 503]).toContain(r.status);
          expect(r.retryAfter).toBe('1');
          if (attempt > 200) throw new Error('legitimate batch never accepted');
          await new Promise((res) => setTimeout(res, 100));
        }
        legitSent += 20;
        legitBatches++;
        await new Promise((res) => setTimeout(res, 20));
      }
    })();

    // /readyz, polled throughout.
    const ready: number[] = [];
    const poller = setInterval(() => {
      fetch(`${c.url}/readyz`).then(
        (r) => ready.push(r.status),
        () => ready.push(0),
      );
    }, 50);

    const burst = async (name: string, n: number, send: () => Promise<PostResult>, allowed = [413, 429]): Promise<void> => {
      const before = procStatusBytes(c.pid, 'VmHWM');
      const results = await Promise.all(Array.from({ length: n }, () => send().then(note)));
      const by: Record<string, number> = {};
      for (const r of results) by[String(r.status)] = (by[String(r.status)] ?? 0) + 1;
      log.push(
        `${name}: ${JSON.stringify(by)}; peak RSS ${(before / 1e6).toFixed(0)} -> ${(procStatusBytes(c.pid, 'VmHWM') / 1e6).toFixed(0)} MB`,
      );
      for (const r of results) expect([name, r.status]).toEqual([name, expect.any(Number)]);
      for (const r of results) expect([name, allowed.includes(r.status as number)]).toEqual([name, true]);
    };
    try {
      for (let round = 0; round < 3; round++) {
        await burst(`64 gzip bombs (65 KB -> 64 MiB), round ${round + 1}`, 64, () =>
          postRaw(c.url, bomb, { ...JSON_HEADERS, 'content-encoding': 'gzip' }),
        );
      }
      for (let round = 0; round < 2; round++) {
        await burst(`64 x 16 MiB JSON of empty objects, round ${round + 1}`, 64, () => postRaw(c.url, objs, JSON_HEADERS));
      }
      await burst('32 x 16 MiB protobuf of 8 M empty spans', 32, () => postRaw(c.url, empties, PB_HEADERS));
      await burst('16 x 16 MiB chunked JSON (no Content-Length)', 16, () => postRaw(c.url, objs, JSON_HEADERS, { chunked: true }));
      // Valid bodies at the size limit: accepted one after another as the budget allows, refused 429 past it.
      for (let round = 0; round < 2; round++) {
        await burst(
          `64 x 16 MiB JSON of one long string, round ${round + 1}`,
          64,
          () => postRaw(c.url, longString, JSON_HEADERS),
          [200, 429],
        );
      }
      await burst('64 x 16 MiB protobuf of one unknown field', 64, () => postRaw(c.url, unknownField, PB_HEADERS), [200, 429]);
      await burst('32 gzipped 16 MiB JSON bodies (inflate to 16 MiB, decode 33x)', 32, () =>
        postRaw(c.url, gzipSync(objs, { level: 1 }), { ...JSON_HEADERS, 'content-encoding': 'gzip' }),
      );
    } finally {
      attacking = false;
      await legit;
      clearInterval(poller);
    }
    const peak = procStatusBytes(c.pid, 'VmHWM');
    log.push(
      `peak RSS over the whole run ${(peak / 1e6).toFixed(0)} MB (bound ${RSS_BOUND / 1e6} MB); legit: ${legitSent} spans in ${legitBatches} batches; client saw ${JSON.stringify(client)}`,
    );
    expect(peak).toBeLessThan(RSS_BOUND);

    // Ingest refused for a while, so /readyz said 503; it says 200 again once refusals stop.
    expect(ready).toContain(503);
    let nowReady = 0;
    for (let i = 0; i < 60 && nowReady !== 200; i++) {
      await new Promise((res) => setTimeout(res, 100));
      nowReady = (await fetch(`${c.url}/readyz`)).status;
    }
    expect(nowReady).toBe(200);

    // After the attack: accepted at once.
    const after = note(await postRaw(c.url, legitBody(1), JSON_HEADERS));
    expect(after.status).toBe(200);
    legitSent += 1;

    const samples = parseExposition(await scrapeText(c.url));
    // Every legitimate span counted exactly once (no retry counted twice, none lost).
    expect(sumOf(samples, METRICS.TOOL_CALLS.name, legitMatch) - legitBefore).toBe(legitSent);
    // Every refusal the clients saw is counted by the collector, by status code.
    const server = tracesAnswers(samples);
    for (const code of ['408', '413', '429', '503']) expect([code, server[code] ?? 0]).toEqual([code, client[code] ?? 0]);
    expect(client['reset'] ?? 0).toBe(0);
  }, 300_000);

  it('32 concurrent scrapes at the cap share their renders (503 with Retry-After past two live bodies) and keep peak RSS under the bound', async () => {
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, i) =>
        fetch(`${c.url}/metrics`, { headers: i % 2 ? { accept: 'application/openmetrics-text; version=1.0.0' } : {} }).then(async (r) => ({
          status: r.status,
          retryAfter: r.headers.get('retry-after'),
          bytes: (await r.arrayBuffer()).byteLength,
        })),
      ),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBeGreaterThanOrEqual(2);
    for (const r of ok) expect(r.bytes).toBeGreaterThan(1_000_000);
    for (const r of results.filter((x) => x.status !== 200)) expect([r.status, r.retryAfter]).toEqual([503, '1']);
    const peak = procStatusBytes(c.pid, 'VmHWM');
    log.push(`32 concurrent scrapes: ${ok.length} x 200, ${results.length - ok.length} x 503; peak RSS ${(peak / 1e6).toFixed(0)} MB`);
    expect(peak).toBeLessThan(RSS_BOUND);
  }, 60_000);
});

describe('budget accounting (units)', () => {
  it('a reservation never takes more than the budget has; closing gives everything back once', () => {
    const b = new IngestBudget(100);
    const r1 = b.open();
    const r2 = b.open();
    expect(r1.grow(60)).toBe(true);
    expect(r2.grow(50)).toBe(false);
    expect(r2.grow(40)).toBe(true);
    expect(b.available).toBe(0);
    r1.shrink(10);
    expect([r1.bytes, b.inUse]).toEqual([50, 90]);
    r1.close();
    r1.close();
    expect(r1.grow(1)).toBe(false);
    expect(b.inUse).toBe(40);
    r2.close();
    expect(b.inUse).toBe(0);
  });

  it('prices JSON by what JSON.parse builds, not by its size: 1 byte of [{},...] or [[[...]]] at more than 52 bytes, a plain string at 3', () => {
    const objs = Buffer.from(`[${'{},'.repeat(9999)}{}]`);
    expect(estimateJsonDecodedBytes(objs) / objs.length).toBeGreaterThan(52);
    // Nesting: measured 52 bytes per byte for [[[...]]] (each level an array and a parser frame).
    const nested = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(estimateJsonDecodedBytes(nested) / nested.length).toBeGreaterThan(52);
    const str = Buffer.from(`{"x":"${'a'.repeat(100_000)}"}`);
    expect(estimateJsonDecodedBytes(str) / str.length).toBeLessThan(3.1);
    // Structure inside strings costs nothing; escaped quotes do not end a string.
    const quoted = Buffer.from(`{"x":"${'{},[],\\"'.repeat(10_000)}"}`);
    expect(estimateJsonDecodedBytes(quoted) / quoted.length).toBeLessThan(3.1);
    // Any character outside Latin-1 makes V8 store the text as UTF-16.
    expect(estimateJsonDecodedBytes(Buffer.from(`{"x":"${'a'.repeat(1000)}é"}`)) / 1010).toBeGreaterThan(4.9);
  });

  it('plans a protobuf decode within what is left: full limits when it fits, cut limits when it does not, nothing when the body alone does not fit', () => {
    expect(protobufDecodePlan(1000, 10 * MiB, 100_000, 500_000)).toEqual({
      bytes: 4000 + 500 * 400 + 500 * 240,
      maxSpans: 500,
      maxEvents: 500,
      reduced: false,
    });
    const cut = protobufDecodePlan(MiB, 8 * MiB, 100_000, 500_000)!;
    expect(cut.reduced).toBe(true);
    expect(cut.bytes).toBeLessThanOrEqual(8 * MiB);
    expect(cut.maxSpans).toBeLessThan(100_000);
    expect(protobufDecodePlan(MiB, 3 * MiB, 100_000, 500_000)).toBeUndefined();
    expect(hexId(0, 16)).toBe('0000000000000001');
  });
});

describe('decided before reading (small budget, in process)', () => {
  it('a declared body that does not fit is answered 429 before a byte of it is sent; the body holding the budget still completes', async () => {
    // 3 MiB budget: a 0.9 MiB JSON body (priced 2.7 MiB to decode) fits alone; 0.9 MiB held leaves 2.1 MiB.
    const started = await startCollector({ maxInflightBytes: 3 * MiB, maxBodyBytes: 3 * MiB });
    const { url } = started;
    try {
      const u = new URL(`${url}/v1/traces`);
      const body = Buffer.from(spansJson('budget-small', [{ [ATTR.GEN_AI_TOOL_NAME]: 'lookup', [ATTR.OUTCOME]: 'ok' }]));
      const padded = Buffer.concat([body, Buffer.alloc(0.9 * MiB - body.length, 0x20)]);
      // The first upload declares 0.9 MiB and sends only its headers: it holds 0.9 MiB of the budget.
      const holder = request({
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        headers: { ...JSON_HEADERS, 'content-length': String(padded.length) },
      });
      const held = new Promise<number>((resolve, reject) => {
        holder.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        holder.on('error', reject);
      });
      holder.flushHeaders();
      // The second declares 2.5 MiB and sends nothing: the answer must come without its body.
      let second: { status: number; retryAfter: string | undefined } | undefined;
      for (let i = 0; i < 50 && second?.status !== 429; i++) {
        await new Promise((r) => setTimeout(r, 20));
        second = await new Promise((resolve, reject) => {
          const req = request({
            host: u.hostname,
            port: u.port,
            path: u.pathname,
            method: 'POST',
            headers: { ...JSON_HEADERS, 'content-length': String(2.5 * MiB) },
          });
          req.on('response', (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] });
            req.destroy();
          });
          req.on('error', reject);
          req.flushHeaders();
        });
      }
      expect(second).toEqual({ status: 429, retryAfter: '1' });
      // The holder finishes and is accepted (0.9 MiB of JSON, mostly white space: priced by the scan, not the 64x ceiling).
      holder.end(padded);
      expect(await held).toBe(200);
      // And 2.5 MiB of JSON, priced 7.5 MiB to decode, could never fit: 413, not a 429 to retry forever.
      const big = Buffer.concat([body, Buffer.alloc(2.5 * MiB - body.length, 0x20)]);
      expect((await postRaw(url, big, JSON_HEADERS)).status).toBe(413);
    } finally {
      await started?.collector.close();
    }
  }, 20_000);
});
