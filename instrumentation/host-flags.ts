/**
 * The command-line flags shared by the hosts that observe a server from outside its process
 * (`mcplens wrap`, `mcplens proxy`): what they instrument and where the spans go.
 */
import { ConfigError } from '../contract/config-error.js';
import type { InstrumentOptions } from './types.js';

/** `parseArgs` options of the shared flags. */
export const HOST_FLAG_OPTIONS = {
  'service-name': { type: 'string' },
  provider: { type: 'string' },
  model: { type: 'string' },
  'strict-arguments': { type: 'boolean' },
  'record-content': { type: 'boolean' },
  redact: { type: 'string' },
  log: { type: 'boolean' },
  guards: { type: 'string' },
  'otlp-endpoint': { type: 'string' },
  'otlp-protocol': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Usage lines of the shared flags after `--service-name`. */
export const HOST_FLAGS_USAGE = `  --provider NAME        the LLM provider of every call (gen_ai.provider.name), e.g. openai
  --model NAME           the model of every call (gen_ai.request.model), e.g. gpt-4.1
  --strict-arguments     arguments the schema does not declare are violations (undeclared_argument)
  --record-content       record arguments and results on spans (off by default)
  --redact REGEX         with --record-content: replace every match with [REDACTED]
  --log                  one JSON line per tool call on stderr
  --guards FILE          production guards around tools/call (timeouts, circuit breakers, idempotency,
                         authorization): a JSON file as for MCPLENS_GUARDS (docs/guards.md), which it
                         replaces
  --otlp-endpoint URL    OTLP/HTTP endpoint (sets OTEL_EXPORTER_OTLP_ENDPOINT for mcplens only)
  --otlp-protocol P      http/protobuf or http/json (sets OTEL_EXPORTER_OTLP_PROTOCOL)
  -h, --help             print this help

Each of --provider, --model, --strict-arguments, --record-content, --redact and --log may
also come from the environment as MCPLENS_PROVIDER, ..., MCPLENS_LOG (true/false for switches);
a flag on the command line wins.
`;

/** What the shared flags ask for. */
export interface HostFlags {
  serviceName: string | undefined;
  instrument: InstrumentOptions;
  /** OTEL_* variables the flags set for mcplens' own process. */
  otelEnv: Record<string, string>;
  /** `--guards FILE`: the guards file, in place of `MCPLENS_GUARDS`. */
  guardsFile?: string;
}

/** Reads a flag's value: undefined when absent, a ConfigError when given empty. */
export function flagText(values: Record<string, unknown>, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`--${name} needs a value`);
  return value;
}

/**
 * Flags that may also come from the environment, as `MCPLENS_<FLAG>` (a host entry's `env`
 * block is often easier to edit than its arguments); a flag on the command line wins. The
 * service name and the OTLP endpoint have their standard variables already (`OTEL_*`).
 */
const FROM_ENV = ['provider', 'model', 'strict-arguments', 'record-content', 'redact', 'log'] as const;

/** `strict-arguments` -> `MCPLENS_STRICT_ARGUMENTS`. */
export function flagEnvName(flag: string): string {
  return `MCPLENS_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** The flags' values with the environment's filling the flags not given; a bad value throws a ConfigError naming the variable. */
function withEnvDefaults(values: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const merged = { ...values };
  for (const flag of FROM_ENV) {
    const raw = env[flagEnvName(flag)];
    if (merged[flag] !== undefined || raw === undefined || raw === '') continue;
    if (HOST_FLAG_OPTIONS[flag].type === 'string') {
      merged[flag] = raw;
    } else if (raw === 'true' || raw === 'false') {
      merged[flag] = raw === 'true';
    } else {
      throw new ConfigError(`${flagEnvName(flag)}=${JSON.stringify(raw)} is not supported; expected true or false`);
    }
  }
  return merged;
}

/**
 * The shared flags' meaning, from `parseArgs` values and then the environment (`MCPLENS_PROVIDER`,
 * `MCPLENS_MODEL`, `MCPLENS_STRICT_ARGUMENTS`, `MCPLENS_RECORD_CONTENT`, `MCPLENS_REDACT`,
 * `MCPLENS_LOG`); a mistake throws a ConfigError naming it.
 */
export function readHostFlags(flags: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): HostFlags {
  const values = withEnvDefaults(flags, env);
  const text = (name: string): string | undefined => flagText(values, name);
  const instrument: InstrumentOptions = {};
  const provider = text('provider');
  const model = text('model');
  if (model !== undefined && provider === undefined) throw new ConfigError('--model needs --provider');
  if (provider !== undefined) {
    const fixed = model === undefined ? { provider } : { provider, model };
    instrument.providerResolver = () => fixed;
  }
  if (values['strict-arguments'] === true) instrument.strictArguments = true;
  if (values['record-content'] === true) instrument.recordContent = true;
  const redact = text('redact');
  if (redact !== undefined) {
    if (values['record-content'] !== true) throw new ConfigError('--redact needs --record-content');
    let pattern: RegExp;
    try {
      pattern = new RegExp(redact, 'g');
    } catch (err) {
      throw new ConfigError(`--redact ${JSON.stringify(redact)} is not a regular expression (${(err as Error).message})`);
    }
    instrument.redact = (content) => content.replace(pattern, '[REDACTED]');
  }
  if (values.log === true) instrument.log = true;
  const otelEnv: Record<string, string> = {};
  const endpoint = text('otlp-endpoint');
  if (endpoint !== undefined) {
    if (!/^https?:\/\//.test(endpoint)) throw new ConfigError(`--otlp-endpoint ${JSON.stringify(endpoint)} is not an http(s) URL`);
    otelEnv.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  }
  const protocol = text('otlp-protocol');
  if (protocol !== undefined) otelEnv.OTEL_EXPORTER_OTLP_PROTOCOL = protocol;
  const guardsFile = text('guards');
  return { serviceName: text('service-name'), instrument, otelEnv, ...(guardsFile !== undefined ? { guardsFile } : {}) };
}

/**
 * A `service.name` that is settled later: by the server's `serverInfo.name` when seen, else by
 * a fallback (the command's name, the target's host). Only the first settle counts.
 */
export function laterServiceName(): { name: Promise<string>; settle: (name: string) => void } {
  let settle: (name: string) => void = () => {};
  const name = new Promise<string>((resolve) => {
    settle = (value) => {
      settle = () => {};
      resolve(value);
    };
  });
  return { name, settle: (value) => settle(value) };
}
