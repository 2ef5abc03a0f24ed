/**
 * Shutdown's last scrape: once ingest is refused, the collector waits (bounded) until a scrape
 * of `/metrics` rendered after the last acknowledged ingest has been sent, so Prometheus holds
 * every span the collector answered 200 for before the process exits.
 *
 * Scrapes are compared with ingest by a sequence number (requests tallied so far), taken when
 * the scrape's body starts rendering: a render that began before the last tally may miss it,
 * one that began after cannot.
 */

/** How a wait for the last scrape ended. */
export type LastScrapeOutcome =
  /** A scrape rendered after the last acknowledged ingest was sent. */
  | 'scraped'
  /** Nothing to wait for: `/metrics` was never scraped, or the wait is disabled (0). */
  | 'not-needed'
  /** The wait ran out before such a scrape came. */
  | 'timed-out';

/** What the gate reads of the receiver. */
export interface IngestProgress {
  /** Requests tallied so far (monotonic). */
  acknowledged(): number;
  /** Ingest requests being handled now (they may still be tallied). */
  inFlight(): number;
}

/** Tracks which acknowledged ingest the sent scrapes cover, and lets shutdown wait for the last one. */
export class LastScrape {
  private covered = -1;
  private waiter: (() => void) | undefined;

  constructor(private readonly ingest: IngestProgress) {}

  /** The sequence number to tag a scrape body with: call it when its rendering starts. */
  renderStarts(): number {
    return this.ingest.acknowledged();
  }

  /** A scrape body tagged `seq` has been handed to the scraper. */
  sent(seq: number): void {
    if (seq > this.covered) this.covered = seq;
    this.check();
  }

  /** Re-checks the wait; call it when an ingest request has been answered. */
  check(): void {
    if (this.waiter !== undefined && this.done()) this.waiter();
  }

  /**
   * Waits until no ingest is in flight and a sent scrape covers every acknowledged request,
   * or `timeoutMs` passes. Call it once ingest is refused (no new request can be tallied).
   */
  wait(timeoutMs: number): Promise<LastScrapeOutcome> {
    if (timeoutMs <= 0 || this.covered < 0) return Promise.resolve('not-needed');
    if (this.done()) return Promise.resolve('scraped');
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish('timed-out'), timeoutMs);
      const finish = (outcome: LastScrapeOutcome): void => {
        clearTimeout(timer);
        this.waiter = undefined;
        resolve(outcome);
      };
      this.waiter = () => finish('scraped');
    });
  }

  private done(): boolean {
    return this.ingest.inFlight() === 0 && this.covered >= this.ingest.acknowledged();
  }
}
