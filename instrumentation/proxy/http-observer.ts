/**
 * The observer core's host for `mcplens proxy`: it sees the JSON-RPC messages of the HTTP
 * exchanges the proxy forwards on the MCP endpoint and hands them to ObservedConnections of one
 * StreamObserver, as the in-process attachment does with a Streamable HTTP transport's messages.
 * One connection per `Mcp-Session-Id` (born with the initialize answer that assigns it, dropped
 * on DELETE, on a 404 for it, after an idle time, or when too many are open); a request without a
 * session id gets a connection of its own that closes with its HTTP response.
 */
import { context as otelContext, createContextKey } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { MCP_METHOD, NETWORK_TRANSPORT } from '../../contract/index.js';
import type { GuardRecorder } from '../guards/tool-guards.js';
import { isRecord } from '../is-record.js';
import { implementationName, requestEnvelope } from '../meta-envelope.js';
import { SESSION_HEADER } from './forward-headers.js';
import type { InboundExtra, ObservedConnection } from '../observed-connection.js';
import { StreamObserver } from '../stream-observer.js';
import { ToolCatalog } from '../tool-catalog.js';
import type { InstrumentOptions } from '../types.js';
import { listToolsUpstream, type ListToolsContext } from './upstream-tools-list.js';

/** Holds, in the context of a tools/call, the headers and `_meta` its session's catalog load may use. */
const LIST_CONTEXT = createContextKey('mcplens proxy: the calling request');

/** Bounds of the session table. */
export interface SessionLimits {
  /** A session unused this long is closed (its unanswered requests end as no_response). */
  idleMs: number;
  /** At most this many sessions are observed at once; past it the least recently used is closed. */
  maxSessions: number;
}

interface Session {
  conn: ObservedConnection;
  lastUsed: number;
}

/** What the proxy reports of one forwarded HTTP exchange on the MCP endpoint. */
export interface Exchange {
  /** The request body's JSON-RPC messages (one, or a batch), once the body is complete. */
  requestMessages(messages: readonly unknown[]): void;
  /** The upstream answer's status and headers arrived. */
  responseHead(status: number, headers: IncomingHttpHeaders): void;
  /** One JSON-RPC message of the answer (a JSON body's, or an SSE event's), after it was forwarded. */
  responseMessage(message: unknown): void;
  /** The exchange is over; `clientAborted` when the client went away before the answer ended. */
  end(clientAborted: boolean): void;
  /** Where the guards write their decision on a request's span (undefined when it has none). */
  guardRecorder(id: unknown): GuardRecorder | undefined;
}

/** Observes the MCP endpoint of one target server. */
export class HttpObserver {
  private readonly core: StreamObserver;
  private readonly catalog: ToolCatalog;
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;
  private onServerName: ((name: string) => void) | undefined;

