import { createRequire } from 'node:module';
import { diag, DiagLogLevel, trace, type TracerProvider } from '@opentelemetry/api';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createAdjustedCountSampler } from './adjusted-count-sampler.js';
import { processDeferredWork } from './deferred-work.js';
import { drainDeferred } from './flush.js';
import { settleWithin } from './settle-within.js';
import { installExitFlush } from './exit-flush.js';
import { createOtlpSpanExporter } from './otlp-span-exporter.js';
import { ATTR } from '../contract/index.js';
import { StderrDiagLogger } from './stderr-diag-logger.js';
import { ConfigError } from '../contract/config-error.js';

/** Where spans go when no OTLP endpoint variable is set: a local mcplens collector. */
export const DEFAULT_OTLP_ENDPOINT = 'http://127.0.0.1:4318';

/** What the zero-code entry read from the standard OpenTelemetry variables. */
export interface TelemetryConfig {
  /** `OTEL_SDK_DISABLED=true`: mcplens installs nothing at all. */
  readonly disabled: boolean;
  /** `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`. */
  readonly protocol: 'http/protobuf' | 'http/json';
  /** Set only when neither endpoint variable is: then the exporter reads them itself. */
  readonly tracesUrl: string | undefined;
  /** False for `OTEL_TRACES_EXPORTER=none`: spans are made by nobody. */
  readonly exportTraces: boolean;
  /** Parsed `OTEL_TRACES_SAMPLER` (+ `_ARG`); ratio samplers carry the adjusted count. */
  readonly sampler: SamplerConfig;
  /** `OTEL_METRICS_EXPORTER` is set (and not `none`): let NodeSDK build metric readers from it. */
  readonly metricsFromEnv: boolean;
  /** `OTEL_LOGS_EXPORTER` is set (and not `none`): let NodeSDK build log processors from it. */
  readonly logsFromEnv: boolean;
  /** `OTEL_LOG_LEVEL`, default WARN; diag always goes to stderr. */
  readonly logLevel: DiagLogLevel;
  /** `service.name` came from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`. */
  readonly serviceNameFromEnv: boolean;
  /**
   * `MCPLENS_EXIT_TIMEOUT_MS` (default {@link DEFAULT_EXIT_TIMEOUT_MS}): how long, at most, the
   * process is kept alive at its end (stdin closed, SIGTERM/SIGINT, `beforeExit`) to count the
   * last calls' tokens and export their spans.
   */
  readonly exitTimeoutMs: number;
  /**
   * `MCPLENS_MODULE_HOOKS`: `auto` (default) patches the SDK the entry script resolves, with
   * no ESM loader hook, and installs the loader hook only when it finds none; `loader`
   * always installs it too (for SDK copies loaded from outside the entry's node_modules).
   */
  readonly moduleHooks: 'auto' | 'loader';
}

/** The longest the exit flush waits for outstanding token counts. */
const MAX_TOKEN_WAIT_ON_EXIT_MS = 250;

/** Default of `MCPLENS_EXIT_TIMEOUT_MS`. */
export const DEFAULT_EXIT_TIMEOUT_MS = 1000;
/** Largest accepted `MCPLENS_EXIT_TIMEOUT_MS`: hosts send SIGKILL a few seconds after SIGTERM. */
export const MAX_EXIT_TIMEOUT_MS = 10_000;

/** A sampler as named by `OTEL_TRACES_SAMPLER`. */
export type SamplerConfig =
  | { readonly kind: 'always_on' | 'always_off'; readonly parentBased: boolean }
  | { readonly kind: 'traceidratio'; readonly parentBased: boolean; readonly ratio: number };

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

const SAMPLERS = new Set([
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
]);

const LOG_LEVELS: Readonly<Record<string, DiagLogLevel>> = {
  NONE: DiagLogLevel.NONE,
  ERROR: DiagLogLevel.ERROR,
  WARN: DiagLogLevel.WARN,
  INFO: DiagLogLevel.INFO,
  DEBUG: DiagLogLevel.DEBUG,
  VERBOSE: DiagLogLevel.VERBOSE,
  ALL: DiagLogLevel.ALL,
};

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function configError(name: string, value: string, expected: string): ConfigError {
  return new ConfigError(`mcplens: ${name}=${JSON.stringify(value)} is not supported; expected ${expected}`);
}

/**
 * Reads the standard OpenTelemetry variables the zero-code entry honours. A value it
 * cannot honour throws at start-up, naming the variable and the value.
 */
