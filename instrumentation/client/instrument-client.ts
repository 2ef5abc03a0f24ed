import { diag } from '@opentelemetry/api';
import { OTEL_METRICS } from '../../contract/index.js';
import { durationHistogram, followedTracer } from '../mcplens-instruments.js';
import { ToolCatalog, type ToolCatalogLoader } from '../tool-catalog.js';
import { hookInbound, hookSend, hookStart, isTransport, type TransportLike as BaseTransport } from '../transport-hooks.js';
import { ClientConnection, type ClientShared } from './client-connection.js';
import { serverInfoSourceOf } from './server-identity.js';
import type { ClientInstrumentOptions } from './types.js';

// Symbol.for, not Symbol(): two copies of mcplens in one process must agree on what is instrumented.
const CLIENT_STATE = Symbol.for('mcplens.client');
const TRANSPORT_STATE = Symbol.for('mcplens.client.transport');

/** The part of an SDK v1/v2 `Client` that mcplens touches. */
interface ClientLike {
  connect(transport: TransportLike, options?: unknown): Promise<void>;
  listTools?: (params?: { cursor?: string }) => Promise<unknown>;
  transport?: TransportLike | undefined;
  [CLIENT_STATE]?: ClientShared;
}

/** A client's transport, with the connection mcplens observes it through. */
interface TransportLike extends BaseTransport {
  [TRANSPORT_STATE]?: ClientConnection;
}

const DEFAULT_OPTIONS: ClientInstrumentOptions = {};

/**
 * Instruments an MCP client (the `Client` of `@modelcontextprotocol/sdk` v1 or of
 * `@modelcontextprotocol/client` v2), before or after `connect()`: an OpenTelemetry CLIENT span
 * per request, W3C trace context and the call's provider and model in each request's
 * `params._meta` (so server spans become its children), and the client's own grading of its
 * tools/call arguments against the tools it listed. Idempotent; returns the same client; never throws.
 *
 * It wraps the client's transport (`send` and `onmessage`), the interface both SDK lines share,
 * rather than `Client.request`, whose signature differs between them.
 */
export function instrumentClient<T extends object>(client: T, options: ClientInstrumentOptions = DEFAULT_OPTIONS): T {
  try {
    if (!isClient(client)) {
      diag.warn('mcplens: instrumentClient() was given an object that is not an MCP Client; nothing instrumented');
      return client;
    }
    const shared = ensureState(client, options);
    if (client.transport !== undefined) attach(client.transport, shared);
  } catch (err) {
    diag.error('mcplens: instrumenting the client failed; it runs uninstrumented', err);
  }
  return client;
}

function ensureState(client: ClientLike, options: ClientInstrumentOptions): ClientShared {
  const existing = client[CLIENT_STATE];
  if (existing !== undefined) return existing;
  const duration = durationHistogram(options.meterProvider, OTEL_METRICS.CLIENT_OPERATION_DURATION);
  const shared: ClientShared = {
    options,
    tracer: followedTracer(options.tracerProvider),
    duration,
    catalog: new ToolCatalog({ strictArguments: options.strictArguments ?? false }, catalogLoader(client)),
    serverInfo: serverInfoSourceOf(client),
  };
  Object.defineProperty(client, CLIENT_STATE, { value: shared, enumerable: false });
  const connect = client.connect;
  client.connect = async function instrumentedConnect(this: ClientLike, transport: TransportLike, connectOptions?: unknown): Promise<void> {
    if (isTransport(transport)) prepare(transport, shared);
    await connect.call(this, transport, connectOptions);
    if (isTransport(transport)) attach(transport, shared);
  };
  return shared;
}

/** The client's own `tools/list`, page by page, for a call of a tool it has not listed (never a guessed `unknown_tool`). */
function catalogLoader(client: ClientLike): ToolCatalogLoader | undefined {
  if (typeof client.listTools !== 'function') return undefined;
  return (cursor) => client.listTools!(cursor === undefined ? undefined : { cursor });
}

/** Before connect: wrap `send` now and `onmessage` / `onclose` once Protocol.connect has set them, i.e. in `start()`. */
function prepare(transport: TransportLike, shared: ClientShared): void {
  if (transport[TRANSPORT_STATE] !== undefined) return;
  const conn = open(transport, shared);
  hookStart(transport, () => wrapInbound(transport, conn));
}

/** After connect: `onmessage` is Protocol's router already; wrap it in place. */
function attach(transport: TransportLike, shared: ClientShared): void {
  wrapInbound(transport, transport[TRANSPORT_STATE] ?? open(transport, shared));
}

function open(transport: TransportLike, shared: ClientShared): ClientConnection {
  const conn = new ClientConnection(shared);
  Object.defineProperty(transport, TRANSPORT_STATE, { value: conn, enumerable: false });
  hookSend(
    transport,
    (send) =>
      function sendObserved(this: TransportLike, message: unknown, options?: unknown): Promise<void> {
        const sent = conn.outbound(message);
        const result = send.call(this, sent, options);
        result.catch(() => conn.sendFailed(sent));
        return result;
      },
  );
  return conn;
}

function wrapInbound(transport: TransportLike, conn: ClientConnection): void {
  hookInbound(
    transport,
    (onmessage) =>
      function onmessageObserved(this: unknown, message: unknown, extra?: unknown): void {
        try {
          conn.inbound(message);
        } catch (err) {
          diag.error('mcplens: observing a message to the client failed', err);
        }
        onmessage.call(this, message, extra);
      },
    () => conn.close(),
  );
}

function isClient(value: unknown): value is ClientLike {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ClientLike).connect === 'function' &&
    typeof (value as { callTool?: unknown }).callTool === 'function'
  );
}
