/**
 * Collector configuration: the options with their defaults and meanings (in exactly one
 * place, {@link COLLECTOR_OPTIONS}), the validation, and pure
 * parsers for the three sources (CLI flags, `MCPLENS_COLLECTOR_*` environment variables, a
 * JSON config file). Only `main.ts` reads the real argv and environment; everything here
 * takes them as arguments so it can be tested table-driven.
 *
 * Precedence, lowest first: defaults < config file < environment < CLI flags.
 */
import { readFileSync } from 'node:fs';
import { parseArgs as parseCommandLine } from 'node:util';
import { LABEL_VALUE_LIMIT, METRICS, OVERFLOW_LABEL_VALUE } from '../contract/index.js';
import { ConfigError } from '../contract/config-error.js';

/** What a user may pass to `createCollector` (every field optional; defaults in {@link COLLECTOR_OPTIONS}). */
export interface CollectorOptions {
  /** Interface to listen on. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** TCP port; 0 picks a free port. Default 4318 (OTLP/HTTP). */
  port?: number;
  /** Largest accepted request body in bytes, checked before and after gzip decompression (413 past it). Default 16 MiB. */
  maxBodyBytes?: number;
  /**
   * Bytes that ingest requests may hold at once, all together: bodies as read, as inflated, and
   * an upper bound of what decoding builds. A request that does not fit is answered 429 with
   * Retry-After, before its bytes are read or inflated. Default 80 MiB.
   */
  maxInflightBytes?: number;
  /** Time (ms) a request body has to arrive in full (408 past it, freeing its slot); also the server's headers timeout. Default 10,000. */
  bodyTimeoutMs?: number;
  /** Open connections at most (each costs about 25 KB); past it new ones are closed at once. Default 512. */
  maxConnections?: number;
  /** Ingest requests handled at once; one more is answered 429 with Retry-After. Default 64. */
  maxConcurrentIngest?: number;
  /** Resident set size (bytes) past which ingest answers 503 with Retry-After; 0 disables the check. Sampled once a second. Default 0. */
  maxRssBytes?: number;
  /** Seconds put in `Retry-After` on 429 and 503 answers. Default 1. */
  retryAfterSeconds?: number;
  /** Series per metric before new label sets go to the overflow series. Default 10,000. */
  cardinalityLimit?: number;
  /** Longest label value in UTF-8 bytes; longer ones are cut and end with `…~` and a hash of the whole value (counted). At least 32. Default 256. */
  maxLabelValueBytes?: number;
  /** Window (seconds) within which a well-formed call corrects an earlier malformed one. Default 60. */
  selfCorrectionWindowSeconds?: number;
  /** (session, tool, provider, model) keys tracked for self-correction at once (least recently used forgotten first). Default 10,000. */
  selfCorrectionMaxKeys?: number;
  /**
   * Seconds after its last transition (event time) a series of `mcp_tool_circuit_breaker_state`,
   * whatever its state, is removed (also from `/api/summary`'s `openBreakers`); a later transition
   * creates it again. A live replica with traffic half-opens an open breaker after its cool-down,
   * so a long silence means no calls or no replica: unknown, not open. Default 900 (15 minutes).
   */
  breakerStateTtlSeconds?: number;
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
  /**
   * On SIGTERM/SIGINT (or `Collector.drain()`), once ingest is refused (503 with Retry-After),
   * time (ms) to wait for one scrape of `/metrics` rendered after the last acknowledged ingest, so
   * Prometheus holds every span this collector answered 200 for. No wait when nothing was
   * acknowledged since the last scrape, or when `/metrics` was never scraped; 0 disables it. Default 15,000.
   */
  shutdownScrapeWaitMs?: number;
  /**
   * `Host` values allowed besides localhost, 127.0.0.1, [::1] and the listen address (those with
   * the listening port): `name` (any port) or `name:port`. The check (DNS-rebinding protection,
   * 403 otherwise) is on when the collector listens on loopback or this is set. Default none.
   */
  allowedHosts?: string[];
  /**
   * Trace viewer link for the status page's trace ids: an http(s) URL holding the placeholder
   * {@link TRACE_ID_PLACEHOLDER}, which is replaced by the (URL-encoded) trace id, e.g.
   * `http://tempo:3200/trace/{traceId}`. Unset: trace ids are shown as plain text.
   */
  traceUrlTemplate?: string;
}

