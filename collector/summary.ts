/**
 * The in-memory aggregates behind `GET /api/summary` (shape: summary-types.ts). The tally
 * feeds it the same resolved label values it gives the metrics (so the cardinality cap
 * bounds it too), plus what must not be a label (the real tool name, field paths, trace ids)
 * for the bounded ring of recent malformed calls.
 */
import { DURATION_BUCKETS_SECONDS, OUTCOMES, CALL_TOKEN_KINDS } from '../contract/index.js';
import type {
  CallStats,
  CatalogSummary,
  LatencySummary,
  ProviderSummary,
  RecentViolation,
  Summary,
  ToolSummary,
} from './summary-types.js';

/** One tools/call, as recorded in the summary. Label values are the resolved ones. */
export interface SummaryCall {
  service: string;
  /** Tool label value (may be `__unknown__` / `__overflow__`). */
  tool: string;
  /** The tool name as called, for recent violations. */
  toolName: string;
  provider: string;
  model: string;
  outcome: string;
  /** Primary violation kind, or undefined for a well-formed call. */
  kind: string | undefined;
  paths: string[];
  durationSeconds: number;
  tokens: Partial<Record<string, number>>;
  /** Why the call's tokens are unknown (a contract reason, `__unknown__`, or TOKENS_UNREPORTED); undefined when counted. */
  tokensNotCounted: string | undefined;
  /** Adjusted count (1 unless sampled). */
  weight: number;
  startMs: number;
  traceId: string;
  spanId: string;
}

/** Options of {@link SummaryStore}. */
export interface SummaryStoreOptions {
  recentViolations: number;
  trendBucketSeconds: number;
  trendBuckets: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** Outcomes and call token kinds every aggregate reports (at zero when unseen), in output order. */
const BASE_OUTCOMES: readonly string[] = OUTCOMES;
const BASE_TOKENS: readonly string[] = CALL_TOKEN_KINDS;
const OUTCOME_INDEX: ReadonlyMap<string, number> = new Map(BASE_OUTCOMES.map((o, i) => [o, i]));
const TOKEN_INDEX: ReadonlyMap<string, number> = new Map(BASE_TOKENS.map((k, i) => [k, i]));

/** Adds `w` under `key` of a lazily made record (values outside the base lists; rare). */
function addExtra(record: Record<string, number> | undefined, key: string, w: number): Record<string, number> {
  const r = record ?? {};
  r[key] = (r[key] ?? 0) + w;
  return r;
}

/**
 * Counters of one aggregate (totals, a provider, a model, a tool). Outcomes and token kinds
 * of the contract are array slots (one call updates four aggregates: indexing beats a
 * keyed property per aggregate); other keys go to `extra*` records, after them in the output.
 */
export class Stats {
  calls = 0;
  malformed = 0;
  selfCorrections = 0;
  outcomeCounts: number[] = new Array<number>(BASE_OUTCOMES.length).fill(0);
  extraOutcomes: Record<string, number> | undefined;
  violations: Record<string, number> = {};
  tokenCounts: number[] = new Array<number>(BASE_TOKENS.length).fill(0);
  extraTokens: Record<string, number> | undefined;
  tokensNotCounted = 0;
  tokensNotCountedReasons: Record<string, number> | undefined;
  /** Counts per duration bucket, the last one being +Inf. */
  buckets = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);

  /**
   * Adds a call's counts (not its tokens: the caller adds those for all aggregates in one
   * walk); `outcomeIndex` is the outcome's slot, -1 for another outcome.
   */
  addCounts(c: SummaryCall, bucket: number, outcomeIndex: number): void {
    const w = c.weight;
    this.calls += w;
    if (outcomeIndex >= 0) this.outcomeCounts[outcomeIndex]! += w;
    else this.extraOutcomes = addExtra(this.extraOutcomes, c.outcome, w);
    if (c.kind !== undefined) {
      this.malformed += w;
      this.violations[c.kind] = (this.violations[c.kind] ?? 0) + w;
    }
    if (c.tokensNotCounted !== undefined) {
      this.tokensNotCounted += w;
      this.tokensNotCountedReasons = addExtra(this.tokensNotCountedReasons, c.tokensNotCounted, w);
    }
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + w;
  }

  /** Adds `n` tokens of `kind`; `index` is its slot, -1 for another kind. */
  addTokens(kind: string, index: number, n: number): void {
    if (index >= 0) this.tokenCounts[index]! += n;
    else this.extraTokens = addExtra(this.extraTokens, kind, n);
  }

  view(): CallStats {
    return {
      calls: this.calls,
      outcomes: slotsToRecord(BASE_OUTCOMES, this.outcomeCounts, this.extraOutcomes),
      malformed: this.malformed,
      malformedRatio: this.calls > 0 ? this.malformed / this.calls : 0,
      violations: { ...this.violations },
      latency: latency(this.buckets),
      tokens: slotsToRecord(BASE_TOKENS, this.tokenCounts, this.extraTokens),
      tokensNotCounted: this.tokensNotCounted,
      tokensNotCountedReasons: { ...this.tokensNotCountedReasons },
      selfCorrections: this.selfCorrections,
    };
  }
}

