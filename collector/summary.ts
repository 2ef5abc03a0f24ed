/**
 * `GET /api/summary` (shape: summary-types.ts), a view of the tally's per-call counts: the
 * tally keeps one set of counts per resolved call label set (service, tool, provider, model;
 * see CallSeries in tally.ts), the very counts `/metrics` serves, and this store sums them into
 * totals, providers, models and tools when the summary is asked for. It keeps only what is
 * not a per-call total: the recent malformed-ratio trend, the bounded ring of recent malformed
 * calls (with what must not be a label: the real tool name, field paths, trace ids) and the
 * last catalog of each service. The client view (CLIENT spans) is summed the same way from the
 * tally's client call counts, the very counts of the client metrics.
 */
import { BREAKER_STATES, DURATION_BUCKETS_SECONDS, OUTCOMES, CALL_TOKEN_KINDS } from '../contract/index.js';
import {
  TOKENS_UNREPORTED,
  type CallStats,
  type ClientCallStats,
  type ClientSummary,
  type CatalogSummary,
  type LatencySummary,
  type OpenBreaker,
  type ProviderSummary,
  type RecentViolation,
  type Summary,
  type ToolSummary,
} from './summary-types.js';

/** A count the summary reads (a metric series, or a count no metric holds). */
export interface CountView {
  readonly value: number;
}

/**
 * The counts of one resolved call label set, as the tally keeps them: counts by value, each
 * present from the first call with that value (violation kinds also at zero: only those with
 * calls are reported).
 */
export interface CallCounts {
  readonly service: string;
  /** Tool label value (may be `__unknown__` / `__overflow__`). */
  readonly tool: string;
  readonly provider: string;
  readonly model: string;
  /** Calls by outcome. */
  readonly outcome: ReadonlyMap<string, CountView>;
  /** Malformed calls by primary violation kind. */
  readonly kind: ReadonlyMap<string, CountView>;
  /** Tokens of counted calls by token kind. */
  readonly token: ReadonlyMap<string, CountView>;
  /** Calls marked not counted, by reason. */
  readonly notCounted: ReadonlyMap<string, CountView>;
  /** Calls with neither token counts nor a reason (summary only, as TOKENS_UNREPORTED). */
  readonly unreported: number;
  readonly selfCorrections: CountView | undefined;
  /** Calls per duration bucket of DURATION_BUCKETS_SECONDS, the last one being +Inf (summary only: the histogram has no model label). */
  readonly durationBuckets: readonly number[];
}

/** The counts of one resolved client call label set (service, server, tool, provider, model), as the tally keeps them. */
export interface ClientCallCounts {
  readonly service: string;
  /** The called server's `server_name` label value (may be `__unknown__` / `__overflow__`). */
  readonly server: string;
  /** Tool label value (may be `__unknown__` / `__overflow__`). */
  readonly tool: string;
  readonly provider: string;
  readonly model: string;
  /** Calls by outcome. */
  readonly outcome: ReadonlyMap<string, CountView>;
  /** Malformed calls by primary violation kind (every kind present, at zero until one). */
  readonly kind: ReadonlyMap<string, CountView>;
}

/** Options of {@link SummaryStore}. */
export interface SummaryStoreOptions {
  recentViolations: number;
  trendBucketSeconds: number;
  trendBuckets: number;
  /** Clock, for tests. */
  now?: () => number;
}

/** A malformed call for the ring of recent ones: label values are the resolved ones, `tool` is the name as called. */
export type ViolationRecord = Omit<RecentViolation, 'time'> & { startMs: number };

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
 * The sums of one aggregate (totals, a provider, a model, a tool) over call label sets, made
 * when the summary is rendered. Outcomes and token kinds of the contract are array slots (in
 * output order); other keys go to `extra*` records, after them in the output.
 */
class Stats {
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

  /** Adds the counts of one call label set. */
  add(c: CallCounts): void {
    this.addCalls(c);
    for (const [kind, n] of c.token) {
      const i = TOKEN_INDEX.get(kind);
      if (i !== undefined) this.tokenCounts[i]! += n.value;
      else this.extraTokens = addExtra(this.extraTokens, kind, n.value);
    }
    for (const [reason, n] of c.notCounted) this.addNotCounted(reason, n.value);
    if (c.unreported > 0) this.addNotCounted(TOKENS_UNREPORTED, c.unreported);
    this.selfCorrections += c.selfCorrections?.value ?? 0;
    const b = c.durationBuckets;
    for (let i = 0; i < b.length; i++) this.buckets[i]! += b[i]!;
  }

