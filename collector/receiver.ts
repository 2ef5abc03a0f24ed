/**
 * `POST /v1/traces`, the OTLP/HTTP trace receiver, answering as the spec (and the OTel
 * Collector) does:
 * - 405 (with `Allow: POST`) for another method; 401 when an ingest token is set and missing/wrong;
 * - 415 for a media type other than `application/x-protobuf` / `application/json` (any
 *   `charset` other than UTF-8 included) or a `Content-Encoding` other than gzip/identity;
 * - 429 / 503 with `Retry-After` when overloaded, by this rule: more than `maxConcurrentIngest`
 *   ingest requests at once answers 429; a body that does not fit in what is left of the
 *   ingest memory budget (`maxInflightBytes`, shared by all requests; see ingest-budget.ts)
 *   answers 429, decided from Content-Length before a byte is read, else as the bytes arrive,
 *   as gzip inflates them, and before decoding; a resident set size above `maxRssBytes`
 *   (sampled once a second, off by default; a second line only) or a collector shutting down
 *   answers 503. A full forward queue never refuses ingest (forwarding drops and counts instead);
 * - 408 when the body has not arrived in full within `bodyTimeoutMs` (the slot is freed);
 * - 413 when the body is larger than `maxBodyBytes`, checked on `Content-Length`, while
 *   reading, and while decompressing (streamed: a gzip bomb stops at the limit), or when
 *   decoding it alone would take more than the whole budget;
 * - 400 when the body does not decode, with the reason;
 * - 200 with an `ExportTraceServiceResponse`, carrying `partial_success` when spans were rejected.
 * Error bodies are `google.rpc.Status` in the request's encoding (JSON when it is unknown).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createGunzip, type Gunzip } from 'node:zlib';
import type { BearerCheck } from './auth.js';
import type { CollectorConfig } from './config.js';
import { decodeTracesJson } from './decode-json.js';
import { decodeTracesProtobuf } from './decode-protobuf.js';
import { DEFAULT_DECODE_LIMITS, OtlpDecodeError, OtlpLimitError, type DecodeLimits } from './decode-errors.js';
import { encodeExportResponse, encodeStatus, type OtlpEncoding } from './encode-response.js';
import type { Forwarder } from './forwarder.js';
import {
  estimateJsonDecodedBytes,
  GarbageGate,
  IngestBudget,
  JSON_CEILING_PER_BYTE,
  protobufDecodePlan,
  type Reservation,
} from './ingest-budget.js';
import type { SpanView } from './span-view.js';
import { TALLY_PROJECTION, type Tally } from './tally.js';

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

/** Why a body was refused before it was fully read or decoded: the status to answer and the reason. */
class Refusal extends Error {
  constructor(
    readonly status: 400 | 408 | 413 | 429,
    message: string,
  ) {
    super(message);
  }
}

/** Collects chunks into one buffer; into a buffer of the declared size when there is one (no copy at the end). */
class Chunks {
  private list: Buffer[] = [];
  private whole: Buffer | undefined;
  size = 0;

  constructor(declared: number | undefined) {
    this.whole = declared === undefined ? undefined : Buffer.allocUnsafe(declared);
  }

  /** True when the collector will copy everything once more at the end (so that copy must be paid for). */
  get copies(): boolean {
    return this.whole === undefined;
  }

  push(chunk: Buffer): void {
    if (this.whole !== undefined && this.size + chunk.length <= this.whole.length) chunk.copy(this.whole, this.size);
    else this.list.push(chunk);
    this.size += chunk.length;
  }

  /** Lets go of everything collected. */
  drop(): void {
    this.list = [];
    this.whole = undefined;
  }

  result(): Buffer {
    if (this.whole !== undefined) return this.whole.subarray(0, this.size);
    return Buffer.concat(this.list, this.size);
  }
}

interface ReadOptions {
  /** Body limit, on the wire and after decompression. */
  limit: number;
  gzip: boolean;
  /** Keep the wire bytes (forwarding re-sends them). */
  keepRaw: boolean;
  /** Content-Length, already reserved; undefined for a chunked body (reserved as it arrives). */
  declared: number | undefined;
  reservation: Reservation;
  /** The whole body must arrive within this (408 otherwise). */
  timeoutMs: number;
}