/** Where {@link CollectorOptions.traceUrlTemplate} puts the trace id. */
export const TRACE_ID_PLACEHOLDER = '{traceId}';

/** The resolved configuration: every field present. */
export type CollectorConfig = Required<Omit<CollectorOptions, 'ingestToken' | 'readToken' | 'traceUrlTemplate'>> &
  Pick<CollectorOptions, 'ingestToken' | 'readToken' | 'traceUrlTemplate'>;

type Kind = 'string' | 'token' | 'port' | 'count' | 'nonNegative' | 'positive' | 'urls' | 'hosts' | 'urlTemplate';

/** One option: how it is checked and parsed from text, its default, and what it means. */
export interface OptionSpec<V> {
  /**
   * `count`: integer >= 1; `nonNegative`: integer >= 0; `positive`: number > 0; `urls`: http(s) URLs; `hosts`: `name` or
   * `name:port`; `urlTemplate`: an http(s) URL holding {@link TRACE_ID_PLACEHOLDER}.
   */
  readonly kind: Kind;
  readonly default: V;
  /** One line for `mcplens collector --help`. */
  readonly meaning: string;
}

/**
 * Every option in one place: kind, default and meaning. The defaults ({@link DEFAULT_CONFIG}),
 * the validation and the `--help` text ({@link usage}) all come from this table.
 */
export const COLLECTOR_OPTIONS: { readonly [K in keyof CollectorOptions]-?: OptionSpec<CollectorConfig[K]> } = {
  host: { kind: 'string', default: '127.0.0.1', meaning: 'interface to listen on (0.0.0.0: every interface)' },
  port: { kind: 'port', default: 4318, meaning: 'TCP port to listen on (0: any free port)' },
  maxBodyBytes: {
    kind: 'count',
    default: 16 * 1024 * 1024,
    meaning: 'body limit, checked before and after gzip decompression (413 past it)',
  },
  maxInflightBytes: {
    kind: 'count',
    default: 80 * 1024 * 1024,
    meaning: 'bytes all ingest requests may hold at once (bodies, inflated, decoded); past it 429 with Retry-After',
  },
  bodyTimeoutMs: { kind: 'count', default: 10_000, meaning: 'time a request body has to arrive (408 past it); also the headers timeout' },
  maxConnections: {
    kind: 'count',
    default: 512,
    meaning: 'open connections at most (about 25 KB each); past it new ones are closed at once',
  },
  maxConcurrentIngest: { kind: 'count', default: 64, meaning: 'ingest requests in flight; past it 429 with Retry-After' },
  maxRssBytes: { kind: 'nonNegative', default: 0, meaning: 'resident memory past which ingest answers 503 with Retry-After (0: off)' },
  retryAfterSeconds: { kind: 'count', default: 1, meaning: 'the Retry-After value of 429 and 503 answers' },
  cardinalityLimit: {
    kind: 'count',
    default: 10_000,
    meaning: `series per metric; past it new label sets go to one ${OVERFLOW_LABEL_VALUE} series (counted)`,
  },
  maxLabelValueBytes: {
    kind: 'count',
    default: LABEL_VALUE_LIMIT.DEFAULT_MAX_BYTES,
    meaning: `longest label value (UTF-8 bytes, at least ${LABEL_VALUE_LIMIT.MIN_MAX_BYTES}); longer ones end with ${LABEL_VALUE_LIMIT.MARKER} and a hash (counted)`,
  },
  selfCorrectionWindowSeconds: { kind: 'positive', default: 60, meaning: `window of ${METRICS.TOOL_SELF_CORRECTIONS.name}` },
  selfCorrectionMaxKeys: {
    kind: 'count',
    default: 10_000,
    meaning: '(session, tool, provider, model) keys remembered for it, least recently used forgotten first',
  },
  breakerStateTtlSeconds: {
    kind: 'positive',
    default: 900,
    meaning: `${METRICS.TOOL_CIRCUIT_BREAKER_STATE.name} series with no transition for this long are removed (replica gone or idle)`,
  },
  recentViolations: { kind: 'count', default: 50, meaning: 'recent malformed calls kept for the summary and status page' },
  trendBucketSeconds: { kind: 'count', default: 60, meaning: "width of one bucket of the summary's malformed-ratio trend" },
  trendBuckets: { kind: 'count', default: 30, meaning: 'buckets of that trend per provider' },
  ingestToken: { kind: 'token', default: undefined, meaning: 'bearer token required on /v1/traces (401 without it)' },
  readToken: { kind: 'token', default: undefined, meaning: 'bearer token required on /metrics, /api/summary and / (401 without it)' },
  forwardEndpoints: {
    kind: 'urls',
    default: [],
    meaning: 're-send received OTLP bodies unchanged upstream (Tempo, another collector); repeatable',
  },
  forwardQueueSize: {
    kind: 'count',
    default: 1_000,
    meaning: 'bounded forward queue per endpoint; a full queue drops (counted), never slows ingest',
  },
  forwardMaxRetries: {
    kind: 'nonNegative',
    default: 8,
    meaning: 'retries of a body on 429/502/503/504 or a network error before it is dropped',
  },
  forwardInitialBackoffMs: {
    kind: 'count',
    default: 500,
    meaning: "first retry delay; doubles per attempt, with jitter, honouring the upstream's Retry-After",
  },
  forwardMaxBackoffMs: { kind: 'count', default: 30_000, meaning: "largest retry delay (also the cap on an upstream's Retry-After)" },
  forwardTimeoutMs: { kind: 'count', default: 10_000, meaning: 'timeout of one upstream request' },
  shutdownTimeoutMs: {
    kind: 'count',
    default: 10_000,
    meaning: 'on SIGTERM/SIGINT, time in-flight requests and forward queues get to finish',
  },
  shutdownScrapeWaitMs: {
    kind: 'nonNegative',
    default: 15_000,
    meaning:
      'on SIGTERM/SIGINT, ingest refused (503), wait up to this for a scrape of /metrics after the last acknowledged ingest (0: no wait)',
  },
  allowedHosts: {
    kind: 'hosts',
    default: [],
    meaning: 'Host values allowed besides localhost/127.0.0.1/[::1]/the listen address (name or name:port; comma list); others get 403',
  },
  traceUrlTemplate: {
    kind: 'urlTemplate',
    default: undefined,
    meaning:
      `link the status page's trace ids to a trace viewer: an http(s) URL with ${TRACE_ID_PLACEHOLDER} ` +
      `(e.g. http://tempo:3200/trace/${TRACE_ID_PLACEHOLDER})`,
  },
};

