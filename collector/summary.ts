/**
 * The in-memory aggregates behind `GET /api/summary` (shape: summary-types.ts). The tally
 * feeds it the same resolved label values it gives the metrics (so the cardinality cap
 * bounds it too), plus what must not be a label (the real tool name, field paths, trace ids)
 * for the bounded ring of recent malformed calls.
 */
import { DURATION_BUCKETS_SECONDS, OUTCOMES, TOKEN_KINDS } from '../contract/index.js';
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

class Stats {
  calls = 0;
  malformed = 0;
  selfCorrections = 0;
  outcomes: Record<string, number> = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  violations: Record<string, number> = {};
  tokens: Record<string, number> = Object.fromEntries(TOKEN_KINDS.filter((k) => k !== 'catalog').map((k) => [k, 0]));
  /** Counts per duration bucket, the last one being +Inf. */
  buckets = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);

  add(c: SummaryCall, bucket: number): void {
    const w = c.weight;
    this.calls += w;
    this.outcomes[c.outcome] = (this.outcomes[c.outcome] ?? 0) + w;
    if (c.kind !== undefined) {
      this.malformed += w;
      this.violations[c.kind] = (this.violations[c.kind] ?? 0) + w;
    }
    for (const k in c.tokens) {
      const n = c.tokens[k];
      if (n !== undefined) this.tokens[k] = (this.tokens[k] ?? 0) + n * w;
    }
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + w;
  }

  view(): CallStats {
    return {
      calls: this.calls,
      outcomes: { ...this.outcomes },
      malformed: this.malformed,
      malformedRatio: this.calls > 0 ? this.malformed / this.calls : 0,
      violations: { ...this.violations },
      latency: latency(this.buckets),
      tokens: { ...this.tokens },
      selfCorrections: this.selfCorrections,
    };
  }
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
  return { p50: bucketQuantile(0.5, buckets), p95: bucketQuantile(0.95, buckets), p99: bucketQuantile(0.99, buckets) };
}

interface ProviderEntry {
  stats: Stats;
  models: Map<string, Stats>;
  trend: Map<number, { calls: number; malformed: number }>;
}

/** Aggregates for `/api/summary`. */
export class SummaryStore {
  private readonly opts: Required<SummaryStoreOptions>;
  private readonly started: number;
  private readonly totals = new Stats();
  private readonly providers = new Map<string, ProviderEntry>();
  private readonly tools = new Map<string, { service: string; tool: string; stats: Stats }>();
  private readonly catalogs = new Map<string, { total: number; tools: Map<string, number> }>();
  /** Ring buffer of recent malformed calls. */
  private readonly ring: RecentViolation[] = [];
  private ringNext = 0;

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

  /** Records one tools/call. */
  recordCall(c: SummaryCall): void {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && c.durationSeconds > DURATION_BUCKETS_SECONDS[bucket]!) bucket++;
    this.totals.add(c, bucket);
    const p = this.provider(c.provider);
    p.stats.add(c, bucket);
    this.model(p, c.model).add(c, bucket);
    this.tool(c.service, c.tool).stats.add(c, bucket);

    const width = this.opts.trendBucketSeconds * 1000;
    const idx = Math.floor(c.startMs / width);
    const nowIdx = Math.floor(this.opts.now() / width);
    // Spans far in the past or future do not fit the window shown; they still count above.
    if (idx > nowIdx - this.opts.trendBuckets && idx <= nowIdx + 1) {
      const b = p.trend.get(idx) ?? { calls: 0, malformed: 0 };
      b.calls += c.weight;
      if (c.kind !== undefined) b.malformed += c.weight;
      p.trend.set(idx, b);
      for (const k of p.trend.keys()) if (k <= nowIdx - this.opts.trendBuckets) p.trend.delete(k);
    }

    if (c.kind !== undefined) {
      const v: RecentViolation = {
        time: new Date(c.startMs).toISOString(),
        service: c.service,
        provider: c.provider,
        model: c.model,
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

  /** Records the catalog seen on a tools/list span of a service (replaces the previous one when tools are listed). */
  recordCatalog(service: string, total: number | undefined, tools: ReadonlyArray<{ tool: string; tokens: number }>): void {
    let c = this.catalogs.get(service);
    if (!c) this.catalogs.set(service, (c = { total: 0, tools: new Map() }));
    if (tools.length > 0) c.tools = new Map(tools.map((t) => [t.tool, t.tokens]));
    c.total = total ?? [...c.tools.values()].reduce((a, b) => a + b, 0);
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
    for (let i = 1; i <= n; i++) recentViolations.push(this.ring[(this.ringNext - i + n * 2) % n]!);
    const catalogs: CatalogSummary[] = [...this.catalogs.entries()].map(([service, c]) => ({
      service,
      totalTokens: c.total,
      tools: [...c.tools.entries()].map(([tool, tokens]) => ({ tool, tokens })).sort((a, b) => b.tokens - a.tokens),
    }));
    return {
      generatedAt: new Date(now).toISOString(),
      uptimeSeconds: (now - this.started) / 1000,
      totals: this.totals.view(),
      providers,
      tools,
      recentViolations,
      catalogs,
      collector,
    };
  }
}
