/**
 * `mcplens demo` / `npm start`: the whole idea in one process tree. Starts the collector
 * (127.0.0.1:4318 by default), a tracer provider exporting OTLP/HTTP protobuf to it, the
 * instrumented order-management MCP server and simulated agents calling it, and a live
 * per-provider summary in the terminal, until Ctrl-C or `--duration`.
 *
 * The agent traffic is SIMULATED (no LLM is called); the demo says so when it starts.
 */
import { parseArgs } from 'node:util';
import { resolve as resolvePath } from 'node:path';
import { trace, context, propagation } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR } from '../contract/index.js';
import { createCollector } from '../collector/index.js';
import type { Summary } from '../collector/summary-types.js';
import { ORDER_SERVER_NAME } from './order-server.js';
import { AGENT_PROFILES, startTraffic, type Traffic, type TrafficStats } from './traffic.js';
import { fetchSummary, startTerminalSummary, type SummaryOutput, type TerminalSummary } from './terminal-summary.js';
import { ConfigError } from '../contract/config-error.js';

/** The demo's options with their defaults (one place). */
export const DEMO_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 4318,
  rate: 10,
  /** Seconds; 0 runs until Ctrl-C. */
  duration: 0,
  seed: 1,
});

const USAGE = `usage: mcplens demo [options]

Runs the mcplens collector, an instrumented example MCP server (order management) and
SIMULATED agents from several LLM providers calling it, with a live summary per provider.

options:
  --port N              collector port (default ${DEMO_DEFAULTS.port}; 0 picks a free one)
  --host ADDR           collector interface (default ${DEMO_DEFAULTS.host})
  --rate N              simulated tool calls per second, 0.1..1000 (default ${DEMO_DEFAULTS.rate})
  --duration S          stop after S seconds (default: run until Ctrl-C)
  --seed N              seed of the simulated traffic (default ${DEMO_DEFAULTS.seed})
  --no-traffic          run the collector and server only, no simulated agents
  --grafana-out DIR     also write the generated Grafana dashboards, provisioning and alert rules to DIR
  --collector-url URL   send to an already running collector instead of starting one (compose)
  -h, --help            this text
`;

/** Hooks for embedding and tests; the CLI passes none. */
export interface DemoHooks {
  /** Where the demo prints. Default process.stdout / process.stderr. */
  stdout?: SummaryOutput;
  stderr?: { write(chunk: string): unknown };
  /** Called once everything runs, with a function that stops the demo as Ctrl-C would. */
  onStarted?(info: { collectorUrl: string; stop: () => void }): void;
  /**
   * Called after traffic stopped and spans were flushed, before the collector closes, with its
   * last summary and what the simulated agents sent (undefined with --no-traffic).
   */
  onBeforeClose?(summary: Summary | undefined, traffic: TrafficStats | undefined): void | Promise<void>;
  /** Install SIGINT/SIGTERM handlers. Default true. */
  handleSignals?: boolean;
}

/** Parsed demo options. */
interface DemoOptions {
  host: string;
  port: number;
  rate: number;
  duration: number;
  seed: number;
  traffic: boolean;
  grafanaOut: string | undefined;
  collectorUrl: string | undefined;
}

function numberOption(name: string, text: string | undefined, fallback: number, check: (n: number) => boolean, expect: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new ConfigError(`--${name}: '${text}' is not ${expect}`);
  return n;
}

/** Parses the demo's argv; a mistake throws a ConfigError naming the option and value. */
function parseDemoArgs(argv: string[]): DemoOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        seed: { type: 'string' },
        'no-traffic': { type: 'boolean' },
        'grafana-out': { type: 'string' },
        'collector-url': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const collectorUrl = values['collector-url'];
  if (collectorUrl !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(collectorUrl);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
      throw new ConfigError(`--collector-url: '${collectorUrl}' is not an http(s) URL`);
  }
  return {
    host: values.host ?? DEMO_DEFAULTS.host,
    port: numberOption('port', values.port, DEMO_DEFAULTS.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port (0-65535)'),
    rate: numberOption('rate', values.rate, DEMO_DEFAULTS.rate, (n) => n >= 0.1 && n <= 1000, 'a rate between 0.1 and 1000 calls/s'),
    duration: numberOption('duration', values.duration, DEMO_DEFAULTS.duration, (n) => n > 0, 'a positive number of seconds'),
    seed: numberOption('seed', values.seed, DEMO_DEFAULTS.seed, (n) => Number.isInteger(n), 'an integer'),
    traffic: values['no-traffic'] !== true,
    grafanaOut: values['grafana-out'],
    collectorUrl: collectorUrl?.replace(/\/+$/, ''),
  };
}

