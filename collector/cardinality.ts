/**
 * The cardinality cap. Each metric may hold at most `limit` label sets (series); past it,
 * new label sets are sent to one overflow series whose every label is
 * OVERFLOW_LABEL_VALUE (so a metric holds at most `limit + 1` series), and the
 * `mcplens_collector_series_dropped_total{metric}` counter says how many label sets went there.
 *
 * Per-call metrics (calls, violations, tokens, self-corrections) share one decision per
 * call key (service, tool, provider, model): a call key is admitted only while every one of
 * those metrics still has room for all the series that key can create (its fan-out, e.g. one
 * per violation kind, which are created at zero). That keeps the label values of the calls
 * and violations counters identical, so their ratio by provider stays right at the cap. The
 * client view's two counters are one more such group, keyed by its own label set (service,
 * server, tool, provider, model).
 */
import type { Counter } from 'prom-client';
import { LABEL, OVERFLOW_LABEL_VALUE } from '../contract/index.js';

/** Options of {@link CardinalityGuard}. */
export interface CardinalityGuardOptions {
  /** Series per metric (default 10,000 in the collector's config). */
  limit: number;
  /** The series-dropped counter (`mcplens_collector_series_dropped_total`, label `metric`). */
  dropped: Counter<string>;
}

/** Decides, per metric, which label sets become series and which go to the overflow series. */
export class CardinalityGuard {
  readonly limit: number;
  private readonly dropped: Counter<string>;
  /** Admitted label-set keys per metric. */
  private readonly seen = new Map<string, Set<string>>();
  /** Series reserved per metric (admitted sets plus group fan-out reservations). */
  private readonly used = new Map<string, number>();
  /** Admitted group keys per group. */
  private readonly groups = new Map<string, Set<string>>();
  /** Dropped label-set keys per metric, remembered up to `limit` so each is counted once. */
  private readonly droppedKeys = new Map<string, Set<string>>();
  private readonly overflowCache = new Map<string, Record<string, string>>();

  constructor(options: CardinalityGuardOptions) {
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
      throw new RangeError(`CardinalityGuard: limit ${String(options.limit)} must be an integer of at least 1`);
    }
    this.limit = options.limit;
    this.dropped = options.dropped;
  }

  /** The label set with OVERFLOW_LABEL_VALUE on every label. */
  overflowLabels(metric: string, labelNames: readonly string[]): Record<string, string> {
    let o = this.overflowCache.get(metric);
    if (!o) {
      o = Object.fromEntries(labelNames.map((n) => [n, OVERFLOW_LABEL_VALUE]));
      this.overflowCache.set(metric, o);
    }
    return o;
  }

  /**
   * For a metric whose label sets are independent of other metrics: returns `labels` when
   * the set is already a series or there is room for one more, else the overflow labels.
   */
  resolve(metric: string, labelNames: readonly string[], labels: Record<string, string>): Record<string, string> {
    const key = labelKey(labelNames, labels);
    let set = this.seen.get(metric);
    if (!set) this.seen.set(metric, (set = new Set()));
    if (set.has(key)) return labels;
    const used = this.used.get(metric) ?? 0;
    if (used < this.limit) {
      set.add(key);
      this.used.set(metric, used + 1);
      return labels;
    }
    this.noteDropped(metric, key);
    return this.overflowLabels(metric, labelNames);
  }

  /**
   * Admits a group key (e.g. a call key) if every metric in `fanout` still has room for the
   * given number of series; reserves them. Returns whether the key is (now) admitted.
   */
  admitGroup(group: string, key: string, fanout: Readonly<Record<string, number>>): boolean {
    let set = this.groups.get(group);
    if (!set) this.groups.set(group, (set = new Set()));
    if (set.has(key)) return true;
    for (const [metric, n] of Object.entries(fanout)) {
      if ((this.used.get(metric) ?? 0) + n > this.limit) return false;
    }
    for (const [metric, n] of Object.entries(fanout)) this.used.set(metric, (this.used.get(metric) ?? 0) + n);
    set.add(key);
    return true;
  }

  /**
   * Frees the series an admitted group key reserved (see {@link admitGroup}) once its series were
   * removed, so the cap bounds the series that exist: a metric whose series come and go (breaker
   * states of replicas that are replaced) does not fill up with series long gone. A key that was
   * not admitted changes nothing.
   */
  releaseGroup(group: string, key: string, fanout: Readonly<Record<string, number>>): void {
    if (this.groups.get(group)?.delete(key) !== true) return;
    for (const [metric, n] of Object.entries(fanout)) this.used.set(metric, this.used.get(metric)! - n);
  }

  /**
   * Counts a label set sent to the overflow series of `metric`, once per distinct set while
   * at most `limit` dropped sets are remembered (bounded memory); past that, every occurrence
   * counts, so the counter is then an upper bound.
   */
  noteDropped(metric: string, key: string): void {
    let set = this.droppedKeys.get(metric);
    if (!set) this.droppedKeys.set(metric, (set = new Set()));
    if (set.has(key)) return;
    if (set.size < this.limit) set.add(key);
    this.dropped.inc({ [LABEL.METRIC]: metric });
  }
}

/**
 * A key for a label set that no two different sets share, whatever their values hold: each
 * value is preceded by its length (a separator alone would not do: values may hold it unless
 * every caller sanitised them first).
 */
export function labelKey(labelNames: readonly string[], labels: Record<string, string>): string {
  let key = '';
  for (const n of labelNames) {
    const v = labels[n] ?? '';
    key += `${v.length}:${v}`;
  }
  return key;
}

/** The key of a tuple of label values, in the form of {@link labelKey}. */
export function valuesKey(values: readonly string[]): string {
  let key = '';
  for (const v of values) key += `${v.length}:${v}`;
  return key;
}