/**
 * Reads (and inflates, streaming) a request body against the per-body limit (413) and the
 * shared budget (429), within the body timeout (408). Every byte held is reserved before it
 * is kept: wire bytes (up front from Content-Length, else per chunk), inflated bytes per
 * chunk as zlib emits them, and the final copy where chunks are joined.
 */
function readBody(req: IncomingMessage, o: ReadOptions): Promise<{ body: Buffer; raw: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    const raw = new Chunks(o.gzip && !o.keepRaw ? 0 : o.declared);
    const out = o.gzip ? new Chunks(undefined) : raw;
    let wire = 0;
    let done = false;
    let inflater: Gunzip | undefined;
    const overBudget = (what: string): Refusal => new Refusal(429, `ingest memory budget exhausted (${what}); retry later`);

    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onError);
      if (inflater !== undefined) {
        inflater.off('data', onInflated);
        inflater.destroy();
      }
      if (err) {
        // Nothing read is kept: the connection may live on (keep-alive) with these closures.
        raw.drop();
        out.drop();
        reject(err);
        return;
      }
      // Joining chunks copies them; that copy was reserved as they came (see onData/onInflated).
      const body = out.result();
      const kept = o.keepRaw && o.gzip ? raw.result() : o.keepRaw ? body : undefined;
      if (out.copies) o.reservation.shrink(out.size);
      if (o.gzip && o.keepRaw && raw.copies) o.reservation.shrink(raw.size);
      resolve({ body, raw: kept });
    };
    const timer = setTimeout(() => finish(new Refusal(408, `body not received within ${o.timeoutMs} ms`)), o.timeoutMs);

    const onInflated = (chunk: Buffer): void => {
      if (out.size + chunk.length > o.limit) {
        finish(new Refusal(413, `decompressed body exceeds the limit of ${o.limit} bytes`));
        return;
      }
      // The chunk, and its copy when chunks are joined.
      if (!o.reservation.grow(chunk.length * 2)) {
        finish(overBudget('while decompressing'));
        return;
      }
      out.push(chunk);
    };
    const onData = (chunk: Buffer): void => {
      wire += chunk.length;
      if (wire > o.limit) {
        finish(new Refusal(413, `body exceeds the limit of ${o.limit} bytes`));
        return;
      }
      const keeps = !o.gzip || o.keepRaw;
      // Without Content-Length, pay for the chunk (and its copy at the join) now.
      if (o.declared === undefined && !o.reservation.grow(keeps ? chunk.length * 2 : chunk.length)) {
        finish(overBudget('while reading'));
        return;
      }
      if (keeps) raw.push(chunk);
      if (inflater !== undefined && !inflater.write(chunk)) {
        req.pause();
        inflater.once('drain', () => req.resume());
      }
    };
    const onEnd = (): void => {
      if (inflater !== undefined) inflater.end();
      else finish();
    };
    const onError = (err: Error): void => finish(err);
    const onClose = (): void => {
      if (!req.complete) finish(new Error('request aborted'));
    };
    if (o.gzip) {
      inflater = createGunzip();
      inflater.on('data', onInflated);
      inflater.once('end', () => finish());
      inflater.once('error', (err) => finish(new Refusal(400, `gzip: ${err.message}`)));
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
    req.once('error', onError);
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
  /** Called whenever an ingest request has been answered, whatever the answer (shutdown waits on it). */
  settled?: () => void;
}

/** The `/v1/traces` handler, with what readiness and tests read of its state. */
export interface Receiver {
  (req: IncomingMessage, res: ServerResponse): void;
  /** True while ingest refuses for load: every slot taken, or a 429/503 for load within the last `retryAfterSeconds`. */
  refusing(): boolean;
  /** The shared in-flight budget. */
  readonly budget: IngestBudget;
  /** Requests whose spans were tallied (answered 200) so far: a sequence number shutdown compares scrapes with. */
  acknowledged(): number;
  /** Ingest requests being handled now. */
  inFlight(): number;
}

/**
 * Timeouts of the HTTP server, derived from `bodyTimeoutMs` so a slow client holds no slot
 * or socket for long: headers must arrive within it, and Node's own request timeout (a
 * backstop; the receiver answers 408 first) a second after headers plus body. Idle keep-alive
 * connections close after 5 s (Node's default; OTLP exporters open a new one when needed), and
 * any socket without traffic for as long as Node's request timeout.
 */
