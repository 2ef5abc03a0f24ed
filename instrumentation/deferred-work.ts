import { diag } from '@opentelemetry/api';

/**
 * A bounded queue of work that must not sit on a response's path (tokenizing,
 * serialising, logging). Drained on `setImmediate`, in slices, so a burst of large
 * payloads cannot hold the event loop for long.
 */
export class DeferredWork {
  /** Every queue in the process, so that a shutdown can end the spans still waiting. */
  private static readonly all = new Set<WeakRef<DeferredWork>>();

  /** Runs the deferred work of every queue now: spans waiting for tokens end at once. */
  static flushAll(): void {
    for (const ref of DeferredWork.all) {
      const queue = ref.deref();
      if (queue === undefined) DeferredWork.all.delete(ref);
      else queue.flush();
    }
  }

  private queue: Array<() => void> = [];
  private scheduled = false;
  private readonly sliceMs = 5;

  constructor(private readonly capacity: number) {
    DeferredWork.all.add(new WeakRef(this));
  }

  /** Queues `job`; returns false when the queue is full (the caller then does the minimum at once). */
  push(job: () => void): boolean {
    if (this.queue.length >= this.capacity) return false;
    this.queue.push(job);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
    return true;
  }

  /** Runs everything queued now (used on shutdown and by tests). */
  flush(): void {
    while (this.queue.length > 0) this.runSlice(Infinity);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    this.runSlice(this.sliceMs);
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
      const job = jobs[i]!;
      try {
        job();
      } catch (err) {
        diag.error('mcplens: deferred telemetry work failed', err);
      }
      if ((i & 15) === 15 && performance.now() > deadline) {
        i++;
        break;
      }
    }
    this.queue = i >= jobs.length ? [] : jobs.slice(i);
  }
}
