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
import { answerMessageReader, type MessageReader } from './answer-messages.js';
import { OBSERVED_BY_HEADER } from '../observed-by.js';
import type { ToolGuards } from '../guards/tool-guards.js';
import { fail, parseJson, requestHeaders, responseHeaders } from './forward-headers.js';
import { guardedPost } from './guarded-post.js';
import type { AnswerRewrite, AnswerRewriteFactory } from './tools-list-filter.js';

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
  /** Guards around the tools/call POSTs on the MCP endpoint (guarded-post.ts); undefined: none. */
  guards?: ToolGuards;
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

/**
 * `read`: the request's body, already read by the guarded path, its JSON (undefined when it is
 * not JSON), the exchange it opened, and how to rewrite the answer (a tools/list when unauthorized tools are hidden).
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  options: ReverseProxyOptions,
  read?: { body: Buffer; message: unknown; exchange: Exchange | undefined; rewrite?: AnswerRewriteFactory },
): void {
  const { target } = options;
  const path = req.url ?? '/';
  const onEndpoint = pathOf(path) === target.pathname;
  const observed = options.observer !== undefined && OBSERVED_METHODS.has(req.method ?? '') && onEndpoint;
  const exchange = read !== undefined ? read.exchange : observed ? options.observer?.open(req.method ?? '', req.headers) : undefined;
  const guards = options.guards;
  if (read === undefined && guards !== undefined && req.method === 'POST' && onEndpoint) {
    guardedPost(req, res, { ...options, guards }, exchange, (body, message, rewrite) =>
      forward(req, res, options, rewrite === undefined ? { body, message, exchange } : { body, message, exchange, rewrite }),
    );
    return;
  }
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
  // An answer to rewrite must come as plain bytes.
  if (read?.rewrite !== undefined) headers['accept-encoding'] = 'identity';
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

  if (read !== undefined) {
    // Parsed once, by the guarded path.
    const parsed = read.message;
    if (parsed !== undefined) exchange?.requestMessages(Array.isArray(parsed) ? parsed : [parsed]);
    upstream.end(read.body);
  } else {
    if (exchange !== undefined && req.method === 'POST') collectRequest(req, exchange, options.maxBodyBytes);
    req.pipe(upstream);
  }

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
    let rewrite: AnswerRewrite | undefined;
    try {
      rewrite = read?.rewrite?.(status, answer.headers);
    } catch (err) {
      fail(res, 502, `the MCP server at ${target.href} could not be filtered (${err instanceof Error ? err.message : String(err)})`);
      upstream.destroy();
      end(false);
      return;
    }
    exchange?.responseHead(status, answer.headers);
    const head = responseHeaders(answer.headers);
    // A rewritten body has another length: sent with the whole body, or not at all (chunked).
    if (rewrite !== undefined) delete head['content-length'];
    if (rewrite?.whole !== true) {
      res.writeHead(status, answer.statusMessage, head);
      // An event stream's head goes out now, not with its first event.
      res.flushHeaders();
    }
    // The observer reads the server's own bytes: with unauthorized tools hidden, it still sees the
    // whole catalog (the catalog gauges and the grading of calls describe the server, not a caller).
    const observe = exchange === undefined ? undefined : answerReader(answer.headers, exchange, options.maxBodyBytes);
    const send = (chunk: Buffer): void => {
      if (!res.write(chunk)) {
        answer.pause();
        res.once('drain', () => answer.resume());
      }
    };
    answer.on('data', (chunk: Buffer) => {
      // The client first; observing must not delay it.
      if (rewrite === undefined) send(chunk);
      else for (const part of rewrite.push(chunk)) send(part);
      observe?.push(chunk);
    });
    answer.on('end', () => {
      const rest = rewrite?.end() ?? [];
      if (rewrite?.whole === true) {
        const body = Buffer.concat(rest);
        res.writeHead(status, answer.statusMessage, { ...head, 'content-length': String(body.length) });
        res.end(body);
      } else {
        for (const part of rest) res.write(part);
        res.end();
      }
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
function answerReader(headers: IncomingHttpHeaders, exchange: Exchange, maxBytes: number): MessageReader | undefined {
  const sink = answerMessageReader(headers['content-type'], (message) => exchange.responseMessage(message), maxBytes);
  if (sink === undefined) return undefined;
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

function isStandingStream(req: IncomingMessage): boolean {
  return req.method === 'GET' && String(req.headers.accept ?? '').includes('text/event-stream');
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
