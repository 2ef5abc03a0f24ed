/**
 * A small OTLP/HTTP trace receiver on 127.0.0.1 for the zero-code entry's child-process
 * tests: decodes protobuf (protobufjs with the OTLP definitions) and JSON, gzip or not.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { loadOtlpTypes } from './otlp-proto-types.js';

/** One received span, attributes flattened to plain values. */
export interface ReceivedSpan {
  readonly name: string;
  readonly kind: number;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly events: ReadonlyArray<{ name: string; attributes: Readonly<Record<string, unknown>> }>;
  /** `application/x-protobuf` or `application/json`. */
  readonly contentType: string;
  /** Milliseconds since the receiver started, when the request carrying it arrived. */
  readonly receivedAtMs: number;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base endpoint, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Resolves with the spans once `predicate` holds, or rejects after `timeoutMs` listing what arrived. */
  waitFor(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs: number): Promise<readonly ReceivedSpan[]>;
  close(): Promise<void>;
}

type OtlpKeyValue = { key: string; value?: Record<string, unknown> };
type OtlpSpan = {
  name?: string;
  kind?: number | string;
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  attributes?: OtlpKeyValue[];
  events?: Array<{ name?: string; attributes?: OtlpKeyValue[] }>;
};
type OtlpRequest = { resourceSpans?: Array<{ resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };

function valueOf(value: Record<string, unknown> | undefined): unknown {
  if (value === undefined) return undefined;
  if ('intValue' in value) return Number(value.intValue);
  if ('arrayValue' in value) {
    const values = (value.arrayValue as { values?: Array<Record<string, unknown>> } | undefined)?.values ?? [];
    return values.map(valueOf);
  }
  return value.stringValue ?? value.doubleValue ?? value.boolValue;
}

function flatten(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of attributes ?? []) out[key] = valueOf(value);
  return out;
}

function hexId(id: string | undefined, binary: boolean): string {
  if (id === undefined || id === '') return '';
  // protobufjs' toObject gives bytes as base64; OTLP/JSON carries them as hex.
  return binary ? Buffer.from(id, 'base64').toString('hex') : id;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/** Starts a receiver on 127.0.0.1, port 0. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const types = loadOtlpTypes();
  const started = performance.now();
  const spans: ReceivedSpan[] = [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      const body = await readBody(req);
      const binary = contentType === 'application/x-protobuf';
      const request: OtlpRequest = binary
        ? (types.ExportTraceServiceRequest.toObject(types.ExportTraceServiceRequest.decode(body), {
            longs: String,
            enums: Number,
            bytes: String,
          }) as OtlpRequest)
        : (JSON.parse(body.toString('utf8')) as OtlpRequest);
      const receivedAtMs = performance.now() - started;
      for (const rs of request.resourceSpans ?? []) {
        const resource = flatten(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              name: s.name ?? '',
              kind: Number(s.kind ?? 0),
              traceId: hexId(s.traceId, binary),
              spanId: hexId(s.spanId, binary),
              parentSpanId: hexId(s.parentSpanId, binary),
              attributes: flatten(s.attributes),
              resource,
              events: (s.events ?? []).map((e) => ({ name: e.name ?? '', attributes: flatten(e.attributes) })),
              contentType,
              receivedAtMs,
            });
          }
        }
      }
      if (binary) {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(types.ExportTraceServiceResponse.encode({}).finish());
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      }
    })().catch(() => {
      if (!res.headersSent) res.writeHead(400);
      res.end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    async waitFor(predicate, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > deadline) {
          throw new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; received: ${JSON.stringify(spans.map((s) => s.name))}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return spans;
    },
    close: () =>
      new Promise<void>((resolve) => {
        // Exporters keep connections alive: end them, or close() waits for their idle timeout.
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
