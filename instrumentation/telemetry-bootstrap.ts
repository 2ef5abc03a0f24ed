import { createRequire } from 'node:module';
import { diag, trace, type TracerProvider } from '@opentelemetry/api';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createAdjustedCountSampler } from './adjusted-count-sampler.js';
import { processDeferredWork } from './deferred-work.js';
import { drainDeferred } from './flush.js';
import { settleWithin } from './settle-within.js';
import { installExitFlush } from './exit-flush.js';
import { createOtlpSpanExporter } from './otlp-span-exporter.js';
import { ATTR } from '../contract/index.js';
import { StderrDiagLogger } from './stderr-diag-logger.js';
import type { SamplerConfig, TelemetryConfig } from './telemetry-config.js';
import { readTelemetryConfig } from './telemetry-config.js';

export {
  DEFAULT_EXIT_TIMEOUT_MS,
  DEFAULT_OTLP_ENDPOINT,
  MAX_EXIT_TIMEOUT_MS,
  readTelemetryConfig,
  type SamplerConfig,
  type TelemetryConfig,
} from './telemetry-config.js';

/** The longest the exit flush waits for outstanding token counts. */
const MAX_TOKEN_WAIT_ON_EXIT_MS = 250;

/** What {@link ensureTelemetryStarted} settled on. */
export interface TelemetryState {
  /**
   * `application`: a tracer provider was registered before the first server connected;
   * `mcplens`: mcplens started its own NodeSDK; `disabled`: no spans are exported.
   */
  readonly source: 'application' | 'mcplens' | 'disabled';
  /** The provider to pass to instrumentServer, undefined to use the global one. */
  readonly tracerProvider: TracerProvider | undefined;
  /** Exports what is buffered, within `budgetMs` (default the exit budget); mcplens' own SDK only, resolves at once otherwise. */
  flush(budgetMs?: number): Promise<void>;
}

/**
 * True when the application registered a real (non-noop) global tracer provider. Checked
 * by shape, not `instanceof`: the application may hold another copy of the OTel API.
 */
export function hasApplicationTracerProvider(): boolean {
  return effectiveTracerProvider().constructor.name !== 'NoopTracerProvider';
}

function effectiveTracerProvider(): TracerProvider {
  const provider = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  return typeof provider.getDelegate === 'function' ? provider.getDelegate() : provider;
}

const DRAINS = Symbol.for('mcplens.drainsBeforeFlush');

/**
 * Makes the application's provider end mcplens' waiting spans before it flushes or shuts
 * down (NodeSDK.shutdown() ends there), so the last calls' spans are not dropped.
 */
function drainBeforeFlush(provider: TracerProvider): void {
  const target = provider as TracerProvider & { forceFlush?: () => Promise<void>; shutdown?: () => Promise<void>; [DRAINS]?: true };
  if (target[DRAINS] === true) return;
  for (const method of ['forceFlush', 'shutdown'] as const) {
    const original = target[method];
    if (typeof original !== 'function') continue;
    target[method] = async function drainingFirst(this: unknown): Promise<void> {
      await drainDeferred();
      return original.call(this);
    };
  }
  Object.defineProperty(target, DRAINS, { value: true });
}

// createRequire keeps the SDK off the start-up path: it is loaded (synchronously, inside
// the first connect) only when the application has no provider of its own.
const requireLazily = createRequire(import.meta.url);

let state: TelemetryState | undefined;

/**
 * Called the first time an instrumented server connects (then memoised): uses the
 * application's tracer provider when one is registered by then, else starts mcplens'
 * own NodeSDK from the standard variables, with no auto-instrumentations, no metric or
 * log exporter unless configured, diag to stderr, and flush on exit.
 *
 * @param hint.serviceName used as `service.name` when the environment names none (the MCP server's own name);
 *   a promise when the name is learnt later (`mcplens wrap` reads it from the server's answers): the
 *   resource attribute is then asynchronous, and exports wait for it (settle it before the last flush)
 * @param hint.endsItself the caller is a command outside the server's process (`mcplens wrap`,
 *   `mcplens proxy`) that decides when it ends and calls `flush()` last: no exit hooks are installed
 *   (its own stdin ending, under wrap, is not its end; a proxy's stdin may be /dev/null), and
 *   `flush()` is that last flush (one try per export).
 */
export function ensureTelemetryStarted(
  hint: { serviceName?: string | Promise<string>; endsItself?: boolean } = {},
  config: TelemetryConfig = readTelemetryConfig(),
): TelemetryState {
  if (state !== undefined) return state;
  if (config.disabled || !config.exportTraces) {
    state = { source: 'disabled', tracerProvider: undefined, flush: async () => {} };
  } else if (hasApplicationTracerProvider()) {
    // The application owns its SDK, its exporter and its shutdown; its flush and shutdown
    // first end the spans still waiting for their token counts.
    drainBeforeFlush(effectiveTracerProvider());
    state = { source: 'application', tracerProvider: undefined, flush: (budgetMs = config.exitTimeoutMs) => drainDeferred(budgetMs) };
  } else {
    state = startOwnSdk(config, hint.serviceName, hint.endsItself === true);
  }
  return state;
}

function buildSampler(config: SamplerConfig, sdk: typeof import('@opentelemetry/sdk-trace-base')): Sampler {
  if (config.kind === 'traceidratio') return createAdjustedCountSampler(config.ratio, { parentBased: config.parentBased });
  const root = config.kind === 'always_on' ? new sdk.AlwaysOnSampler() : new sdk.AlwaysOffSampler();
  return config.parentBased ? new sdk.ParentBasedSampler({ root }) : root;
}

