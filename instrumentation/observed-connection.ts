import { diag, type Context } from '@opentelemetry/api';
import { MCP_METHOD, type GuardOutcome } from '../contract/index.js';
import { isRecord } from './is-record.js';
import { OBSERVED_BY_HEADER } from './observed-by.js';
import type { GuardRecorder } from './guards/tool-guards.js';
import type { JsonRpcId, Message, PendingRequest } from './pending-request.js';
import type { ToolCatalog } from './tool-catalog.js';

type Headers = Record<string, string | string[] | undefined>;

/** What the host knows about one connection (one transport, or one proxied pipe). */
export interface ConnectionInfo {
  /** `network.transport`: `pipe` for stdio, `tcp` for HTTP; undefined in-process. */
  networkTransport?: string | undefined;
  /** `network.protocol.name`: `http` on HTTP transports. */
  networkProtocolName?: string | undefined;
  /** Reads the transport's session id (it may be assigned during initialize). */
  sessionId?: () => string | undefined;
  /** The tool catalog of the server behind this connection. */
  catalog: ToolCatalog;
}

/** Per-message extras the transport passes along (v1 `requestInfo.headers`, v2 a web `Request`). */
export interface InboundExtra {
  headers?: Headers | undefined;
  /** Aborted when the client abandons the request (v2 closes the HTTP stream to cancel under 2026-07-28). */
  signal?: AbortSignal | undefined;
  /** `performance.now()` when the message arrived, for a host that hands it over later (default: now). */
  receivedAt?: number | undefined;
}

/** What a connection hands its messages to: the observer's span bookkeeping. */
export interface ConnectionObserver {
  /** Bound of each connection's table of unanswered requests. */
  readonly maxPending: number;
  /** A request arrived: starts its span; returns the context to handle it in. */
  startSpan(conn: ObservedConnection, message: Message, extra: InboundExtra | undefined): Context | undefined;
  /** The request was answered (`message`), cancelled, or will never be answered (undefined). */
  finish(conn: ObservedConnection, pending: PendingRequest, message: Message | undefined, cancelled?: boolean, at?: number): void;
}

/** One connection's view: its pending requests, matched to responses by JSON-RPC id. */
export class ObservedConnection {
  /** Random session key for transports without a session id (stdio, protocol 2026-07-28). */
  readonly key = randomKey();
  clientInfo: { name?: string; version?: string } | undefined;
  protocolVersion: string | undefined;
  private readonly pending = new Map<JsonRpcId, PendingRequest>();
  private closed = false;

  constructor(
    private readonly observer: ConnectionObserver,
    readonly info: ConnectionInfo,
  ) {}

  sessionId(): string | undefined {
    try {
      return this.info.sessionId?.();
    } catch {
      return undefined;
    }
  }

  /**
   * A message arrived from the client. Returns the context the server should handle it
   * in (the request's span), or undefined for messages that start no span.
   */
  inbound(message: unknown, extra?: InboundExtra): Context | undefined {
    try {
      if (!isRecord(message) || typeof message.method !== 'string') return undefined;
      // Observed on its way here by `mcplens proxy`, whose span counts it: none of ours.
      if (extra?.headers?.[OBSERVED_BY_HEADER] !== undefined) return undefined;
      if (message.id !== undefined && message.id !== null) return this.observer.startSpan(this, message, extra);
      if (message.method === MCP_METHOD.CANCELLED && isRecord(message.params)) {
        const entry = this.pending.get(message.params.requestId as JsonRpcId);
        if (entry !== undefined) {
          this.pending.delete(entry.id);
          this.observer.finish(this, entry, undefined, true);
        }
      }
    } catch (err) {
      diag.error('mcplens: observing an inbound message failed', err);
    }
    return undefined;
  }

  /** A message the server sends to the client; `sentAt` (`performance.now()`) when a host hands it over later. */
  outbound(message: unknown, sentAt?: number): void {
    try {
      if (!isRecord(message)) return;
      if ('result' in message || 'error' in message) {
        const entry = this.pending.get(message.id as JsonRpcId);
        if (entry === undefined) return;
        this.pending.delete(entry.id);
        this.observer.finish(this, entry, message, false, sentAt);
      } else if (message.method === MCP_METHOD.TOOLS_LIST_CHANGED) {
        this.info.catalog.markStale();
      }
    } catch (err) {
      diag.error('mcplens: observing an outbound message failed', err);
    }
  }

  /**
   * The transport closed: requests never answered end as errors, except those the client
   * abandoned itself (their signal aborted), which end as cancelled.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.pending.values()) this.observer.finish(this, entry, undefined, entry.signal?.aborted === true);
    this.pending.clear();
  }

  /** Where the guards of a request being handled write their decision (undefined when it has no span). */
  guardRecorder(id: unknown): GuardRecorder | undefined {
    const entry = this.pending.get(id as JsonRpcId);
    return entry === undefined ? undefined : new EntryRecorder(entry);
  }

  /** @internal */
  track(entry: PendingRequest): void {
    const previous = this.pending.get(entry.id);
    if (previous !== undefined) this.observer.finish(this, previous, undefined); // id reused before an answer
    this.pending.set(entry.id, entry);
    if (this.pending.size > this.observer.maxPending) {
      const oldest = this.pending.values().next().value as PendingRequest;
      this.pending.delete(oldest.id);
      this.observer.finish(this, oldest, undefined);
    }
  }
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}

/** A pending request as the guards write to it: one object per guarded call, no closures. */
class EntryRecorder implements GuardRecorder {
  readonly span: PendingRequest['span'];

  constructor(private readonly entry: PendingRequest) {
    this.span = entry.span;
  }

  decide(outcome: GuardOutcome, attributes?: Readonly<Record<string, string | number | string[]>>): void {
    this.entry.guardOutcome = outcome;
    if (attributes !== undefined) this.span.setAttributes(attributes);
  }

  listedInFull(result: unknown): void {
    if (result !== null && typeof result === 'object' && !Array.isArray(result))
      this.entry.unfilteredResult = result as Record<string, unknown>;
  }
}
