/**
 * Self-correction detection: a malformed tools/call counts as self-corrected when, on the
 * same session key, a well-formed call to the same tool starts after it and within the
 * window. Calls are compared by span start, not arrival, so batches may arrive out of order
 * (a well-formed call seen first still corrects a malformed call that started before it).
 * Each malformed call is counted at most once.
 *
 * Memory is bounded: at most `maxKeys` (session, tool) pairs, forgotten least recently used
 * first, each with at most {@link MAX_PENDING} uncorrected malformed calls and
 * {@link MAX_GOOD} well-formed start times.
 */

/** Uncorrected malformed calls remembered per (session, tool). */
export const MAX_PENDING = 32;
/** Well-formed call start times remembered per (session, tool). */
export const MAX_GOOD = 16;

/** One tools/call as the tracker sees it. */
export interface TrackedCall<T> {
  sessionKey: string;
  /** The tool name as called (the real name, not the label value). */
  tool: string;
  /** Span start, milliseconds since the epoch. */
  startMs: number;
  malformed: boolean;
  /** Whatever the caller wants back when this (malformed) call is found corrected, e.g. its labels and weight. */
  payload: T;
}

interface Entry<T> {
  pending: Array<{ startMs: number; payload: T }>;
  good: number[];
}

/** Options of {@link SelfCorrectionTracker}. */
export interface SelfCorrectionOptions {
  /** Window in milliseconds (default 60,000 in the collector's config). */
  windowMs: number;
  /** (session, tool) pairs kept at once. */
  maxKeys: number;
}

/** Tracks malformed calls per (session, tool) and reports those a later well-formed call corrects. */
export class SelfCorrectionTracker<T> {
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly entries = new Map<string, Entry<T>>();

  constructor(options: SelfCorrectionOptions) {
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys;
  }

  /** Number of (session, tool) pairs held (for tests of the bound). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Feeds one call. Returns the payloads of the malformed calls found corrected by it
   * (a well-formed call may correct several; a malformed call may be corrected by a
   * well-formed call seen earlier that started later).
   */
  observe(call: TrackedCall<T>): T[] {
    if (!call.sessionKey || !call.tool) return [];
    const key = `${call.sessionKey}\u0000${call.tool}`;
    let entry = this.entries.get(key);
    if (entry) {
      // Refresh the LRU position.
      this.entries.delete(key);
    } else {
      entry = { pending: [], good: [] };
    }
    this.entries.set(key, entry);
    if (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }

    const t = call.startMs;
    if (call.malformed) {
      if (entry.good.some((g) => g > t && g - t <= this.windowMs)) return [call.payload];
      entry.pending.push({ startMs: t, payload: call.payload });
      if (entry.pending.length > MAX_PENDING) entry.pending.shift();
      return [];
    }
    const corrected: T[] = [];
    const keep: Entry<T>['pending'] = [];
    for (const p of entry.pending) {
      if (t > p.startMs && t - p.startMs <= this.windowMs) corrected.push(p.payload);
      else keep.push(p);
    }
    entry.pending = keep;
    entry.good.push(t);
    if (entry.good.length > MAX_GOOD) {
      // Keep the latest starts: they can still correct malformed calls arriving late.
      entry.good.sort((a, b) => a - b);
      entry.good.shift();
    }
    return corrected;
  }
}