  constructor(
    options: InstrumentOptions,
    private readonly target: URL,
    private readonly limits: SessionLimits,
    hooks: { onServerName?: (name: string) => void } = {},
  ) {
    this.core = new StreamObserver(options);
    // The proxy's own tools/list goes with the session and credentials of the call that needs the
    // catalog (never another client's): the catalog loads pages in that call's context.
    this.catalog = new ToolCatalog(options, (cursor) => {
      const listContext = otelContext.active().getValue(LIST_CONTEXT) as ListToolsContext | undefined;
      if (listContext === undefined) return Promise.reject(new Error('no calling request to list the tools for'));
      return listToolsUpstream(this.target, listContext, cursor);
    });
    this.onServerName = hooks.onServerName;
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(limits.idleMs, 60_000)));
    this.sweeper.unref();
  }

  /** Number of sessions observed now. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Starts observing one HTTP exchange (POST, GET or DELETE on the MCP endpoint). */
  open(method: string, headers: IncomingHttpHeaders): Exchange {
    const requested = single(headers[SESSION_HEADER]);
    let sessionId = requested;
    // Without a session id: a connection of this exchange, adopted as the session's if the answer assigns one.
    let own: ObservedConnection | undefined;
    const conn = requested !== undefined ? this.session(requested) : (own = this.openConnection(() => sessionId));
    const controller = new AbortController();
    const extra: InboundExtra = { headers: headers as InboundExtra['headers'], signal: controller.signal };
    let dropSession = false;
    let ended = false;
    return {
      requestMessages: (messages) => {
        for (const message of messages) {
          if (isRecord(message) && message.method === MCP_METHOD.TOOLS_CALL) {
            const calling = otelContext.active().setValue(LIST_CONTEXT, listContextOf(headers, message));
            otelContext.with(calling, () => conn.inbound(message, extra));
          } else {
            conn.inbound(message, extra);
          }
        }
      },
      responseHead: (status, responseHeaders) => {
        const assigned = single(responseHeaders[SESSION_HEADER]);
        if (own !== undefined && assigned !== undefined && status >= 200 && status < 300) {
          sessionId = assigned;
          this.adopt(assigned, own);
          own = undefined;
        }
        if (requested !== undefined && (status === 404 || (method === 'DELETE' && status >= 200 && status < 300))) dropSession = true;
      },
      responseMessage: (message) => {
        this.nameServer(message);
        conn.outbound(message);
      },
      guardRecorder: (id) => conn.guardRecorder(id),
      end: (clientAborted) => {
        if (ended) return;
        ended = true;
        // An exchange over without a named answer (the server failed it): spans wait for the name no longer.
        this.nameServer(undefined);
        if (clientAborted) controller.abort();
        own?.close();
        if (dropSession && requested !== undefined) this.drop(requested);
      },
    };
  }

  /** Ends every session: unanswered requests end as no_response (or cancelled, when their client left). */
  close(): void {
    clearInterval(this.sweeper);
    for (const id of [...this.sessions.keys()]) this.drop(id);
  }

  private openConnection(sessionId: () => string | undefined): ObservedConnection {
    return this.core.openConnection({
      networkTransport: NETWORK_TRANSPORT.TCP,
      networkProtocolName: 'http',
      sessionId,
      catalog: this.catalog,
    });
  }

  /** The session's connection; one opened on the spot for a session that began before the proxy saw it. */
  private session(id: string): ObservedConnection {
    const found = this.sessions.get(id);
    if (found !== undefined) {
      // Re-inserted: the map's order is least recently used first.
      this.sessions.delete(id);
      found.lastUsed = Date.now();
      this.sessions.set(id, found);
      return found.conn;
    }
    const conn = this.openConnection(() => id);
    this.adopt(id, conn);
    return conn;
  }

  private adopt(id: string, conn: ObservedConnection): void {
    this.sessions.get(id)?.conn.close();
    this.sessions.delete(id);
    this.sessions.set(id, { conn, lastUsed: Date.now() });
    while (this.sessions.size > this.limits.maxSessions) this.drop(this.sessions.keys().next().value as string);
  }

  private drop(id: string): void {
    const session = this.sessions.get(id);
    this.sessions.delete(id);
    session?.conn.close();
  }

  private sweep(): void {
    const before = Date.now() - this.limits.idleMs;
    for (const [id, session] of this.sessions) if (session.lastUsed < before) this.drop(id);
  }

  /**
   * `service.name`: the first answer names the server by its `serverInfo`, or the target's host if it
   * has none; so does the end of an exchange (`message` undefined) before any answer.
   */
  private nameServer(message: unknown): void {
    if (this.onServerName === undefined) return;
    if (message !== undefined && !(isRecord(message) && ('result' in message || 'error' in message))) return;
    const name =
      (isRecord(message) && isRecord(message.result) ? implementationName(message.result.serverInfo) : undefined) ?? this.target.hostname;
    this.onServerName(name);
    this.onServerName = undefined;
  }
}

/**
 * The headers and `_meta` the proxy's own tools/list borrows from a client's call. `meta` is read
 * only when the catalog must be loaded (rare), not on every call.
 */
function listContextOf(headers: IncomingHttpHeaders, message: Record<string, unknown>): ListToolsContext {
  return {
    headers,
    get meta() {
      return requestEnvelope(message);
    },
  };
}

function single(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