/** Slots and extras as one record: the base keys first, in order, then the extras in first-seen order. */
function slotsToRecord(keys: readonly string[], slots: readonly number[], extra: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = slots[i]!;
  return extra === undefined ? out : Object.assign(out, extra);
}

/** Quantile estimated from bucket counts with linear interpolation, like PromQL's histogram_quantile. */
export function bucketQuantile(q: number, buckets: readonly number[], bounds: readonly number[] = DURATION_BUCKETS_SECONDS): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (cum + n >= rank && n > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * ((rank - cum) / n);
    }
    cum += n;
  }
  return bounds[bounds.length - 1] ?? null;
}

function latency(buckets: readonly number[]): LatencySummary {
  return { p50: toMicroseconds(bucketQuantile(0.5, buckets)), p95: toMicroseconds(bucketQuantile(0.95, buckets)), p99: toMicroseconds(bucketQuantile(0.99, buckets)) };
}

/** Seconds rounded to the microsecond: interpolated quantiles otherwise print as 0.018750000000000003. */
function toMicroseconds(seconds: number | null): number | null {
  return seconds === null ? null : Math.round(seconds * 1e6) / 1e6;
}

/** The catalog of one service. */
interface CatalogEntry {
  /** Of the last counted listing; undefined while none was counted. */
  total: number | undefined;
  tools: Map<string, number>;
  listsNotCounted: number;
  latestNotCounted: string | null;
}

/** A provider's aggregates. */
export interface ProviderEntry {
  stats: Stats;
  models: Map<string, Stats>;
  trend: Map<number, { calls: number; malformed: number }>;
}

/**
 * The aggregates one resolved label set (service, tool, provider, model) updates, looked up
 * once (see {@link SummaryStore.handle}) instead of by key on every call.
 */
export interface SummaryHandle {
  readonly service: string;
  readonly tool: string;
  readonly provider: string;
  readonly model: string;
  /** The provider's aggregates (trend included). */
  readonly entry: ProviderEntry;
  /** Totals, provider, model and tool stats, in that order. */
  readonly stats: readonly Stats[];
}

/** Aggregates for `/api/summary`. */
export class SummaryStore {
  private readonly opts: Required<SummaryStoreOptions>;
  private readonly started: number;
  private readonly totals = new Stats();
  private readonly providers = new Map<string, ProviderEntry>();
  private readonly tools = new Map<string, { service: string; tool: string; stats: Stats }>();
  private readonly catalogs = new Map<string, CatalogEntry>();
  /** Ring buffer of recent malformed calls; `time` is formatted from `startMs` when rendered. */
  private readonly ring: Array<Omit<RecentViolation, 'time'> & { startMs: number }> = [];
  private ringNext = 0;
  /** Trend bucket index at the last pruning of old trend buckets. */
  private prunedAt = Number.NaN;

  constructor(options: SummaryStoreOptions) {
    this.opts = { now: Date.now, ...options };
    this.started = this.opts.now();
  }

  private provider(name: string): ProviderEntry {
    let p = this.providers.get(name);
    if (!p) this.providers.set(name, (p = { stats: new Stats(), models: new Map(), trend: new Map() }));
    return p;
  }

  private tool(service: string, tool: string): { stats: Stats } {
    const key = `${service}\u0000${tool}`;
    let t = this.tools.get(key);
    if (!t) this.tools.set(key, (t = { service, tool, stats: new Stats() }));
    return t;
  }

  private model(p: ProviderEntry, model: string): Stats {
    let m = p.models.get(model);
    if (!m) p.models.set(model, (m = new Stats()));
    return m;
  }

  /**
   * The aggregates of a resolved label set. Stable for the store's lifetime (nothing is
   * evicted), so callers may keep it.
   */
  handle(service: string, tool: string, provider: string, model: string): SummaryHandle {
    const entry = this.provider(provider);
    return { service, tool, provider, model, entry, stats: [this.totals, entry.stats, this.model(entry, model), this.tool(service, tool).stats] };
  }

  /** Records one tools/call (its label values looked up by key). */
  recordCall(c: SummaryCall): void {
    this.recordCallTo(this.handle(c.service, c.tool, c.provider, c.model), c);
  }

