/**
 * Every query the generated dashboards and rules use, rewritten to one short range window, and
 * the comparison of two Prometheus' answers to them within what scrape timing allows. Used by
 * test/e2e/multi-collector.test.ts to compare two collectors against one fed everything.
 */
import { METRICS } from '../../contract/index.js';
import { alertDefinitions, alertExpr, dashboardModels, DASHBOARD_UID, recordingDefinitions, VAR } from '../../dashboards/index.js';
import type { ResolvedOptions } from '../../dashboards/index.js';
import { metricNamesIn } from '../../dashboards/lint.js';
import { defaultSubstitutions, substituteVariables } from '../../dashboards/template-vars.js';

/** One query to run on both sides. */
export interface ParityQuery {
  /** Where it comes from: dashboard and panel, recording rule or alert. */
  readonly where: string;
  readonly expr: string;
  /**
   * The expression whose form (a ratio, a quantile) sets the tolerance: `expr`, or for a recorded
   * series the rule's own expression (the series name shows neither).
   */
  readonly shape: string;
  /** Series names it reads (for recorded series: those of the rule's expression). */
  readonly metrics: readonly string[];
  /** `threshold`: an alerting expression, empty wherever nothing is above its threshold. */
  readonly kind: 'value' | 'threshold';
  /** For an alert's value: the threshold its alerting expression compares it with. */
  readonly threshold?: number;
}

/** A result row of an instant query. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * The queries of every dashboard panel, recording rule and alert of options `o` (whose
 * `rateWindow` is the window), with Grafana's range macros set to the same window and label
 * variables set to "All" (`.*`), as Grafana sends them. The provider drill-down's provider
 * variable is single-valued (it has no "All"): there it is `drillDownProvider`, so its
 * "other providers" queries have data too. Each alert is run twice: its value (the expression
 * without the threshold) and its alerting expression (which series are above the threshold).
 */
export function parityQueries(o: ResolvedOptions, drillDownProvider: string): ParityQuery[] {
  const out: ParityQuery[] = [];
  const macros = { __rate_interval: o.rateWindow, __range: o.rateWindow, __interval: o.rateWindow };
  for (const { model } of dashboardModels(o)) {
    const values = defaultSubstitutions({
      ...macros,
      ...(model.uid === DASHBOARD_UID.PROVIDER ? { [VAR.PROVIDER]: drillDownProvider } : {}),
    });
    for (const p of model.panels as Array<{ id: number; title: string; targets: Array<{ refId: string; expr: string }> }>) {
      for (const t of p.targets) {
        const expr = substituteVariables(t.expr, values);
        out.push({
          where: `${String(model.uid)} #${p.id} ${t.refId} "${p.title}"`,
          expr,
          shape: expr,
          metrics: metricNamesIn(expr),
          kind: 'value',
        });
      }
    }
  }
  for (const r of recordingDefinitions(o))
    out.push({ where: `recording ${r.record}`, expr: r.record, shape: r.expr, metrics: metricNamesIn(r.expr), kind: 'value' });
  for (const d of alertDefinitions(o)) {
    out.push({
      where: `alert ${d.name} (value)`,
      expr: d.query,
      shape: d.query,
      metrics: metricNamesIn(d.query),
      kind: 'value',
      threshold: d.threshold,
    });
    out.push({
      where: `alert ${d.name} (> ${d.threshold})`,
      expr: alertExpr(d),
      shape: d.query,
      metrics: metricNamesIn(d.query),
      kind: 'threshold',
    });
  }
  return out;
}

