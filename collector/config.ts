/**
 * Collector configuration: the defaults (in exactly one place), the validation, and pure
 * parsers for the three sources (CLI flags, `MCPLENS_COLLECTOR_*` environment variables, a
 * JSON config file). Only `main.ts` reads the real argv and environment; everything here
 * takes them as arguments so it can be tested table-driven.
 *
 * Precedence, lowest first: defaults < config file < environment < CLI flags.
 */
import { readFileSync } from 'node:fs';

/** What a user may pass to `createCollector` (every field optional; defaults in {@link DEFAULT_CONFIG}). */
export interface CollectorOptions {
  /** Interface to listen on. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** TCP port; 0 picks a free port. Default 4318 (OTLP/HTTP). */
  port?: number;
  /** Largest accepted request body in bytes, checked before and after gzip decompression (413 past it). Default 64 MiB. */
  maxBodyBytes?: number;
  /** Ingest requests handled at once; one more is answered 429 with Retry-After. Default 64. */
  maxConcurrentIngest?: number;
  /** Resident set size (bytes) past which ingest answers 503 with Retry-After; 0 disables the check. Sampled once a second. Default 0. */
  maxRssBytes?: number;
  /** Seconds put in `Retry-After` on 429 and 503 answers. Default 1. */
  retryAfterSeconds?: number;
  /** Series per metric before new label sets go to the overflow series. Default 10,000. */
  cardinalityLimit?: number;
  /** Window (seconds) within which a well-formed call corrects an earlier malformed one. Default 60. */
  selfCorrectionWindowSeconds?: number;
  /** (session, tool, provider, model) keys tracked for self-correction at once (least recently used forgotten first). Default 10,000. */
  selfCorrectionMaxKeys?: number;
  /** Malformed calls kept in `/api/summary`'s `recentViolations`. Default 50. */
  recentViolations?: number;
  /** Width (seconds) of one trend bucket in `/api/summary`. Default 60. */
  trendBucketSeconds?: number;
  /** Trend buckets kept per provider. Default 30. */
  trendBuckets?: number;
  /** Bearer token required on `POST /v1/traces`; unset means open. */
  ingestToken?: string;
  /** Bearer token required on `/metrics`, `/api/summary` and the status page; unset means open. */
  readToken?: string;
  /** Upstream OTLP/HTTP trace endpoints (full URLs, e.g. `http://tempo:4318/v1/traces`) that receive every accepted body unchanged. Default none. */
  forwardEndpoints?: string[];
  /** Bodies queued per upstream endpoint; past it new bodies are dropped and counted. Default 1,000. */
  forwardQueueSize?: number;
  /** Attempts per body after the first before it is dropped (on 429/502/503/504 or a network error). Default 8. */
  forwardMaxRetries?: number;
  /** First retry delay (ms); doubles per attempt, with jitter, capped by forwardMaxBackoffMs. Default 500. */
  forwardInitialBackoffMs?: number;
  /** Largest retry delay (ms), also the cap on an upstream's Retry-After. Default 30,000. */
  forwardMaxBackoffMs?: number;
  /** Timeout (ms) of one upstream request. Default 10,000. */
  forwardTimeoutMs?: number;
  /** Time (ms) graceful shutdown waits for in-flight requests and the forward queues before cutting connections. Default 10,000. */
  shutdownTimeoutMs?: number;
}

/** The resolved configuration: every field present. */
export type CollectorConfig = Required<Omit<CollectorOptions, 'ingestToken' | 'readToken'>> &
  Pick<CollectorOptions, 'ingestToken' | 'readToken'>;

/** The defaults, in one place. */
export const DEFAULT_CONFIG: Readonly<CollectorConfig> = Object.freeze({
  host: '127.0.0.1',
  port: 4318,
  maxBodyBytes: 64 * 1024 * 1024,
  maxConcurrentIngest: 64,
  maxRssBytes: 0,
  retryAfterSeconds: 1,
  cardinalityLimit: 10_000,
  selfCorrectionWindowSeconds: 60,
  selfCorrectionMaxKeys: 10_000,
  recentViolations: 50,
  trendBucketSeconds: 60,
  trendBuckets: 30,
  ingestToken: undefined,
  readToken: undefined,
  forwardEndpoints: [],
  forwardQueueSize: 1_000,
  forwardMaxRetries: 8,
  forwardInitialBackoffMs: 500,
  forwardMaxBackoffMs: 30_000,
  forwardTimeoutMs: 10_000,
  shutdownTimeoutMs: 10_000,
});

