/**
 * `POST /v1/traces`, the OTLP/HTTP trace receiver, answering as the spec (and the OTel
 * Collector) does:
 * - 405 (with `Allow: POST`) for another method; 401 when an ingest token is set and missing/wrong;
 * - 415 for a media type other than `application/x-protobuf` / `application/json` (any
 *   `charset` other than UTF-8 included) or a `Content-Encoding` other than gzip/identity;
 * - 429 / 503 with `Retry-After` when overloaded, by this rule: more than `maxConcurrentIngest`
 *   ingest requests at once answers 429; a resident set size above `maxRssBytes` (sampled
 *   once a second, off by default) or a collector shutting down answers 503. A full forward
 *   queue never refuses ingest (forwarding drops and counts instead);
 * - 413 when the body is larger than `maxBodyBytes`, checked on `Content-Length`, while
 *   reading, and again while decompressing (a gzip bomb stops at the limit);
 * - 400 when the body does not decode, with the reason;
 * - 200 with an `ExportTraceServiceResponse`, carrying `partial_success` when spans were rejected.
 * Error bodies are `google.rpc.Status` in the request's encoding (JSON when it is unknown).
 */
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BearerCheck } from './auth.js';
import type { CollectorConfig } from './config.js';
import { decodeTracesJson } from './decode-json.js';
import { decodeTracesProtobuf } from './decode-protobuf.js';
import { OtlpDecodeError } from './decode-errors.js';
import { encodeExportResponse, encodeStatus, type OtlpEncoding } from './encode-response.js';
import type { Forwarder } from './forwarder.js';
import type { SpanView } from './span-view.js';
import { TALLY_PROJECTION, type Tally } from './tally.js';

const gunzipAsync = promisify(gunzip);

/** google.rpc.Code values used in error bodies. */
export const RPC_CODE = {
  INVALID_ARGUMENT: 3,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Content types of the two OTLP encodings. */
export const CONTENT_TYPE: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** The encoding named by a Content-Type header, `undefined` when unsupported. */
export function encodingOf(contentType: string | undefined): OtlpEncoding | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase());
  for (const p of params) {
    const [k, v] = p.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
    if (k === 'charset' && v !== 'utf-8' && v !== 'utf8') return undefined;
  }
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

class TooLarge extends Error {}

/** Reads the request body, refusing more than `limit` bytes. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        finish(new TooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish());
    req.once('error', (err) => finish(err));
    req.once('aborted', () => finish(new Error('request aborted')));
  });
}

/** What the receiver needs from the collector. */
export interface ReceiverDeps {
  config: CollectorConfig;
  tally: Tally;
  forwarder: Forwarder;
  auth: BearerCheck;
  /** True once shutdown started. */
  closing: () => boolean;
  /** Last sampled RSS in bytes (0 when not sampled). */
  rss: () => number;
}