/**
 * How far two answers may differ. Every counter series of the workload grows steadily, by whole
 * calls, at `minRate` calls per second or more (tokens: a fixed number per call), and reaches the
 * collectors in export batches at most `batchS` seconds after the call. Each Prometheus samples
 * every `scrapeS` seconds at its own phase, and rate() over a window of `windowS` divides the
 * increase between the first and last sample in the window by their distance (extrapolating to
 * the window scales increase and distance alike). A sample taken at t holds the calls up to t,
 * less those still in a batch and the fraction of a call not yet made: between r·t − (r·batchS + 1)
 * and r·t. The two sides take their samples at different moments but each divides by its own
 * distance, so only that shortfall differs, at each edge of the window:
 *   |rate_pair − rate_ref| / r ≤ 2·(r·batchS + 1) / (r·(windowS − 2·scrapeS))
 * (the sampled span is at least windowS − 2·scrapeS). It is largest for the slowest series; a sum
 * over series keeps it; a ratio of two sums can add the bounds of numerator and denominator,
 * hence twice the bound for an expression with a division. The absolute floor, one call over the
 * window, is for rates near zero; ratios and quantiles get none.
 */
export function tolerance(
  windowS: number,
  scrapeS: number,
  batchS: number,
  minRate: number,
): { relative: number; ratioRelative: number; floor: number } {
  const relative = (2 * (minRate * batchS + 1)) / (minRate * (windowS - 2 * scrapeS));
  return { relative, ratioRelative: 2 * relative, floor: 1 / windowS };
}

/** One query whose answers differ, for the failure table. */
export interface Difference {
  where: string;
  labels: string;
  reference: string;
  pair: string;
  why: string;
}

/** A result's label set, without the target's own labels, as a key. */
export function labelKey(metric: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(metric)
      .filter(([k]) => k !== 'instance' && k !== 'job' && k !== 'pod')
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/** The bucket of the duration histogram a quantile value falls in (its upper bound), so two estimates can be compared by bucket. */
function bucketOf(v: number): number {
  const bounds = METRICS.SERVER_OPERATION_DURATION.buckets ?? [];
  return bounds.find((b) => v <= b) ?? Infinity;
}

/**
 * Compares two answers to one query: the same label sets, and per label set values within the
 * tolerance (NaN equals NaN: 0/0 on both sides). A `histogram_quantile` value also passes when
 * both fall in the same bucket of the histogram: within a bucket the estimate is a linear
 * interpolation whose position moves with the bucket counts of the window.
 */
export function compareAnswers(q: ParityQuery, ref: Sample[], pair: Sample[], tol: ReturnType<typeof tolerance>): Difference[] {
  const byKey = (rows: Sample[]): Map<string, number> => new Map(rows.map((r) => [labelKey(r.metric), Number(r.value[1])]));
  const r = byKey(ref);
  const p = byKey(pair);
  const diffs: Difference[] = [];
  const isRatio = q.shape.includes(' / ');
  const rel = isRatio ? tol.ratioRelative : tol.relative;
  const isQuantile = q.shape.includes('histogram_quantile(');
  for (const key of new Set([...r.keys(), ...p.keys()])) {
    const a = r.get(key);
    const b = p.get(key);
    const row = { where: q.where, labels: key, reference: String(a ?? '(none)'), pair: String(b ?? '(none)') };
    if (a === undefined || b === undefined) {
      diffs.push({ ...row, why: 'label set on one side only' });
      continue;
    }
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (a === b) continue;
    // The floor is one call over the window: a rate's unit. Ratios and quantiles (seconds) have other units: relative only.
    const floor = isQuantile || isRatio ? 0 : tol.floor;
    if (Math.abs(a - b) <= Math.max(floor, rel * Math.max(Math.abs(a), Math.abs(b)))) continue;
    if (isQuantile && Number.isFinite(a) && bucketOf(a) === bucketOf(b)) continue;
    diffs.push({ ...row, why: `differs by ${((100 * Math.abs(a - b)) / Math.max(Math.abs(a), Math.abs(b))).toFixed(1)}%` });
  }
  return diffs;
}

/** The differences as a table for the failure message. */
export function differenceTable(diffs: Difference[]): string {
  return diffs.map((d) => `${d.where}\n    ${d.labels}\n    reference ${d.reference}  pair ${d.pair}  (${d.why})`).join('\n');
}
