/**
 * A per-tool circuit breaker: `failures` failures within `windowMs` open it; while open, calls
 * are refused at once; after `coolDownMs` the next call is let through as the one trial
 * (half-open): its success closes the breaker, its failure opens it again. One breaker per tool
 * and per process (each replica of a server has its own).
 *
 * Hand-written rather than cockatiel 3's breakers: cockatiel counts consecutive failures or a
 * failure rate over sampled calls, not "N failures within a window", and it owns the call
 * (`execute(fn)`), whereas mcplens also feeds it answers observed outside the process (wrap,
 * proxy), and reports every transition on the span of the call that caused it.
 */
import type { BreakerState } from '../../contract/index.js';

/** Options of one breaker (every tool of a server gets its own with these). */
export interface BreakerOptions {
  /** Failures within {@link windowMs} that open the breaker. Default 3. */
  failures: number;
  /** Window the failures are counted in, in milliseconds. Default 60,000. */
  windowMs: number;
  /** How long an open breaker refuses calls before it lets one trial call through, in milliseconds. Default 30,000. */
  coolDownMs: number;
}

export const DEFAULT_BREAKER_OPTIONS: Readonly<BreakerOptions> = { failures: 3, windowMs: 60_000, coolDownMs: 30_000 };

/** A state change, reported on the span of the call that made it. */
export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
}

/** What {@link CircuitBreaker.admit} decided for one call. */
export type BreakerAdmission =
  | { readonly admitted: true; readonly trial: boolean; readonly transition: BreakerTransition | undefined }
  | { readonly admitted: false; readonly retryInMs: number };

const ADMITTED: BreakerAdmission = { admitted: true, trial: false, transition: undefined };

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  /** Start times (ms) of the failures still inside the window, oldest first (at most `failures` kept). */
  private readonly failureTimes: number[] = [];
  private openedAt = 0;
  private trialRunning = false;

  constructor(
    private readonly options: BreakerOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.current;
  }

  /** Whether a call may run now. A half-open breaker admits one trial call at a time. */
  admit(): BreakerAdmission {
    if (this.current === 'closed') return ADMITTED;
    const now = this.now();
    if (this.current === 'open') {
      const retryInMs = this.openedAt + this.options.coolDownMs - now;
      if (retryInMs > 0) return { admitted: false, retryInMs };
      this.current = 'half_open';
      this.trialRunning = true;
      return { admitted: true, trial: true, transition: { from: 'open', to: 'half_open' } };
    }
    // Half-open: one trial at a time; the others are refused until it settles.
    if (this.trialRunning) return { admitted: false, retryInMs: 1000 };
    this.trialRunning = true;
    return { admitted: true, trial: true, transition: undefined };
  }

  /** The call ended without a failure (cancellations and the caller's faults included). */
  succeeded(trial: boolean): BreakerTransition | undefined {
    if (!trial) return undefined;
    this.trialRunning = false;
    if (this.current !== 'half_open') return undefined;
    this.current = 'closed';
    this.failureTimes.length = 0;
    return { from: 'half_open', to: 'closed' };
  }

  /** The call failed (it threw, timed out, or outside the process answered an error). */
  failed(trial: boolean): BreakerTransition | undefined {
    const now = this.now();
    if (trial) this.trialRunning = false;
    if (this.current === 'half_open') return this.open(now, 'half_open');
    if (this.current === 'open') return undefined;
    const times = this.failureTimes;
    times.push(now);
    while (times.length > 0 && now - times[0]! >= this.options.windowMs) times.shift();
    if (times.length > this.options.failures) times.shift();
    return times.length >= this.options.failures ? this.open(now, 'closed') : undefined;
  }

  private open(now: number, from: BreakerState): BreakerTransition {
    this.current = 'open';
    this.openedAt = now;
    this.failureTimes.length = 0;
    return { from, to: 'open' };
  }
}