export function serverTimeouts(config: Pick<CollectorConfig, 'bodyTimeoutMs'>): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
  socketTimeout: number;
} {
  return {
    headersTimeout: config.bodyTimeoutMs,
    requestTimeout: 2 * config.bodyTimeoutMs + 1000,
    // A socket with no traffic at all for this long is cut: a scraper that stopped reading
    // frees the body it pinned (see shared-render.ts).
    socketTimeout: 2 * config.bodyTimeoutMs + 1000,
    keepAliveTimeout: Math.min(5000, config.bodyTimeoutMs),
    // Node checks headersTimeout/requestTimeout on this period (30 s by default).
    connectionsCheckingInterval: Math.min(1000, config.bodyTimeoutMs),
  };
}

/** Creates the HTTP server for `app` with {@link serverTimeouts} and at most `maxConnections` open connections. */
export function createIngestServer(app: RequestListener, config: Pick<CollectorConfig, 'bodyTimeoutMs' | 'maxConnections'>): Server {
  const { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval, socketTimeout } = serverTimeouts(config);
  const srv = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval }, app);
  srv.keepAliveTimeout = keepAliveTimeout;
  srv.timeout = socketTimeout;
  // Each open connection costs about 25 KB whatever it sends: without a cap, a connection flood is unbounded memory.
  srv.maxConnections = config.maxConnections;
  return srv;
}