/** Every option key, in declaration order. */
export const CONFIG_KEYS = Object.keys(COLLECTOR_OPTIONS) as (keyof CollectorOptions)[];

/** The defaults (from {@link COLLECTOR_OPTIONS}). */
export const DEFAULT_CONFIG: Readonly<CollectorConfig> = Object.freeze(
  Object.fromEntries(CONFIG_KEYS.map((k) => [k, COLLECTOR_OPTIONS[k].default])) as unknown as CollectorConfig,
);

export { ConfigError };

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

function suggest(bad: string, candidates: readonly string[], show: (candidate: string) => string = (c) => `'${c}'`): string {
  let best = '';
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(bad.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(bad.length / 3)) ? ` (did you mean ${show(best)}?)` : '';
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : (JSON.stringify(value) ?? String(value));
}

/** Checks one value against its kind; returns the value or throws naming `label`. */
function checkValue(key: keyof CollectorOptions, value: unknown, label: string): unknown {
  const kind = COLLECTOR_OPTIONS[key].kind;
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
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535)
        bad('expected an integer port from 0 to 65535');
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
    case 'hosts': {
      if (!Array.isArray(value)) bad('expected a list of host names');
      for (const h of value as unknown[]) {
        // The shape parseHost (http-security.ts) accepts: name, name:port, [v6], [v6]:port.
        const m = typeof h === 'string' ? /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(h) : null;
        if (!m || (m[2] !== undefined && Number(m[2]) > 65535)) {
          throw new ConfigError(`${label}: ${describe(h)} is not a host name or host:port (no scheme, no path)`);
        }
      }
      return (value as string[]).map((h) => h.toLowerCase());
    }
    case 'urlTemplate': {
      const why = `expected an http(s) URL containing ${TRACE_ID_PLACEHOLDER}`;
      if (typeof value !== 'string' || !value.includes(TRACE_ID_PLACEHOLDER)) bad(why);
      let url: URL | undefined;
      try {
        // A sample id in place of the placeholder: the link the page will make must be a URL.
        url = new URL((value as string).split(TRACE_ID_PLACEHOLDER).join('0af7651916cd43dd8448eb211c80319c'));
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) bad(why);
      return value;
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
    if (!Object.hasOwn(COLLECTOR_OPTIONS, key)) {
      throw new ConfigError(`${source}: unknown key '${key}'${suggest(key, CONFIG_KEYS)}`);
    }
    // `undefined` means "not set" (e.g. an optional field spread from elsewhere).
    if (value === undefined) continue;
    out[key] = checkValue(key as keyof CollectorOptions, value, `${source}: '${key}'`);
  }
  const cfg = out as CollectorConfig;
  if (cfg.maxLabelValueBytes < LABEL_VALUE_LIMIT.MIN_MAX_BYTES) {
    throw new ConfigError(
      `${source}: 'maxLabelValueBytes' (${cfg.maxLabelValueBytes}) must be at least ${LABEL_VALUE_LIMIT.MIN_MAX_BYTES}`,
    );
  }
  if (cfg.forwardMaxBackoffMs < cfg.forwardInitialBackoffMs) {
    throw new ConfigError(
      `${source}: 'forwardMaxBackoffMs' (${cfg.forwardMaxBackoffMs}) must not be less than 'forwardInitialBackoffMs' (${cfg.forwardInitialBackoffMs})`,
    );
  }
  return cfg;
}