/** Hostname to put in a URL for a listening address (a wildcard address is reached on loopback). */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Runs the demo until Ctrl-C (SIGINT/SIGTERM) or `--duration`, then stops everything and
 * flushes. Returns the process exit code (2 for a usage mistake).
 */
export async function runDemo(argv: string[], hooks: DemoHooks = {}): Promise<number> {
  const out = hooks.stdout ?? process.stdout;
  const err = hooks.stderr ?? process.stderr;
  let options: DemoOptions | 'help';
  try {
    options = parseDemoArgs(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err.write(`mcplens demo: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    out.write(USAGE);
    return 0;
  }

  if (options.grafanaOut !== undefined) {
    const outDir = resolvePath(options.grafanaOut);
    const { generateAll } = await import('../dashboards/index.js');
    await generateAll({ outDir });
    out.write(`Grafana dashboards, provisioning and alert rules written to ${outDir}\n`);
  }

  // 1. The collector (unless an external one is named).
  let collector: ReturnType<typeof createCollector> | undefined;
  let collectorUrl: string;
  if (options.collectorUrl) {
    collectorUrl = options.collectorUrl;
  } else {
    // 10 s trend buckets (default 60): the demo's trend should move within a minute.
    collector = createCollector({ host: options.host, port: options.port, trendBucketSeconds: 10 });
    const address = await collector.listen();
    collectorUrl = `http://${urlHost(address.host)}:${address.port}`;
  }

  // 2. Tracing: spans of the instrumented server go to the collector as OTLP/HTTP protobuf.
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: ORDER_SERVER_NAME }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${collectorUrl}/v1/traces` }), {
        scheduledDelayMillis: 500,
        maxQueueSize: 8192,
        maxExportBatchSize: 512,
      }),
    ],
  });
  provider.register();

  // 3. The server and the simulated agents.
  let traffic: Traffic | undefined;
  let summary: TerminalSummary | undefined;
  let stopRequested: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  const onSignal = (): void => stopRequested();
  const handleSignals = hooks.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const timer = options.duration > 0 ? setTimeout(stopRequested, options.duration * 1000) : undefined;

  try {
    out.write(
      [
        '',
        'mcplens demo',
        '  The agent traffic below is SIMULATED: no LLM is called. Each simulated agent makes',
        "  its provider's characteristic mistake at a seeded, documented rate:",
        ...AGENT_PROFILES.map((p) => `    ${p.provider.padEnd(11)} ${p.model.padEnd(21)} ${p.description}`),
        '',
        `  Status page:  ${collectorUrl}/`,
        `  Metrics:      ${collectorUrl}/metrics   Summary JSON: ${collectorUrl}/api/summary`,
        `  Traffic:      ${options.traffic ? `${options.rate} calls/s, seed ${options.seed}` : 'off (--no-traffic)'}` +
          (options.duration > 0 ? `, for ${options.duration} s` : ', until Ctrl-C'),
        '',
        '',
      ].join('\n'),
    );
    if (options.traffic) {
      traffic = await startTraffic({ seed: options.seed, rate: options.rate });
    }
    summary = startTerminalSummary({ collectorUrl, output: out });
    hooks.onStarted?.({ collectorUrl, stop: stopRequested });
    await stopSignal;
  } finally {
    if (timer) clearTimeout(timer);
    if (handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    out.write('\nstopping: finishing calls in flight, flushing spans...\n');
    await traffic?.stop();
    // Spans end after their deferred work (token counts); give it a moment, then flush.
    await new Promise((r) => setTimeout(r, 200));
    await provider.forceFlush().catch((e: unknown) => err.write(`mcplens demo: span flush failed: ${String(e)}\n`));
    await provider.shutdown().catch(() => undefined);
    // Leave the globals as we found them, so an embedding process (or a test) can start again.
    trace.disable();
    context.disable();
    propagation.disable();
    await summary?.stop();
    let last: Summary | undefined;
    try {
      last = await fetchSummary(collectorUrl);
    } catch {
      last = undefined;
    }
    await hooks.onBeforeClose?.(last, traffic?.stats);
    await collector?.close();
    out.write('mcplens demo stopped.\n');
  }
  return 0;
}
