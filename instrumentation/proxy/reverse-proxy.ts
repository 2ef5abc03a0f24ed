/**
 * The HTTP side of `mcplens proxy`: a reverse proxy on node:http that forwards every request to
 * the target's origin (same path and query), streaming both ways: an event stream reaches the
 * client event by event, as the server writes it. Headers pass both ways except hop-by-hop ones;
 * status codes are unchanged. Only POST, GET and DELETE on the MCP endpoint (the target URL's
 * path) are observed; every other path (OAuth metadata, health checks) passes untouched.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Exchange, HttpObserver } from './http-observer.js';
import { SseReader } from './sse-reader.js';
import { OBSERVED_BY_HEADER } from '../observed-by.js';

/** Headers that belong to one hop, never forwarded (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);
const OBSERVED_METHODS = new Set(['POST', 'GET', 'DELETE']);

/** How the proxy runs. */
export interface ReverseProxyOptions {
  target: URL;
  host: string;
  port: number;
  /** Request and answer bodies larger than this are forwarded but not observed. */
  maxBodyBytes: number;
  /** The longest wait for the server's answer to begin (status and headers); then 504. 0: no limit. */
  timeoutMs: number;
  /** Undefined: forward only. */
  observer: HttpObserver | undefined;
}

/** A listening proxy. */
export interface RunningProxy {
  /** `http://host:port`, the port chosen when 0 was asked for. */
  readonly url: string;
  /** Exchanges forwarded now (not counting GET event streams). */
  readonly inFlight: number;
  /** Stops accepting, lets exchanges in flight finish within `graceMs`, then cuts the rest (GET event streams at once). */
  close(graceMs: number): Promise<void>;
}

/** Starts listening; rejects when the address cannot be bound. */
export async function startReverseProxy(options: ReverseProxyOptions): Promise<RunningProxy> {
  let inFlight = 0;
  let idle: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    // A GET event stream (server-to-client messages) lasts as long as the session: closing does not wait for it.
    if (!isStandingStream(req)) {
      inFlight++;
      res.on('close', () => {
        if (--inFlight === 0) idle?.();
      });
    }
    forward(req, res, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    get inFlight() {
      return inFlight;
    },
    async close(graceMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      // Long-lived event streams (a session's GET) never end by themselves.
      server.closeAllConnections();
      await closed;
    },
  };
}

function forward(req: IncomingMessage, res: ServerResponse, options: ReverseProxyOptions): void {
  const { target } = options;
  const path = req.url ?? '/';
  const observed = options.observer !== undefined && OBSERVED_METHODS.has(req.method ?? '') && pathOf(path) === target.pathname;
  const exchange = observed ? options.observer?.open(req.method ?? '', req.headers) : undefined;
  let finished = false;
  const end = (clientAborted: boolean): void => {
    if (finished) return;
    finished = true;
    exchange?.end(clientAborted);
  };

  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = requestHeaders(req, target);
  // An instrumented server behind the proxy leaves what the proxy observes to the proxy (one span
  // per request). A body announced past the limit is not observed here, so the server may count it.
  const length = Number(req.headers['content-length'] ?? 0);
  if (exchange !== undefined && !(length > options.maxBodyBytes)) headers[OBSERVED_BY_HEADER] = 'proxy';
  const upstream = request(target, { method: req.method, path, headers });
  let timer: NodeJS.Timeout | undefined;
  if (options.timeoutMs > 0) {
    timer = setTimeout(() => {
      fail(res, 504, `the MCP server at ${target.href} did not answer within ${options.timeoutMs} ms`);
      upstream.destroy();
      end(false);
    }, options.timeoutMs);
    timer.unref();
  }

  // The client left before its answer was complete: so does the upstream request.
  res.on('close', () => {
    clearTimeout(timer);
    if (!res.writableFinished) {
      upstream.destroy();
      end(true);
    }
  });

  if (exchange !== undefined && req.method === 'POST') collectRequest(req, exchange, options.maxBodyBytes);
  req.pipe(upstream);

  upstream.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    // Destroyed by the proxy itself (timeout, client gone): the answer is settled already.
    if (res.writableEnded || res.destroyed) return end(false);
    if (!res.headersSent) fail(res, 502, `the MCP server at ${target.href} could not be reached (${err.code ?? err.message})`);
    else res.destroy();
    end(false);
  });

  upstream.on('response', (answer) => {
    clearTimeout(timer);
    const status = answer.statusCode ?? 502;
    exchange?.responseHead(status, answer.headers);
    res.writeHead(status, answer.statusMessage, responseHeaders(answer.headers));
    // An event stream's head goes out now, not with its first event.
    res.flushHeaders();
    const observe = exchange === undefined ? undefined : answerReader(answer.headers, exchange, options.maxBodyBytes);
    answer.on('data', (chunk: Buffer) => {
      // The client first; observing must not delay it.
      if (!res.write(chunk)) {
        answer.pause();
        res.once('drain', () => answer.resume());
      }
      observe?.push(chunk);
    });
    answer.on('end', () => {
      res.end();
      observe?.end();
      end(false);
    });
    // Cut mid-answer (the server died, the connection reset): the client's answer is cut too.
    answer.on('close', () => {
      if (answer.complete) return;
      res.destroy();
      observe?.end();
      end(false);
    });
    answer.on('error', () => {});
  });
}

