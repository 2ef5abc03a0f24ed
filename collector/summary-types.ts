/** The JSON shape of `GET /api/summary`: what the status page and the demo's terminal summary read. */

export interface LatencySummary {
  /** Seconds; null when there were no calls. Estimated from the duration histogram buckets. */
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
  /** Tokens by token kind (`arguments`, `result`). */
  tokens: Record<string, number>;
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
  totalTokens: number;
  tools: Array<{ tool: string; tokens: number }>;
}

export interface Summary {
  /** ISO-8601 time this summary was made. */
  generatedAt: string;
  /** Seconds since the collector started. */
  uptimeSeconds: number;
  totals: CallStats;
  providers: ProviderSummary[];
  tools: ToolSummary[];
  /** Most recent malformed calls, newest first (bounded, default 50). */
  recentViolations: RecentViolation[];
  catalogs: CatalogSummary[];
  /** Collector health counters. */
  collector: { spansReceived: number; spansRejected: number; seriesDropped: number };
}
