/**
 * Registers every metric of the contract's METRICS catalog on an injected prom-client
 * registry (never the global one). The registry should be an OpenMetrics registry so that
 * exemplars render; see exposition.ts for the classic text format.
 */
import { Counter, Gauge, Histogram, type Registry, type RegistryContentType } from 'prom-client';
import { METRICS, type MetricDefinition, EXEMPLAR_LABEL } from '../contract/index.js';

/** The collector's prom-client instruments, by catalog key. */
export interface CollectorMetrics {
  calls: Counter<string>;
  violations: Counter<string>;
  /** The client view: tools/call as instrumented clients sent them (CLIENT spans). */
  clientCalls: Counter<string>;
  clientViolations: Counter<string>;
  duration: Histogram<string>;
  tokens: Counter<string>;
  tokensNotCounted: Counter<string>;
  catalogTool: Gauge<string>;
  catalogTotal: Gauge<string>;
  selfCorrections: Counter<string>;
  /** Last known breaker state per (service, instance, tool), from BREAKER_TRANSITION events. */
  breakerState: Gauge<string>;
  /** tools/call refused by the authorization guard, per (service, tool, client). */
  unauthorizedCalls: Counter<string>;
  spansReceived: Counter<string>;
  spansRejected: Counter<string>;
  seriesDropped: Counter<string>;
  requestDuration: Histogram<string>;
  forwardSent: Counter<string>;
  forwardDropped: Counter<string>;
  labelValuesRewritten: Counter<string>;
  attributeValuesRejected: Counter<string>;
}

function counter(def: MetricDefinition, registry: Registry<RegistryContentType>): Counter<string> {
  return new Counter({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] });
}

function gauge(def: MetricDefinition, registry: Registry<RegistryContentType>): Gauge<string> {
  return new Gauge({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] });
}

function histogram(def: MetricDefinition, registry: Registry<RegistryContentType>, enableExemplars: boolean): Histogram<string> {
  return new Histogram({
    name: def.name,
    help: def.help,
    labelNames: [...def.labels],
    buckets: [...(def.buckets ?? [])],
    registers: [registry],
    enableExemplars,
  });
}

/** Creates and registers the catalog's metrics. Exemplars (trace_id) are enabled on the MCP duration histogram. */
export function createCollectorMetrics(registry: Registry<RegistryContentType>): CollectorMetrics {
  return {
    calls: counter(METRICS.TOOL_CALLS, registry),
    violations: counter(METRICS.TOOL_SCHEMA_VIOLATIONS, registry),
    clientCalls: counter(METRICS.CLIENT_TOOL_CALLS, registry),
    clientViolations: counter(METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS, registry),
    duration: histogram(METRICS.SERVER_OPERATION_DURATION, registry, true),
    tokens: counter(METRICS.TOOL_TOKENS, registry),
    tokensNotCounted: counter(METRICS.TOOL_TOKENS_NOT_COUNTED, registry),
    catalogTool: gauge(METRICS.TOOL_CATALOG_TOOL_TOKENS, registry),
    catalogTotal: gauge(METRICS.TOOL_CATALOG_TOKENS, registry),
    selfCorrections: counter(METRICS.TOOL_SELF_CORRECTIONS, registry),
    breakerState: gauge(METRICS.TOOL_CIRCUIT_BREAKER_STATE, registry),
    unauthorizedCalls: counter(METRICS.TOOL_UNAUTHORIZED_CALLS, registry),
    spansReceived: counter(METRICS.COLLECTOR_SPANS_RECEIVED, registry),
    spansRejected: counter(METRICS.COLLECTOR_SPANS_REJECTED, registry),
    seriesDropped: counter(METRICS.COLLECTOR_SERIES_DROPPED, registry),
    requestDuration: histogram(METRICS.COLLECTOR_REQUEST_DURATION, registry, false),
    forwardSent: counter(METRICS.COLLECTOR_FORWARD_SENT, registry),
    forwardDropped: counter(METRICS.COLLECTOR_FORWARD_DROPPED, registry),
    labelValuesRewritten: counter(METRICS.COLLECTOR_LABEL_VALUES_REWRITTEN, registry),
    attributeValuesRejected: counter(METRICS.COLLECTOR_ATTRIBUTE_VALUES_REJECTED, registry),
  };
}

