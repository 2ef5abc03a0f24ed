/**
 * What the server hands the status page's script, as JSON in the page's
 * `<script type="application/json" id="mcplens-config">` element. Types only: the browser
 * script imports it with `import type`, so both sides are checked against one shape.
 */
export interface StatusPageConfig {
  /** The contract's outcomes, in display order. */
  outcomes: readonly string[];
  /** Malformed-ratio levels: at WARN a ratio is shown as a warning, at CRITICAL as bad. */
  levels: { readonly WARN: number; readonly CRITICAL: number };
  /** Poll interval of `api/summary` (ms). */
  pollMs: number;
  /** Most recent malformed calls shown. */
  recentRows: number;
  /** Width (seconds) of one bucket of the providers' malformed-ratio trend. */
  trendBucketSeconds: number;
  /** Buckets in that trend. */
  trendBuckets: number;
  /** Window (seconds) of self-correction ("fixed"). */
  selfCorrectionWindowSeconds: number;
  /**
   * The trace viewer URL template split at its trace-id placeholders (the id goes between the
   * parts, URL-encoded); null when no trace viewer is configured.
   */
  traceUrlParts: string[] | null;
}