/** Hands the request body's messages to the exchange once complete, if within the limit. */
function collectRequest(req: IncomingMessage, exchange: Exchange, maxBytes: number): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
    else chunks.length = 0;
  });
  req.on('end', () => {
    if (size > maxBytes || size === 0) return;
    const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
    if (parsed !== undefined) exchange.requestMessages(Array.isArray(parsed) ? parsed : [parsed]);
  });
}

/** Reads an answer's body on the side: an event stream event by event, a JSON body once complete. */
function answerReader(
  headers: IncomingHttpHeaders,
  exchange: Exchange,
  maxBytes: number,
): { push(chunk: Buffer): void; end(): void } | undefined {
  const type = String(headers['content-type'] ?? '').toLowerCase();
  let sink: { push(chunk: Buffer): void; end(): void };
  if (type.includes('text/event-stream')) {
    const reader = new SseReader((data) => {
      const message = parseJson(data);
      if (message !== undefined) exchange.responseMessage(message);
    }, maxBytes);
    sink = reader;
  } else if (type.includes('json')) {
    const chunks: Buffer[] = [];
    let size = 0;
    sink = {
      push(chunk) {
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
        else chunks.length = 0;
      },
      end() {
        if (size > maxBytes) return;
        const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) if (message !== undefined) exchange.responseMessage(message);
      },
    };
  } else {
    return undefined;
  }
  const decoder = decoderFor(headers['content-encoding']);
  if (decoder === undefined) return sink;
  if (decoder === 'unknown') return undefined;
  // A compressed answer is forwarded as it is and read through a decompressor of its own.
  decoder.on('data', (chunk: Buffer) => sink.push(chunk));
  decoder.on('end', () => sink.end());
  decoder.on('error', () => sink.end());
  return { push: (chunk) => decoder.write(chunk), end: () => decoder.end() };
}

function decoderFor(encoding: string | undefined): Transform | 'unknown' | undefined {
  switch ((encoding ?? 'identity').trim().toLowerCase()) {
    case 'identity':
      return undefined;
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'deflate':
      return createInflate();
    case 'br':
      return createBrotliDecompress();
    default:
      return 'unknown';
  }
}

/** The client's headers for the server: hop-by-hop ones out, `Host` the target's, the client named in `X-Forwarded-*`. */
function requestHeaders(req: IncomingMessage, target: URL): Record<string, string | string[]> {
  const headers = endToEnd(req.headers);
  headers.host = target.host;
  const from = req.socket.remoteAddress;
  if (from !== undefined) {
    const prior = req.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = prior === undefined ? from : `${String(prior)}, ${from}`;
  }
  if (req.headers.host !== undefined && req.headers['x-forwarded-host'] === undefined) headers['x-forwarded-host'] = req.headers.host;
  if (req.headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http';
  return headers;
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  return endToEnd(headers);
}

/** Headers without the hop-by-hop ones: the fixed list, `proxy-*`, and those the `Connection` header names. */
function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || name.startsWith('proxy-') || named.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** A JSON-RPC-style error answer of the proxy's own (the server could not answer). */
function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: `mcplens proxy: ${message}` } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function isStandingStream(req: IncomingMessage): boolean {
  return req.method === 'GET' && String(req.headers.accept ?? '').includes('text/event-stream');
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