/*
 * Pre-resolved series ("cells"). prom-client hashes the label object into a string on every
 * `inc`/`observe` (and validates every label), which at 200k spans/s is most of the tally's
 * time. A cell resolves its series once: the first update goes through prom-client's public
 * API (creating the series as prom-client itself does), then the cell keeps a reference to the series'
 * entry in the metric's store and updates it in place with the same arithmetic prom-client
 * uses (`value += n`; `sum += v`, `count += 1`, bucket `+= 1`, latest exemplar per bucket),
 * so scrapes see exactly the values the public API would have produced.
 *
 * That store is prom-client's internal `hashMap` (15.x). The cell checks the entry it found
 * holds its very label object, and re-checks the store's identity on every update (a
 * `reset()` replaces it); when either check fails it falls back to the public API, so a
 * prom-client that stores series differently is slower, never wrong. (`remove()` and
 * `zero()` of a series a cell holds would orphan its entry: the collector calls neither.)
 */

interface CounterEntry {
  value: number;
  labels: Record<string, string>;
}

interface ExemplarEntry {
  labelSet: Record<string, string>;
  value: number;
  timestamp?: number;
}

interface HistogramEntry {
  labels: Record<string, string>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
  bucketExemplars?: Record<string, ExemplarEntry | null>;
}

interface Internals<E> {
  hashMap: Record<string, E>;
  sortedLabelNames: readonly string[];
  upperBounds?: readonly number[];
}

/** prom-client's series key for a label set (lib/util.js fastHashObject); checked by identity before use. */
function seriesHash(sortedLabelNames: readonly string[], labels: Record<string, string>): string {
  let hash = '';
  for (const key of sortedLabelNames) {
    const value = labels[key];
    if (value === undefined) continue;
    hash += `${key}:${value},`;
  }
  return hash;
}

/** The entry of `labels` in a metric's internal store, or undefined when prom-client stores it some other way. */
function findEntry<E extends { labels: Record<string, string> }>(
  metric: unknown,
  labels: Record<string, string>,
): { map: Record<string, E>; entry: E } | undefined {
  const m = metric as Partial<Internals<E>>;
  if (m.hashMap === null || typeof m.hashMap !== 'object' || !Array.isArray(m.sortedLabelNames)) return undefined;
  const entry = m.hashMap[seriesHash(m.sortedLabelNames, labels)];
  if (entry === undefined || entry === null || entry.labels !== labels) return undefined;
  return { map: m.hashMap, entry };
}

/**
 * A count kept in exactly one place and read from there: the tally's per-call counts (see
 * tally.ts), which both `/metrics` and `/api/summary` read.
 */
export interface Count {
  readonly value: number;
  inc(value: number): void;
}

/** One series of a counter: `inc` without hashing labels; `value` reads the series itself. */
export class CounterCell implements Count {
  readonly labels: Record<string, string>;
  private readonly counter: Counter<string>;
  private map: Record<string, CounterEntry> | undefined;
  private entry: CounterEntry | undefined;
  /** What went through the public API, the value only while prom-client's store cannot be read (see `value`). */
  private viaApi = 0;

  /** Creates the series at zero (as `counter.inc(labels, 0)` does). */
  constructor(counter: Counter<string>, labels: Record<string, string>) {
    this.counter = counter;
    this.labels = labels;
    this.slowInc(0);
  }

  /** True while updates bypass prom-client's hashing (for tests). */
  get fast(): boolean {
    return this.entry !== undefined && this.map === (this.counter as unknown as Internals<CounterEntry>).hashMap;
  }

  /**
   * The series' value, read where prom-client keeps it. When prom-client stores series some
   * other way (never with 15.x) it is the sum of what this cell added, as prom-client's
   * `get()` is async.
   */
  get value(): number {
    return this.fast ? this.entry!.value : this.viaApi;
  }

  /** Adds `value` (same checks as prom-client: a non-finite or negative value throws). */
  inc(value: number): void {
    const entry = this.entry;
    if (
      entry !== undefined &&
      this.map === (this.counter as unknown as Internals<CounterEntry>).hashMap &&
      value >= 0 &&
      value < Infinity
    ) {
      entry.value += value;
      return;
    }
    this.slowInc(value);
  }

  private slowInc(value: number): void {
    this.counter.inc(this.labels, value);
    this.viaApi += value;
    const found = findEntry<CounterEntry>(this.counter, this.labels);
    this.map = found?.map;
    this.entry = found !== undefined && typeof found.entry.value === 'number' ? found.entry : undefined;
  }
}

/**
 * One value's share of a series that has no label for that value (the overflow series: every
 * label is the overflow value). The series counts the total, the share only its part, which
 * no metric holds (the summary splits overflowed calls by outcome, kind and token kind).
 */
export class ShareCount implements Count {
  value = 0;
  private readonly series: CounterCell;

  constructor(series: CounterCell) {
    this.series = series;
  }

