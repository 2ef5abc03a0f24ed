/** The JSON shape of `GET /api/summary`: what the status page and the demo's terminal summary read. */

/**
 * Key of {@link CallStats.tokensNotCountedReasons} (and {@link CatalogSummary.latestNotCounted}) for
 * spans with neither token counts nor `mcplens.tokens.not_counted`: token counting off, or
 * instrumentation older than that attribute. A summary key, never a metric label.
 */
export const TOKENS_UNREPORTED = 'unreported';

export interface LatencySummary {
  /** Seconds, rounded to the microsecond; null when there were no calls. Estimated from the duration buckets of the calls. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface CallStats {
  calls: number;
  /** Calls by `mcplens.outcome` (every value of the contract's OUTCOMES present, zero when none). */
  outcomes: Record<string, number>;
  /** Malformed calls (one per call, by primary kind). */
  malformed: number;
  /** malformed / calls, 0 when calls is 0. */
  malformedRatio: number;
  /** Malformed calls by primary violation kind. */
  violations: Record<string, number>;
  latency: LatencySummary;
  /**
   * Tokens by token kind (`arguments`, `result`) of the calls whose tokens were counted,
   * that is `calls - tokensNotCounted` calls. When that is 0, tokens are unknown, not 0.
   */
  tokens: Record<string, number>;
  /**
   * Calls whose tokens are unknown: marked `mcplens.tokens.not_counted`, or with no token
   * attribute at all. Never added to `tokens` as 0.
   */
  tokensNotCounted: number;
  /**
   * Those calls by reason: the contract's reasons (`shutdown`, `backlog`, `too_large`,
   * `failed`), `__unknown__` for a value outside them, {@link TOKENS_UNREPORTED} for calls with
   * neither counts nor a reason. Only reasons seen are present.
   */
  tokensNotCountedReasons: Record<string, number>;
  selfCorrections: number;
}

export interface ProviderSummary extends CallStats {
  provider: string;
  /** Per model of this provider. */
  models: Array<CallStats & { model: string }>;
  /** Recent malformed-ratio trend: one point per bucket (oldest first), `ratio` null when no calls in the bucket. */
  trend: Array<{ time: string; calls: number; malformed: number; ratio: number | null }>;
}

export interface ToolSummary extends CallStats {
  service: string;
  tool: string;
}

export interface RecentViolation {
  /** ISO-8601 time of the span start. */
  time: string;
  service: string;
  provider: string;
  model: string;
  /** The tool name as called (may be an unknown tool: this is not a metric label). */
  tool: string;
  kind: string;
  /** JSON pointers of the violating fields. */
  paths: string[];
  traceId: string;
  spanId: string;
}

export interface CatalogSummary {
  service: string;
  /** Tokens of the last counted catalog; null when no tools/list of the service was counted yet. */
  totalTokens: number | null;
  /** Per tool, of the last counted catalog (empty when none was counted). */
  tools: Array<{ tool: string; tokens: number }>;
  /** tools/list spans of the service whose tokens are unknown (they leave the last counted catalog as it was). */
  listsNotCounted: number;
  /** Why the latest tools/list was not counted (reasons as in `tokensNotCountedReasons`); null when it was counted. */
  latestNotCounted: string | null;
}

/** The client view's counts of one aggregate: tools/call as instrumented clients sent and graded them. */
export interface ClientCallStats {
  calls: number;
  /** Calls by `mcplens.outcome` (every value of the contract's OUTCOMES present, zero when none). */
  outcomes: Record<string, number>;
  /** Malformed calls as the client graded them (one per call, by primary kind). */
  malformed: number;
  /** malformed / calls, 0 when calls is 0. */
  malformedRatio: number;
  /** Malformed calls by primary violation kind. */
  violations: Record<string, number>;
}

/**
 * The client view: CLIENT spans (`instrumentClient`), the very counts of
 * `mcp_client_tool_calls_total` and `mcp_client_tool_schema_violations_total`. Each view counts
 * each call once; a call whose client and server are both instrumented is in both views, so the
 * two are never added.
 */
export interface ClientSummary {
  /** False while no CLIENT tools/call span has arrived (the view is empty, not zero). */
  reported: boolean;
  totals: ClientCallStats;
  /** Per caller provider, with its models. */
  providers: Array<ClientCallStats & { provider: string; models: Array<ClientCallStats & { model: string }> }>;
  /** Per called server (its `serverInfo.name`, `__unknown__` when it gave none) and tool. */
  tools: Array<ClientCallStats & { server: string; tool: string }>;
}

/** A tool's circuit breaker in one replica whose last known state is open or half-open (from `mcp_tool_circuit_breaker_state`). */
export interface OpenBreaker {
  service: string;
  /** `service.instance.id` of the replica, `__unknown__` when its resource has none. */
  instance: string;
  tool: string;
  state: 'open' | 'half_open';
  /** ISO-8601 time of the transition to that state. */
  since: string;
}

export interface Summary {
  /** ISO-8601 time this summary was made. */
  generatedAt: string;
  /** Seconds since the collector started. */
  uptimeSeconds: number;
  /** The server view: SERVER spans, what servers handled. */
  totals: CallStats;
  providers: ProviderSummary[];
  tools: ToolSummary[];
  /** Most recent malformed calls, newest first (bounded, default 50). */
  recentViolations: RecentViolation[];
  catalogs: CatalogSummary[];
  /** Breakers not closed, per service, replica and tool (calls per guard outcome are in `outcomes`). */
  openBreakers: OpenBreaker[];
  /** The client view (see {@link ClientSummary}). */
  client: ClientSummary;
  /** Collector health counters. */
  collector: { spansReceived: number; spansRejected: number; seriesDropped: number };
}