/** Creates the `/v1/traces` handler (mount it for every method). */
export function createReceiver(deps: ReceiverDeps): Receiver {
  const { config, tally, forwarder, auth } = deps;
  const budget = new IngestBudget(config.maxInflightBytes);
  // Released bytes become free memory only once collected: at most half the budget's worth may
  // wait for it, a quarter while ingest refuses for load.
  const garbage = new GarbageGate(Math.floor(config.maxInflightBytes / 2));
  let inFlight = 0;
  let acknowledged = 0;
  let lastLoadRefusal = -Infinity;

  const fail = (
    res: ServerResponse,
    encoding: OtlpEncoding,
    status: number,
    code: number,
    message: string,
    headers: Record<string, string> = {},
  ): void => {
    if (res.headersSent) return;
    const body = encodeStatus(encoding, code, message);
    res.writeHead(status, { 'content-type': CONTENT_TYPE[encoding], ...headers });
    res.end(body);
  };

  /**
   * Answers a request whose body is not (all) read. The rest of the body is discarded as it
   * arrives (never held) and the connection stays usable, as a retrying exporter wants; only
   * `close` (a body over the limit, a stalled one) closes it. Cutting a socket with unread data
   * resets it, and the client may then never read the answer, so a discarding connection is
   * cut only after `bodyTimeoutMs`.
   */
  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    encoding: OtlpEncoding,
    status: number,
    code: number,
    message: string,
    headers: Record<string, string> = {},
    close = false,
  ): void => {
    if (status === 429 || status === 503) lastLoadRefusal = Date.now();
    fail(res, encoding, status, code, message, close ? { connection: 'close', ...headers } : headers);
    if (req.complete) return;
    const cut = setTimeout(() => req.socket.destroy(), config.bodyTimeoutMs);
    cut.unref();
    req.once('close', () => clearTimeout(cut));
    req.resume();
  };

  const refusing = (): boolean => inFlight >= config.maxConcurrentIngest || Date.now() - lastLoadRefusal < config.retryAfterSeconds * 1000;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const contentType = req.headers['content-type'];
    const encoding = encodingOf(contentType);
    // Errors before the media type is known are answered in JSON.
    const errEncoding: OtlpEncoding = encoding ?? 'json';
    if (req.method !== 'POST') {
      fail(res, errEncoding, 405, RPC_CODE.UNIMPLEMENTED, `method ${req.method ?? ''} not allowed on /v1/traces; use POST`, {
        allow: 'POST',
      });
      return;
    }
    const challenge = auth.check(req);
    if (challenge !== undefined) {
      fail(res, errEncoding, 401, RPC_CODE.UNAUTHENTICATED, 'missing or invalid bearer token', { 'www-authenticate': challenge });
      return;
    }
    if (encoding === undefined) {
      fail(
        res,
        'json',
        415,
        RPC_CODE.INVALID_ARGUMENT,
        `unsupported media type '${contentType ?? ''}'; use application/x-protobuf or application/json`,
      );
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
      refuse(req, res, encoding, 503, RPC_CODE.UNAVAILABLE, 'collector is shutting down', retryAfter);
      return;
    }
    if (inFlight >= config.maxConcurrentIngest) {
      refuse(
        req,
        res,
        encoding,
        429,
        RPC_CODE.RESOURCE_EXHAUSTED,
        `too many concurrent ingest requests (limit ${config.maxConcurrentIngest})`,
        retryAfter,
      );
      return;
    }
    // A second line only: the budget below is what bounds memory (a sample can be outrun).
    if (config.maxRssBytes > 0 && deps.rss() > config.maxRssBytes) {
      refuse(
        req,
        res,
        encoding,
        503,
        RPC_CODE.UNAVAILABLE,
        `memory pressure: resident set size above ${config.maxRssBytes} bytes`,
        retryAfter,
      );
      return;
    }
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declared !== undefined && Number.isFinite(declared) && declared > config.maxBodyBytes) {
      refuse(
        req,
        res,
        encoding,
        413,
        RPC_CODE.INVALID_ARGUMENT,
        `body of ${declared} bytes exceeds the limit of ${config.maxBodyBytes} bytes`,
        {},
        true,
      );
      return;
    }
    const reservation = budget.open();
    // Decided before a byte is read: the declared body must fit in what is left of the budget.
    if (declared !== undefined && !reservation.grow(declared)) {
      refuse(
        req,
        res,
        encoding,
        429,
        RPC_CODE.RESOURCE_EXHAUSTED,
        `ingest memory budget exhausted (${budget.inUse} of ${budget.capacity} bytes in flight); retry later`,
        retryAfter,
      );
      return;
    }

    inFlight++;
    try {
      let body: Buffer;
      let raw: Buffer | undefined;
      try {
        ({ body, raw } = await readBody(req, {
          limit: config.maxBodyBytes,
          gzip: gzipped,
          keepRaw: forwarder.enabled,
          declared,
          reservation,
          timeoutMs: config.bodyTimeoutMs,
        }));
      } catch (err) {
        if (err instanceof Refusal) {
          const rpc =
            err.status === 429 ? RPC_CODE.RESOURCE_EXHAUSTED : err.status === 408 ? RPC_CODE.UNAVAILABLE : RPC_CODE.INVALID_ARGUMENT;
          refuse(
            req,
            res,
            encoding,
            err.status,
            rpc,
            err.message,
            err.status === 429 ? retryAfter : {},
            err.status === 408 || err.status === 413,
          );
        } else if (!req.destroyed) {
          refuse(req, res, encoding, 400, RPC_CODE.INVALID_ARGUMENT, `could not read body: ${(err as Error).message}`);
        }
        return;
      }

      // Decoding builds objects on the heap: reserve an upper bound of them before it starts.
      // Decoding is synchronous, so this reservation only ever exists for one request at a time.
      let limits: DecodeLimits | undefined;
      let reduced = false;
      const othersIdle = budget.inUse === reservation.bytes;
      if (encoding === 'json') {
        // The ceiling when it fits (no scan: the common case); else the scan's closer price.
        const ceiling = body.length * JSON_CEILING_PER_BYTE;
        const decoded = ceiling - body.length <= budget.available ? ceiling : Math.min(ceiling, estimateJsonDecodedBytes(body));
        if (decoded > budget.capacity) {
          fail(
            res,
            encoding,
            413,
            RPC_CODE.INVALID_ARGUMENT,
            `decoding this JSON body would take about ${decoded} bytes, more than the ingest memory budget of ${budget.capacity} bytes; send smaller batches`,
          );
          return;
        }
        if (!reservation.grow(Math.max(0, decoded - body.length))) {
          refuse(
            req,
            res,
            encoding,
            429,
            RPC_CODE.RESOURCE_EXHAUSTED,
            'ingest memory budget exhausted (decoding); retry later',
            retryAfter,
          );
          return;
        }
      } else {
        // The body is already reserved, and the plan counts it: plan with it, reserve the rest.
        const plan = protobufDecodePlan(
          body.length,
          budget.available + body.length,
          DEFAULT_DECODE_LIMITS.maxSpans,
          DEFAULT_DECODE_LIMITS.maxEvents,
        );
        if (plan === undefined || !reservation.grow(plan.bytes - body.length)) {
          if (othersIdle)
            fail(
              res,
              encoding,
              413,
              RPC_CODE.INVALID_ARGUMENT,
              `decoding this body would take more than the ingest memory budget of ${budget.capacity} bytes; send smaller batches`,
            );
          else
            refuse(
              req,
              res,
              encoding,
              429,
              RPC_CODE.RESOURCE_EXHAUSTED,
              'ingest memory budget exhausted (decoding); retry later',
              retryAfter,
            );
          return;
        }
        limits = { maxSpans: plan.maxSpans, maxEvents: plan.maxEvents };
        reduced = plan.reduced;
      }

      let spans: SpanView[];
      try {
        // Only what the tally reads is decoded (the rest is still checked); forwarding re-sends the raw body.
        spans =
          encoding === 'protobuf'
            ? decodeTracesProtobuf(body, limits, TALLY_PROJECTION)
            : decodeTracesJson(body, undefined, TALLY_PROJECTION);
      } catch (err) {
        if (err instanceof OtlpLimitError && reduced) {
          // The limits were cut to what the budget could pay for.
          if (othersIdle)
            fail(
              res,
              encoding,
              413,
              RPC_CODE.INVALID_ARGUMENT,
              `decoding this body would take more than the ingest memory budget of ${budget.capacity} bytes (${err.message}); send smaller batches`,
            );
          else
            refuse(
              req,
              res,
              encoding,
              429,
              RPC_CODE.RESOURCE_EXHAUSTED,
              'ingest memory budget exhausted (decoding); retry later',
              retryAfter,
            );
          return;
        }
        const reason =
          err instanceof OtlpDecodeError ? err.message : `unexpected decoder failure: ${(err as Error)?.message ?? String(err)}`;
        fail(res, encoding, 400, RPC_CODE.INVALID_ARGUMENT, `could not decode ${encoding} ExportTraceServiceRequest: ${reason}`);
        return;
      }
      let partial: { rejectedSpans: number; errorMessage: string } | undefined;
      try {
        const result = tally.record(spans, encoding);
        // Counted as soon as the counters hold the spans, before the 200 leaves.
        acknowledged++;
        if (result.rejected > 0) {
          const why = Object.entries(result.reasons)
            .map(([r, n]) => `${n} ${r}`)
            .join(', ');
          partial = { rejectedSpans: result.rejected, errorMessage: `rejected ${result.rejected} of ${result.spans} spans: ${why}` };
        }
      } catch (err) {
        // A tally bug must not take the service down; the client may retry.
        fail(res, encoding, 500, RPC_CODE.INTERNAL, `internal error while tallying: ${(err as Error).message}`);
        return;
      }
      if (forwarder.enabled && raw !== undefined) {
        forwarder.enqueue({
          body: raw,
          contentType: contentType ?? CONTENT_TYPE[encoding],
          contentEncoding: gzipped ? contentEncoding : undefined,
        });
      }
      const out = encodeExportResponse(encoding, partial);
      res.writeHead(200, { 'content-type': CONTENT_TYPE[encoding] });
      res.end(out);
    } finally {
      inFlight--;
      // What it held, and about as much again in the socket chunks it was copied from (garbage too).
      const held = reservation.bytes;
      reservation.close();
      garbage.released(2 * held, refusing());
    }
  };

  const handleAndSettle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await handle(req, res);
    } finally {
      deps.settled?.();
    }
  };

  const receiver = (req: IncomingMessage, res: ServerResponse): void => {
    handleAndSettle(req, res).catch((err: unknown) => {
      fail(res, 'json', 500, RPC_CODE.INTERNAL, `internal error: ${(err as Error)?.message ?? String(err)}`);
    });
  };
  return Object.assign(receiver, { refusing, budget, acknowledged: () => acknowledged, inFlight: () => inFlight });
}
