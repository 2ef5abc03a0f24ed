import { context as otelContext, diag } from '@opentelemetry/api';
import { ConfigError } from '../contract/config-error.js';
import { guardSupport, UNFILTERED_LISTING } from './guards/guard-support.js';
import { MCP_METHOD, NETWORK_TRANSPORT } from '../contract/index.js';
import type { InboundExtra, ObservedConnection } from './observed-connection.js';
import { hookInbound, hookSend, hookStart, isTransport, type TransportLike as BaseTransport } from './transport-hooks.js';
import { observedFromOutside } from './observed-by.js';
import { StreamObserver } from './stream-observer.js';
import { ToolCatalog, type ToolCatalogLoader } from './tool-catalog.js';
import type { InstrumentOptions } from './types.js';

// Symbol.for, not Symbol(): two copies of mcplens in one process must agree on what is instrumented.
const SERVER_STATE = Symbol.for('mcplens.server');
const TRANSPORT_STATE = Symbol.for('mcplens.transport');

/** The part of an SDK v1/v2 `Server` (the low-level protocol object) that mcplens touches. */
interface ProtocolLike {
  connect(transport: TransportLike): Promise<void>;
  transport?: TransportLike | undefined;
  _requestHandlers?: Map<string, (request: unknown, extra: unknown) => unknown>;
  [SERVER_STATE]?: ServerState;
}

/** A server's transport, with the connection mcplens observes it through. */
interface TransportLike extends BaseTransport {
  [TRANSPORT_STATE]?: ObservedConnection;
}

interface ServerState {
  observer: StreamObserver;
  catalog: ToolCatalog;
}

const observers = new WeakMap<InstrumentOptions, StreamObserver>();
const DEFAULT_OPTIONS: InstrumentOptions = {};

/**
 * Instruments an MCP server: an OpenTelemetry SERVER span per request it handles, with
 * outcome, schema violations, provider and model, and token counts. Works for
 * `McpServer` and the low-level `Server` of `@modelcontextprotocol/sdk` v1 and of
 * `@modelcontextprotocol/server` v2, before or after `connect()`. Idempotent; returns
 * the same server; never throws. Does nothing in a process observed from outside it
 * (`MCPLENS_OBSERVED_BY` set, as `mcplens wrap` does for its child).
 */
export function instrumentServer<T extends object>(server: T, options: InstrumentOptions = DEFAULT_OPTIONS): T {
  try {
    // Observed from outside (`mcplens wrap`): its span is the one; a second one would count each call twice.
    if (observedFromOutside() !== undefined) return server;
    const protocol = findProtocol(server);
    if (protocol === undefined) {
      diag.warn('mcplens: instrumentServer() was given an object that is neither an McpServer nor a Server; nothing instrumented');
      return server;
    }
    const state = ensureState(protocol, options);
    // The one exception to "never throws": a server must not run without the guards it asked for.
    if (options.guards !== undefined) guard(server, protocol, options, false);
    if (protocol.transport !== undefined) attachConnected(protocol.transport, state);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    diag.error('mcplens: instrumenting the server failed; it runs uninstrumented', err);
  }
  return server;
}

function guard(server: object, protocol: ProtocolLike, options: InstrumentOptions, seenFromImport: boolean): void {
  const support = guardSupport();
  if (support === undefined)
    throw new ConfigError('guards: the guards are not loaded (import mcplens, or set MCPLENS_GUARDS under --import)');
  support.install(server, protocol, options, (id) => protocol.transport?.[TRANSPORT_STATE]?.guardRecorder(id), seenFromImport);
}

/**
 * For module hooks patching `Server.prototype.connect`: instruments `server` and the
 * transport it is about to connect. Call before delegating to the original `connect`.
 * @internal
 */
export function instrumentConnectingTransport(server: object, transport: unknown, options: InstrumentOptions = DEFAULT_OPTIONS): void {
  try {
    const protocol = findProtocol(server);
    if (protocol === undefined || !isTransport(transport)) return;
    prepareTransport(transport, ensureState(protocol, options));
    if (options.guards !== undefined) guard(server, protocol, options, true);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    diag.error('mcplens: instrumenting a transport failed; it runs uninstrumented', err);
  }
}

function ensureState(protocol: ProtocolLike, options: InstrumentOptions): ServerState {
  const existing = protocol[SERVER_STATE];
  if (existing !== undefined) return existing;
  let observer = observers.get(options);
  if (observer === undefined) {
    observer = new StreamObserver(options);
    observers.set(options, observer);
  }
  const state: ServerState = { observer, catalog: new ToolCatalog(options, catalogLoader(protocol)) };
  Object.defineProperty(protocol, SERVER_STATE, { value: state, enumerable: false });

  const connect = protocol.connect;
  protocol.connect = async function instrumentedConnect(this: ProtocolLike, transport: TransportLike): Promise<void> {
    if (isTransport(transport)) prepareTransport(transport, state);
    await connect.call(this, transport);
    // A transport whose start() ran before connect() (or a subclass that routes differently):
    // make sure the handler is wrapped even then.
    if (isTransport(transport)) attachConnected(transport, state);
  };
  return state;
}

