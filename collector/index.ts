/**
 * The mcplens collector, public as `mcplens/collector`: receives OTLP/HTTP traces from
 * instrumented MCP servers, tallies tool calls and malformed calls per LLM provider, and
 * serves them to Prometheus (`/metrics`), as JSON (`/api/summary`) and as a status page (`/`).
 *
 * ```ts
 * const collector = createCollector({ port: 0 });
 * const { url } = await collector.listen();
 * // ... later
 * await collector.close();
 * ```
 *
 * Adding an export here makes it public API: test/package/entry-points.test.ts pins the list.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request, type Response } from 'express';
import { Registry, type RegistryContentType } from 'prom-client';
import { LABEL } from '../contract/index.js';
import { bearerCheck } from './auth.js';
import { resolveConfig, type CollectorConfig, type CollectorOptions } from './config.js';
import { renderMetrics, wantsOpenMetrics } from './exposition.js';
import { Forwarder } from './forwarder.js';
import { createCollectorMetrics, type CollectorMetrics } from './metrics.js';
import { LastScrape, type LastScrapeOutcome } from './last-scrape.js';
import { createIngestServer, createReceiver } from './receiver.js';
import { SharedRenders } from './shared-render.js';
import { errorHandler, hostCheck, notFound, securityHeaders } from './http-security.js';
import { READ_TOKEN_COOKIE, serveStatusPage } from './status-page.js';
import { SummaryStore } from './summary.js';
import { Tally } from './tally.js';
import type { Summary } from './summary-types.js';

export type { CollectorOptions, CollectorConfig } from './config.js';
/** Thrown by {@link createCollector} on a configuration mistake, naming the bad option. */
export { ConfigError } from './config.js';
export type { Summary } from './summary-types.js';
export type { LastScrapeOutcome } from './last-scrape.js';

/** Options of {@link createCollector}: the configuration plus what only code can pass. */
export interface CreateCollectorOptions extends CollectorOptions {
  /**
   * Registry to register the metrics on. Default: a new one. It is switched to the
   * OpenMetrics content type (exemplars need it); `/metrics` still serves the classic
   * format to scrapers that do not ask for OpenMetrics.
   */
  registry?: Registry<RegistryContentType>;
  /**
   * The clock (ms since the epoch) of the summary and of the breaker-state expiry
   * (`breakerStateTtlSeconds`). Default Date.now; tests pass one they control.
   */
  now?: () => number;
}

/** Where a started collector listens. */
export interface ListenAddress {
  host: string;
  port: number;
  /** `http://host:port` (IPv6 hosts bracketed). */
  url: string;
}

/** A collector instance. */
export interface Collector {
  /** The express app (mountable elsewhere; `listen` serves it on its own server). */
  app: Express;
  /** The metrics registry. */
  registry: Registry<RegistryContentType>;
  /** The resolved configuration. */
  config: Readonly<CollectorConfig>;
  /** Starts listening on `config.host:config.port`. */
  listen(): Promise<ListenAddress>;
  /** The current `/api/summary` document. */
  summary(): Promise<Summary>;
  /**
   * First step of a graceful shutdown (what SIGTERM does before {@link Collector.close}): from now
   * on ingest is answered 503 with Retry-After; then waits, up to `shutdownScrapeWaitMs`, for the
   * requests in flight and for one scrape of `/metrics` rendered after the last acknowledged
   * ingest, so Prometheus holds everything answered 200. No wait when `/metrics` was never
   * scraped or the option is 0; a scrape that already covers the last ingest ends it at once.
   */
  drain(): Promise<LastScrapeOutcome>;
  /**
   * Graceful shutdown: stops accepting connections, answers new ingest 503, lets in-flight
   * requests finish and forward queues drain (up to `shutdownTimeoutMs`), then cuts what is left.
   */
  close(): Promise<void>;
}

/** Route label values of the request-duration metric (fixed, so clients cannot make new series). */
const ROUTES = new Set(['/v1/traces', '/metrics', '/api/summary', '/healthz', '/readyz', '/']);