/** A configuration mistake; the message names the key and the bad value. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Kind = 'string' | 'token' | 'port' | 'count' | 'nonNegative' | 'positive' | 'urls';

/** How each key is checked and parsed from text. `count`: integer >= 1; `nonNegative`: integer >= 0; `positive`: number > 0. */
const SCHEMA: Readonly<Record<keyof CollectorOptions, Kind>> = {
  host: 'string',
  port: 'port',
  maxBodyBytes: 'count',
  maxConcurrentIngest: 'count',
  maxRssBytes: 'nonNegative',
  retryAfterSeconds: 'count',
  cardinalityLimit: 'count',
  selfCorrectionWindowSeconds: 'positive',
  selfCorrectionMaxKeys: 'count',
  recentViolations: 'count',
  trendBucketSeconds: 'count',
  trendBuckets: 'count',
  ingestToken: 'token',
  readToken: 'token',
  forwardEndpoints: 'urls',
  forwardQueueSize: 'count',
  forwardMaxRetries: 'nonNegative',
  forwardInitialBackoffMs: 'count',
  forwardMaxBackoffMs: 'count',
  forwardTimeoutMs: 'count',
  shutdownTimeoutMs: 'count',
};

/** Every option key, in declaration order. */
export const CONFIG_KEYS = Object.keys(SCHEMA) as (keyof CollectorOptions)[];

/** `maxBodyBytes` -> `max-body-bytes` (CLI flag). */
export function keyToFlag(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `maxBodyBytes` -> `MCPLENS_COLLECTOR_MAX_BODY_BYTES`. */
export function keyToEnv(key: string): string {
  return `MCPLENS_COLLECTOR_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Levenshtein distance, for "did you mean" hints on typos. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggest(bad: string, candidates: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(bad.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(bad.length / 3)) ? ` (did you mean '${best}'?)` : '';
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

/** Checks one value against its kind; returns the value or throws naming `label`. */
function checkValue(key: keyof CollectorOptions, value: unknown, label: string): unknown {
  const kind = SCHEMA[key];
  const bad = (why: string): never => {
    throw new ConfigError(`${label}: ${describe(value)} is not valid: ${why}`);
  };
  switch (kind) {
    case 'string':
      if (typeof value !== 'string' || value.trim() === '') bad('expected a non-empty string');
      return value;
    case 'token':
      if (typeof value !== 'string' || value.length === 0 || /\s/.test(value)) bad('expected a token without white space');
      return value;
    case 'port':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) bad('expected an integer port from 0 to 65535');
      return value;
    case 'count':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) bad('expected an integer of at least 1');
      return value;
    case 'nonNegative':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) bad('expected an integer of at least 0');
      return value;
    case 'positive':
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) bad('expected a number greater than 0');
      return value;
    case 'urls': {
      if (!Array.isArray(value)) bad('expected a list of http(s) URLs');
      for (const u of value as unknown[]) {
        let url: URL | undefined;
        try {
          url = typeof u === 'string' ? new URL(u) : undefined;
        } catch {
          url = undefined;
        }
        if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
          throw new ConfigError(`${label}: ${describe(u)} is not an http(s) URL`);
        }
      }
      return [...(value as string[])];
    }
  }
}

/**
 * Validates options (from code or a config file) and fills in the defaults. Unknown keys
 * and bad values throw a {@link ConfigError} naming them; `source` says where they came from.
 */
export function resolveConfig(options: unknown = {}, source = 'collector options'): CollectorConfig {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${source}: expected an object, got ${describe(options)}`);
  }
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(SCHEMA, key)) {
      throw new ConfigError(`${source}: unknown key '${key}'${suggest(key, CONFIG_KEYS)}`);
    }
    // `undefined` means "not set" (e.g. an optional field spread from elsewhere).
    if (value === undefined) continue;
    out[key] = checkValue(key as keyof CollectorOptions, value, `${source}: '${key}'`);
  }
  const cfg = out as CollectorConfig;
  if (cfg.forwardMaxBackoffMs < cfg.forwardInitialBackoffMs) {
    throw new ConfigError(
      `${source}: 'forwardMaxBackoffMs' (${cfg.forwardMaxBackoffMs}) must not be less than 'forwardInitialBackoffMs' (${cfg.forwardInitialBackoffMs})`,
    );
  }
  return cfg;
}

