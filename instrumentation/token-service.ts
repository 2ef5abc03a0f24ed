import { diag } from '@opentelemetry/api';
import { Worker } from 'node:worker_threads';
import { defaultTokenizer, type Tokenizer } from './token-counter.js';

/** Counts tokens off the server's thread; resolves undefined when counting failed. */
export interface TokenService {
  count(texts: string[]): Promise<number[] | undefined>;
  /** Prepares for the first count (loads the vocabulary) without blocking. */
  warmUp?(): void;
  /**
   * Counts small texts at once, in-thread, where a worker round trip would cost more than
   * the counting; undefined when the texts should go to {@link count}.
   */
  countNow?(texts: readonly string[]): number[] | undefined;
  /** Resolves when every count asked for so far has answered. */
  idle(): Promise<void>;
  /** True when no count is outstanding. */
  isIdle(): boolean;
  /** False while counts would wait for start-up (a worker loading its vocabulary). */
  isReady?(): boolean;
  /**
   * The process is ending: a worker still loading its vocabulary is stopped now, so that its
   * termination (up to about 170 ms inside the vocabulary's parse) overlaps the last export
   * instead of following the exit. Counts it had not answered settle as failed.
   */
  stopIfNotReady?(): void;
  /** True once {@link stopIfNotReady} stopped it: nothing is counted any more. */
  isStopped?(): boolean;
}

/** A user tokenizer runs in-thread (a function cannot cross into a worker), still after the answer left. */
export function inThreadTokenService(tokenizer: Tokenizer): TokenService {
  return {
    count: async (texts) => {
      try {
        return texts.map(tokenizer);
      } catch (err) {
        diag.warn('mcplens: token counting failed', err);
        return undefined;
      }
    },
    idle: async () => undefined,
    isIdle: () => true,
    countNow: (texts) => texts.map(tokenizer),
  };
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

class WorkerTokenService implements TokenService {
  private worker: Worker | undefined;
  private failed = false;
  private stopped = false;
  private ready = false;
  private nextId = 1;
  private readonly pending = new Map<number, Array<(counts: number[] | undefined) => void>>();
  private batch: { texts: string[]; chars: number; resolvers: Array<{ from: number; to: number; resolve: (counts: number[] | undefined) => void }> } | undefined;
  private idleWaiters: Array<() => void> = [];
  private fallback: TokenService | undefined;

  count(texts: string[]): Promise<number[] | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    if (this.failed) return this.inThread().count(texts);
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

  isStopped(): boolean {
    return this.stopped;
  }

  stopIfNotReady(): void {
    const worker = this.worker;
    if (worker === undefined || this.ready || this.failed) return;
    // Stopped for good, without the warning of a crash, and without falling back to counting
    // in-thread: loading the vocabulary here would cost the ending process 200 ms.
    this.stopped = true;
    this.failed = true;
    this.worker = undefined;
    void worker.terminate().catch(() => undefined);
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
      void this.inThread().count(batch.texts).then(settle);
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

  private inThread(): TokenService {
    this.fallback ??= inThreadTokenService(defaultTokenizer());
    return this.fallback;
  }
}

let shared: WorkerTokenService | undefined;

/** The process-wide default token service (one worker for every instrumented server). */
export function defaultTokenService(): TokenService {
  shared ??= new WorkerTokenService();
  return shared;
}
