/**
 * Small PromQL builders. Every metric and label name comes from the telemetry contract;
 * these helpers only assemble them, so a query cannot spell a name by hand.
 */
import { ERROR_OUTCOMES, LABEL, METRICS, type LabelName, type MetricDefinition, type Outcome } from '../contract/index.js';

/** One label matcher: `label op "value"`. */
export interface Matcher {
  readonly label: LabelName;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
}

/** `label=~"$variable"`: the filter of a multi-value dashboard variable. */
export function matchVariable(label: LabelName, variable: string): Matcher {
  return { label, op: '=~', value: `$${variable}` };
}

/** `label="value"`. */
export function eq(label: LabelName, value: string): Matcher {
  return { label, op: '=', value };
}

/** `label!="value"`. */
export function neq(label: LabelName, value: string): Matcher {
  return { label, op: '!=', value };
}

/** `label=~"a|b|c"` for a set of literal values (escaped for the regex). */
export function oneOf(label: LabelName, values: readonly string[]): Matcher {
  return { label, op: '=~', value: values.map(escapeRegex).join('|') };
}

/** `label!~"regex"`. */
export function notMatch(label: LabelName, value: string): Matcher {
  return { label, op: '!~', value };
}

function escapeRegex(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function quote(value: string): string {
  return JSON.stringify(value);
}

/** Which series of a metric a selector names: the plain name, or a histogram's `_bucket`, `_sum`, `_count`. */
export type Series = 'value' | 'bucket' | 'sum' | 'count';

/** A vector selector `name{matchers}` for a metric of the contract's catalog. */
export function selector(metric: MetricDefinition, matchers: readonly Matcher[] = [], series: Series = 'value'): string {
  const name = series === 'value' ? metric.name : `${metric.name}_${series}`;
  for (const m of matchers) {
    if (!metric.labels.includes(m.label)) {
      throw new Error(`PromQL builder: metric ${metric.name} has no label ${m.label}`);
    }
  }
  if (matchers.length === 0) return name;
  return `${name}{${matchers.map((m) => `${m.label}${m.op}${quote(m.value)}`).join(', ')}}`;
}

/** `sum by (labels) (inner)`, or `sum(inner)` without labels. */
export function sumBy(labels: readonly LabelName[], inner: string): string {
  return labels.length === 0 ? `sum(${inner})` : `sum by (${labels.join(', ')}) (${inner})`;
}

/**
 * `max by (labels) (inner)`: for gauges that every collector replica may hold a copy of
 * (the catalog's token count), where a sum over instances would count the same value twice.
 */
export function maxBy(labels: readonly LabelName[], inner: string): string {
  return labels.length === 0 ? `max(${inner})` : `max by (${labels.join(', ')}) (${inner})`;
}

/** `rate(selector[window])`. */
export function rate(sel: string, window: string): string {
  return `rate(${sel}[${window}])`;
}

/** `increase(selector[window])`. */
export function increase(sel: string, window: string): string {
  return `increase(${sel}[${window}])`;
}

/** `histogram_quantile(q, sum by (le, labels) (rate(metric_bucket{...}[window])))`. */
export function quantile(
  q: number,
  metric: MetricDefinition,
  matchers: readonly Matcher[],
  by: readonly LabelName[],
  window: string,
): string {
  if (metric.type !== 'histogram') throw new Error(`PromQL builder: ${metric.name} is not a histogram`);
  // `le` is Prometheus' own bucket label, not a telemetry name.
  return `histogram_quantile(${q}, sum by (le${by.map((l) => `, ${l}`).join('')}) (${rate(selector(metric, matchers, 'bucket'), window)}))`;
}

/** One side's pair of call counters: the calls and the malformed ones among them. */
export interface CallView {
  readonly calls: MetricDefinition;
  readonly violations: MetricDefinition;
}

/** The server view: calls as the instrumented servers handled and graded them. */
export const SERVER_VIEW: CallView = { calls: METRICS.TOOL_CALLS, violations: METRICS.TOOL_SCHEMA_VIOLATIONS };

/**
 * The client view: the same calls as the instrumented agents sent them, graded against the
 * tools they listed (also for servers nobody instruments). Never add it to the server view:
 * a call between an instrumented agent and an instrumented server is counted once on each side.
 */
export const CLIENT_VIEW: CallView = { calls: METRICS.CLIENT_TOOL_CALLS, violations: METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS };

/**
 * The malformed-call ratio of one view: violations over calls, summed by `by`, over `window`.
 * Reads 0 for a clean label set because the collector creates violation series at zero.
 */
export function malformedRatio(
  matchers: readonly Matcher[],
  by: readonly LabelName[],
  window: string,
  view: CallView = SERVER_VIEW,
): string {
  return `${sumBy(by, rate(selector(view.violations, matchers), window))} / ${sumBy(by, rate(selector(view.calls, matchers), window))}`;
}

/**
 * Calls with one of `outcomes` over all calls, summed by `by`. `or ... * 0` keeps a 0 where no
 * series of those outcomes exists yet (the collector creates outcome series on first use).
 */
export function outcomeRatio(outcomes: readonly Outcome[], matchers: readonly Matcher[], by: readonly LabelName[], window: string): string {
  const all = sumBy(by, rate(selector(METRICS.TOOL_CALLS, matchers), window));
  return `(${outcomeRate(outcomes, matchers, by, window)} or ${all} * 0) / ${all}`;
}

/** Calls per second with one of `outcomes`, summed by `by`; no series where none happened (see {@link outcomeRateOrZero}). */
export function outcomeRate(outcomes: readonly Outcome[], matchers: readonly Matcher[], by: readonly LabelName[], window: string): string {
  return sumBy(by, rate(selector(METRICS.TOOL_CALLS, [...matchers, oneOf(LABEL.OUTCOME, outcomes)]), window));
}

/** {@link outcomeRate}, reading 0 for every label set that has calls but none with those outcomes. */
export function outcomeRateOrZero(
  outcomes: readonly Outcome[],
  matchers: readonly Matcher[],
  by: readonly LabelName[],
  window: string,
): string {
  return `${outcomeRate(outcomes, matchers, by, window)} or ${sumBy(by, rate(selector(METRICS.TOOL_CALLS, matchers), window))} * 0`;
}

/** The error ratio: calls with an error outcome (the contract's ERROR_OUTCOMES) over all calls, 0 where no error series exists yet. */
export function errorRatio(matchers: readonly Matcher[], by: readonly LabelName[], window: string): string {
  return outcomeRatio(ERROR_OUTCOMES, matchers, by, window);
}

/** Every metric name (with histogram suffixes) the contract's catalog allows in a query. */
export function catalogSeriesNames(): Set<string> {
  const names = new Set<string>();
  for (const m of Object.values(METRICS) as MetricDefinition[]) {
    names.add(m.name);
    if (m.type === 'histogram') for (const s of ['bucket', 'sum', 'count']) names.add(`${m.name}_${s}`);
  }
  return names;
}

/** Seconds in a Prometheus duration such as `5m` or `1h30m`. */
export function durationSeconds(d: string): number {
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  for (const m of d.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 1);
  return total;
}
