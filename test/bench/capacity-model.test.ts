import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import {
  ASSUMPTIONS,
  MEASURED,
  WORKLOADS,
  admittedCallLabelSets,
  affordableCallLabelSets,
  capacity,
  formatCapacityModel,
  labelSetSpans,
  prometheusSeriesPerCallLabelSet,
  seriesPerCallLabelSet,
  seriesPerCallLabelSetByMetric,
} from '../../bench/capacity-model.js';
import { createBenchTally } from '../../bench/collector-ingest.js';
import { LABEL, METRICS, OVERFLOW_LABEL_VALUE } from '../../contract/index.js';

// dist/test/bench -> repository root
const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Label sets per metric of a real Tally's registry after `labelSets` full call label sets. */
async function tallySeries(labelSets: number): Promise<Map<string, { labels: Record<string, string | number> }[]>> {
  const { registry, tally } = createBenchTally();
  const spans = labelSetSpans(labelSets);
  for (let i = 0; i < spans.length; i += 512) tally.record(spans.slice(i, i + 512), 'protobuf');
  const out = new Map<string, { labels: Record<string, string | number> }[]>();
  for (const m of await registry.getMetricsAsJSON()) out.set(m.name, m.values as { labels: Record<string, string | number> }[]);
  return out;
}

describe('capacity model', () => {
  it('docs/scaling.md holds the tables the script prints now', () => {
    const doc = readFileSync(join(root, 'docs/scaling.md'), 'utf8');
    const match = /<!-- capacity-model:begin -->\n([\s\S]*?)\n<!-- capacity-model:end -->/.exec(doc);
    expect(match).not.toBeNull();
    // Regenerate with: npm run build && node dist/bench/capacity-model.js
    expect(match![1]).toBe(formatCapacityModel());
  });

  it('counts a call label set as the real collector fills it: every per-call series of one set, summed over the metrics', async () => {
    const byMetric = seriesPerCallLabelSetByMetric();
    const series = await tallySeries(1);
    for (const [name, expected] of Object.entries(byMetric)) {
      const mine = (series.get(name) ?? []).filter((v) => v.labels[LABEL.GEN_AI_TOOL_NAME] === 'tool_0');
      expect({ name, series: mine.length }).toEqual({ name, series: expected });
    }
    expect(seriesPerCallLabelSet()).toBe(Object.values(byMetric).reduce((a, b) => a + b, 0));
    // The widest fan-outs: every outcome, every violation kind plus the unknown one.
    expect(byMetric[METRICS.TOOL_CALLS.name]).toBe(11);
    expect(byMetric[METRICS.TOOL_SCHEMA_VIOLATIONS.name]).toBe(11);
  });

  it('admits as many call label sets per collector as the real cardinality cap does', async () => {
    const admitted = admittedCallLabelSets(ASSUMPTIONS.cardinalityLimit);
    expect(admitted).toBe(Math.floor(ASSUMPTIONS.cardinalityLimit / 11));
    const calls = (await tallySeries(admitted + 20)).get(METRICS.TOOL_CALLS.name) ?? [];
    const tools = new Set(calls.map((v) => v.labels[LABEL.GEN_AI_TOOL_NAME]));
    tools.delete(OVERFLOW_LABEL_VALUE);
    expect(tools.size).toBe(admitted);
  }, 60_000);

  it('scales collectors with sampled spans, and Prometheus series with label sets times collectors', () => {
    const w = WORKLOADS[WORKLOADS.length - 1]!;
    const full = capacity(w);
    const perCollector = MEASURED.ingestProtobufSpansPerCpuSecond.value * ASSUMPTIONS.collectorCpuShare;
    expect(full.collectors).toBe(Math.ceil(w.callsPerSecond / perCollector));
    const sampled = capacity(w, { sampling: 0.1 });
    expect(sampled.collectors).toBe(Math.ceil((w.callsPerSecond * 0.1) / perCollector));
    // Per collector the series stay: only the number of copies falls.
    expect(sampled.labelSetsPerCollector).toBe(full.labelSetsPerCollector);
    expect(sampled.prometheusSeries / sampled.collectors).toBeCloseTo(full.prometheusSeries / full.collectors, 6);
    // Dropping the model divides the call label sets by the models per provider.
    expect(capacity(w, { dropModel: true }).callLabelSets * w.modelsPerProvider).toBe(full.callLabelSets);
    // Past the cap: the admitted sets plus one overflow set.
    expect(capacity(w, { cap: ASSUMPTIONS.cardinalityLimit }).labelSetsPerCollector).toBe(
      admittedCallLabelSets(ASSUMPTIONS.cardinalityLimit) + 1,
    );
    // The budget table inverts the same arithmetic.
    for (const wl of WORKLOADS) {
      const c = capacity(wl);
      expect(c.prometheusSeries).toBeCloseTo(c.collectors * c.callLabelSets * prometheusSeriesPerCallLabelSet(wl.modelsPerProvider), 6);
      const afforded = affordableCallLabelSets(c.prometheusMemoryBytes, c.collectors, wl.modelsPerProvider);
      expect(Math.abs(afforded - c.callLabelSets)).toBeLessThanOrEqual(1);
    }
    expect(full.diskBytesPerDay).toBeCloseTo((full.prometheusSeries / ASSUMPTIONS.scrapeIntervalSeconds) * 86_400 * 2, 0);
  });
});
