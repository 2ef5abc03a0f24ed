import { diag } from '@opentelemetry/api';
import { Worker } from 'node:worker_threads';
import { TOKENS_NOT_COUNTED_REASONS, type TokensNotCountedReason } from '../contract/index.js';
import { defaultTokenizer, MAX_PAYLOAD_CHARS, type Tokenizer } from './token-counter.js';

/**
 * What {@link TokenService.count} gives back: the counts now (counted in-thread), why there are
 * none (refused or failed: a span without counts must not read as 0 tokens), or counts to come.
 */
export type TokenCount =
  | { readonly counts: number[] }
  | { readonly notCounted: TokensNotCountedReason }
  /** Resolves undefined when counting failed. */
  | { readonly later: Promise<number[] | undefined> };

/**
 * How much text may wait for the token worker. Past either bound `count()` refuses (`backlog`),
 * rather than holding ever more text in memory; a single call past `maxChars` is `too_large`.
 */
export interface TokenBacklogBounds {
  /** Counts asked for and not answered yet (one per span). */
  readonly maxJobs: number;
  /** Characters of those counts' texts (4 Mi: 8 MB at most). */
  readonly maxChars: number;
}

/** The bounds of the process-wide token worker: the only home of their defaults. */
export const TOKEN_BACKLOG_BOUNDS: TokenBacklogBounds = { maxJobs: 10_000, maxChars: 1 << 22 };

/** Counts tokens after the answer has left; it owns its flow control, so callers keep no counters of their own. */
export interface TokenService {
  /** Counts one span's texts, or says at once why it will not (shutdown, too large, backlog, failed). Never throws. */
  count(texts: readonly string[]): TokenCount;
  /** Prepares for the first count (loads the vocabulary) without blocking. */
  warmUp?(): void;
  /** Resolves when every count asked for so far has answered. */
  idle(): Promise<void>;
  /** True when no count is outstanding. */
  isIdle(): boolean;
  /** False while counts would wait for start-up (a worker loading its vocabulary). */
  isReady?(): boolean;
  /**
   * The process is ending: a worker still loading its vocabulary is stopped now, so that its
   * termination (up to about 170 ms inside the vocabulary's parse) overlaps the last export
   * instead of following the exit. Counts it had not answered settle as failed, and later
   * ones are refused (`shutdown`).
   */
  stopIfNotReady?(): void;
}

/**
 * A user tokenizer runs in-thread (a function cannot cross into a worker), still after the
 * answer left. It counts at once, so nothing waits and nothing needs bounding.
 */
export function inThreadTokenService(tokenizer: Tokenizer): TokenService {
  return {
    count: (texts) => {
      const counts = countInThread(tokenizer, texts);
      return counts === undefined ? { notCounted: TOKENS_NOT_COUNTED_REASONS.FAILED } : { counts };
    },
    idle: async () => undefined,
    isIdle: () => true,
  };
}

function countInThread(tokenizer: Tokenizer, texts: readonly string[]): number[] | undefined {
  try {
    return texts.map(tokenizer);
  } catch (err) {
    diag.warn('mcplens: token counting failed', err);
    return undefined;
  }
}

/**
 * The default: o200k_base in one worker thread per process, started on first use. Requests
 * of up to 20 ms travel in one message. The worker never keeps the process alive, so a
 * server exits as it would without mcplens (the exit flush waits for outstanding counts
 * within its budget). If the
 * worker cannot start or dies, counting moves in-thread and says so through diag.
 */
/**
 * Texts wait this long for company, so that one message carries many calls. Each message
 * wakes the worker and each answer wakes the server's thread; on a VM such a cross-thread
 * wake-up costs the sender 25-30 µs (measured: `postMessage` of one 10 KB text to an idle
 * worker, 2-vCPU KVM guest), more than counting a small text. At 1,000 calls/s, 20 ms makes
 * that a microsecond or two per call. Spans end that much later; their end time is the answer's.
 */
const BATCH_WINDOW_MS = 20;
/** A batch this large leaves at once. */
const BATCH_MAX_TEXTS = 512;
/** A batch holding this many characters leaves at once (a call's texts are never split, so one message may hold more). */
const BATCH_MAX_CHARS = 1 << 20;

/** Counts in a worker thread, batched; exported for its tests (use {@link defaultTokenService}). */
export class WorkerTokenService implements TokenService {
  private jobsInFlight = 0;
  private charsInFlight = 0;
  private warnedBehind = false;
  private worker: Worker | undefined;
  private failed = false;
  private stopped = false;
  private ready = false;
  private nextId = 1;
  private readonly pending = new Map<number, Array<(counts: number[] | undefined) => void>>();
  private batch:
    | { texts: string[]; chars: number; resolvers: Array<{ from: number; to: number; resolve: (counts: number[] | undefined) => void }> }
    | undefined;
  private idleWaiters: Array<() => void> = [];
  private fallback: Tokenizer | undefined;

  constructor(private readonly bounds: TokenBacklogBounds) {}

