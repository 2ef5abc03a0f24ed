/**
 * The standard OpenTelemetry variables (and mcplens' own) that the zero-code entry and the hosts
 * outside the server's process honour, read and validated at start-up. Kept apart from the
 * bootstrap so that reading them loads no SDK: `mcplens wrap` checks them before it starts the server.
 */
import { DiagLogLevel } from '@opentelemetry/api';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../contract/config-error.js';
import { parseGuardsConfig, type GuardsConfig } from './guards/guard-config.js';

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
  /** `MCPLENS_GUARDS`: path of a JSON file of production guards (docs/guards.md), checked at start-up. */
  readonly guards: GuardsConfig | undefined;
}

/** Default of `MCPLENS_EXIT_TIMEOUT_MS`. */
export const DEFAULT_EXIT_TIMEOUT_MS = 1000;
/** Largest accepted `MCPLENS_EXIT_TIMEOUT_MS`: hosts send SIGKILL a few seconds after SIGTERM. */
export const MAX_EXIT_TIMEOUT_MS = 10_000;

/** A sampler as named by `OTEL_TRACES_SAMPLER`. */
export type SamplerConfig =
  | { readonly kind: 'always_on' | 'always_off'; readonly parentBased: boolean }
  | { readonly kind: 'traceidratio'; readonly parentBased: boolean; readonly ratio: number };

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
    guards: readGuardsFile(nonEmpty(env, 'MCPLENS_GUARDS')),
  };
}

/** The guards file named by `MCPLENS_GUARDS` (or `from`, e.g. a `--guards` flag): read, parsed and checked, or a ConfigError naming the file and the key. */
export function readGuardsFile(path: string | undefined, from = 'MCPLENS_GUARDS'): GuardsConfig | undefined {
  if (path === undefined) return undefined;
  const source = `mcplens: ${from} (${path})`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${source}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not JSON (${(err as Error).message})`);
  }
  return parseGuardsConfig(value, source);
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
