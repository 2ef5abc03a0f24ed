/**
 * The observer core's host outside the server's process: it sees the bytes `mcplens wrap`
 * relays (host -> server on stdin, server -> host on stdout), cuts them into JSON-RPC
 * messages and hands them to one ObservedConnection of a StreamObserver, exactly as the
 * in-process attachment hands it the transport's messages. The tool catalog is filled from
 * the server's own `tools/list` answers; when a call needs a catalog the client has not
 * listed, wrap asks the server itself (own-requests.ts), after initialization.
 */
import { diag } from '@opentelemetry/api';
import { MCP_METHOD, NETWORK_TRANSPORT } from '../../contract/index.js';
import type { GuardRecorder } from '../guards/tool-guards.js';
import { isRecord } from '../is-record.js';
import { implementationName, requestEnvelope } from '../meta-envelope.js';
import type { ObservedConnection } from '../observed-connection.js';
import { StreamObserver } from '../stream-observer.js';
import { ToolCatalog } from '../tool-catalog.js';
import { settleWithin } from '../settle-within.js';
import type { InstrumentOptions } from '../types.js';
import { MessageFramer } from './message-framer.js';
import { OwnRequests, type OwnRequestChannel } from './own-requests.js';

/** Observes one relayed stdio session. */
export class PipeObserver {
  private readonly conn: ObservedConnection;
  private readonly catalog: ToolCatalog;
  private readonly own: OwnRequests;
  private readonly fromClient: MessageFramer;
  private readonly fromServer: MessageFramer;
  /** Settles when wrap may send requests of its own: the client has initialized (or never will). */
  private readonly initialized: Promise<void>;
  private markInitialized!: () => void;
  private sawInitialize = false;
  private requestMeta: Record<string, unknown> | undefined;
  private serverName: ((name: string) => void) | undefined;
  /** When the chunk being framed arrived (`performance.now()`): the time of the messages it completes. */
  private chunkAt: number | undefined;

  private readonly heldAnswer: ((message: Record<string, unknown>) => boolean) | undefined;

  /** `hooks.heldAnswer`: answers the guards hand over later themselves (through {@link guardAnswer}). */
  constructor(
    options: InstrumentOptions,
    channel: OwnRequestChannel,
    hooks: { onServerName?: (name: string) => void; heldAnswer?: (message: Record<string, unknown>) => boolean } = {},
  ) {
    this.heldAnswer = hooks.heldAnswer;
    this.own = new OwnRequests(channel);
    this.initialized = new Promise((resolve) => (this.markInitialized = resolve));
    this.serverName = hooks.onServerName;
    this.catalog = new ToolCatalog(options, (cursor?: string) => this.listTools(cursor));
    this.conn = new StreamObserver(options).openConnection({ networkTransport: NETWORK_TRANSPORT.PIPE, catalog: this.catalog });
    this.fromClient = new MessageFramer((message) => this.onClientMessage(message));
    this.fromServer = new MessageFramer((message) => this.onServerMessage(message));
  }

  /**
   * The client's input ended: undefined, or a promise that settles once a catalog load of wrap's
   * own is over (at most `maxMs`), so its last pages are asked for before the server sees EOF.
   */
  beforeClientEof(maxMs: number): Promise<boolean> | undefined {
    const loading = this.catalog.pendingLoad;
    return loading === undefined ? undefined : settleWithin(loading, maxMs);
  }

  /** Bytes the host sent to the server; `at` (`performance.now()`) when they arrived, if that was earlier. */
  clientBytes(chunk: Buffer, at?: number): void {
    this.chunkAt = at;
    this.fromClient.push(chunk);
  }

  /** Bytes the server sent to the host; `at` when they were relayed, if that was earlier. */
  serverBytes(chunk: Buffer, at?: number): void {
    this.chunkAt = at;
    this.fromServer.push(chunk);
  }

  /** Where the guards write their decision on a request's span (undefined when it has none). */
  guardRecorder(id: unknown): GuardRecorder | undefined {
    return this.conn.guardRecorder(id);
  }

  /** An answer the guards settled (theirs in the server's place, or the server's held): the request's span ends with it. */
  guardAnswer(message: Record<string, unknown>): void {
    this.conn.outbound(message);
  }

  /** The server exited: its unanswered requests end (as `no_response`), and so do wrap's own. */
  close(): void {
    this.fromServer.end();
    this.own.close();
    // A catalog load still waiting for the client's initialization fails now, not never.
    this.markInitialized();
    this.conn.close();
    const { fromClient, fromServer } = this.unreadable;
    if (fromClient + fromServer > 0) {
      diag.warn(
        `mcplens wrap: ${fromClient} line(s) from the client and ${fromServer} from the server were not JSON-RPC ` +
          '(or over the size limit): relayed unchanged, not observed',
      );
    }
  }

  /** Lines neither side could have meant as messages (not JSON, or past the size limit). */
  get unreadable(): { fromClient: number; fromServer: number } {
    const count = (f: MessageFramer): number => f.stats.notJson + f.stats.tooLong;
    return { fromClient: count(this.fromClient), fromServer: count(this.fromServer) };
  }

  private onClientMessage(message: Record<string, unknown>): void {
    const method = message.method;
    if (method === MCP_METHOD.INITIALIZE) this.sawInitialize = true;
    else if (method === MCP_METHOD.INITIALIZED) this.markInitialized();
    else if (typeof method === 'string' && message.id !== undefined && !this.sawInitialize) {
      // Protocol 2026-07-28 has no initialize: every request stands on its own.
      this.rememberMeta(message);
      this.markInitialized();
    }
    this.conn.inbound(message, this.chunkAt === undefined ? undefined : { receivedAt: this.chunkAt });
  }

  private onServerMessage(message: Record<string, unknown>): void {
    if (this.own.isOwnAnswer(message)) {
      this.own.answer(message);
      return;
    }
    if (this.serverName !== undefined && isRecord(message.result)) {
      const name = implementationName(message.result.serverInfo);
      if (name !== undefined) {
        this.serverName(name);
        this.serverName = undefined;
      }
    }
    if (this.heldAnswer?.(message) === true) return;
    this.conn.outbound(message, this.chunkAt);
  }

  private rememberMeta(message: Record<string, unknown>): void {
    this.requestMeta = requestEnvelope(message) ?? this.requestMeta;
  }

  /** One page of the server's catalog, asked by wrap itself once the client has initialized. */
  private async listTools(cursor: string | undefined): Promise<unknown> {
    await this.initialized;
    const params: Record<string, unknown> = {};
    if (cursor !== undefined) params.cursor = cursor;
    if (this.requestMeta !== undefined) params._meta = { ...this.requestMeta };
    try {
      return await this.own.request(MCP_METHOD.TOOLS_LIST, params);
    } catch (err) {
      diag.debug('mcplens wrap: listing the tools failed', err);
      throw err;
    }
  }
}
