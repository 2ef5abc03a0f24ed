/**
 * What the reverse proxy and its guarded path share: the headers that pass a hop, the proxy's
 * own error answers, JSON parsing that never throws.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';

/** Headers that belong to one hop, never forwarded (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host']);

/** The header that carries the session id (node lower-cases incoming header names). */
export const SESSION_HEADER = 'mcp-session-id';

/** The client's headers for the server: hop-by-hop ones out, `Host` the target's, the client named in `X-Forwarded-*`. */
export function requestHeaders(req: IncomingMessage, target: URL): Record<string, string | string[]> {
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

export function responseHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
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
export function fail(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: `mcplens proxy: ${message}` } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The JSON value of `text`; undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
