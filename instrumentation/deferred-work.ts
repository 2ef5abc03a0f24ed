import { context, diag, ROOT_CONTEXT } from '@opentelemetry/api';
import { TOKENS_NOT_COUNTED_REASONS, type TokensNotCountedReason } from '../contract/index.js';

/**
 * A bounded queue of work that must not sit on a response's path (grading, tokenizing,
 * serialising, logging). Drained on a timer, up to 20 ms after the first job, in slices,
 * so a burst of large payloads cannot hold the event loop for long.
 *
 * Why a timer and why 20 ms: between two calls of a real server (about a millisecond of
 * HTTP parsing and streams), the CPU caches forget mcplens' code and data, and run cold
 * the same work took 10 to 20 times longer than in a tight loop (measured: the span start
 * of one HTTP call, 19 µs median against 1 µs in memory). A drain that runs the jobs of
 * many calls back to back pays that once. It also spares one scheduled callback per call,
 * which AsyncLocalStorage (the OTel context manager) must propagate into on the request's
 * path. Spans end that much later; their end time is the answer's.
 */
const DRAIN_DELAY_MS = 20;

export class DeferredWork {
  /** Every queue in the process, so that a shutdown can end the spans still waiting. */
  private static readonly all = new Set<WeakRef<DeferredWork>>();

  /**
   * Spans waiting for an asynchronous part (token counts), with when they started waiting:
   * each callback ends its span without it, saying why.
   */
  private static readonly waiting = new Map<(reason: TokensNotCountedReason) => void, number>();
  private static sweeper: NodeJS.Timeout | undefined;

  /**
   * Registers a span waiting for its token counts; returns the function that unregisters it
   * once the counts came. A span still waiting after `maxWaitMs` (a tokenizer starved of CPU)
   * ends without them (`backlog`), so that spans keep flowing whatever the tokenizer does.
   */
  static wait(end: (reason: TokensNotCountedReason) => void, maxWaitMs: number): () => void {
    DeferredWork.waiting.set(end, performance.now() + maxWaitMs);
    if (DeferredWork.sweeper === undefined) {
      DeferredWork.sweeper = setInterval(DeferredWork.sweep, Math.min(maxWaitMs, 1000));
      DeferredWork.sweeper.unref();
    }
    return () => DeferredWork.waiting.delete(end);
  }

  private static sweep(): void {
    const now = performance.now();
    for (const [end, deadline] of DeferredWork.waiting) {
      if (deadline > now) continue;
      DeferredWork.waiting.delete(end);
      endWaiting(end, TOKENS_NOT_COUNTED_REASONS.BACKLOG);
    }
    if (DeferredWork.waiting.size === 0 && DeferredWork.sweeper !== undefined) {
      clearInterval(DeferredWork.sweeper);
      DeferredWork.sweeper = undefined;
    }
  }

  /** Ends every span still waiting, without what it waited for (shutdown past its bound). */
  static abandonWaiting(): number {
    const callbacks = [...DeferredWork.waiting.keys()];
    DeferredWork.waiting.clear();
    for (const end of callbacks) endWaiting(end, TOKENS_NOT_COUNTED_REASONS.SHUTDOWN);
    return callbacks.length;
  }

  /** True while a queue holds jobs or a span waits for its token counts. */
  static hasWork(): boolean {
    if (DeferredWork.waiting.size > 0) return true;
    for (const ref of DeferredWork.all) if ((ref.deref()?.queue.length ?? 0) > 0) return true;
    return false;
  }

  /** Runs the deferred work of every queue now; returns how many jobs ran. */
  static flushAll(): number {
    let ran = 0;
    for (const ref of DeferredWork.all) {
      const queue = ref.deref();
      if (queue === undefined) DeferredWork.all.delete(ref);
      else ran += queue.flush();
    }
    return ran;
  }

  private queue: Array<() => void> = [];
  private scheduled = false;
  private readonly sliceMs = 5;

  constructor(private readonly capacity: number) {
    DeferredWork.all.add(new WeakRef(this));
  }

  /**
   * Queues `job`. When the queue is full it runs now instead (memory stays bounded; the work
   * is not lost). Either way it runs outside the request's context.
   */
  push(job: () => void): void {
    if (this.queue.length >= this.capacity) {
      context.with(ROOT_CONTEXT, runJob, undefined, job);
      return;
    }
    this.queue.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(this.drain, DRAIN_DELAY_MS);
    }
  }

  /** Runs everything queued now (used on shutdown); returns how many jobs ran. */
  flush(): number {
    let ran = 0;
    while (this.queue.length > 0) {
      ran += this.queue.length;
      context.with(ROOT_CONTEXT, this.runSlice, this, Infinity);
    }
    return ran;
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    // The timer carries the context of whichever request scheduled it: jobs (a user's log
    // call among them) must not run as if inside that request.
    context.with(ROOT_CONTEXT, this.runSlice, this, this.sliceMs);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  };

  private runSlice(budgetMs: number): void {
    const deadline = performance.now() + budgetMs;
    const jobs = this.queue;
    let i = 0;
    for (; i < jobs.length; i++) {
      runJob(jobs[i]!);
      if ((i & 15) === 15 && performance.now() > deadline) {
        i++;
        break;
      }
    }
    this.queue = i >= jobs.length ? [] : jobs.slice(i);
  }
}

function endWaiting(end: (reason: TokensNotCountedReason) => void, reason: TokensNotCountedReason): void {
  try {
    end(reason);
  } catch (err) {
    diag.error('mcplens: ending a waiting span failed', err);
  }
}

function runJob(job: () => void): void {
  try {
    job();
  } catch (err) {
    diag.error('mcplens: deferred telemetry work failed', err);
  }
}
