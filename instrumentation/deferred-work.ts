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

/**
 * The deferred work of every observer in a process, for whoever must end it at exit (the exit
 * flush, `flush()`): an explicit object handed to each {@link DeferredWork}, never global state
 * that the observers change from outside.
 */
export class DeferredWorkRegistry {
  private readonly all = new Set<WeakRef<DeferredWork>>();

  /** Registers a queue; it leaves the registry once garbage collected. */
  add(work: DeferredWork): void {
    this.all.add(new WeakRef(work));
  }

  /** True while a queue holds jobs or a span waits for its token counts. */
  hasWork(): boolean {
    for (const work of this.live()) if (work.hasWork()) return true;
    return false;
  }

  /** Runs the deferred work of every queue now; returns how many jobs ran. */
  flushAll(): number {
    let ran = 0;
    for (const work of this.live()) ran += work.flush();
    return ran;
  }

  /** Ends every span still waiting, in every queue, without what it waited for (shutdown past its bound). */
  abandonWaiting(): number {
    let abandoned = 0;
    for (const work of this.live()) abandoned += work.abandonWaiting();
    return abandoned;
  }

  private *live(): Generator<DeferredWork> {
    for (const ref of this.all) {
      const work = ref.deref();
      if (work === undefined) this.all.delete(ref);
      else yield work;
    }
  }
}

/** The registry of this process: every observer's queue registers here. */
export const processDeferredWork = new DeferredWorkRegistry();

/** One observer's deferred work: its queue of jobs and its spans waiting for token counts. */
export class DeferredWork {
  /**
   * Spans waiting for an asynchronous part (token counts), with when they started waiting:
   * each callback ends its span without it, saying why.
   */
  private readonly waiting = new Map<(reason: TokensNotCountedReason) => void, number>();
  private sweeper: NodeJS.Timeout | undefined;
  private queue: Array<() => void> = [];
  private scheduled = false;
  private readonly sliceMs = 5;

  constructor(
    private readonly capacity: number,
    registry: DeferredWorkRegistry,
  ) {
    registry.add(this);
  }

  /**
   * Registers a span waiting for its token counts; returns the function that unregisters it
   * once the counts came. A span still waiting after `maxWaitMs` (a tokenizer starved of CPU)
   * ends without them (`backlog`), so that spans keep flowing whatever the tokenizer does.
   */
  wait(end: (reason: TokensNotCountedReason) => void, maxWaitMs: number): () => void {
    this.waiting.set(end, performance.now() + maxWaitMs);
    if (this.sweeper === undefined) {
      this.sweeper = setInterval(this.sweep, Math.min(maxWaitMs, 1000));
      this.sweeper.unref();
    }
    return () => this.waiting.delete(end);
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const [end, deadline] of this.waiting) {
      if (deadline > now) continue;
      this.waiting.delete(end);
      endWaiting(end, TOKENS_NOT_COUNTED_REASONS.BACKLOG);
    }
    if (this.waiting.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  };

  /** Ends every span still waiting, without what it waited for (shutdown past its bound). */
  abandonWaiting(): number {
    const callbacks = [...this.waiting.keys()];
    this.waiting.clear();
    for (const end of callbacks) endWaiting(end, TOKENS_NOT_COUNTED_REASONS.SHUTDOWN);
    return callbacks.length;
  }

  /** True while jobs are queued or a span waits for its token counts. */
  hasWork(): boolean {
    return this.waiting.size > 0 || this.queue.length > 0;
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