  /**
   * Records one tools/call under a handle from {@link handle}; `c`'s service, tool, provider
   * and model are ignored in favour of the handle's. `c` is not kept (a caller may reuse it).
   */
  recordCallTo(h: SummaryHandle, c: SummaryCall): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && c.durationSeconds > DURATION_BUCKETS_SECONDS[bucket]!) bucket++;
    const all = h.stats;
    const outcomeIndex = OUTCOME_INDEX.get(c.outcome) ?? -1;
    for (const stats of all) stats.addCounts(c, bucket, outcomeIndex);
    // Tokens: one walk of the call's token kinds for the four aggregates.
    const tokens = c.tokens;
    for (const k in tokens) {
      const n = tokens[k];
      if (n === undefined) continue;
      const add = n * c.weight;
      const index = TOKEN_INDEX.get(k) ?? -1;
      for (const stats of all) stats.addTokens(k, index, add);
    }
    const p = h.entry;

    const width = this.opts.trendBucketSeconds * 1000;
    const idx = Math.floor(c.startMs / width);
    const nowIdx = Math.floor(this.opts.now() / width);
    // Spans far in the past or future do not fit the window shown; they still count above.
    if (idx > nowIdx - this.opts.trendBuckets && idx <= nowIdx + 1) {
      let b = p.trend.get(idx);
      if (b === undefined) {
        p.trend.set(idx, (b = { calls: 0, malformed: 0 }));
      }
      b.calls += c.weight;
      if (c.kind !== undefined) b.malformed += c.weight;
      // Buckets that left the window are never shown again: drop them (only needed when the window moved or a bucket was added).
      if (nowIdx !== this.prunedAt) {
        for (const e of this.providers.values()) for (const k of e.trend.keys()) if (k <= nowIdx - this.opts.trendBuckets) e.trend.delete(k);
        this.prunedAt = nowIdx;
      }
    }

    if (c.kind !== undefined) {
      const v = {
        startMs: c.startMs,
        service: h.service,
        provider: h.provider,
        model: h.model,
        tool: c.toolName,
        kind: c.kind,
        paths: c.paths.slice(0, 16),
        traceId: c.traceId,
        spanId: c.spanId,
      };
      if (this.ring.length < this.opts.recentViolations) this.ring.push(v);
      else this.ring[this.ringNext] = v;
      this.ringNext = (this.ringNext + 1) % this.opts.recentViolations;
    }
  }

  /** Records a self-corrected malformed call under its (resolved) labels. */
  recordSelfCorrection(service: string, tool: string, provider: string, model: string, weight: number): void {
    this.totals.selfCorrections += weight;
    const p = this.provider(provider);
    p.stats.selfCorrections += weight;
    this.model(p, model).selfCorrections += weight;
    this.tool(service, tool).stats.selfCorrections += weight;
  }

  private catalog(service: string): CatalogEntry {
    let c = this.catalogs.get(service);
    if (!c) this.catalogs.set(service, (c = { total: undefined, tools: new Map(), listsNotCounted: 0, latestNotCounted: null }));
    return c;
  }

  /** Records the catalog seen on a tools/list span of a service (replaces the previous one when tools are listed). */
  recordCatalog(service: string, total: number | undefined, tools: ReadonlyArray<{ tool: string; tokens: number }>): void {
    const c = this.catalog(service);
    if (tools.length > 0) c.tools = new Map(tools.map((t) => [t.tool, t.tokens]));
    c.total = total ?? [...c.tools.values()].reduce((a, b) => a + b, 0);
    c.latestNotCounted = null;
  }

  /** Records a tools/list span of a service whose tokens are unknown; the last counted catalog stays. */
  recordCatalogNotCounted(service: string, reason: string): void {
    const c = this.catalog(service);
    c.listsNotCounted++;
    c.latestNotCounted = reason;
  }

  /** The `/api/summary` document. */
  render(collector: Summary['collector']): Summary {
    const now = this.opts.now();
    const width = this.opts.trendBucketSeconds * 1000;
    const nowIdx = Math.floor(now / width);
    const providers: ProviderSummary[] = [...this.providers.entries()]
      .map(([provider, p]) => {
        const trend: ProviderSummary['trend'] = [];
        for (let i = nowIdx - this.opts.trendBuckets + 1; i <= nowIdx; i++) {
          const b = p.trend.get(i);
          const calls = b?.calls ?? 0;
          const malformed = b?.malformed ?? 0;
          trend.push({ time: new Date(i * width).toISOString(), calls, malformed, ratio: calls > 0 ? malformed / calls : null });
        }
        return {
          provider,
          ...p.stats.view(),
          models: [...p.models.entries()].map(([model, s]) => ({ model, ...s.view() })).sort((a, b) => b.calls - a.calls),
          trend,
        };
      })
      .sort((a, b) => b.calls - a.calls || a.provider.localeCompare(b.provider));
    const tools: ToolSummary[] = [...this.tools.values()]
      .map((t) => ({ service: t.service, tool: t.tool, ...t.stats.view() }))
      .sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool));
    const n = this.ring.length;
    const recentViolations: RecentViolation[] = [];
    for (let i = 1; i <= n; i++) {
      const { startMs, ...rest } = this.ring[(this.ringNext - i + n * 2) % n]!;
      recentViolations.push({ time: new Date(startMs).toISOString(), ...rest });
    }
    const catalogs: CatalogSummary[] = [...this.catalogs.entries()].map(([service, c]) => ({
      service,
      totalTokens: c.total ?? null,
      tools: [...c.tools.entries()].map(([tool, tokens]) => ({ tool, tokens })).sort((a, b) => b.tokens - a.tokens),
      listsNotCounted: c.listsNotCounted,
      latestNotCounted: c.latestNotCounted,
    }));
    return {
      generatedAt: new Date(now).toISOString(),
      uptimeSeconds: Math.round(now - this.started) / 1000,
      totals: this.totals.view(),
      providers,
      tools,
      recentViolations,
      catalogs,
      collector,
    };
  }
}
