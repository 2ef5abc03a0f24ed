/**
 * `/metrics` and `/api/summary` read one aggregation: varied tools/call spans sent as real
 * OTLP into a real collector, then every per-call count of the summary (calls, outcomes,
 * violation kinds, tokens, tokens not counted, self-corrections) at every level (totals,
 * provider, model, tool) equals the sum of the matching counter samples of the scrape. Also
 * past the cardinality cap, where overflowed calls share one series per counter.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  LABEL,
  METRICS,
  OUTCOMES,
  OVERFLOW_LABEL_VALUE,
  TOKENS_NOT_COUNTED_REASONS,
  VIOLATION_KINDS,
  type ViolationKind,
} from '../../contract/index.js';
import type { CallStats, Summary } from '../../collector/summary-types.js';
import { TOKENS_UNREPORTED } from '../../collector/summary-types.js';
import {
  emitCall,
  makeTracer,
  scrape,
  startCollector,
  type CallSpec,
  type Sample,
  type Started,
  type TestTracer,
} from './collector-harness.js';

const CALLS = METRICS.TOOL_CALLS.name;
const VIOL = METRICS.TOOL_SCHEMA_VIOLATIONS.name;
const TOKENS = METRICS.TOOL_TOKENS.name;
const NOT_COUNTED = METRICS.TOOL_TOKENS_NOT_COUNTED.name;
const SELF = METRICS.TOOL_SELF_CORRECTIONS.name;

const PROVIDERS = ['openai', 'anthropic', 'google'];
const MODELS = ['m-large', 'm-small'];
const TOOLS = ['lookup_inventory', 'cancel_order', 'ship'];
const REASONS = Object.values(TOKENS_NOT_COUNTED_REASONS);

/** A small deterministic PRNG (mulberry32), so a failure replays. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` varied calls: every outcome, violation kinds (one outside the contract), tokens, reasons, unreported tokens, adjusted counts, self-corrections. */
function calls(n: number, seed: number, base: number): CallSpec[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const out: CallSpec[] = [];
  for (let i = 0; i < n; i++) {
    const c: CallSpec = {
      provider: pick(PROVIDERS),
      model: pick(MODELS),
      tool: pick(TOOLS),
      outcome: pick(OUTCOMES),
      startMs: base + i * 10,
      durationMs: 1 + Math.floor(r() * 400),
    };
    const v = r();
    // unknown_tool is left out: its calls take the tool label __unknown__, which this test does not aim at.
    if (v < 0.25) c.violationKind = pick(VIOLATION_KINDS.filter((k) => k !== 'unknown_tool'));
    else if (v < 0.28) c.violationKind = 'made_up_kind' as ViolationKind;
    const t = r();
    if (t < 0.6) {
      c.tokensArguments = Math.floor(r() * 500);
      if (r() < 0.8) c.tokensResult = Math.floor(r() * 5000);
    } else if (t < 0.85) c.tokensNotCounted = r() < 0.9 ? pick(REASONS) : 'not_a_reason';
    if (r() < 0.2) c.adjustedCount = 2 + Math.floor(r() * 3);
    c.session = `s${Math.floor(r() * 6)}`;
    out.push(c);
    // A well-formed retry of a malformed call, same session, tool, provider and model: a self-correction.
    if (c.violationKind !== undefined && r() < 0.5) {
      out.push({
        provider: c.provider,
        model: c.model,
        tool: c.tool,
        session: c.session,
        outcome: 'ok',
        startMs: c.startMs + 5,
        adjustedCount: c.adjustedCount,
      });
    }
  }
  return out;
}

/** Sums of the samples of `name` matching `match`, by the value of `by`, zero sums left out. */
function byLabel(samples: readonly Sample[], name: string, match: Record<string, string>, by: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name || !Object.entries(match).every(([k, v]) => s.labels[k] === v)) continue;
    const key = s.labels[by]!;
    out[key] = (out[key] ?? 0) + s.value;
  }
  for (const k of Object.keys(out)) if (out[k] === 0) delete out[k];
  return out;
}