  count(texts: readonly string[]): TokenCount {
    if (this.stopped) return { notCounted: TOKENS_NOT_COUNTED_REASONS.SHUTDOWN };
    // The texts wait in memory until the worker answers, so that wait is bounded.
    const chars = texts.reduce((n, text) => n + text.length, 0);
    const longest = texts.reduce((n, text) => Math.max(n, text.length), 0);
    if (longest > MAX_PAYLOAD_CHARS || chars > this.bounds.maxChars) {
      diag.warn(
        `mcplens: a payload of ${longest} characters is larger than the tokenizer's bound (${MAX_PAYLOAD_CHARS} per payload); its tokens are not counted`,
      );
      return { notCounted: TOKENS_NOT_COUNTED_REASONS.TOO_LARGE };
    }
    if (this.jobsInFlight >= this.bounds.maxJobs || this.charsInFlight + chars > this.bounds.maxChars) {
      // The tokenizer is behind (a saturated machine): the span ends now, without counts. One warning per episode.
      if (!this.warnedBehind) {
        this.warnedBehind = true;
        diag.warn('mcplens: token counting is behind; spans end without token counts until it catches up');
      }
      return { notCounted: TOKENS_NOT_COUNTED_REASONS.BACKLOG };
    }
    let counting: Promise<number[] | undefined>;
    try {
      counting = this.enqueue(texts);
    } catch (err) {
      diag.warn('mcplens: token counting failed', err);
      return { notCounted: TOKENS_NOT_COUNTED_REASONS.FAILED };
    }
    this.jobsInFlight++;
    this.charsInFlight += chars;
    const settled = (counts: number[] | undefined): number[] | undefined => {
      this.jobsInFlight--;
      this.charsInFlight -= chars;
      if (this.jobsInFlight === 0) this.warnedBehind = false;
      return counts;
    };
    return { later: counting.then(settled, () => settled(undefined)) };
  }

  /** Batches `texts` for the worker (in-thread once the worker failed). */
  private enqueue(texts: readonly string[]): Promise<number[] | undefined> {
    if (this.failed) return Promise.resolve(countInThread(this.inThread(), texts));
    return new Promise((resolve) => {
      if (this.batch === undefined) {
        const batch: NonNullable<WorkerTokenService['batch']> = { texts: [], chars: 0, resolvers: [] };
        this.batch = batch;
        setTimeout(() => {
          if (this.batch === batch) this.send();
        }, BATCH_WINDOW_MS);
      }
      const batch = this.batch;
      const from = batch.texts.length;
      for (const text of texts) {
        batch.texts.push(text);
        batch.chars += text.length;
      }
      batch.resolvers.push({ from, to: batch.texts.length, resolve });
      if (batch.texts.length >= BATCH_MAX_TEXTS || batch.chars >= BATCH_MAX_CHARS) this.send();
    });
  }

  /** Starts the worker now, so its vocabulary is loaded before the first call needs it. */
  warmUp(): void {
    this.ensureWorker();
  }

  isIdle(): boolean {
    return this.pending.size === 0 && this.batch === undefined;
  }

  isReady(): boolean {
    return this.ready || this.failed;
  }

  stopIfNotReady(): void {
    // A ready worker, or a vocabulary already loaded in this thread, answers in milliseconds.
    if (this.ready || this.stopped || (this.failed && this.fallback !== undefined)) return;
    // Stopped for good, without the warning of a crash, and without falling back to counting
    // in-thread: loading the vocabulary here would cost the ending process 200 ms. A batch
    // not yet sent settles too: its timer would otherwise start a worker, or count in-thread.
    this.stopped = true;
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) void worker.terminate().catch(() => undefined);
    const batch = this.batch;
    this.batch = undefined;
    batch?.resolvers.forEach((r) => r.resolve(undefined));
    for (const settle of this.pending.values()) settle.forEach((s) => s(undefined));
    this.pending.clear();
    this.afterSettle();
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private send(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (batch === undefined) return;
    const settle = (counts: number[] | undefined): void => {
      for (const r of batch.resolvers) r.resolve(counts === undefined ? undefined : counts.slice(r.from, r.to));
    };
    const worker = this.ensureWorker();
    if (worker === undefined) {
      settle(countInThread(this.inThread(), batch.texts));
      return;
    }
    const id = this.nextId++;
    // The worker stays unreferenced even with counts outstanding: at the process's end the
    // exit flush decides how long to wait for them (its budget), the worker never does.
    this.pending.set(id, [settle]);
    worker.postMessage({ id, texts: batch.texts });
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined || this.failed) return this.worker;
    try {
      const worker = new Worker(new URL('./token-worker.js', import.meta.url));
      worker.on('message', (message: { id: number; counts: number[] | undefined; ready?: true }) => {
        if (message.ready === true) {
          this.ready = true;
          return;
        }
        const settle = this.pending.get(message.id);
        this.pending.delete(message.id);
        settle?.forEach((s) => s(message.counts));
        this.afterSettle();
      });
      const fail = (err: unknown): void => {
        if (this.failed) return;
        diag.warn('mcplens: the token-counting worker stopped; counting in-thread from now on', err);
        this.failed = true;
        this.worker = undefined;
        for (const settle of this.pending.values()) settle.forEach((s) => s(undefined));
        this.pending.clear();
        this.afterSettle();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
      // After the listeners: adding a 'message' listener references the worker's port again
      // (this is what kept a session without tools/call alive for ever).
      worker.unref();
      this.worker = worker;
      return worker;
    } catch (err) {
      diag.warn('mcplens: cannot start the token-counting worker; counting in-thread', err);
      this.failed = true;
      return undefined;
    }
  }

  private afterSettle(): void {
    if (this.pending.size > 0) return;
    if (this.batch !== undefined) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    waiters.forEach((w) => w());
  }

  private inThread(): Tokenizer {
    this.fallback ??= defaultTokenizer();
    return this.fallback;
  }
}

let shared: WorkerTokenService | undefined;

/** The process-wide default token service (one worker for every instrumented server). */
export function defaultTokenService(): TokenService {
  shared ??= new WorkerTokenService(TOKEN_BACKLOG_BOUNDS);
  return shared;
}
