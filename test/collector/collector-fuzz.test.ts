/**
 * Bounded fuzz: a few thousand random, truncated and bit-flipped bodies in both encodings
 * (plain and gzip) against the real collector. Afterwards it still answers, never answered
 * anything but 200/400/413, and the counts of the traffic sent before are unchanged.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InMemorySpanExporter, BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { ATTR, LABEL, METRICS } from '../../contract/index.js';
import { SCENARIO, emitScenario, makeTracer, scrape, startCollector, sumOf, type Started } from './collector-harness.js';
import { seededRandom } from '../../harness/otlp-span-fixtures.js';

const CASES = 2500;
const PARALLEL = 8;

const rng = seededRandom;

let started: Started;
let validPb: Uint8Array;
let validJson: Uint8Array;

beforeAll(async () => {
  started = await startCollector({ maxBodyBytes: 1024 * 1024 });
  const t = makeTracer(started.url, 'protobuf', 'baseline');
  emitScenario(t.tracer, Date.now() - 200_000);
  await t.flush();
  await t.shutdown();
  // Seed bodies: the scenario under another service name, serialised by the real serializers.
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: 'fuzz' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  emitScenario(provider.getTracer('fuzz'), Date.now() - 100_000);
  const spans = memory.getFinishedSpans();
  validPb = ProtobufTraceSerializer.serializeRequest(spans)!;
  validJson = JsonTraceSerializer.serializeRequest(spans)!;
  await provider.shutdown();
});

afterAll(async () => {
  await started.collector.close();
});

function mutate(random: () => number, seed: Uint8Array): Uint8Array {
  const out = Uint8Array.from(seed);
  const flips = 1 + Math.floor(random() * 8);
  for (let i = 0; i < flips; i++) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
  return out;
}

function makeCase(random: () => number, i: number): { body: Uint8Array; contentType: string; gzip: boolean } {
  const json = i % 2 === 0;
  const seed = json ? validJson : validPb;
  const r = random();
  let body: Uint8Array;
  if (r < 0.3) {
    body = new Uint8Array(Math.floor(random() * 300)).map(() => Math.floor(random() * 256));
  } else if (r < 0.65) {
    body = seed.subarray(0, Math.floor(random() * seed.length));
  } else if (r < 0.9) {
    body = mutate(random, seed);
  } else {
    // JSON-looking noise: valid JSON of the wrong shape, or broken tokens.
    const shapes = [
      '{"resourceSpans":{}}',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}',
      '[1,2,3]',
      'null',
      '"x"',
      '{"resourceSpans":[{"scopeSpans":[{"spans":[null]}]}]}',
      '{"a":',
    ];
    body = Buffer.from(shapes[Math.floor(random() * shapes.length)]!);
  }
  const gzip = random() < 0.2;
  return {
    body: gzip ? (random() < 0.5 ? gzipSync(body) : gzipSync(body).subarray(0, 10)) : body,
    contentType: json ? 'application/json' : 'application/x-protobuf',
    gzip,
  };
}

describe('fuzz', () => {
  it(`survives ${CASES} random and truncated bodies with unchanged counts`, async () => {
    const before = await scrape(started.url);
    const baseline = { [LABEL.SERVICE_NAME]: 'baseline' };
    expect(sumOf(before.samples, METRICS.TOOL_CALLS.name, baseline)).toBe(SCENARIO.calls);
    const random = rng(20240611);
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CASES) {
        const i = next++;
        const c = makeCase(random, i);
        const headers: Record<string, string> = { 'content-type': c.contentType };
        if (c.gzip) headers['content-encoding'] = 'gzip';
        const res = await fetch(`${started.url}/v1/traces`, { method: 'POST', body: c.body, headers });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    expect([...statuses.keys()].every((s) => s === 200 || s === 400)).toBe(true);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(CASES / 2);
    // Still answering, and the traffic before the fuzz counts exactly as before.
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    const after = await scrape(started.url);
    for (const name of [
      METRICS.TOOL_CALLS.name,
      METRICS.TOOL_SCHEMA_VIOLATIONS.name,
      METRICS.TOOL_TOKENS.name,
      `${METRICS.SERVER_OPERATION_DURATION.name}_count`,
    ]) {
      expect([name, sumOf(after.samples, name, baseline)]).toEqual([name, sumOf(before.samples, name, baseline)]);
    }
    // And it still tallies new valid traffic exactly.
    const t = makeTracer(started.url, 'json', 'after-fuzz');
    emitScenario(t.tracer, Date.now() - 100_000);
    await t.flush();
    await t.shutdown();
    expect(sumOf((await scrape(started.url)).samples, METRICS.TOOL_CALLS.name, { [LABEL.SERVICE_NAME]: 'after-fuzz' })).toBe(
      SCENARIO.calls,
    );
  });
});