/** Creates the `/v1/traces` handler (mount it for every method). */
export function createReceiver(deps: ReceiverDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, tally, forwarder, auth } = deps;
  let inFlight = 0;

  const fail = (res: ServerResponse, encoding: OtlpEncoding, status: number, code: number, message: string, headers: Record<string, string> = {}): void => {
    if (res.headersSent) return;
    const body = encodeStatus(encoding, code, message);
    res.writeHead(status, { 'content-type': CONTENT_TYPE[encoding], ...headers });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const contentType = req.headers['content-type'];
    const encoding = encodingOf(contentType);
    // Errors before the media type is known are answered in JSON.
    const errEncoding: OtlpEncoding = encoding ?? 'json';
    if (req.method !== 'POST') {
      fail(res, errEncoding, 405, RPC_CODE.UNIMPLEMENTED, `method ${req.method ?? ''} not allowed on /v1/traces; use POST`, { allow: 'POST' });
      return;
    }
    const challenge = auth.check(req);
    if (challenge !== undefined) {
      fail(res, errEncoding, 401, RPC_CODE.UNAUTHENTICATED, 'missing or invalid bearer token', { 'www-authenticate': challenge });
      return;
    }
    if (encoding === undefined) {
      fail(res, 'json', 415, RPC_CODE.INVALID_ARGUMENT, `unsupported media type '${contentType ?? ''}'; use application/x-protobuf or application/json`);
      return;
    }
    const contentEncoding = (req.headers['content-encoding'] ?? '').trim().toLowerCase();
    const gzipped = contentEncoding === 'gzip' || contentEncoding === 'x-gzip';
    if (!gzipped && contentEncoding !== '' && contentEncoding !== 'identity') {
      fail(res, encoding, 415, RPC_CODE.INVALID_ARGUMENT, `unsupported Content-Encoding '${contentEncoding}'; use gzip or none`);
      return;
    }
    const retryAfter = { 'retry-after': String(config.retryAfterSeconds) };
    if (deps.closing()) {
      fail(res, encoding, 503, RPC_CODE.UNAVAILABLE, 'collector is shutting down', retryAfter);
      return;
    }
    if (inFlight >= config.maxConcurrentIngest) {
      fail(res, encoding, 429, RPC_CODE.RESOURCE_EXHAUSTED, `too many concurrent ingest requests (limit ${config.maxConcurrentIngest})`, retryAfter);
      return;
    }
    if (config.maxRssBytes > 0 && deps.rss() > config.maxRssBytes) {
      fail(res, encoding, 503, RPC_CODE.UNAVAILABLE, `memory pressure: resident set size above ${config.maxRssBytes} bytes`, retryAfter);
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > config.maxBodyBytes) {
      res.setHeader('connection', 'close');
      fail(res, encoding, 413, RPC_CODE.INVALID_ARGUMENT, `body of ${declared} bytes exceeds the limit of ${config.maxBodyBytes} bytes`);
      return;
    }

    inFlight++;
    try {
      let raw: Buffer;
      try {
        raw = await readBody(req, config.maxBodyBytes);
      } catch (err) {
        if (err instanceof TooLarge) {
          res.setHeader('connection', 'close');
          fail(res, encoding, 413, RPC_CODE.INVALID_ARGUMENT, `body exceeds the limit of ${config.maxBodyBytes} bytes`);
        } else {
          fail(res, encoding, 400, RPC_CODE.INVALID_ARGUMENT, `could not read body: ${(err as Error).message}`);
        }
        return;
      }
      let body: Buffer = raw;
      if (gzipped) {
        try {
          body = await gunzipAsync(raw, { maxOutputLength: config.maxBodyBytes });
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
            fail(res, encoding, 413, RPC_CODE.INVALID_ARGUMENT, `decompressed body exceeds the limit of ${config.maxBodyBytes} bytes`);
          } else {
            fail(res, encoding, 400, RPC_CODE.INVALID_ARGUMENT, `gzip: ${e.message}`);
          }
          return;
        }
      }
      let spans: SpanView[];
      try {
        // Only what the tally reads is decoded (the rest is still checked); forwarding re-sends the raw body.
        spans = encoding === 'protobuf' ? decodeTracesProtobuf(body, undefined, TALLY_PROJECTION) : decodeTracesJson(body, undefined, TALLY_PROJECTION);
      } catch (err) {
        const reason = err instanceof OtlpDecodeError ? err.message : `unexpected decoder failure: ${(err as Error)?.message ?? String(err)}`;
        fail(res, encoding, 400, RPC_CODE.INVALID_ARGUMENT, `could not decode ${encoding} ExportTraceServiceRequest: ${reason}`);
        return;
      }
      let partial: { rejectedSpans: number; errorMessage: string } | undefined;
      try {
        const result = tally.record(spans, encoding);
        if (result.rejected > 0) {
          const why = Object.entries(result.reasons).map(([r, n]) => `${n} ${r}`).join(', ');
          partial = { rejectedSpans: result.rejected, errorMessage: `rejected ${result.rejected} of ${result.spans} spans: ${why}` };
        }
      } catch (err) {
        // A tally bug must not take the service down; the client may retry.
        fail(res, encoding, 500, RPC_CODE.INTERNAL, `internal error while tallying: ${(err as Error).message}`);
        return;
      }
      if (forwarder.enabled) {
        forwarder.enqueue({ body: raw, contentType: contentType ?? CONTENT_TYPE[encoding], contentEncoding: gzipped ? contentEncoding : undefined });
      }
      const out = encodeExportResponse(encoding, partial);
      res.writeHead(200, { 'content-type': CONTENT_TYPE[encoding] });
      res.end(out);
    } finally {
      inFlight--;
    }
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      fail(res, 'json', 500, RPC_CODE.INTERNAL, `internal error: ${(err as Error)?.message ?? String(err)}`);
    });
  };
}