  /** Adds the calls by outcome and the malformed calls by kind (all the client view has). */
  addCalls(c: Pick<CallCounts, 'outcome' | 'kind'>): void {
    for (const [outcome, n] of c.outcome) {
      const v = n.value;
      this.calls += v;
      const i = OUTCOME_INDEX.get(outcome);
      if (i !== undefined) this.outcomeCounts[i]! += v;
      else this.extraOutcomes = addExtra(this.extraOutcomes, outcome, v);
    }
    for (const [kind, n] of c.kind) {
      const v = n.value;
      if (v === 0) continue;
      this.malformed += v;
      this.violations[kind] = (this.violations[kind] ?? 0) + v;
    }
  }

  private addNotCounted(reason: string, n: number): void {
    this.tokensNotCounted += n;
    this.tokensNotCountedReasons = addExtra(this.tokensNotCountedReasons, reason, n);
  }

  /** The client view's part: calls, outcomes and violations. */
  callsView(): ClientCallStats {
    return {
      calls: this.calls,
      outcomes: slotsToRecord(BASE_OUTCOMES, this.outcomeCounts, this.extraOutcomes),
      malformed: this.malformed,
      malformedRatio: this.calls > 0 ? this.malformed / this.calls : 0,
      violations: { ...this.violations },
    };
  }

  view(): CallStats {
    return {
      ...this.callsView(),
      latency: latency(this.buckets),
      tokens: slotsToRecord(BASE_TOKENS, this.tokenCounts, this.extraTokens),
      tokensNotCounted: this.tokensNotCounted,
      tokensNotCountedReasons: { ...this.tokensNotCountedReasons },
      selfCorrections: this.selfCorrections,
    };
  }
}

/** Slots and extras as one record: the base keys first, in order, then the extras in first-seen order. */
function slotsToRecord(
  keys: readonly string[],
  slots: readonly number[],
  extra: Record<string, number> | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = slots[i]!;
  return extra === undefined ? out : Object.assign(out, extra);
}

