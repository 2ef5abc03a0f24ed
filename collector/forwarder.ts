/**
 * Optional forwarding of accepted OTLP bodies, unchanged (same bytes, content type and
 * content encoding), to upstream OTLP/HTTP endpoints such as Tempo or another collector.
 *
 * Each endpoint has its own bounded queue (at most `queueSize` bodies and
 * {@link MAX_QUEUE_BYTES} bytes) and one sender that sends in order. `enqueue` never waits:
 * a full queue drops the new body (counted as `queue_full`), so a slow or dead upstream never
 * blocks or slows ingest. Retries follow the OTLP/HTTP spec: 429/502/503/504 and network
 * errors are retried with exponential backoff and jitter, honouring `Retry-After` (capped by
 * `maxBackoffMs`); other statuses drop the body (`rejected`); too many attempts drop it
 * (`retries_exhausted`); whatever is left at shutdown is dropped (`shutdown`).
 */
import { FORWARD_DROP_REASONS, LABEL } from '../contract/index.js';
import type { CollectorMetrics } from './metrics.js';

/** Bytes queued per endpoint at most, whatever `queueSize` says. */
export const MAX_QUEUE_BYTES = 256 * 1024 * 1024;

/** Reasons of `mcplens_collector_forward_dropped_total` (from the contract). */
const DROP_REASON = FORWARD_DROP_REASONS;

const RETRYABLE = new Set([429, 502, 503, 504]);

/** One received body, as it came in. */
export interface ForwardItem {
  body: Uint8Array;
  contentType: string;
  /** `gzip` or undefined. */
  contentEncoding: string | undefined;
}

/** Options of {@link Forwarder}. */
export interface ForwarderOptions {
  endpoints: readonly string[];
  queueSize: number;
  maxRetries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
  metrics: Pick<CollectorMetrics, 'forwardSent' | 'forwardDropped'>;
}

/** Parses `Retry-After` (delta seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** The endpoint as a label value: no credentials, query or fragment. */
export function endpointLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

class EndpointSender {
  private readonly queue: ForwardItem[] = [];
  private bytes = 0;
  private running = false;
  private closing = false;
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  private idle: Promise<void> = Promise.resolve();
  readonly label: string;

  constructor(
    private readonly url: string,
    private readonly opts: ForwarderOptions,
  ) {
    this.label = endpointLabel(url);
  }

  get size(): number {
    return this.queue.length;
  }

  private drop(reason: string, n = 1): void {
    this.opts.metrics.forwardDropped.inc({ [LABEL.ENDPOINT]: this.label, [LABEL.REASON]: reason }, n);
  }

  enqueue(item: ForwardItem): void {
    if (this.closing || this.queue.length >= this.opts.queueSize || this.bytes + item.body.length > MAX_QUEUE_BYTES) {
      this.drop(this.closing ? DROP_REASON.SHUTDOWN : DROP_REASON.QUEUE_FULL);
      return;
    }
    this.queue.push(item);
    this.bytes += item.body.length;
    if (!this.running) {
      this.running = true;
      this.idle = this.run();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      t.unref();
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  /** One attempt: 'ok', 'retry' (with an optional server-given delay) or 'reject'. */
  private async attempt(item: ForwardItem): Promise<{ result: 'ok' | 'retry' | 'reject'; retryAfterMs?: number }> {
    const headers: Record<string, string> = { 'content-type': item.contentType };
    if (item.contentEncoding) headers['content-encoding'] = item.contentEncoding;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers,
        body: item.body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.opts.timeoutMs)]),
      });
      // Drain the body so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { result: 'ok' };
      if (RETRYABLE.has(res.status)) return { result: 'retry', retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
      return { result: 'reject' };
    } catch {
      // Network error or timeout: the upstream may come back.
      return { result: 'retry' };
    }
  }

  private async run(): Promise<void> {
    try {
      await this.drain();
    } finally {
      // Cleared in the same turn the queue was seen empty, so the next enqueue starts a new run.
      this.running = false;
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      const item = this.queue[0]!;
      let retries = 0;
      let backoff = this.opts.initialBackoffMs;
      for (;;) {
        const { result, retryAfterMs } = await this.attempt(item);
        if (this.abort.signal.aborted) return;
        if (result === 'ok') {
          this.opts.metrics.forwardSent.inc({ [LABEL.ENDPOINT]: this.label });
          break;
        }
        if (result === 'reject') {
          this.drop(DROP_REASON.REJECTED);
          break;
        }
        if (retries >= this.opts.maxRetries) {
          this.drop(DROP_REASON.RETRIES_EXHAUSTED);
          break;
        }
        retries++;
        const jittered = backoff * (0.8 + Math.random() * 0.4);
        const delay = Math.min(retryAfterMs ?? jittered, this.opts.maxBackoffMs);
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
        await this.sleep(delay);
        if (this.abort.signal.aborted) return;
      }
      this.queue.shift();
      this.bytes -= item.body.length;
    }
  }

  /** Stops taking bodies, lets the queue drain until `deadline` (ms since epoch), then drops the rest. */
  async close(deadline: number): Promise<void> {
    this.closing = true;
    const remaining = deadline - Date.now();
    if (this.running && remaining > 0) {
      // Retry delays would outlast the deadline: wake the sender and let it try now.
      this.wake?.();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.idle, new Promise<void>((r) => (timer = setTimeout(r, remaining)))]);
      clearTimeout(timer);
    }
    this.abort.abort();
    this.wake?.();
    await this.idle.catch(() => undefined);
    if (this.queue.length > 0) this.drop(DROP_REASON.SHUTDOWN, this.queue.length);
    this.queue.length = 0;
    this.bytes = 0;
  }
}

/** Forwards bodies to every configured endpoint. */
export class Forwarder {
  private readonly senders: EndpointSender[];

  constructor(options: ForwarderOptions) {
    this.senders = options.endpoints.map((u) => new EndpointSender(u, options));
  }

  /** True when at least one endpoint is configured. */
  get enabled(): boolean {
    return this.senders.length > 0;
  }

  /** Bodies waiting per endpoint label. */
  queued(): Record<string, number> {
    return Object.fromEntries(this.senders.map((s) => [s.label, s.size]));
  }

  /** Queues a body for every endpoint; never waits. */
  enqueue(item: ForwardItem): void {
    for (const s of this.senders) s.enqueue(item);
  }

  /** Drains until `deadline` (ms since epoch), then drops and counts what is left. */
  async close(deadline: number): Promise<void> {
    await Promise.all(this.senders.map((s) => s.close(deadline)));
  }
}
