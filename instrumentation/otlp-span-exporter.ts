/**
 * The OTLP/HTTP span exporter of mcplens' own SDK (zero-code entry): OpenTelemetry's
 * configuration (every `OTEL_EXPORTER_OTLP_*` variable), serializers and export delegate,
 * with a transport of its own. Why not `OTLPTraceExporter` as it is: its retries wait on
 * timers that keep the event loop alive, and an export to a silent collector holds a
 * socket for up to `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s). A stdio server whose host has
 * closed stdin would linger that long (measured: 8.5 s with the collector's port closed,
 * 10.4 s when it never answered). This transport retries like OpenTelemetry's (at most 5
 * retries, backoff 1 s x 1.5 up to 5 s with jitter, `Retry-After` honoured, only within the
 * export's deadline), and {@link ExitSafeSpanExporter.abort} ends every attempt and retry at
 * once, so that a bounded shutdown really is bounded. Its sockets and timers never keep
 * the process alive: the exit flush holds the process for its budget, nothing else does.
 */
import { createRequire } from 'node:module';
import type { ExportResult } from '@opentelemetry/core';
import type { IExporterTransport, ExportResponse } from '@opentelemetry/otlp-exporter-base';
type OtlpNodeHttpConfiguration = ReturnType<typeof import('@opentelemetry/otlp-exporter-base/node-http').convertLegacyHttpOptions>;
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ClientRequest } from 'node:http';

const MAX_RETRIES = 5;
const INITIAL_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5000;
const BACKOFF_MULTIPLIER = 1.5;
const JITTER = 0.2;
/** Network errors worth a retry, as OpenTelemetry's own transport has them. */
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const PRELOAD_AFTER_MS = 1000;

const requireLazily = createRequire(import.meta.url);

/** A span exporter whose in-flight exports can be ended at once. */
export interface ExitSafeSpanExporter extends SpanExporter {
  /** Ends every attempt and pending retry now; their exports fail (the spans are dropped). */
  abort(): void;
  /**
   * The process is ending: exports from now on are tried once, without retries (a collector
   * that refuses the connection then costs the ending process nothing), still ended by abort().
   */
  ending(): void;
}

/**
 * Creates the exporter. The OTLP libraries (about 55 ms of loading) are required a second
 * after this, or on the first export if that comes first, not here: a server's first answer
 * must not wait for them.
 */
export function createOtlpSpanExporter(protocol: 'http/protobuf' | 'http/json', url: string | undefined): ExitSafeSpanExporter {
  let delegate: SpanExporter | undefined;
  let transport: AbortableHttpTransport | undefined;
  let isEnding = false;
  const load = (): SpanExporter => {
    if (delegate !== undefined) return delegate;
    const base = requireLazily('@opentelemetry/otlp-exporter-base') as typeof import('@opentelemetry/otlp-exporter-base');
    const nodeHttp = requireLazily(
      '@opentelemetry/otlp-exporter-base/node-http',
    ) as typeof import('@opentelemetry/otlp-exporter-base/node-http');
    const transformer = requireLazily('@opentelemetry/otlp-transformer') as typeof import('@opentelemetry/otlp-transformer');
    const json = protocol === 'http/json';
    const options = nodeHttp.convertLegacyHttpOptions(url === undefined ? {} : { url }, 'TRACES', 'v1/traces', {
      'Content-Type': json ? 'application/json' : 'application/x-protobuf',
    });
    transport = new AbortableHttpTransport(options);
    if (isEnding) transport.ending();
    const serializer = json ? transformer.JsonTraceSerializer : transformer.ProtobufTraceSerializer;
    const metrics = nodeHttp.createOtlpHttpExporterMetrics(
      'otlp_http_span_exporter',
      transformer.TraceExporterMetricsHelper,
      options.url,
      undefined,
    );
    delegate = new base.OTLPExporterBase(base.createOtlpNetworkExportDelegate(options, serializer, metrics, transport));
    return delegate;
  };
  // Loaded a while after start-up, when a stdio server usually waits for its host's LLM,
  // so that a short session's exit does not pay for it; the first export loads it otherwise.
  setTimeout(() => {
    try {
      load();
    } catch {
      // The first export will say what is wrong.
    }
  }, PRELOAD_AFTER_MS).unref();
  return {
    export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
      load().export(spans, resultCallback);
    },
    shutdown: () => (delegate === undefined ? Promise.resolve() : delegate.shutdown()),
    forceFlush: () => (delegate?.forceFlush === undefined ? Promise.resolve() : delegate.forceFlush()),
    abort: () => transport?.abort(),
    ending: () => {
      isEnding = true;
      transport?.ending();
    },
  };
}

interface Retry {
  timer: NodeJS.Timeout | undefined;
  resolve: (response: ExportResponse) => void;
  /** Tries now instead of when the timer fires. */
  fire: () => void;
}

class AbortableHttpTransport implements IExporterTransport {
  private readonly inFlight = new Set<ClientRequest>();
  private readonly retries = new Set<Retry>();
  private aborted = false;
  private noRetries = false;
  private agent: Promise<import('node:http').Agent> | undefined;