/**
 * Runs `fn` with the variable `name` hidden. NodeSDK's constructor installs OTel's
 * DiagConsoleLogger when OTEL_LOG_LEVEL is set, and that logger prints debug and info
 * to stdout, which a stdio MCP server owns: mcplens has installed its stderr logger already.
 */
function withoutEnv<T>(name: string, fn: () => T): T {
  const saved = process.env[name];
  delete process.env[name];
  try {
    return fn();
  } finally {
    if (saved !== undefined) process.env[name] = saved;
  }
}

function startOwnSdk(config: TelemetryConfig, serviceName: string | Promise<string> | undefined, endsItself: boolean): TelemetryState {
  const logger = new StderrDiagLogger();
  diag.setLogger(logger, { logLevel: config.logLevel, suppressOverrideMessage: true });

  const traceBase = requireLazily('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const exporter = createOtlpSpanExporter(config.protocol, config.tracesUrl);
  // BatchSpanProcessor reads OTEL_BSP_* itself; holding it gives a flush that NodeSDK lacks.
  const batch = new traceBase.BatchSpanProcessor(exporter);
  // Spans ended since the last flush: `beforeExit` flushes only when there are some.
  let unflushed = 0;
  const processor: SpanProcessor = {
    onStart: (span, parent) => batch.onStart(span, parent),
    onEnd: (span) => {
      unflushed++;
      batch.onEnd(span);
    },
    forceFlush: () => {
      unflushed = 0;
      return batch.forceFlush();
    },
    shutdown: () => batch.shutdown(),
  };
  const sampler = buildSampler(config.sampler, traceBase);
  const namedService = config.serviceNameFromEnv || serviceName === undefined ? undefined : serviceName;

  if (config.metricsFromEnv || config.logsFromEnv) {
    // Metric readers and log processors from the environment are NodeSDK's job (it costs
    // about 400 ms of loading more before the first answer; only when asked for).
    const { NodeSDK } = requireLazily('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
    const sdk = withoutEnv(
      'OTEL_LOG_LEVEL',
      () =>
        new NodeSDK({
          spanProcessors: [processor],
          sampler,
          instrumentations: [],
          ...(config.metricsFromEnv ? {} : { metricReaders: [] }),
          ...(config.logsFromEnv ? {} : { logRecordProcessors: [] }),
          ...(typeof namedService === 'string' ? { serviceName: namedService } : {}),
          ...(namedService === undefined || typeof namedService === 'string'
            ? {}
            : {
                resource: (requireLazily('@opentelemetry/resources') as typeof import('@opentelemetry/resources')).resourceFromAttributes({
                  [ATTR.SERVICE_NAME]: namedService,
                }),
              }),
        }),
    );
    sdk.start();
  } else {
    // Traces only: the tracer provider, context manager and propagators NodeSDK would
    // register, with its resource detectors, at a fraction of its loading time.
    const { NodeTracerProvider } = requireLazily('@opentelemetry/sdk-trace-node') as typeof import('@opentelemetry/sdk-trace-node');
    const resources = requireLazily('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
    let resource = resources
      .defaultResource()
      .merge(resources.detectResources({ detectors: [resources.envDetector, resources.processDetector, resources.hostDetector] }));
    if (namedService !== undefined) resource = resource.merge(resources.resourceFromAttributes({ [ATTR.SERVICE_NAME]: namedService }));
    const provider = new NodeTracerProvider({ resource, sampler, spanProcessors: [processor] });
    provider.register();
  }

  // Spans of the last calls may still wait for their deferred work (tokens): end them
  // first, within the exit budget, then export what the budget leaves time for.
  const flush = async (budgetMs = config.exitTimeoutMs): Promise<void> => {
    const deadline = performance.now() + budgetMs;
    // Counts get at most 250 ms (60% of a smaller budget), and only from a worker that is
    // ready (it answers in milliseconds): one still loading its vocabulary must not hold a
    // closing host's server. The export gets the rest.
    const start = performance.now();
    await drainDeferred(Math.min(MAX_TOKEN_WAIT_ON_EXIT_MS, budgetMs * 0.6), { onlyWhenReady: true });
    const counted = performance.now();
    // Past the deadline the exports in flight and their retries end: they would otherwise hold
    // the batch processor's own export timer (OTEL_BSP_EXPORT_TIMEOUT, 30 s) and the process.
    if (!(await settleWithin(processor.forceFlush(), deadline - counted))) exporter.abort();
    diag.debug(
      `mcplens: flush: ${Math.round(counted - start)} ms for token counts, ${Math.round(performance.now() - counted)} ms to export`,
    );
  };
  const lastFlush = (budgetMs?: number): Promise<void> => {
    // The process is ending: one try per export, no retries.
    exporter.ending();
    return flush(budgetMs);
  };
  if (endsItself) return { source: 'mcplens', tracerProvider: trace.getTracerProvider(), flush: lastFlush };
  installExitFlush({
    flush: () => lastFlush(),
    timeoutMs: config.exitTimeoutMs,
    onTimeout: () => exporter.abort(),
    hasWork: () => unflushed > 0 || processDeferredWork.hasWork(),
  });
  return { source: 'mcplens', tracerProvider: trace.getTracerProvider(), flush };
}

/** Forgets the memoised state. For tests only: a started SDK stays registered. */
export function resetTelemetryStateForTests(): void {
  state = undefined;
}