function total(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function nonZero(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== 0));
}

/** Asserts the summary's counts of one aggregate equal the scrape's counters under `match`. */
function expectAgree(where: string, stats: CallStats, samples: readonly Sample[], match: Record<string, string>): void {
  const outcomes = byLabel(samples, CALLS, match, LABEL.OUTCOME);
  const reasons = { ...stats.tokensNotCountedReasons };
  delete reasons[TOKENS_UNREPORTED];
  const got = {
    where,
    calls: stats.calls,
    outcomes: nonZero(stats.outcomes),
    malformed: stats.malformed,
    violations: stats.violations,
    tokens: nonZero(stats.tokens),
    notCounted: reasons,
    notCountedTotal: stats.tokensNotCounted - (stats.tokensNotCountedReasons[TOKENS_UNREPORTED] ?? 0),
    selfCorrections: stats.selfCorrections,
  };
  const violations = byLabel(samples, VIOL, match, LABEL.VIOLATION_KIND);
  const notCounted = byLabel(samples, NOT_COUNTED, match, LABEL.REASON);
  expect(got).toEqual({
    where,
    calls: total(outcomes),
    outcomes,
    malformed: total(violations),
    violations,
    tokens: byLabel(samples, TOKENS, match, LABEL.TOKEN_KIND),
    notCounted,
    notCountedTotal: total(notCounted),
    selfCorrections: total(byLabel(samples, SELF, match, LABEL.SERVICE_NAME)),
  });
}

/** Compares totals, every provider, model and tool of the summary with the scrape. */
function expectAllAgree(summary: Summary, samples: readonly Sample[]): number {
  let compared = 0;
  expectAgree('totals', summary.totals, samples, {});
  for (const p of summary.providers) {
    const provider = { [LABEL.GEN_AI_PROVIDER_NAME]: p.provider };
    expectAgree(p.provider, p, samples, provider);
    for (const m of p.models) expectAgree(`${p.provider}/${m.model}`, m, samples, { ...provider, [LABEL.GEN_AI_REQUEST_MODEL]: m.model });
    compared += 1 + p.models.length;
  }
  for (const t of summary.tools) {
    expectAgree(`${t.service}/${t.tool}`, t, samples, { [LABEL.SERVICE_NAME]: t.service, [LABEL.GEN_AI_TOOL_NAME]: t.tool });
    compared++;
  }
  return compared;
}

async function summaryOf(url: string): Promise<Summary> {
  const res = await fetch(`${url}/api/summary`);
  expect(res.status).toBe(200);
  return (await res.json()) as Summary;
}

const opened: Array<{ started: Started; tracer: TestTracer }> = [];

afterAll(async () => {
  for (const o of opened) {
    await o.tracer.shutdown();
    await o.started.collector.close();
  }
});

/** Sends `specs` through a real OTLP exporter to a new collector. */
async function feed(
  encoding: 'json' | 'protobuf',
  specs: readonly CallSpec[],
  options: Parameters<typeof startCollector>[0] = {},
): Promise<Started> {
  const started = await startCollector(options);
  const tracer = makeTracer(started.url, encoding, 'one-aggregation');
  opened.push({ started, tracer });
  for (const c of specs) emitCall(tracer.tracer, c);
  await tracer.flush();
  return started;
}