  constructor(private readonly options: OtlpNodeHttpConfiguration) {}

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const deadline = Date.now() + timeoutMillis;
    let backoff = INITIAL_BACKOFF_MS;
    let result = await this.attempt(data, timeoutMillis);
    for (let retries = 0; result.status === 'retryable' && retries < MAX_RETRIES && !this.aborted && !this.noRetries; retries++) {
      const jittered = Math.min(backoff * (1 + (Math.random() * 2 - 1) * JITTER), MAX_BACKOFF_MS);
      backoff *= BACKOFF_MULTIPLIER;
      const wait = result.retryInMillis ?? jittered;
      const remaining = deadline - Date.now();
      if (wait > remaining) break;
      result = await this.after(wait, () => this.attempt(data, deadline - Date.now()));
    }
    return result;
  }

  /** From now on no retries; a retry already waiting is tried at once. */
  ending(): void {
    this.noRetries = true;
    for (const retry of [...this.retries]) retry.fire();
  }

  /** Ends every attempt and retry now. Later exports fail at once: this is the process's end. */
  abort(): void {
    this.aborted = true;
    for (const request of this.inFlight) request.destroy(new Error('mcplens: export ended by the exit budget'));
    for (const retry of this.retries) {
      clearTimeout(retry.timer);
      retry.resolve({ status: 'failure', error: new Error('mcplens: retry ended by the exit budget') });
    }
    this.retries.clear();
  }

  shutdown(): void {
    this.abort();
  }

  private after(ms: number, next: () => Promise<ExportResponse>): Promise<ExportResponse> {
    return new Promise((resolve) => {
      const retry: Retry = {
        timer: undefined,
        resolve,
        fire: () => {
          clearTimeout(retry.timer);
          this.retries.delete(retry);
          next().then(resolve, (error: Error) => resolve({ status: 'failure', error }));
        },
      };
      retry.timer = setTimeout(retry.fire, ms);
      retry.timer.unref();
      this.retries.add(retry);
    });
  }

  private async attempt(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    if (this.aborted) return { status: 'failure', error: new Error('mcplens: exporter aborted') };
    const url = new URL(this.options.url);
    const http = (url.protocol === 'https:' ? requireLazily('node:https') : requireLazily('node:http')) as typeof import('node:http');
    this.agent ??= Promise.resolve(this.options.agentFactory(url.protocol) as import('node:http').Agent);
    const [agent, headers] = await Promise.all([this.agent, this.options.headers()]);
    let body: Uint8Array = data;
    const requestHeaders: Record<string, string | number> = { ...headers, 'User-Agent': userAgent(this.options.userAgent) };
    if (this.options.compression === 'gzip') {
      body = (requireLazily('node:zlib') as typeof import('node:zlib')).gzipSync(data);
      requestHeaders['Content-Encoding'] = 'gzip';
    }
    requestHeaders['Content-Length'] = body.byteLength;
    return new Promise<ExportResponse>((resolve) => {
      const request = http.request(url, { method: 'POST', headers: requestHeaders, agent }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            resolve({ status: 'failure', error: new Error('OTLP export response body too large') });
            response.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve(classify(response.statusCode ?? 0, response.headers['retry-after'], Buffer.concat(chunks))));
        response.on('error', (error) => resolve({ status: 'failure', error }));
      });
      this.inFlight.add(request);
      request.on('close', () => this.inFlight.delete(request));
      // The socket must not keep the process alive: the exit flush decides how long to wait.
      request.on('socket', (socket) => socket.unref());
      request.setTimeout(Math.max(timeoutMillis, 1), () => {
        request.destroy();
        resolve({ status: 'retryable', error: new Error('Request timed out') });
      });
      request.on('error', (error: NodeJS.ErrnoException) =>
        resolve(
          !this.aborted && typeof error.code === 'string' && RETRYABLE_CODES.has(error.code)
            ? { status: 'retryable', error }
            : { status: 'failure', error },
        ),
      );
      request.end(body);
    });
  }
}

function classify(status: number, retryAfter: string | undefined, body: Buffer): ExportResponse {
  if (status >= 200 && status <= 299) return { status: 'success', data: body };
  if (status === 429 || status === 502 || status === 503 || status === 504) {
    const retryInMillis = retryAfterMs(retryAfter);
    return retryInMillis === undefined ? { status: 'retryable' } : { status: 'retryable', retryInMillis };
  }
  return {
    status: 'failure',
    error: new Error(`OTLP export failed with HTTP ${status}: ${body.toString('utf8', 0, Math.min(body.length, 200))}`),
  };
}

/** `Retry-After` as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number.parseInt(value, 10);
  if (Number.isFinite(seconds)) return Math.max(seconds * 1000, 0);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(date - Date.now(), 0) : undefined;
}

function userAgent(prefix: string | undefined): string {
  const own = 'mcplens (OTel-OTLP-Exporter-JavaScript)';
  return prefix === undefined || prefix === '' ? own : `${prefix} ${own}`;
}