  inc(value: number): void {
    this.series.inc(value);
    this.value += value;
  }
}

/**
 * A copy of a histogram series' per-bucket object (`bucketValues` / `bucketExemplars`) in
 * dictionary ("slow") elements. prom-client keys them by bucket bound; bounds that are
 * integers (1, 2, ..., 300 for the semconv buckets) are array indices to V8, which then
 * allocates a holey backing store up to the largest one: about 3.8 kB per object, 7.7 kB
 * per series, 77 MB at 10,000 series. A property with non-default attributes forces
 * dictionary elements (about 0.5 kB per object). Same keys, same values, same order.
 */
function compactBuckets<V>(source: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const key of Object.keys(source)) {
    Object.defineProperty(out, key, { value: source[key], writable: true, enumerable: true, configurable: false });
  }
  return out;
}

/** Bucket keys per histogram, shared by its cells. */
const BUCKET_KEYS = new WeakMap<object, readonly string[]>();

/** One series of a histogram with exemplars: `observe` without hashing labels. */
export class HistogramCell {
  readonly labels: Record<string, string>;
  private readonly histogram: Histogram<string>;
  private readonly bounds: readonly number[];
  /** Keys of `bucketValues` / `bucketExemplars` per bound, '-1' for +Inf (as prom-client keys them). */
  private readonly keys: readonly string[];
  private map: Record<string, HistogramEntry> | undefined;
  private entry: HistogramEntry | undefined;

  constructor(histogram: Histogram<string>, labels: Record<string, string>) {
    this.histogram = histogram;
    this.labels = labels;
    const bounds = (histogram as unknown as Partial<Internals<HistogramEntry>>).upperBounds;
    this.bounds = Array.isArray(bounds) ? bounds : [];
    let keys = BUCKET_KEYS.get(histogram);
    if (keys === undefined) BUCKET_KEYS.set(histogram, (keys = [...this.bounds.map(String), '-1']));
    this.keys = keys;
  }

  /** True while updates bypass prom-client's hashing (for tests). */
  get fast(): boolean {
    return this.entry !== undefined && this.map === (this.histogram as unknown as Internals<HistogramEntry>).hashMap;
  }

  /**
   * Observes `value` `times` times (at least once); the first observation carries the
   * exemplar `{trace_id}` stamped `timestampSeconds`, like `observe({labels, value,
   * exemplarLabels})` followed by `times - 1` plain `observe({labels, value})` calls.
   */
  observe(value: number, times: number, traceId: string, timestampSeconds: number): void {
    const entry = this.entry;
    if (entry === undefined || this.map !== (this.histogram as unknown as Internals<HistogramEntry>).hashMap || !Number.isFinite(value)) {
      this.slowObserve(value, times, traceId);
      return;
    }
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && !(value <= bounds[b]!)) b++;
    const key = this.keys[b]!;
    const exemplars = entry.bucketExemplars;
    const exemplar = exemplars?.[key];
    if (exemplar === undefined || exemplar === null) {
      // First exemplar of this bucket: prom-client creates it (and validates the label set).
      this.slowObserve(value, times, traceId);
      return;
    }
    const buckets = entry.bucketValues;
    const inFinite = b < bounds.length;
    for (let i = 0; i < times || i === 0; i++) {
      entry.sum += value;
      entry.count += 1;
      if (inFinite) buckets[key]! += 1;
    }
    // The label set object is this cell's own (see slowObserve): updated in place, no allocation per span.
    exemplar.labelSet[EXEMPLAR_LABEL.TRACE_ID] = traceId;
    exemplar.value = value;
    exemplar.timestamp = timestampSeconds;
  }

  private slowObserve(value: number, times: number, traceId: string): void {
    this.histogram.observe({ labels: this.labels, value, exemplarLabels: { [EXEMPLAR_LABEL.TRACE_ID]: traceId } });
    for (let i = 1; i < times; i++) this.histogram.observe({ labels: this.labels, value });
    const found = findEntry<HistogramEntry>(this.histogram, this.labels);
    const entry =
      found !== undefined &&
      typeof found.entry.sum === 'number' &&
      found.entry.bucketValues !== null &&
      typeof found.entry.bucketValues === 'object'
        ? found.entry
        : undefined;
    if (entry !== undefined && entry !== this.entry) {
      entry.bucketValues = compactBuckets(entry.bucketValues);
      if (entry.bucketExemplars !== undefined && entry.bucketExemplars !== null)
        entry.bucketExemplars = compactBuckets(entry.bucketExemplars);
    }
    this.map = found?.map;
    this.entry = entry;
  }
}