/** Quantile estimated from bucket counts with linear interpolation, like PromQL's histogram_quantile. */
function bucketQuantile(q: number, buckets: readonly number[], bounds: readonly number[] = DURATION_BUCKETS_SECONDS): number | null {
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
  return {
    p50: toMicroseconds(bucketQuantile(0.5, buckets)),
    p95: toMicroseconds(bucketQuantile(0.95, buckets)),
    p99: toMicroseconds(bucketQuantile(0.99, buckets)),
  };
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

/** A breaker-gauge series of the tally (admitted by the cap), read live at every render. */
export interface BreakerView {
  readonly service: string;
  readonly instance: string;
  readonly tool: string;
  /** Index in BREAKER_STATES. */
  readonly state: number;
  /** Time of the transition shown, ns since the epoch. */
  readonly timeUnixNano: number;
}

/** Aggregates for `/api/summary`. */
export class SummaryStore {
  private readonly opts: Required<SummaryStoreOptions>;
  private readonly started: number;
  /** The tally's counts, one per call label set, in the order the sets appeared. */
  private readonly calls: CallCounts[] = [];
  /** The tally's client-view counts, one per client call label set, in the order the sets appeared. */
  private readonly clientCalls: ClientCallCounts[] = [];
  /** The tally's breaker-gauge series (as many as the cap admits). */
  private readonly breakers = new Set<BreakerView>();
  /** Calls and malformed calls per provider and trend bucket (bucket index: start time / bucket width). */
  private readonly trends = new Map<string, Map<number, { calls: number; malformed: number }>>();
  private readonly catalogs = new Map<string, CatalogEntry>();
  /** Ring buffer of recent malformed calls; `time` is formatted from `startMs` when rendered. */
  private readonly ring: ViolationRecord[] = [];
  private ringNext = 0;
  /** Trend bucket index at the last pruning of old trend buckets. */
  private prunedAt = Number.NaN;

  constructor(options: SummaryStoreOptions) {
    this.opts = { now: Date.now, ...options };
    this.started = this.opts.now();
  }

  /** Adds the counts of a new call label set (the store reads them, live, at every render). */
  addCalls(counts: CallCounts): void {
    this.calls.push(counts);
  }

  /** Adds the counts of a new client call label set (read live at every render, like {@link addCalls}). */
  addClientCalls(counts: ClientCallCounts): void {
    this.clientCalls.push(counts);
  }

  /** Adds a breaker-gauge series (read live at every render, like {@link addCalls}). */
  addBreaker(breaker: BreakerView): void {
    this.breakers.add(breaker);
  }

  /** Removes a breaker-gauge series the tally removed (no transition within its ttl). */
  removeBreaker(breaker: BreakerView): void {
    this.breakers.delete(breaker);
  }

  /** Adds a call of `provider` (a resolved label value) to the malformed-ratio trend. */
  recordTrend(provider: string, startMs: number, weight: number, malformed: boolean): void {
    const width = this.opts.trendBucketSeconds * 1000;
    const idx = Math.floor(startMs / width);
    const nowIdx = Math.floor(this.opts.now() / width);
    // Spans far in the past or future do not fit the window shown (they count in the totals all the same).
    if (idx <= nowIdx - this.opts.trendBuckets || idx > nowIdx + 1) return;
    let trend = this.trends.get(provider);
    if (trend === undefined) this.trends.set(provider, (trend = new Map()));
    let b = trend.get(idx);
    if (b === undefined) trend.set(idx, (b = { calls: 0, malformed: 0 }));
    b.calls += weight;
    if (malformed) b.malformed += weight;
    // Buckets that left the window are never shown again: drop them (only needed when the window moved).
    if (nowIdx !== this.prunedAt) {
      for (const t of this.trends.values()) for (const k of t.keys()) if (k <= nowIdx - this.opts.trendBuckets) t.delete(k);
      this.prunedAt = nowIdx;
    }
  }

  /** Keeps a malformed call (the very object: a caller makes one per call) in the bounded ring of recent ones. */
  recordViolation(v: ViolationRecord): void {
    if (this.ring.length < this.opts.recentViolations) this.ring.push(v);
    else this.ring[this.ringNext] = v;
    this.ringNext = (this.ringNext + 1) % this.opts.recentViolations;
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
    const totals = new Stats();
    const byProvider = new Map<string, { stats: Stats; models: Map<string, Stats> }>();
    const byTool = new Map<string, { service: string; tool: string; stats: Stats }>();
    for (const c of this.calls) {
      let p = byProvider.get(c.provider);
      if (p === undefined) byProvider.set(c.provider, (p = { stats: new Stats(), models: new Map() }));
      let m = p.models.get(c.model);
      if (m === undefined) p.models.set(c.model, (m = new Stats()));
      const toolKey = `${c.service}\u0000${c.tool}`;
      let t = byTool.get(toolKey);
      if (t === undefined) byTool.set(toolKey, (t = { service: c.service, tool: c.tool, stats: new Stats() }));
      totals.add(c);
      p.stats.add(c);
      m.add(c);
      t.stats.add(c);
    }
    const providers: ProviderSummary[] = [...byProvider.entries()]
      .map(([provider, p]) => {
        const buckets = this.trends.get(provider);
        const trend: ProviderSummary['trend'] = [];
        for (let i = nowIdx - this.opts.trendBuckets + 1; i <= nowIdx; i++) {
          const b = buckets?.get(i);
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
    const tools: ToolSummary[] = [...byTool.values()]
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
      totals: totals.view(),
      providers,
      tools,
      recentViolations,
      catalogs,
      openBreakers: this.renderOpenBreakers(),
      client: this.renderClient(),
      collector,
    };
  }

  /** Breakers whose last known state is not closed, longest open first. */
  private renderOpenBreakers(): OpenBreaker[] {
    return [...this.breakers]
      .filter((b) => b.state !== 0)
      .sort((a, b) => a.timeUnixNano - b.timeUnixNano)
      .map((b) => ({
        service: b.service,
        instance: b.instance,
        tool: b.tool,
        state: BREAKER_STATES[b.state] as OpenBreaker['state'],
        since: new Date(b.timeUnixNano / 1e6).toISOString(),
      }));
  }

  /** The client view: the client call counts summed per provider and model, and per server and tool. */
  private renderClient(): ClientSummary {
    const totals = new Stats();
    const byProvider = new Map<string, { stats: Stats; models: Map<string, Stats> }>();
    const byTool = new Map<string, { server: string; tool: string; stats: Stats }>();
    for (const c of this.clientCalls) {
      let p = byProvider.get(c.provider);
      if (p === undefined) byProvider.set(c.provider, (p = { stats: new Stats(), models: new Map() }));
      let m = p.models.get(c.model);
      if (m === undefined) p.models.set(c.model, (m = new Stats()));
      const toolKey = `${c.server}\u0000${c.tool}`;
      let t = byTool.get(toolKey);
      if (t === undefined) byTool.set(toolKey, (t = { server: c.server, tool: c.tool, stats: new Stats() }));
      totals.addCalls(c);
      p.stats.addCalls(c);
      m.addCalls(c);
      t.stats.addCalls(c);
    }
    return {
      reported: this.clientCalls.length > 0,
      totals: totals.callsView(),
      providers: [...byProvider.entries()]
        .map(([provider, p]) => ({
          provider,
          ...p.stats.callsView(),
          models: [...p.models.entries()].map(([model, s]) => ({ model, ...s.callsView() })).sort((a, b) => b.calls - a.calls),
        }))
        .sort((a, b) => b.calls - a.calls || a.provider.localeCompare(b.provider)),
      tools: [...byTool.values()]
        .map((t) => ({ server: t.server, tool: t.tool, ...t.stats.callsView() }))
        .sort((a, b) => b.calls - a.calls || a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool)),
    };
  }
}