/** Turns one text value (flag or environment) into the type its key wants. */
function fromText(key: keyof CollectorOptions, text: string, label: string): unknown {
  const kind = COLLECTOR_OPTIONS[key].kind;
  if (kind === 'string' || kind === 'token' || kind === 'urlTemplate') return text;
  if (kind === 'urls' || kind === 'hosts')
    return text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
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
  /** `--help` / `-h`: print {@link usage} and stop (option values are then not validated). */
  help: boolean;
  /** `--version`: print the version and stop (likewise). */
  version: boolean;
}

/** The flag each option is documented under, where it is not the key's own (`--forward-endpoint` is used once per URL). */
const PRIMARY_FLAG: Partial<Record<keyof CollectorOptions, string>> = { forwardEndpoints: 'forward-endpoint' };

/** Every option flag (without `--`) and its key: the key's own flag, plus the documented one where they differ. */
function optionFlags(): Map<string, keyof CollectorOptions> {
  const flags = new Map<string, keyof CollectorOptions>();
  for (const k of CONFIG_KEYS) {
    flags.set(keyToFlag(k), k);
    const primary = PRIMARY_FLAG[k];
    if (primary !== undefined) flags.set(primary, k);
  }
  return flags;
}

/** How a command-line mistake ends: naming it, and where the options are listed. */
function usageError(what: string): ConfigError {
  return new ConfigError(`command line: ${what}; 'mcplens collector --help' lists the options`);
}

