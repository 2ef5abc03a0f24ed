import type { HrTime } from '@opentelemetry/api';

/**
 * The clock spans start and end on: one monotonic clock (`performance.now()`), given to the SDK
 * as absolute times. The SDK otherwise anchors each span to Date.now(), whole milliseconds, which
 * leaves calls of one millisecond unordered (self-correction needs their order).
 */

// Wall time of performance.now() = 0, refreshed every minute so that a long-lived process
// follows wall-clock adjustments; between refreshes, span times are monotonic.
let anchorMs = Date.now() - performance.now();
let anchoredAt = performance.now();

/** The current anchor (wall-clock ms at performance.now() = 0); a span ends with the anchor it started with. */
export function clockAnchor(perf: number): number {
  if (perf - anchoredAt > 60_000) {
    anchorMs = Date.now() - performance.now();
    anchoredAt = perf;
  }
  return anchorMs;
}

/** A `performance.now()` reading as an absolute HrTime ([seconds, nanoseconds] since the epoch). */
export function hrTimeOf(perf: number, anchor: number): HrTime {
  const ms = anchor + perf;
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6))];
}
