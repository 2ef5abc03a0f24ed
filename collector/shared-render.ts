/**
 * `/metrics` renders shared and bounded. At the series cap a scrape body is tens of megabytes;
 * rendered once per request, 32 concurrent scrapes took the collector from 180 MB to 720 MB.
 * Here a scrape joins the render of its format that is still running, or that finished less
 * than `reuseMs` ago and is still being sent (Node writes one Buffer to every socket without
 * copying it); a new render starts only while fewer than
 * `maxLive` bodies are still being sent (a slow reader keeps its body alive until it has read
 * it), else the scrape is refused (`undefined`: answer 503 with Retry-After).
 */

/** A render and the responses still sending it. */
interface Live<V> {
  value: Promise<V>;
  pending: boolean;
  /** When the render ended (ms since epoch). */
  ended: number;
  senders: number;
}

/** Renders shared per key, with at most `maxLive` bodies alive at once. */
export class SharedRenders<K, V> {
  private readonly running = new Map<K, Live<V>>();
  private live = 0;

  constructor(
    private readonly render: (key: K) => Promise<V>,
    private readonly maxLive: number,
    private readonly reuseMs = 1000,
  ) {}

  /**
   * The body for `key` and a `done` to call once the response has finished or closed, or
   * undefined when `maxLive` bodies are still being sent (refuse the scrape).
   */
  acquire(key: K): { value: Promise<V>; done: () => void } | undefined {
    let entry = this.running.get(key);
    const joinable = entry !== undefined && (entry.pending || (entry.senders > 0 && Date.now() - entry.ended <= this.reuseMs));
    if (entry === undefined || !joinable) {
      if (this.live >= this.maxLive) return undefined;
      const created: Live<V> = { value: this.render(key), pending: true, ended: 0, senders: 0 };
      entry = created;
      this.live++;
      this.running.set(key, created);
      created.value.then(
        () => {
          created.pending = false;
          created.ended = Date.now();
        },
        () => {
          // A failed render is never joined again.
          created.pending = false;
          created.ended = -Infinity;
        },
      );
    }
    const joined = entry;
    joined.senders++;
    let released = false;
    return {
      value: joined.value,
      done: () => {
        if (released) return;
        released = true;
        joined.senders--;
        // The body is free once no response sends it and no new scrape can join it.
        if (joined.senders === 0) {
          if (joined.pending) {
            // Every sender left before the render ended: it still counts until it ends.
            joined.value.then(
              () => this.release(joined),
              () => this.release(joined),
            );
          } else this.release(joined);
        }
      },
    };
  }

  private release(entry: Live<V>): void {
    if (entry.senders === 0 && !entry.pending && this.live > 0) {
      this.live--;
      // Mark it so a late double release cannot count it twice, and nobody joins it again.
      entry.senders = -1;
      for (const [k, e] of this.running) if (e === entry) this.running.delete(k);
    }
  }
}