/**
 * Parses the arguments after `mcplens collector` with `node:util`'s parseArgs: `--flag value`
 * or `--flag=value`; `--forward-endpoint` may repeat (and each may be a comma list); `--config
 * FILE`, `--help` (`-h`), `--version`. An unknown option, an option without its value and a
 * positional argument throw a {@link ConfigError} naming them; values are validated like every
 * other source, unless `--help` or `--version` was given.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const flags = optionFlags();
  const spec: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  };
  for (const [flag, key] of flags) spec[flag] = { type: 'string', multiple: COLLECTOR_OPTIONS[key].kind === 'urls' };
  // Not strict: the tokens let this name an unknown option itself, instead of parseArgs'
  // strict mode, which takes `--bogus value` for an option missing its value.
  const { tokens } = parseCommandLine({ args: [...argv], options: spec, strict: false, allowPositionals: true, tokens: true });
  const given: Array<{ flag: string; text: string }> = [];
  let configFile: string | undefined;
  let help = false;
  let version = false;
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') throw usageError(`unexpected argument '${token.value}'`);
    // Own keys only: `--constructor` is no option.
    const known = Object.hasOwn(spec, token.name) ? spec[token.name] : undefined;
    if (known === undefined) {
      throw usageError(`unknown option ${token.rawName}${suggest(token.name, Object.keys(spec), (f) => `--${f}`)}`);
    }
    if (known.type === 'boolean') {
      if (token.value !== undefined) throw usageError(`${token.rawName} takes no value`);
      if (token.name === 'help') help = true;
      else version = true;
      continue;
    }
    // parseArgs takes the next argument as the value even when it is the next option.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('--')))
      throw usageError(`${token.rawName} needs a value`);
    if (token.name === 'config') configFile = token.value;
    else given.push({ flag: token.name, text: token.value });
  }
  if (help || version) return { options: {}, configFile, help, version };
  const out: Record<string, unknown> = {};
  for (const { flag, text } of given) {
    const key = flags.get(flag)!;
    const label = `command line --${flag}`;
    const value = fromText(key, text, label);
    if (COLLECTOR_OPTIONS[key].kind === 'urls') {
      out[key] = [...((out[key] as string[] | undefined) ?? []), ...(value as string[])];
      checkValue(key, out[key], label);
    } else {
      // The last use of a flag wins.
      out[key] = checkValue(key, value, label);
    }
  }
  return { options: out as CollectorOptions, configFile, help, version };
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

/** Placeholder of an option's value in {@link usage}. */
function placeholder(key: keyof CollectorOptions): string {
  const kind = COLLECTOR_OPTIONS[key].kind;
  if (kind === 'urls' || kind === 'urlTemplate') return 'URL';
  if (kind === 'hosts') return 'HOST,...';
  if (kind === 'token') return 'TOKEN';
  if (kind === 'port') return 'PORT';
  if (kind === 'string') return key.toUpperCase();
  if (key.endsWith('Ms')) return 'MS';
  if (key.endsWith('Seconds')) return 'SECONDS';
  if (key.endsWith('Bytes')) return 'BYTES';
  return 'N';
}

/** A default as `--help` shows it. */
function shownDefault(value: unknown): string {
  if (value === undefined) return 'unset';
  if (Array.isArray(value)) return value.length > 0 ? value.join(',') : 'none';
  const MiB = 1024 * 1024;
  if (typeof value === 'number' && value >= MiB && value % MiB === 0) return `${value} (${value / MiB} MiB)`;
  return String(value);
}

/**
 * Usage text for `mcplens collector --help`: every option with its meaning, default,
 * environment variable and config-file key, from {@link COLLECTOR_OPTIONS} (so it never drifts).
 */
export function usage(): string {
  const width = 36;
  // A flag too long for its column gets the meaning on a line of its own.
  const line = (left: string, right: string): string =>
    `  ${left.padEnd(width - 2)}${left.length > width - 4 ? `\n${' '.repeat(width)}` : ''}${right}`;
  const options = CONFIG_KEYS.flatMap((k) => {
    const spec = COLLECTOR_OPTIONS[k];
    const flag = PRIMARY_FLAG[k] ?? keyToFlag(k);
    const alias = PRIMARY_FLAG[k] === undefined ? '' : `; also --${keyToFlag(k)}`;
    return [
      line(`--${flag} ${placeholder(k)}`, spec.meaning),
      `${' '.repeat(width)}default ${shownDefault(spec.default)}; ${keyToEnv(k)}; config key ${k}${alias}`,
    ];
  });
  return [
    'Usage: mcplens collector [options]',
    '',
    'Receives OTLP/HTTP traces from instrumented MCP servers and serves Prometheus metrics',
    '(/metrics), a JSON summary (/api/summary) and a status page (/).',
    '',
    'Each option is also an environment variable and a key of a JSON config file (shown).',
    'Precedence: defaults < config file < environment < flags.',
    '',
    line('--config FILE', 'JSON config file (or MCPLENS_COLLECTOR_CONFIG); unknown keys are errors'),
    ...options,
    line('-h, --help', 'print this text'),
    line('--version', 'print the version of mcplens'),
  ].join('\n');
}