export function readTelemetryConfig(env: NodeJS.ProcessEnv = process.env): TelemetryConfig {
  const disabledRaw = nonEmpty(env, 'OTEL_SDK_DISABLED');
  const disabled = disabledRaw?.toLowerCase() === 'true';

  const protocolName = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocolRaw = nonEmpty(env, protocolName) ?? 'http/protobuf';
  if (protocolRaw !== 'http/protobuf' && protocolRaw !== 'http/json') {
    throw configError(protocolName, protocolRaw, 'http/protobuf or http/json (grpc is not bundled)');
  }

  const endpointSet =
    nonEmpty(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') !== undefined || nonEmpty(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined;

  const tracesExporter = nonEmpty(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (tracesExporter !== undefined && tracesExporter !== 'otlp' && tracesExporter !== 'none') {
    // console would write spans to stdout, which a stdio MCP server owns.
    throw configError('OTEL_TRACES_EXPORTER', tracesExporter, 'otlp or none');
  }
  const metricsExporter = nonEmpty(env, 'OTEL_METRICS_EXPORTER')?.toLowerCase();
  const logsExporter = nonEmpty(env, 'OTEL_LOGS_EXPORTER')?.toLowerCase();
  for (const [name, value] of [
    ['OTEL_METRICS_EXPORTER', metricsExporter],
    ['OTEL_LOGS_EXPORTER', logsExporter],
  ] as const) {
    if (value?.split(',').some((v) => v.trim() === 'console')) throw configError(name, value, 'an exporter that does not write to stdout');
  }

  const logLevelRaw = nonEmpty(env, 'OTEL_LOG_LEVEL');
  const logLevel = logLevelRaw === undefined ? DiagLogLevel.WARN : LOG_LEVELS[logLevelRaw.toUpperCase()];
  if (logLevel === undefined) throw configError('OTEL_LOG_LEVEL', logLevelRaw ?? '', Object.keys(LOG_LEVELS).join(', '));

  const resourceAttributes = env.OTEL_RESOURCE_ATTRIBUTES ?? '';
  const serviceNameFromEnv =
    nonEmpty(env, 'OTEL_SERVICE_NAME') !== undefined || resourceAttributes.split(',').some((kv) => kv.trim().startsWith('service.name='));

  const exitRaw = nonEmpty(env, 'MCPLENS_EXIT_TIMEOUT_MS');
  const exitTimeoutMs = exitRaw === undefined ? DEFAULT_EXIT_TIMEOUT_MS : Number(exitRaw);
  if (!Number.isInteger(exitTimeoutMs) || exitTimeoutMs < 0 || exitTimeoutMs > MAX_EXIT_TIMEOUT_MS) {
    throw configError('MCPLENS_EXIT_TIMEOUT_MS', exitRaw ?? '', `an integer number of milliseconds from 0 to ${MAX_EXIT_TIMEOUT_MS}`);
  }
  const hooksRaw = nonEmpty(env, 'MCPLENS_MODULE_HOOKS')?.toLowerCase() ?? 'auto';
  if (hooksRaw !== 'auto' && hooksRaw !== 'loader') throw configError('MCPLENS_MODULE_HOOKS', hooksRaw, 'auto or loader');

  return {
    disabled,
    protocol: protocolRaw,
    tracesUrl: endpointSet ? undefined : `${DEFAULT_OTLP_ENDPOINT}/v1/traces`,
    exportTraces: tracesExporter !== 'none',
    sampler: readSamplerConfig(env),
    metricsFromEnv: metricsExporter !== undefined && metricsExporter !== 'none',
    logsFromEnv: logsExporter !== undefined && logsExporter !== 'none',
    logLevel,
    serviceNameFromEnv,
    exitTimeoutMs,
    moduleHooks: hooksRaw,
  };
}

function readSamplerConfig(env: NodeJS.ProcessEnv): SamplerConfig {
  const name = nonEmpty(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  if (!SAMPLERS.has(name)) throw configError('OTEL_TRACES_SAMPLER', name, [...SAMPLERS].join(', '));
  const parentBased = name.startsWith('parentbased_');
  const kind = parentBased ? name.slice('parentbased_'.length) : name;
  if (kind !== 'traceidratio') return { kind: kind as 'always_on' | 'always_off', parentBased };
  const argRaw = nonEmpty(env, 'OTEL_TRACES_SAMPLER_ARG');
  // The specification's default ratio is 1.0.
  const ratio = argRaw === undefined ? 1 : Number(argRaw);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw configError('OTEL_TRACES_SAMPLER_ARG', argRaw ?? '', 'a number in [0, 1]');
  return { kind, parentBased, ratio };
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
 */
export function ensureTelemetryStarted(
  hint: { serviceName?: string | Promise<string> } = {},
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
    state = startOwnSdk(config, hint.serviceName);
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

function startOwnSdk(config: TelemetryConfig, serviceName: string | Promise<string> | undefined): TelemetryState {
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
  installExitFlush({
    flush: () => {
      // The process is ending: one try per export, no retries.
      exporter.ending();
      return flush();
    },
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
