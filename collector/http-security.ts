/**
 * What every route of the collector gets, whatever it serves:
 * - response headers that keep browsers from framing, sniffing or leaking URLs
 *   (`Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, `X-Content-Type-Options: nosniff`);
 * - a `Host` check against DNS rebinding (a web page whose name resolves to 127.0.0.1 would
 *   otherwise read a loopback collector as its own origin): on when the collector listens on a
 *   loopback address or allowed hosts are configured, answered 403 in plain text;
 * - a 404 for unknown routes and a last error handler, so nothing answers with Express's HTML
 *   page, a stack trace or a file path: `google.rpc.Status` on `/v1/traces` (in the request's
 *   encoding, as the receiver answers), plain text elsewhere; a 5xx is logged once.
 */
import { STATUS_CODES } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { encodeStatus } from './encode-response.js';
import { CONTENT_TYPE, encodingOf } from './receiver.js';

/** Headers set on every response. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
});

/** Names always allowed in `Host` (with the listening port) when the check is on. */
export const LOOPBACK_HOST_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/** Routes answered whatever the `Host` (probes by pod IP and the like; they reveal nothing). */
const HOST_CHECK_EXEMPT = new Set(['/healthz', '/readyz']);

/** google.rpc.Code values of the answers made here. */
const RPC = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, PERMISSION_DENIED: 7, INTERNAL: 13 } as const;

/** The OTLP route, whose errors are `google.rpc.Status`. */
const TRACES = '/v1/traces';

/** True for a loopback address or name: `localhost`, 127.0.0.0/8, `::1` (bracketed or not). */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/** A `Host` value split into its name (lower case, IPv6 bracketed) and port. */
export interface HostParts {
  name: string;
  port?: number;
}

/** Parses `name`, `name:port`, `[v6]` or `[v6]:port`; undefined when it is none of these. */
export function parseHost(value: string): HostParts | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!m) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && port > 65535) return undefined;
  return { name: m[1]!.toLowerCase(), ...(port === undefined ? {} : { port }) };
}

/** Options of {@link hostCheck}. */
export interface HostCheckOptions {
  /** The configured listen address (`config.host`). */
  listenHost: string;
  /** Extra allowed `Host` values: `name` (any port) or `name:port`. */
  allowedHosts: readonly string[];
}

/**
 * The `Host` check, or undefined when it is off (a collector listening on a non-loopback
 * address with no allowed hosts configured, e.g. `0.0.0.0` in the compose stack). When on,
 * `Host` must be one of {@link LOOPBACK_HOST_NAMES} or the listen address with the port the
 * request arrived on (none on the scheme's default port), or one of `allowedHosts`.
 */
export function hostCheck(options: HostCheckOptions): RequestHandler | undefined {
  const configured = options.allowedHosts.map((h) => {
    const parts = parseHost(h);
    if (!parts) throw new TypeError(`allowed host '${h}' is not a host name or host:port`);
    return parts;
  });
  if (!isLoopbackHost(options.listenHost) && configured.length === 0) return undefined;
  const listen = options.listenHost.includes(':') && !options.listenHost.startsWith('[') ? `[${options.listenHost}]` : options.listenHost;
  const ownNames = new Set([...LOOPBACK_HOST_NAMES, listen.toLowerCase()]);
  const allowed = (host: HostParts, localPort: number | undefined, defaultPort: number): boolean => {
    if (ownNames.has(host.name) && (host.port ?? defaultPort) === localPort) return true;
    return configured.some((c) => c.name === host.name && (c.port === undefined || c.port === host.port));
  };
  return (req, res, next) => {
    if (HOST_CHECK_EXEMPT.has(req.path)) return next();
    const header = req.headers.host;
    const host = header === undefined ? undefined : parseHost(header);
    // A Host without a port means the scheme's default one.
    const defaultPort = (req.socket as { encrypted?: boolean }).encrypted === true ? 443 : 80;
    if (host && allowed(host, req.socket.localPort, defaultPort)) return next();
    // The name is not echoed: it is the caller's text, and the reason is enough.
    sendError(req, res, 403, RPC.PERMISSION_DENIED, 'Host header not allowed (DNS-rebinding protection; see --allowed-hosts)');
  };
}

/** Sets {@link SECURITY_HEADERS} on every response. */
export function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  };
}

/** Answers an error: `google.rpc.Status` on `/v1/traces` (JSON unless the request was protobuf), plain text elsewhere. */
function sendError(req: Request, res: Response, status: number, rpcCode: number, message: string): void {
  if (res.headersSent) {
    // Part of a body is out: the only honest end is cutting the connection.
    req.socket.destroy();
    return;
  }
  for (const h of ['content-encoding', 'content-length', 'content-disposition', 'etag', 'last-modified']) res.removeHeader(h);
  res.set('cache-control', 'no-store');
  if (req.path === TRACES) {
    const encoding = encodingOf(req.headers['content-type']) ?? 'json';
    // setHeader, not res.set: the receiver's exact content type, without an added charset.
    res.status(status).setHeader('content-type', CONTENT_TYPE[encoding]);
    res.send(Buffer.from(encodeStatus(encoding, rpcCode, message)));
    return;
  }
  res.status(status).type('text/plain').send(`${message}\n`);
}

/** 404 for every route nothing else answered. */
export function notFound(): RequestHandler {
  // The path is not echoed (caller's text); the routes are the useful answer.
  return (req, res) =>
    sendError(req, res, 404, RPC.NOT_FOUND, `not found; routes: POST ${TRACES}, GET /metrics, /api/summary, /, /healthz, /readyz`);
}

/** One short line of a client error's message: no stack, no newline. */
function clientReason(err: { message?: unknown; expose?: unknown }, status: number): string {
  const message = err.expose === true && typeof err.message === 'string' ? err.message.split('\n')[0]!.slice(0, 200) : '';
  return message || (STATUS_CODES[status] ?? 'bad request');
}

/**
 * The last error handler. A status the error carries (4xx from Express or a body parser) is
 * kept, with its short message when the error says it may be shown; anything else is a 500
 * "internal error", logged once through `log` with its stack, never sent to the client.
 */
export function errorHandler(log: (line: string) => void): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = (typeof err === 'object' && err !== null ? err : {}) as {
      status?: unknown;
      statusCode?: unknown;
      message?: unknown;
      expose?: unknown;
      stack?: unknown;
    };
    const carried = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const status = carried !== undefined && Number.isInteger(carried) && carried >= 400 && carried < 600 ? carried : 500;
    if (status < 500) {
      sendError(req, res, status, status === 404 ? RPC.NOT_FOUND : RPC.INVALID_ARGUMENT, clientReason(e, status));
      return;
    }
    const detail = typeof e.stack === 'string' ? e.stack : String(err);
    log(`mcplens collector: ${req.method} ${req.path} answered ${status}: ${detail}`);
    sendError(req, res, status, RPC.INTERNAL, 'internal error (logged by the collector)');
  };
}
