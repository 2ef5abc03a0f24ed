/**
 * The client view beside the server view, with real parts: a real McpServer instrumented with
 * instrumentServer and a real SDK Client instrumented with instrumentClient, in one process over
 * InMemoryTransport, export through the real OTLP protobuf exporter to the real collector. A known
 * workload from two providers must be counted exactly once in each view, with the same violation
 * kinds; a call to an uninstrumented server is in the client view only. Then the cap on the client
 * metrics, with a small limit, in the style of collector-cardinality.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import {
  ATTR,
  LABEL,
  MCP_METHOD,
  METRICS,
  OUTCOMES,
  OVERFLOW_LABEL_VALUE,
  UNKNOWN_LABEL_VALUE,
  VIOLATION_KINDS,
} from '../../contract/index.js';
import { flush, instrumentClient, instrumentServer, withModel } from '../../instrumentation/index.js';
import type { Summary } from '../../collector/summary-types.js';
import { emitCall, makeTracer, scrape, startCollector, sumOf, countOf, type Sample, type Started } from './collector-harness.js';

const APP = 'cv-app';
/** The service of an agent whose server is not instrumented (so its calls are in the client view only). */
const SOLO = 'cv-solo-agent';
const CALLS = METRICS.TOOL_CALLS.name;
const VIOLATIONS = METRICS.TOOL_SCHEMA_VIOLATIONS.name;
const CLIENT_CALLS = METRICS.CLIENT_TOOL_CALLS.name;
const CLIENT_VIOLATIONS = METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name;

/** The workload per provider and model: what each call sends, and the primary kind both sides must grade it. */
const WORKLOAD: Array<{ provider: string; model: string; calls: Array<{ tool: string; args: unknown; kind?: string }> }> = [
  {
    provider: 'openai',
    model: 'gpt-4.1',
    calls: [
      { tool: 'add', args: { a: 1, b: 2 } },
      { tool: 'add', args: { a: 3, b: 4 } },
      { tool: 'add', args: { a: 5, b: 6 } },
      { tool: 'add', args: { a: 7, b: 8 } },
      { tool: 'add', args: { a: 1 }, kind: 'missing_required' },
      { tool: 'add', args: { b: 1 }, kind: 'missing_required' },
      { tool: 'add', args: { a: 'one', b: 2 }, kind: 'wrong_type' },
      { tool: 'search_web', args: { q: 'x' }, kind: 'unknown_tool' },
    ],
  },
  {
    provider: 'anthropic',
    model: 'claude-sonnet-4',
    calls: [
      { tool: 'add', args: { a: 1, b: 1 } },
      { tool: 'add', args: { a: 2, b: 2 } },
      { tool: 'add', args: { a: 3, b: 3 } },
      { tool: 'add', args: {}, kind: 'missing_required' },
      { tool: 'add', args: { a: 1, b: true }, kind: 'wrong_type' },
    ],
  },
];
const N = WORKLOAD.reduce((n, w) => n + w.calls.length, 0);
const SOLO_CALLS = 2;

