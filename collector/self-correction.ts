/**
 * Self-correction detection: a malformed tools/call counts as self-corrected when a
 * well-formed call by the same caller (the same provider and model), on the same session
 * key, to the same tool starts after it and within the window. A well-formed call of another
 * provider or model in that session corrects nothing: it is not the same LLM fixing its
 * own mistake. Calls are compared by span start, not arrival, so batches may arrive out of
 * order (a well-formed call seen first still corrects a malformed call that started before
 * it). Each malformed call is counted at most once.
 *
 * Memory is bounded: at most `maxKeys` (session, tool, provider, model) keys, forgotten least
 * recently used first, each with at most {@link MAX_PENDING} uncorrected malformed calls and
 * {@link MAX_GOOD} well-formed start times.
 */

/** Uncorrected malformed calls remembered per (session, tool, provider, model). */
export const MAX_PENDING = 32;
/** Well-formed call start times remembered per (session, tool, provider, model). */
export const MAX_GOOD = 16;

/** One tools/call as the tracker sees it. */
export interface TrackedCall<T> {
  sessionKey: string;
  /** The tool name as called (the real name, not the label value). */
  tool: string;
  /** The caller's `gen_ai.provider.name` (the real value, not a label value that may have overflowed). */
  provider: string;
  /** The caller's `gen_ai.request.model` (likewise). */
  model: string;
  /** Span start, milliseconds since the epoch. */
  startMs: number;
  malformed: boolean;
  /** Whatever the caller wants back when this (malformed) call is found corrected, e.g. its labels and weight. */
  payload: T;
}

interface Entry<T> {
  /** The entry's key, outermost first: session key, tool, provider, model. */
  keys: readonly [string, string, string, string];
  /** Uncorrected malformed calls, oldest first: start times and payloads in parallel (a tight loop over numbers). */
  pendingStarts: number[];
  pendingPayloads: T[];
  /** Ascending start times (kept sorted on insertion: starts mostly arrive in order, so that is O(1)). */
  good: number[];
}

/** Returned when nothing was corrected (shared: callers only read it). */
const NONE: readonly never[] = Object.freeze([]);

/** Options of {@link SelfCorrectionTracker}. */
export interface SelfCorrectionOptions {
  /** Window in milliseconds (default 60,000 in the collector's config). */
  windowMs: number;
  /** (session, tool, provider, model) keys kept at once. */
  maxKeys: number;
}

/** Nested maps, one level per key part, entries at the leaves. */
type Level<T> = Map<string, Level<T> | Entry<T>>;

/** Tracks malformed calls per (session, tool, provider, model) and reports those a later well-formed call corrects. */
export class SelfCorrectionTracker<T> {
  private readonly windowMs: number;
  private readonly maxKeys: number;
  /** Entries by session key, then tool, provider and model (no key string is built per call). */
  private readonly root: Level<T> = new Map();
  /** Every entry, least recently used first (a Set keeps insertion order; re-adding moves to the end). */
  private readonly lru = new Set<Entry<T>>();
  private newest: Entry<T> | undefined;

  constructor(options: SelfCorrectionOptions) {
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys;
  }

  /** Number of (session, tool, provider, model) keys held (for tests of the bound). */
  get size(): number {
    return this.lru.size;
  }

  /**
   * Feeds one call. Returns the payloads of the malformed calls found corrected by it
   * (a well-formed call may correct several; a malformed call may be corrected by a
   * well-formed call seen earlier that started later).
   */
  observe(call: TrackedCall<T>): readonly T[] {
    const { sessionKey, tool, provider, model } = call;
    if (!sessionKey || !tool) return NONE;
    const models = this.level(this.level(this.level(this.root, sessionKey), tool), provider);
    let entry = models.get(model) as Entry<T> | undefined;
    if (entry === undefined) {
      entry = { keys: [sessionKey, tool, provider, model], pendingStarts: [], pendingPayloads: [], good: [] };
      models.set(model, entry);
      this.lru.add(entry);
      if (this.lru.size > this.maxKeys) this.evictOldest();
    } else if (entry !== this.newest) {
      // Refresh the LRU position.
      this.lru.delete(entry);
      this.lru.add(entry);
    }
    this.newest = entry;

    const t = call.startMs;
    if (call.malformed) {
      // `good` ascends: only its tail can hold a start after t.
      const good = entry.good;
      for (let i = good.length - 1; i >= 0 && good[i]! > t; i--) if (good[i]! - t <= this.windowMs) return [call.payload];
      entry.pendingStarts.push(t);
      entry.pendingPayloads.push(call.payload);
      if (entry.pendingStarts.length > MAX_PENDING) {
        entry.pendingStarts.shift();
        entry.pendingPayloads.shift();
      }
      return NONE;
    }
    let corrected: T[] | undefined;
    // Corrected calls leave the pending list; the rest keep their order (compacted in place).
    const starts = entry.pendingStarts;
    const payloads = entry.pendingPayloads;
    const n = starts.length;
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const start = starts[i]!;
      if (t > start && t - start <= this.windowMs) (corrected ??= []).push(payloads[i]!);
      else if (kept !== i) {
        starts[kept] = start;
        payloads[kept++] = payloads[i]!;
      } else kept++;
    }
    if (kept !== n) {
      starts.length = kept;
      payloads.length = kept;
    }
    // Keep the latest MAX_GOOD starts: they can still correct malformed calls arriving late.
    const good = entry.good;
    let i = good.length;
    while (i > 0 && good[i - 1]! > t) i--;
    if (good.length < MAX_GOOD) {
      if (i === good.length) good.push(t);
      else good.splice(i, 0, t);
    } else if (i > 0) {
      // Full: the earliest start leaves (a start earlier than all kept ones would leave at once: i === 0).
      for (let j = 1; j < i; j++) good[j - 1] = good[j]!;
      good[i - 1] = t;
    }
    return corrected ?? NONE;
  }

  /** The map under `key` of `parent`, made when missing. */
  private level(parent: Level<T>, key: string): Level<T> {
    let next = parent.get(key) as Level<T> | undefined;
    if (next === undefined) parent.set(key, (next = new Map()));
    return next;
  }

  private evictOldest(): void {
    const oldest = this.lru.values().next().value;
    if (oldest === undefined) return;
    this.lru.delete(oldest);
    // Remove the leaf, then every map it leaves empty, innermost first.
    const path: Level<T>[] = [this.root];
    for (let i = 0; i < oldest.keys.length - 1; i++) {
      const next = path[i]!.get(oldest.keys[i]!) as Level<T> | undefined;
      if (next === undefined) break;
      path.push(next);
    }
    for (let i = path.length - 1; i >= 0; i--) {
      const map = path[i]!;
      const child = map.get(oldest.keys[i]!);
      if (i === path.length - 1 ? child === oldest : child instanceof Map && child.size === 0) map.delete(oldest.keys[i]!);
      else break;
    }
    if (this.newest === oldest) this.newest = undefined;
  }
}
