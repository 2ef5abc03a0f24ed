/**
 * The cardinality cap with a small limit: per-call metrics share one decision per call label
 * set (so calls and violations keep identical label values), other metrics are capped on
 * their own; overflowed label sets go to one series with OVERFLOW_LABEL_VALUE on every
 * label and are counted in the series-dropped counter.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LABEL, METRICS, OVERFLOW_LABEL_VALUE, VIOLATION_KINDS } from '../../contract/index.js';
import type { Summary } from '../../collector/summary-types.js';
import { countOf, emitCall, makeTracer, scrape, startCollector, sumOf, type Started, type TestTracer } from './collector-harness.js';

const LIMIT = 30;
// Each call label set reserves every violation kind plus one series for kinds the contract does not know.
const ADMITTED = Math.floor(LIMIT / (VIOLATION_KINDS.length + 1));
const TOOLS = 6;
const METHODS = 40;

let started: Started;
let t: TestTracer;

beforeAll(async () => {
  started = await startCollector({ cardinalityLimit: LIMIT });
  t = makeTracer(started.url, 'protobuf', 'svc');
  const base = Date.now() - 10_000;
  for (let i = 0; i < TOOLS; i++) {
    // Two calls per tool: one well-formed, one malformed.
    emitCall(t.tracer, { tool: `tool_${i}`, provider: 'openai', model: 'm', startMs: base + i * 10, outcome: 'ok' });
    emitCall(t.tracer, {
      tool: `tool_${i}`,
      provider: 'openai',
      model: 'm',
      startMs: base + i * 10 + 1,
      outcome: 'tool_error',
      violationKind: 'wrong_type',
    });
  }
  for (let i = 0; i < METHODS; i++) emitCall(t.tracer, { method: `custom/m${i}`, startMs: base });
  await t.flush();
});

afterAll(async () => {
  await t.shutdown();
  await started.collector.close();
});

describe('cardinality cap', () => {
  it('admits call label sets while the violations metric has room for all kinds, then overflows', async () => {
    const { samples } = await scrape(started.url);
    const calls = METRICS.TOOL_CALLS.name;
    const viol = METRICS.TOOL_SCHEMA_VIOLATIONS.name;
    const real = new Set(
      samples
        .filter((s) => s.name === calls && s.labels[LABEL.GEN_AI_TOOL_NAME] !== OVERFLOW_LABEL_VALUE)
        .map((s) => s.labels[LABEL.GEN_AI_TOOL_NAME]),
    );
    expect(real.size).toBe(ADMITTED);
    expect(countOf(samples, viol)).toBeLessThanOrEqual(LIMIT + 1);
    const overflow = Object.fromEntries(METRICS.TOOL_CALLS.labels.map((l) => [l, OVERFLOW_LABEL_VALUE]));
    // Every label of the overflow series is the overflow value, and totals are kept.
    expect(countOf(samples, calls, overflow)).toBe(1);
    expect(sumOf(samples, calls, overflow)).toBe(2 * (TOOLS - ADMITTED));
    expect(sumOf(samples, calls)).toBe(2 * TOOLS);
    const violOverflow = Object.fromEntries(METRICS.TOOL_SCHEMA_VIOLATIONS.labels.map((l) => [l, OVERFLOW_LABEL_VALUE]));
    expect(sumOf(samples, viol, violOverflow)).toBe(TOOLS - ADMITTED);
    expect(sumOf(samples, viol)).toBe(TOOLS);
    // The malformed ratio of the overflow "provider" is computed from identical label values.
    const byProvider = { [LABEL.GEN_AI_PROVIDER_NAME]: OVERFLOW_LABEL_VALUE };
    expect(sumOf(samples, viol, byProvider) / sumOf(samples, calls, byProvider)).toBe(0.5);
    const dropped = METRICS.COLLECTOR_SERIES_DROPPED.name;
    expect(sumOf(samples, dropped, { [LABEL.METRIC]: calls })).toBe(TOOLS - ADMITTED);
    expect(sumOf(samples, dropped, { [LABEL.METRIC]: viol })).toBe(TOOLS - ADMITTED);
  });

  it('caps the duration histogram on its own label sets', async () => {
    const { samples } = await scrape(started.url);
    const dur = `${METRICS.SERVER_OPERATION_DURATION.name}_count`;
    expect(countOf(samples, dur)).toBe(LIMIT + 1);
    expect(sumOf(samples, dur)).toBe(2 * TOOLS + METHODS);
    const overflowSeries = samples.find((s) => s.name === dur && s.labels[LABEL.MCP_METHOD_NAME] === OVERFLOW_LABEL_VALUE)!;
    expect(Object.values(overflowSeries.labels).every((v) => v === OVERFLOW_LABEL_VALUE)).toBe(true);
    // One label set per tool (tools/call) plus one per custom method; past LIMIT each is dropped once.
    const expectedDropped = TOOLS + METHODS - LIMIT;
    expect(sumOf(samples, METRICS.COLLECTOR_SERIES_DROPPED.name, { [LABEL.METRIC]: METRICS.SERVER_OPERATION_DURATION.name })).toBe(
      expectedDropped,
    );
    const summary = (await (await fetch(`${started.url}/api/summary`)).json()) as Summary;
    expect(summary.collector.seriesDropped).toBe(sumOf(samples, METRICS.COLLECTOR_SERIES_DROPPED.name));
    expect(summary.tools.filter((x) => x.tool !== OVERFLOW_LABEL_VALUE).length).toBe(ADMITTED);
  });
});