describe('/metrics and /api/summary read one aggregation', () => {
  it('every per-call count of the summary equals the counters, per provider, model and tool', async () => {
    const specs = calls(600, 11, Date.now() - 60_000);
    const started = await feed('json', specs);
    const [{ samples }, summary] = await Promise.all([scrape(started.url), summaryOf(started.url)]);
    const expected = specs.reduce((a, c) => a + (c.adjustedCount ?? 1), 0);
    expect(summary.totals.calls).toBe(expected);
    // The scenario reached what it is meant to compare.
    expect(summary.totals.selfCorrections).toBeGreaterThan(10);
    expect(Object.keys(summary.totals.violations)).toContain('__unknown__');
    expect(Object.keys(summary.totals.tokensNotCountedReasons).sort()).toEqual([...REASONS, '__unknown__', TOKENS_UNREPORTED].sort());
    expect(summary.tools.length).toBe(TOOLS.length);
    expect(expectAllAgree(summary, samples)).toBe(PROVIDERS.length * (1 + MODELS.length) + TOOLS.length);
    // Latencies are interpolated in the buckets, then rounded to the microsecond (no 0.018750000000000003).
    const latencies = [summary.totals, ...summary.providers, ...summary.providers.flatMap((p) => p.models), ...summary.tools].flatMap(
      (x) => [x.latency.p50, x.latency.p95, x.latency.p99],
    );
    expect(latencies.filter((v) => v === null || Math.round(v * 1e6) / 1e6 !== v)).toEqual([]);
    expect(new Set(latencies).size).toBeGreaterThan(3);
    // The collector's own counts are read from its counters too.
    const received = total(byLabel(samples, METRICS.COLLECTOR_SPANS_RECEIVED.name, {}, LABEL.ENCODING));
    expect(received).toBe(specs.length);
    expect(summary.collector.spansReceived).toBe(received);
    expect(summary.collector.spansRejected).toBe(total(byLabel(samples, METRICS.COLLECTOR_SPANS_REJECTED.name, {}, LABEL.REASON)));
  });

  it('past the cardinality cap too: the overflow series holds what the summary shows under __overflow__', async () => {
    // Room for two call label sets per counter (their violation kinds at zero need most of it).
    const specs = calls(300, 12, Date.now() - 60_000);
    const started = await feed('protobuf', specs, { cardinalityLimit: 2 * (VIOLATION_KINDS.length + 1) });
    const [{ samples }, summary] = await Promise.all([scrape(started.url), summaryOf(started.url)]);
    const overflow = summary.providers.find((p) => p.provider === OVERFLOW_LABEL_VALUE)!;
    expect(overflow.calls).toBeGreaterThan(100);
    // The summary still splits overflowed calls by outcome, which no metric label does.
    expect(Object.values(overflow.outcomes).filter((n) => n > 0).length).toBe(OUTCOMES.length);
    const match = { [LABEL.GEN_AI_PROVIDER_NAME]: OVERFLOW_LABEL_VALUE };
    expect(byLabel(samples, CALLS, match, LABEL.OUTCOME)).toEqual({ [OVERFLOW_LABEL_VALUE]: overflow.calls });
    expect(total(byLabel(samples, VIOL, match, LABEL.VIOLATION_KIND))).toBe(overflow.malformed);
    expect(total(byLabel(samples, TOKENS, match, LABEL.TOKEN_KIND))).toBe(total(overflow.tokens));
    const reasons = { ...overflow.tokensNotCountedReasons };
    delete reasons[TOKENS_UNREPORTED];
    expect(total(byLabel(samples, NOT_COUNTED, match, LABEL.REASON))).toBe(total(reasons));
    expect(total(byLabel(samples, SELF, match, LABEL.SERVICE_NAME))).toBe(overflow.selfCorrections);
    // Admitted sets agree value by value, and the totals (overflow included) agree.
    for (const p of summary.providers.filter((x) => x.provider !== OVERFLOW_LABEL_VALUE)) {
      expectAgree(p.provider, p, samples, { [LABEL.GEN_AI_PROVIDER_NAME]: p.provider });
    }
    expect(summary.totals.calls).toBe(total(byLabel(samples, CALLS, {}, LABEL.OUTCOME)));
    expect(summary.totals.calls).toBe(specs.reduce((a, c) => a + (c.adjustedCount ?? 1), 0));
    expect(summary.totals.malformed).toBe(total(byLabel(samples, VIOL, {}, LABEL.VIOLATION_KIND)));
    expect(total(summary.totals.tokens)).toBe(total(byLabel(samples, TOKENS, {}, LABEL.TOKEN_KIND)));
  });
});