function addServer(name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool('add', { description: 'Add', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  return server;
}

function tracerProvider(url: string, service: string): BasicTracerProvider {
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: service }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces`, compression: CompressionAlgorithm.GZIP }), {
        scheduledDelayMillis: 50,
      }),
    ],
  });
}

/** Sums by `by` over the samples of `name` matching `where`. */
function sumBy(samples: readonly Sample[], name: string, by: string, where: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name || !Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
    const key = s.labels[by] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** Keys with a non-zero value only (violation series exist at zero). */
function nonZero(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
}

describe('client view beside the server view (real server, real client, real exporter, real collector)', () => {
  let started: Started;
  let samples: Sample[];
  let summary: Summary;
  const closers: Array<() => Promise<unknown>> = [];
  let app: BasicTracerProvider;
  let solo: BasicTracerProvider;

  beforeAll(async () => {
    started = await startCollector();
    app = tracerProvider(started.url, APP);
    solo = tracerProvider(started.url, SOLO);

    const server = instrumentServer(addServer('calc'), { tracerProvider: app });
    const [ct, st] = InMemoryTransport.createLinkedPair();
    await server.connect(st);
    const client = instrumentClient(new Client({ name: 'agent', version: '1.0.0' }), { tracerProvider: app });
    await client.connect(ct);
    closers.push(
      () => client.close(),
      () => server.close(),
    );

    for (const w of WORKLOAD) {
      await withModel({ provider: w.provider, model: w.model }, async () => {
        for (const c of w.calls) {
          await client
            .request(
              { method: MCP_METHOD.TOOLS_CALL, params: { name: c.tool, arguments: c.args as Record<string, unknown> } },
              CallToolResultSchema,
            )
            .catch(() => undefined);
        }
      });
    }

    // An agent of its own service calling a server that is not instrumented.
    const plain = addServer('plain');
    const [pct, pst] = InMemoryTransport.createLinkedPair();
    await plain.connect(pst);
    const soloClient = instrumentClient(new Client({ name: 'solo', version: '1.0.0' }), { tracerProvider: solo });
    await soloClient.connect(pct);
    closers.push(
      () => soloClient.close(),
      () => plain.close(),
    );
    await withModel({ provider: 'openai', model: 'gpt-4.1' }, async () => {
      await soloClient.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      await soloClient.callTool({ name: 'add', arguments: { a: 1 } }).catch(() => undefined);
    });

    await flush(app);
    await flush(solo);
    const deadline = Date.now() + 10_000;
    do {
      samples = (await scrape(started.url)).samples;
      if (sumOf(samples, CALLS) >= N && sumOf(samples, CLIENT_CALLS) >= N + SOLO_CALLS) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    // One more batch interval: anything counted twice would have arrived by now.
    await new Promise((r) => setTimeout(r, 300));
    samples = (await scrape(started.url)).samples;
    summary = await started.collector.summary();
  }, 30_000);

  afterAll(async () => {
    for (const close of closers) await close().catch(() => undefined);
    await app.shutdown();
    await solo.shutdown();
    await started.collector.close();
  });

  it('counts the workload exactly once in the server view', () => {
    expect(sumOf(samples, CALLS)).toBe(N);
    expect(sumOf(samples, CALLS, { [LABEL.SERVICE_NAME]: SOLO })).toBe(0);
    // CLIENT spans enter no histogram: its tools/call observations are the server's calls only.
    expect(sumOf(samples, `${METRICS.SERVER_OPERATION_DURATION.name}_count`, { [LABEL.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL })).toBe(N);
    expect(summary.totals.calls).toBe(N);
  });

  it('counts the workload exactly once in the client view, plus the uninstrumented server only there', () => {
    expect(sumOf(samples, CLIENT_CALLS, { [LABEL.SERVICE_NAME]: APP })).toBe(N);
    expect(sumOf(samples, CLIENT_CALLS, { [LABEL.SERVICE_NAME]: SOLO })).toBe(SOLO_CALLS);
    expect(sumOf(samples, CLIENT_CALLS)).toBe(N + SOLO_CALLS);
    expect(sumOf(samples, CLIENT_VIOLATIONS, { [LABEL.SERVICE_NAME]: SOLO, [LABEL.VIOLATION_KIND]: 'missing_required' })).toBe(1);
    expect(summary.client.reported).toBe(true);
    expect(summary.client.totals.calls).toBe(N + SOLO_CALLS);
    expect(summary.client.totals.malformed).toBe(sumOf(samples, CLIENT_VIOLATIONS));
  });

  it('grades the same violations per kind, provider and model in both views', () => {
    const expected: Record<string, number> = {};
    for (const w of WORKLOAD) for (const c of w.calls) if (c.kind) expected[c.kind] = (expected[c.kind] ?? 0) + 1;
    const app = { [LABEL.SERVICE_NAME]: APP };
    expect(nonZero(sumBy(samples, VIOLATIONS, LABEL.VIOLATION_KIND, app))).toEqual(expected);
    expect(nonZero(sumBy(samples, CLIENT_VIOLATIONS, LABEL.VIOLATION_KIND, app))).toEqual(expected);
    for (const by of [LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL, LABEL.GEN_AI_TOOL_NAME]) {
      expect(sumBy(samples, CLIENT_CALLS, by, app)).toEqual(sumBy(samples, CALLS, by, app));
      expect(nonZero(sumBy(samples, CLIENT_VIOLATIONS, by, app))).toEqual(nonZero(sumBy(samples, VIOLATIONS, by, app)));
    }
    expect(sumBy(samples, CLIENT_CALLS, LABEL.GEN_AI_PROVIDER_NAME, app)).toEqual({ openai: 8, anthropic: 5 });
    // The unknown tool's name is no label value in either view.
    expect(sumOf(samples, CLIENT_VIOLATIONS, { ...app, [LABEL.GEN_AI_TOOL_NAME]: UNKNOWN_LABEL_VALUE })).toBe(1);
    expect(samples.some((s) => Object.values(s.labels).includes('search_web'))).toBe(false);
  });

  it('creates every violation_kind series of a client label set at zero', () => {
    const clean = { [LABEL.SERVICE_NAME]: APP, [LABEL.GEN_AI_PROVIDER_NAME]: 'anthropic', [LABEL.GEN_AI_TOOL_NAME]: 'add' };
    expect(countOf(samples, CLIENT_VIOLATIONS, clean)).toBe(VIOLATION_KINDS.length);
    expect(sumOf(samples, CLIENT_VIOLATIONS, { ...clean, [LABEL.VIOLATION_KIND]: 'unknown_tool' })).toBe(0);
  });

  it('serves the client view in /api/summary from the counts /metrics serves', () => {
    const byProvider = Object.fromEntries(summary.client.providers.map((p) => [p.provider, p]));
    expect(byProvider['openai']!.calls).toBe(8 + SOLO_CALLS);
    expect(byProvider['anthropic']!.calls).toBe(5);
    expect(byProvider['anthropic']!.malformed).toBe(2);
    expect(byProvider['anthropic']!.models.map((m) => [m.model, m.calls])).toEqual([['claude-sonnet-4', 5]]);
    expect(byProvider['anthropic']!.violations).toEqual({ missing_required: 1, wrong_type: 1 });
    for (const p of summary.client.providers) {
      expect(p.calls).toBe(sumOf(samples, CLIENT_CALLS, { [LABEL.GEN_AI_PROVIDER_NAME]: p.provider }));
      expect(p.malformed).toBe(sumOf(samples, CLIENT_VIOLATIONS, { [LABEL.GEN_AI_PROVIDER_NAME]: p.provider }));
      expect(Object.keys(p.outcomes)).toEqual(expect.arrayContaining([...OUTCOMES]));
    }
    for (const t of summary.client.tools) {
      const where = { [LABEL.SERVER_NAME]: t.server, [LABEL.GEN_AI_TOOL_NAME]: t.tool };
      expect(t.calls).toBe(sumOf(samples, CLIENT_CALLS, where));
      expect(t.malformed).toBe(sumOf(samples, CLIENT_VIOLATIONS, where));
    }
    expect(summary.client.tools.reduce((n, t) => n + t.calls, 0)).toBe(N + SOLO_CALLS);
    // The server view's summary is untouched by the client's spans.
    expect(summary.providers.reduce((n, p) => n + p.calls, 0)).toBe(N);
  });
});

describe('client view labels and cap (spans emitted directly)', () => {
  const LIMIT = 30;
  // Each client label set reserves every violation kind plus one series for kinds the contract does not know.
  const ADMITTED = Math.floor(LIMIT / (VIOLATION_KINDS.length + 1));
  const TOOLS = 6;
  let started: Started;
  let samples: Sample[];
  let summary: Summary;

  beforeAll(async () => {
    started = await startCollector({ cardinalityLimit: LIMIT });
    const t = makeTracer(started.url, 'protobuf', 'agent');
    const base = Date.now() - 10_000;
    for (let i = 0; i < TOOLS; i++) {
      const tool = `tool_${i}`;
      emitCall(t.tracer, { kind: SpanKind.CLIENT, tool, provider: 'openai', model: 'm', startMs: base + i * 10, outcome: 'ok' });
      emitCall(t.tracer, {
        kind: SpanKind.CLIENT,
        tool,
        provider: 'openai',
        model: 'm',
        startMs: base + i * 10 + 1,
        outcome: 'rejected',
        violationKind: 'wrong_type',
      });
    }
    // Other methods and kinds stay out of both views.
    emitCall(t.tracer, { kind: SpanKind.CLIENT, method: MCP_METHOD.TOOLS_LIST, startMs: base });
    emitCall(t.tracer, { kind: SpanKind.INTERNAL, tool: 'tool_0', startMs: base });
    emitCall(t.tracer, { kind: SpanKind.PRODUCER, tool: 'tool_0', startMs: base });
    await t.flush();
    await t.shutdown();
    samples = (await scrape(started.url)).samples;
    summary = await started.collector.summary();
  });

  afterAll(async () => {
    await started.collector.close();
  });

  it('admits client label sets while the violations metric has room for all kinds, then overflows', () => {
    const real = new Set(
      samples
        .filter((s) => s.name === CLIENT_CALLS && s.labels[LABEL.GEN_AI_TOOL_NAME] !== OVERFLOW_LABEL_VALUE)
        .map((s) => s.labels[LABEL.GEN_AI_TOOL_NAME]),
    );
    expect(real.size).toBe(ADMITTED);
    expect(countOf(samples, CLIENT_VIOLATIONS)).toBeLessThanOrEqual(LIMIT + 1);
    expect(countOf(samples, CLIENT_CALLS)).toBeLessThanOrEqual(LIMIT + 1);
    const overflow = Object.fromEntries(METRICS.CLIENT_TOOL_CALLS.labels.map((l) => [l, OVERFLOW_LABEL_VALUE]));
    expect(countOf(samples, CLIENT_CALLS, overflow)).toBe(1);
    expect(sumOf(samples, CLIENT_CALLS, overflow)).toBe(2 * (TOOLS - ADMITTED));
    expect(sumOf(samples, CLIENT_CALLS)).toBe(2 * TOOLS);
    const violOverflow = Object.fromEntries(METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.labels.map((l) => [l, OVERFLOW_LABEL_VALUE]));
    expect(sumOf(samples, CLIENT_VIOLATIONS, violOverflow)).toBe(TOOLS - ADMITTED);
    expect(sumOf(samples, CLIENT_VIOLATIONS)).toBe(TOOLS);
    const dropped = METRICS.COLLECTOR_SERIES_DROPPED.name;
    expect(sumOf(samples, dropped, { [LABEL.METRIC]: CLIENT_CALLS })).toBe(TOOLS - ADMITTED);
    expect(sumOf(samples, dropped, { [LABEL.METRIC]: CLIENT_VIOLATIONS })).toBe(TOOLS - ADMITTED);
    expect(summary.client.totals.calls).toBe(2 * TOOLS);
    expect(summary.client.tools.find((r) => r.tool === OVERFLOW_LABEL_VALUE)?.calls).toBe(2 * (TOOLS - ADMITTED));
  });

  it('labels a server that gave no name as unknown, and counts nothing in the server view', () => {
    const admitted = samples.filter((s) => s.name === CLIENT_CALLS && s.labels[LABEL.GEN_AI_TOOL_NAME] !== OVERFLOW_LABEL_VALUE);
    expect(admitted.length).toBeGreaterThan(0);
    for (const s of admitted) expect(s.labels[LABEL.SERVER_NAME]).toBe(UNKNOWN_LABEL_VALUE);
    expect(sumOf(samples, CALLS)).toBe(0);
    expect(countOf(samples, `${METRICS.SERVER_OPERATION_DURATION.name}_count`)).toBe(0);
    expect(summary.totals.calls).toBe(0);
  });
});

describe('client view server_name label', () => {
  let started: Started;
  let samples: Sample[];

  beforeAll(async () => {
    started = await startCollector({ maxLabelValueBytes: 64 });
    const t = makeTracer(started.url, 'json', 'agent');
    const start = Date.now() - 1000;
    const attrs = {
      [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
      [ATTR.GEN_AI_TOOL_NAME]: 'add',
      [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
    };
    for (const server of ['calc', 'x'.repeat(200)]) {
      t.tracer
        .startSpan('tools/call add', { kind: SpanKind.CLIENT, attributes: { ...attrs, [ATTR.SERVER_NAME]: server }, startTime: start })
        .end(start + 5);
    }
    await t.flush();
    await t.shutdown();
    samples = (await scrape(started.url)).samples;
  });

  afterAll(async () => {
    await started.collector.close();
  });

  it('takes server_name from the span, through the one label sanitiser', () => {
    expect(sumOf(samples, CLIENT_CALLS, { [LABEL.SERVER_NAME]: 'calc' })).toBe(1);
    const long = samples.find((s) => s.name === CLIENT_CALLS && s.labels[LABEL.SERVER_NAME] !== 'calc');
    expect(long).toBeDefined();
    expect(Buffer.byteLength(long!.labels[LABEL.SERVER_NAME]!)).toBeLessThanOrEqual(64);
    expect(sumOf(samples, METRICS.COLLECTOR_LABEL_VALUES_REWRITTEN.name, { [LABEL.LABEL]: LABEL.SERVER_NAME })).toBe(1);
  });
});
