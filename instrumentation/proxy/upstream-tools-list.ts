/**
 * The proxy's own `tools/list` request to the target, for a call that comes before the client
 * listed the tools. It goes straight to the server with the calling client's session and
 * credentials, gets no span, and nothing of it reaches any client. The answer may be JSON or
 * an event stream (the server's choice); the stream is read until the answer's event.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MCP_METHOD, PROTOCOL_VERSION_HEADER } from '../../contract/index.js';
import { parseJson, SESSION_HEADER } from './forward-headers.js';
import { isRecord } from '../is-record.js';
import { SseReader } from './sse-reader.js';
import { OBSERVED_BY_HEADER } from '../observed-by.js';

/** How long the proxy waits for its own tools/list answer. */
export const OWN_LIST_TIMEOUT_MS = 10_000;
/** The largest tools/list answer read (a catalog of a few thousand tools). */
const MAX_LIST_BYTES = 16 * 1024 * 1024;
/** The client headers the request carries over: its session, protocol version and credentials. */
const BORROWED_HEADERS = [SESSION_HEADER, PROTOCOL_VERSION_HEADER, 'authorization'] as const;

/** What the request borrows from the client call that needed the catalog. */
export interface ListToolsContext {
  headers: IncomingHttpHeaders;
  /** `_meta` a 2026-07-28 request carries (protocol version, client info). */
  meta?: Record<string, unknown> | undefined;
}

const prefix = `mcplens-${randomUUID()}-`;
let next = 1;

/** One page of the target's catalog: the `result` of its tools/list answer; rejects on any failure. */
export function listToolsUpstream(target: URL, context: ListToolsContext, cursor: string | undefined): Promise<unknown> {
  const id = `${prefix}${next++}`;
  const params: Record<string, unknown> = {};
  if (cursor !== undefined) params.cursor = cursor;
  if (context.meta !== undefined) params._meta = { ...context.meta };
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: MCP_METHOD.TOOLS_LIST, params }));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'content-length': String(body.length),
    // Protocol 2026-07-28 routes on this header and refuses a request whose body says otherwise; older servers ignore it.
    'mcp-method': MCP_METHOD.TOOLS_LIST,
    // Not a client's request: an instrumented server behind the proxy gives it no span either.
    [OBSERVED_BY_HEADER]: 'proxy',
  };
  for (const name of BORROWED_HEADERS) {
    const value = context.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, result?: unknown): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      if (error === undefined) resolve(result);
      else reject(error);
    };
    const answer = (message: unknown): void => {
      if (!isRecord(message) || message.id !== id) return;
      if (isRecord(message.error)) settle(new Error(`the server answered an error: ${String(message.error.message)}`));
      else settle(undefined, message.result);
    };
    const req = request(target, { method: 'POST', headers, timeout: OWN_LIST_TIMEOUT_MS }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if ((res.statusCode ?? 0) >= 300) {
        // The first bytes of the refusal say why (logged at debug level).
        let said = '';
        res.on('data', (chunk: Buffer) => (said = (said + chunk.toString('utf8')).slice(0, 500)));
        res.on('end', () => settle(new Error(`tools/list: HTTP ${res.statusCode} ${said}`)));
        return;
      }
      if (type.includes('text/event-stream')) {
        const reader = new SseReader((data) => answer(parseJson(data)), MAX_LIST_BYTES);
        res.on('data', (chunk: Buffer) => reader.push(chunk));
      } else {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_LIST_BYTES) return settle(new Error('tools/list: answer too large'));
          chunks.push(chunk);
        });
        res.on('end', () => {
          const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
          for (const message of Array.isArray(parsed) ? parsed : [parsed]) answer(message);
        });
      }
      res.on('end', () => settle(new Error('tools/list: no answer in the response')));
      res.on('error', (err) => settle(err));
    });
    req.on('timeout', () => settle(new Error(`tools/list: no answer within ${OWN_LIST_TIMEOUT_MS} ms`)));
    req.on('error', (err) => settle(err));
    req.end(body);
  });
}