/** Creates a collector; throws a ConfigError naming the bad option on a configuration mistake. */
export function createCollector(options: CreateCollectorOptions = {}): Collector {
  const { registry: injected, now, ...rest } = options;
  const config = resolveConfig(rest);
  const registry: Registry<RegistryContentType> = injected ?? new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const metrics: CollectorMetrics = createCollectorMetrics(registry);
  const store = new SummaryStore({
    recentViolations: config.recentViolations,
    trendBucketSeconds: config.trendBucketSeconds,
    trendBuckets: config.trendBuckets,
    ...(now === undefined ? {} : { now }),
  });
  const tally = new Tally({
    metrics,
    summary: store,
    cardinalityLimit: config.cardinalityLimit,
    maxLabelValueBytes: config.maxLabelValueBytes,
    selfCorrectionWindowMs: config.selfCorrectionWindowSeconds * 1000,
    selfCorrectionMaxKeys: config.selfCorrectionMaxKeys,
    breakerStateTtlMs: config.breakerStateTtlSeconds * 1000,
    now,
  });
  const forwarder = new Forwarder({
    endpoints: config.forwardEndpoints,
    queueSize: config.forwardQueueSize,
    maxRetries: config.forwardMaxRetries,
    initialBackoffMs: config.forwardInitialBackoffMs,
    maxBackoffMs: config.forwardMaxBackoffMs,
    timeoutMs: config.forwardTimeoutMs,
    metrics,
  });
  const ingestAuth = bearerCheck(config.ingestToken);
  const readAuth = bearerCheck(config.readToken, { cookie: READ_TOKEN_COOKIE });

  /** Ingest is refused from here on (drain or close started). */
  let closing = false;
  let closeStarted = false;
  let rss = 0;
  let rssTimer: NodeJS.Timeout | undefined;
  if (config.maxRssBytes > 0) {
    // Sampled, never per request: process.memoryUsage is not free.
    rss = process.memoryUsage.rss();
    rssTimer = setInterval(() => (rss = process.memoryUsage.rss()), 1000);
    rssTimer.unref();
  }

  // Expired breaker series are swept before every read (here and before each /metrics render), not
  // on a timer: nothing runs while nobody reads, and every read is exact at its own time.
  const summary = async (): Promise<Summary> => {
    tally.sweepBreakers();
    return store.render({
      spansReceived: tally.health.spansReceived,
      spansRejected: tally.health.spansRejected,
      seriesDropped: await tally.seriesDropped(),
    });
  };

  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.once('finish', () => {
      const route = ROUTES.has(req.path) ? req.path : 'other';
      metrics.requestDuration.observe(
        { [LABEL.ROUTE]: route, [LABEL.STATUS_CODE]: String(res.statusCode) },
        Number(process.hrtime.bigint() - start) / 1e9,
      );
    });
    next();
  });
  app.use(securityHeaders());
  const checkHost = hostCheck({ listenHost: config.host, allowedHosts: config.allowedHosts });
  if (checkHost) app.use(checkHost);

  const denied = (req: Request, res: Response): boolean => {
    const challenge = readAuth.check(req);
    if (challenge === undefined) return false;
    res.status(401).set('www-authenticate', challenge).type('text/plain').send('missing or invalid bearer token\n');
    return true;
  };

  const receiver = createReceiver({
    config,
    tally,
    forwarder,
    auth: ingestAuth,
    closing: () => closing,
    rss: () => rss,
    settled: () => lastScrape.check(),
  });
  const lastScrape = new LastScrape(receiver);
  app.all('/v1/traces', receiver);

  // Concurrent scrapes share one render per format; at most two bodies alive (see shared-render.ts).
  // Each body carries the ingest it covers, for shutdown's last scrape.
  const scrapes = new SharedRenders(async (openMetrics: boolean) => {
    const seq = lastScrape.renderStarts();
    tally.sweepBreakers();
    return { seq, ...(await renderMetrics(registry, openMetrics ? 'application/openmetrics-text' : undefined)) };
  }, 2);
  app.get('/metrics', async (req, res) => {
    if (denied(req, res)) return;
    const shared = scrapes.acquire(wantsOpenMetrics(req.headers.accept));
    if (shared === undefined) {
      res
        .status(503)
        .set('retry-after', String(config.retryAfterSeconds))
        .type('text/plain')
        .send('scrapes in progress are still being sent; retry later\n');
      return;
    }
    res.once('close', shared.done);
    const { seq, contentType, body } = await shared.value;
    res.once('finish', () => lastScrape.sent(seq));
    res.set('content-type', contentType).send(body);
  });

  app.get('/api/summary', async (req, res) => {
    if (denied(req, res)) return;
    res.set('cache-control', 'no-store').json(await summary());
  });

  app.get('/', serveStatusPage(readAuth, config));

  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    // Embedded apps (never `listen`ed here) are ready as long as they are not closing.
    // Not ready while ingest refuses for load (slots or memory budget), so balancers send elsewhere.
    if (closing || (server !== undefined && !server.listening) || receiver.refusing())
      res.status(503).type('text/plain').send('not ready\n');
    else res.type('text/plain').send('ready\n');
  });
  // Last: unknown routes and errors answer without Express's HTML page, stack or paths.
  app.use(notFound());
  app.use(errorHandler((line) => process.stderr.write(`${line}\n`)));

  let server: Server | undefined;

  return {
    app,
    registry,
    config,
    summary,
    listen() {
      if (server) return Promise.reject(new Error('collector is already listening'));
      const srv = createIngestServer(app, config);
      server = srv;
      return new Promise<ListenAddress>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(config.port, config.host, () => {
          srv.off('error', reject);
          const addr = srv.address() as AddressInfo;
          const host = addr.address;
          const shown = host.includes(':') ? `[${host}]` : host;
          resolve({ host, port: addr.port, url: `http://${shown}:${addr.port}` });
        });
      });
    },
    drain() {
      closing = true;
      return lastScrape.wait(config.shutdownScrapeWaitMs);
    },
    async close() {
      if (closeStarted) return;
      closeStarted = true;
      closing = true;
      if (rssTimer) clearInterval(rssTimer);
      const deadline = Date.now() + config.shutdownTimeoutMs;
      const srv = server;
      if (srv?.listening) {
        const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
        srv.closeIdleConnections();
        // Keep-alive connections go idle after their in-flight request: close them as they do.
        const idle = setInterval(() => srv.closeIdleConnections(), 50);
        const cut = setTimeout(() => srv.closeAllConnections(), Math.max(0, deadline - Date.now()));
        await closed;
        clearInterval(idle);
        clearTimeout(cut);
      }
      await forwarder.close(deadline);
    },
  };
}
