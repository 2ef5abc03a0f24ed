/**
 * Loopback stand-ins for the collector an instrumented stdio server exports to, one per
 * condition a host's machine can be in: a live collector (the tests' OTLP receiver, which
 * keeps every span, or a real mcplens collector), a closed port, a port that accepts TCP and
 * never answers, and one that answers every export 429 or 503 with `Retry-After: 1`.
 * Everything listens on 127.0.0.1 in this process.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { LABEL, METRICS } from '../contract/index.js';
import { createCollector } from '../collector/index.js';
import { startOtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

/** The conditions a collector can be in. */
export const COLLECTOR_KINDS = ['up', 'collector', 'down', 'silent', '429', '503'] as const;
/**
 * - `up`: the tests' OTLP receiver (decodes and keeps every span, answers 200);
 * - `collector`: a real mcplens collector (`createCollector`, port 0);
 * - `down`: a port that was bound, then closed (connections are refused);
 * - `silent`: accepts TCP connections and never answers;
 * - `429` / `503`: answers every request with that status and `Retry-After: 1`.
 */
export type CollectorKind = (typeof COLLECTOR_KINDS)[number];

/** What reached a stand-in; undefined where it cannot tell. */
export interface CollectorCounts {
  /** Spans decoded (`up`, `collector`). */
  readonly spans: number | undefined;
  /** Export requests (`/v1/traces`) seen: `collector`, `429`, `503`, and `up` (batches). */
  readonly requests: number | undefined;
  /** TCP connections accepted: `silent`, `429`, `503` (0 for `down`). */
  readonly connections: number | undefined;
}

/** A running stand-in. */
export interface CollectorVariant {
  readonly kind: CollectorKind;
  /** For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly endpoint: string;
  /** Spans kept (`up` only; empty for the others). */
  readonly spans: readonly ReceivedSpan[];
  /** What reached it so far. */
  counts(): Promise<CollectorCounts>;
  /** Resolves with the spans once `predicate` holds (`up` only), or rejects after `timeoutMs`. */
  waitForSpans(predicate: (spans: readonly ReceivedSpan[]) => boolean, timeoutMs: number): Promise<readonly ReceivedSpan[]>;
  close(): Promise<void>;
}

/** Starts the stand-in for `kind` on 127.0.0.1. */
export async function startCollectorVariant(kind: CollectorKind): Promise<CollectorVariant> {
  switch (kind) {
    case 'up':
      return startReceiverVariant();
    case 'collector':
      return startRealCollector();
    case 'down':
      return startClosedPort();
    case 'silent':
      return startSilent();
    case '429':
    case '503':
      return startRefusing(kind);
  }
}

async function startReceiverVariant(): Promise<CollectorVariant> {
  const receiver = await startOtlpReceiver();
  return {
    kind: 'up',
    endpoint: receiver.endpoint,
    spans: receiver.spans,
    // The receiver counts no requests; spans of one request share its arrival time.
    counts: async () => ({
      spans: receiver.spans.length,
      requests: new Set(receiver.spans.map((s) => s.receivedAtMs)).size,
      connections: undefined,
    }),
    waitForSpans: (predicate, timeoutMs) => receiver.waitFor(predicate, timeoutMs),
    close: () => receiver.close(),
  };
}

async function startRealCollector(): Promise<CollectorVariant> {
  const collector = createCollector({ host: '127.0.0.1', port: 0, shutdownTimeoutMs: 1000 });
  const { url } = await collector.listen();
  const sum = async (name: string, pick: (v: { metricName?: string; labels: Record<string, unknown> }) => boolean): Promise<number> => {
    const metric = collector.registry.getSingleMetric(name);
    if (metric === undefined) return 0;
    const { values } = await metric.get();
    return values.filter(pick).reduce((total, v) => total + v.value, 0);
  };
  const duration = METRICS.COLLECTOR_REQUEST_DURATION.name;
  const counts = async (): Promise<CollectorCounts> => ({
    spans: await sum(METRICS.COLLECTOR_SPANS_RECEIVED.name, () => true),
    requests: await sum(duration, (v) => v.metricName === `${duration}_count` && v.labels[LABEL.ROUTE] === '/v1/traces'),
    connections: undefined,
  });
  return {
    kind: 'collector',
    endpoint: url,
    spans: [],
    counts,
    waitForSpans: () => Promise.reject(new Error('the real collector keeps no spans: use the `up` variant')),
    close: () => collector.close(),
  };
}

async function startClosedPort(): Promise<CollectorVariant> {
  const server = createTcpServer();
  await listen(server);
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return {
    kind: 'down',
    endpoint: `http://127.0.0.1:${port}`,
    spans: [],
    counts: async () => ({ spans: undefined, requests: 0, connections: 0 }),
    waitForSpans: () => Promise.reject(new Error('a closed port receives no spans')),
    close: async () => undefined,
  };
}

async function startSilent(): Promise<CollectorVariant> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((socket) => {
    accepted++;
    sockets.add(socket);
    // Read and discard, never write: the exporter waits for an answer that never comes.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server);
  return {
    kind: 'silent',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: [],
    counts: async () => ({ spans: undefined, requests: 0, connections: accepted }),
    waitForSpans: () => Promise.reject(new Error('a silent collector keeps no spans')),
    close: () => closeServer(server, sockets),
  };
}

async function startRefusing(kind: '429' | '503'): Promise<CollectorVariant> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let requests = 0;
  const server = createHttpServer((req, res) => {
    requests++;
    // Read the body first, as a real server would, so the client is not cut off mid-upload.
    req.on('data', () => undefined);
    req.on('end', () =>
      res
        .writeHead(Number(kind), { 'retry-after': '1', 'content-type': 'text/plain' })
        .end(kind === '429' ? 'too many requests' : 'unavailable'),
    );
  });
  server.on('connection', (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server);
  return {
    kind,
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: [],
    counts: async () => ({ spans: undefined, requests, connections: accepted }),
    waitForSpans: () => Promise.reject(new Error(`a collector answering ${kind} keeps no spans`)),
    close: () => closeServer(server, sockets),
  };
}

function listen(server: TcpServer | HttpServer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function closeServer(server: TcpServer | HttpServer, sockets: Set<Socket>): Promise<void> {
  return new Promise<void>((resolve) => {
    // Exporters keep connections alive: end them, or close() waits for them.
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
}