/** Before connect: wrap `send` now and `onmessage` when Protocol.connect has set it, i.e. in `start()`. */
function prepareTransport(transport: TransportLike, state: ServerState): void {
  if (transport[TRANSPORT_STATE] !== undefined) return;
  const conn = openConnection(transport, state);
  wrapSend(transport, conn);
  hookStart(transport, () => wrapInbound(transport, conn));
}

/** After connect: `onmessage` is Protocol's router already; wrap it in place. */
function attachConnected(transport: TransportLike, state: ServerState): void {
  let conn = transport[TRANSPORT_STATE];
  if (conn === undefined) {
    conn = openConnection(transport, state);
    wrapSend(transport, conn);
  }
  wrapInbound(transport, conn);
}

function openConnection(transport: TransportLike, state: ServerState): ObservedConnection {
  const conn = state.observer.openConnection({
    ...networkOf(transport),
    sessionId: () => transport.sessionId,
    catalog: state.catalog,
  });
  Object.defineProperty(transport, TRANSPORT_STATE, { value: conn, enumerable: false });
  return conn;
}

function wrapSend(transport: TransportLike, conn: ObservedConnection): void {
  hookSend(
    transport,
    (send) =>
      function sendObserved(this: TransportLike, message: unknown, options?: unknown): Promise<void> {
        // Hand the answer to the transport first: our bookkeeping must not delay it.
        try {
          return send.call(this, message, options);
        } finally {
          conn.outbound(message);
        }
      },
  );
}

function wrapInbound(transport: TransportLike, conn: ObservedConnection): void {
  hookInbound(
    transport,
    (onmessage) =>
      function onmessageObserved(this: unknown, message: unknown, extra?: unknown): void {
        const ctx = conn.inbound(message, inboundExtra(extra));
        // The SDK routes the request inside this call; running it in the span's context makes
        // the handler's own spans (a database query, an HTTP call) children of the request span.
        if (ctx === undefined) onmessage.call(this, message, extra);
        else otelContext.with(ctx, onmessage, this, message, extra);
      },
    () => conn.close(),
  );
}

/** Asks the server's own `tools/list` handler for one page, for calls of tools the client has not listed. */
function catalogLoader(protocol: ProtocolLike): ToolCatalogLoader | undefined {
  const handlers = protocol._requestHandlers;
  if (!(handlers instanceof Map)) return undefined;
  return async (cursor) => {
    const handler = handlers.get(MCP_METHOD.TOOLS_LIST);
    if (handler === undefined) return undefined;
    const controller = new AbortController();
    const params = cursor === undefined ? {} : { cursor };
    const request = { jsonrpc: '2.0', id: 'mcplens-catalog', method: MCP_METHOD.TOOLS_LIST, params };
    const noop = async (): Promise<never> => {
      throw new Error('mcplens: the catalog request cannot send messages');
    };
    // Enough of v1's `extra` and v2's `ctx` for a list handler, which reads neither.
    const extra = {
      [UNFILTERED_LISTING]: true,
      signal: controller.signal,
      requestId: request.id,
      sendNotification: noop,
      sendRequest: noop,
      mcpReq: { id: request.id, method: request.method, signal: controller.signal, send: noop, notify: noop },
    };
    return await handler(request, extra);
  };
}

function inboundExtra(extra: unknown): InboundExtra | undefined {
  if (extra === null || typeof extra !== 'object') return undefined;
  // SDK v1: requestInfo.headers is a plain object; v2: a web Request.
  const v1 = (extra as { requestInfo?: { headers?: unknown } }).requestInfo?.headers;
  if (v1 !== null && typeof v1 === 'object') return { headers: v1 as InboundExtra['headers'] };
  const request = (extra as { request?: { headers?: unknown; signal?: unknown } }).request;
  const v2 = request?.headers;
  if (v2 !== null && typeof v2 === 'object' && typeof (v2 as Headers).forEach === 'function') {
    const headers: Record<string, string> = {};
    (v2 as Headers).forEach((value, key) => {
      headers[key] = value;
    });
    return { headers, signal: request?.signal instanceof AbortSignal ? request.signal : undefined };
  }
  return undefined;
}

/** `network.*` attributes from the transport's class name (no instanceof: the SDK copy is the application's). */
function networkOf(transport: TransportLike): { networkTransport?: string; networkProtocolName?: string } {
  const name = (transport as { constructor?: { name?: string } }).constructor?.name ?? '';
  if (/stdio/i.test(name)) return { networkTransport: NETWORK_TRANSPORT.PIPE };
  if (/http|sse/i.test(name)) return { networkTransport: NETWORK_TRANSPORT.TCP, networkProtocolName: 'http' };
  return {};
}

function findProtocol(server: object): ProtocolLike | undefined {
  // McpServer (v1 and v2) holds the low-level Server in `.server`; never instanceof:
  // the application's SDK copy is not ours.
  const inner = (server as { server?: unknown }).server;
  if (isProtocol(inner)) return inner;
  return isProtocol(server) ? server : undefined;
}

function isProtocol(value: unknown): value is ProtocolLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ProtocolLike).connect === 'function' &&
    typeof (value as { setRequestHandler?: unknown }).setRequestHandler === 'function'
  );
}
