/**
 * Requests `mcplens wrap` sends to the server itself (today only `tools/list`, to know the
 * tool catalog when the client has not listed it all). Their ids cannot collide with the
 * client's (a random prefix per process); their answers are taken out of the server's output
 * before it reaches the client, and they never get a span.
 */
import { randomUUID } from 'node:crypto';

/** How long wrap waits for an answer of its own; then the request is given up (its answer, if it comes, is still dropped). */
export const OWN_REQUEST_TIMEOUT_MS = 10_000;

/** Where own requests go and how the relay is told to hold back their answers. */
export interface OwnRequestChannel {
  /** Writes one JSON-RPC line to the server. */
  send(line: Buffer): void;
  /** Set while answers are awaited; undefined when none is. */
  setLineFilter(filter: ((line: Buffer) => boolean) | undefined): void;
}

interface Waiting {
  resolve(result: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** One process's own requests to its child server. */
export class OwnRequests {
  /** `mcplens-<uuid>-`: no client picks such ids by chance. */
  private readonly prefix = `mcplens-${randomUUID()}-`;
  private readonly marker: Buffer;
  private next = 1;
  /** Awaited answers, and given-up ones whose late answers must still be dropped (value undefined). */
  private readonly waiting = new Map<string, Waiting | undefined>();
  private closed = false;

  constructor(private readonly channel: OwnRequestChannel) {
    this.marker = Buffer.from(JSON.stringify(this.prefix).slice(0, -1));
  }

  /** Whether a message (already parsed) is the answer to one of ours. */
  isOwnAnswer(message: Record<string, unknown>): boolean {
    return typeof message.id === 'string' && message.id.startsWith(this.prefix) && !('method' in message);
  }

  /** Sends a request; settles with its `result`, or rejects with its error, a timeout or the end of the child. */
  request(method: string, params: Record<string, unknown>, timeoutMs = OWN_REQUEST_TIMEOUT_MS): Promise<unknown> {
    if (this.closed) return Promise.reject(new Error('the server exited'));
    const id = `${this.prefix}${this.next++}`;
    return new Promise<unknown>((resolve, reject) => {
      const entry: Waiting = { resolve, reject, timer: undefined };
      entry.timer = setTimeout(() => {
        this.waiting.set(id, undefined);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      entry.timer.unref();
      this.waiting.set(id, entry);
      this.channel.setLineFilter(this.claimLine);
      this.channel.send(Buffer.from(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`));
    });
  }

  /** An answer of ours arrived (from the observed stream): settles its request. */
  answer(message: Record<string, unknown>): void {
    const id = message.id as string;
    const entry = this.waiting.get(id);
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.channel.setLineFilter(undefined);
    if (entry === undefined) return;
    clearTimeout(entry.timer);
    const error = message.error as { message?: unknown } | undefined;
    if (error !== undefined && error !== null) entry.reject(new Error(`the server answered an error: ${String(error.message)}`));
    else entry.resolve(message.result);
  }

  /** The child is gone: every request still waiting fails. */
  close(): void {
    this.closed = true;
    for (const entry of this.waiting.values()) {
      if (entry === undefined) continue;
      clearTimeout(entry.timer);
      entry.reject(new Error('the server exited'));
    }
    this.waiting.clear();
    this.channel.setLineFilter(undefined);
  }

  /** The relay's filter: a line that is one of our answers is not forwarded to the client. */
  private readonly claimLine = (line: Buffer): boolean => {
    if (line.indexOf(this.marker) === -1) return false;
    let message: unknown;
    try {
      message = JSON.parse(line.toString('utf8'));
    } catch {
      return false;
    }
    return typeof message === 'object' && message !== null && this.isOwnAnswer(message as Record<string, unknown>);
  };
}