/** Turns one text value (flag or environment) into the type its key wants. */
function fromText(key: keyof CollectorOptions, text: string, label: string): unknown {
  const kind = SCHEMA[key];
  if (kind === 'string' || kind === 'token') return text;
  if (kind === 'urls') return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const n = text.trim() === '' ? NaN : Number(text);
  if (Number.isNaN(n)) throw new ConfigError(`${label}: '${text}' is not a number`);
  return n;
}

/** Options from `MCPLENS_COLLECTOR_*` variables; an unknown `MCPLENS_COLLECTOR_*` variable is an error (typos fail loudly). */
export function optionsFromEnv(env: Readonly<Record<string, string | undefined>>): CollectorOptions {
  const byEnv = new Map(CONFIG_KEYS.map((k) => [keyToEnv(k), k]));
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('MCPLENS_COLLECTOR_') || text === undefined) continue;
    if (name === 'MCPLENS_COLLECTOR_CONFIG') continue;
    const key = byEnv.get(name);
    if (!key) throw new ConfigError(`environment: unknown variable ${name}${suggest(name, [...byEnv.keys(), 'MCPLENS_COLLECTOR_CONFIG'])}`);
    out[key] = checkValue(key, fromText(key, text, `environment ${name}`), `environment ${name}`);
  }
  return out as CollectorOptions;
}

/** Result of parsing the command line. */
export interface ParsedArgs {
  options: CollectorOptions;
  /** `--config FILE`, if given. */
  configFile?: string;
  help: boolean;
}

/** Parses `--flag value` / `--flag=value` arguments. `--forward-endpoint` may repeat (or take a comma list). */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const byFlag = new Map<string, keyof CollectorOptions>(CONFIG_KEYS.map((k) => [keyToFlag(k), k]));
  byFlag.set('forward-endpoint', 'forwardEndpoints');
  byFlag.set('forward', 'forwardEndpoints');
  const out: Record<string, unknown> = {};
  let configFile: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(`command line: unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const flag = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let text: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (text === undefined) {
      text = argv[i + 1];
      if (text === undefined || text.startsWith('--')) throw new ConfigError(`command line: --${flag} needs a value`);
      i++;
    }
    if (flag === 'config') {
      configFile = text;
      continue;
    }
    const key = byFlag.get(flag);
    if (!key) throw new ConfigError(`command line: unknown option --${flag}${suggest(flag, [...byFlag.keys(), 'config', 'help'].map((f) => f))}`);
    const label = `command line --${flag}`;
    const value = fromText(key, text, label);
    if (key === 'forwardEndpoints') {
      out[key] = [...((out[key] as string[] | undefined) ?? []), ...(value as string[])];
      checkValue(key, out[key], label);
    } else {
      out[key] = checkValue(key, value, label);
    }
  }
  return { options: out as CollectorOptions, configFile, help };
}

/** Reads a JSON config file; its keys are the option names (camelCase), validated like code options. */
export function optionsFromFile(path: string): CollectorOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: cannot read it (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(err as Error).message})`);
  }
  // Validate now so the message names the file; the merged result is validated again later.
  resolveConfig(parsed, `config file ${path}`);
  return parsed as CollectorOptions;
}

/** Usage text for `mcplens collector --help`, generated from the defaults so it never drifts. */
export function usage(): string {
  const lines = CONFIG_KEYS.map((k) => {
    const d = DEFAULT_CONFIG[k];
    const shown = d === undefined ? '(unset)' : Array.isArray(d) ? (d.length ? d.join(',') : '(none)') : String(d);
    return `  --${keyToFlag(k).padEnd(32)} ${keyToEnv(k).padEnd(52)} default ${shown}`;
  });
  return [
    'Usage: mcplens collector [--config FILE.json] [--option value ...]',
    '',
    'Options (flag, environment variable, default). A JSON config file uses the camelCase names.',
    'Precedence: defaults < config file (--config or MCPLENS_COLLECTOR_CONFIG) < environment < flags.',
    ...lines,
    '  --forward-endpoint URL may repeat.',
  ].join('\n');
}
