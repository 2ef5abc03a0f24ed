/**
 * The production guards' configuration: the shape of `instrumentServer(server, { guards })` and
 * of the JSON file named by `MCPLENS_GUARDS` (or `--guards`), its JSON Schema, and the check
 * that runs at start-up and names the bad key. Every guard is off unless configured.
 */
import { createRequire } from 'node:module';
import type { ErrorObject } from 'ajv';
import { ConfigError } from '../../contract/config-error.js';
import type { AuthorizationOptions } from './authorization.js';
import { DEFAULT_BREAKER_OPTIONS, type BreakerOptions } from './circuit-breaker.js';
import type { IdempotencyStore } from './idempotency/index.js';

/** Guards of one tool; every field falls back to the top level, then to the built-in default. */
export interface ToolGuardsConfig {
  /** Milliseconds a call may run before the client is answered "timed out"; 0 turns the timeout off. Default 5000. */
  timeoutMs?: number;
  /** The tool's circuit breaker, or false for none. Default: on, with {@link DEFAULT_BREAKER_OPTIONS}. */
  circuitBreaker?: Partial<BreakerOptions> | false;
}

/** Idempotency keys for the write tools named in `tools`. */
export interface IdempotencyConfig {
  /** Per write tool: which argument carries the key (declared by the tool's input schema). */
  tools: Readonly<Record<string, { keyArgument: string }>>;
  /** `memory` (default; bounded, one process), `redis` (with `redisUrl`; shared by replicas), or a store object (in-process only). */
  store?: 'memory' | 'redis' | IdempotencyStore;
  /** `redis://host:port` of the shared store. */
  redisUrl?: string;
  /** How long an answer is kept for retries, in ms. Default 24 h. */
  ttlMs?: number;
  /** How long a call in progress holds its key, in ms. Default: the largest tool timeout plus 30 s. */
  leaseMs?: number;
  /** Records the memory store holds. Default 10,000. */
  maxRecords?: number;
  /** Bound on each Redis round trip, in ms. Default 500. */
  commandTimeoutMs?: number;
  /** A duplicate of a call still running: wait up to this long for its answer (ms), else "in progress, retry". Default 0. */
  waitMs?: number;
  /** The store cannot answer: `refuse` (default, "retry later") or `run` the call without idempotency. */
  whenUnavailable?: 'refuse' | 'run';
}

/** `guards` of {@link InstrumentOptions}: defaults for every tool, and overrides per tool name. */
export interface GuardsConfig extends ToolGuardsConfig {
  tools?: Readonly<Record<string, ToolGuardsConfig>>;
  /** Scoped authorization (HTTP transports): see AuthorizationOptions. */
  authorization?: AuthorizationOptions;
  idempotency?: IdempotencyConfig;
}

/** A tool's guards with every default applied. */
export interface ResolvedToolGuards {
  /** 0: no timeout. */
  readonly timeoutMs: number;
  readonly circuitBreaker: Readonly<BreakerOptions> | undefined;
}

/** Default of {@link ToolGuardsConfig.timeoutMs}. */
export const DEFAULT_TIMEOUT_MS = 5000;
/** Longest timeout accepted (a day): a larger value is a unit mistake. */
const MAX_TIMEOUT_MS = 86_400_000;

const positiveInteger = { type: 'integer', minimum: 1 } as const;
const toolGuardsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    timeoutMs: { type: 'integer', minimum: 0, maximum: MAX_TIMEOUT_MS },
    // false, or an object (object keywords do not apply to a boolean; `not` refuses true).
    circuitBreaker: {
      type: ['boolean', 'object'],
      not: { const: true },
      additionalProperties: false,
      properties: { failures: positiveInteger, windowMs: positiveInteger, coolDownMs: positiveInteger },
    },
  },
} as const;

/** JSON Schema (draft-07) of the guards configuration file. */
export const GUARDS_CONFIG_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'mcplens guards',
  type: 'object',
  additionalProperties: false,
  properties: {
    ...toolGuardsSchema.properties,
    tools: { type: 'object', additionalProperties: toolGuardsSchema },
    // Checked key by key by createAuthorization (authorization.ts), which names the bad one.
    authorization: { type: 'object' },
    idempotency: {
      type: 'object',
      additionalProperties: false,
      required: ['tools'],
      properties: {
        tools: {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['keyArgument'],
            properties: { keyArgument: { type: 'string', minLength: 1 } },
          },
        },
        store: { enum: ['memory', 'redis'] },
        redisUrl: { type: 'string', pattern: '^rediss?://' },
        ttlMs: positiveInteger,
        leaseMs: positiveInteger,
        maxRecords: positiveInteger,
        commandTimeoutMs: positiveInteger,
        waitMs: { type: 'integer', minimum: 0, maximum: MAX_TIMEOUT_MS },
        whenUnavailable: { enum: ['refuse', 'run'] },
      },
    },
  },
} as const;

// Ajv loads only when guards are configured: a server without them never pays its start-up cost.
const requireLazily = createRequire(import.meta.url);
let validate: ((value: unknown) => boolean) & { errors?: ErrorObject[] | null | undefined };

/**
 * Checks a guards configuration (an object, e.g. parsed from the JSON file) and returns it
 * typed. A mistake throws a ConfigError whose message starts with `source` and names the key:
 * `MCPLENS_GUARDS (guards.json): tools.export.timeoutMs: must be <= 86400000`.
 */
export function parseGuardsConfig(value: unknown, source: string): GuardsConfig {
  if (validate === undefined) {
    const { Ajv } = requireLazily('ajv') as typeof import('ajv');
    validate = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, logger: false }).compile(GUARDS_CONFIG_SCHEMA);
  }
  // A store object (in-process only) is not JSON: checked apart.
  const store = (value as { idempotency?: { store?: unknown } } | null)?.idempotency?.store;
  const checked = store !== null && typeof store === 'object' ? withoutStore(value as GuardsConfig) : value;
  if (!validate(checked)) throw new ConfigError(`${source}: ${describe(validate.errors?.[0])}`);
  const config = value as GuardsConfig;
  if (config.idempotency?.store === 'redis' && config.idempotency.redisUrl === undefined) {
    throw new ConfigError(`${source}: idempotency.redisUrl: required with store "redis"`);
  }
  return config;
}

function withoutStore(config: GuardsConfig): GuardsConfig {
  const { store: _store, ...idempotency } = config.idempotency!;
  return { ...config, idempotency };
}

/** One Ajv error as `path: message`, with the offending key for unknown keys. */
function describe(error: ErrorObject | undefined): string {
  if (error === undefined) return 'invalid guards configuration';
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  const where = path === '' ? 'the top level' : path;
  if (error.keyword === 'additionalProperties') {
    const key = (error.params as { additionalProperty: string }).additionalProperty;
    return `${path === '' ? key : `${path}.${key}`}: unknown key (known: ${knownKeys(path).join(', ')})`;
  }
  if (error.keyword === 'required') return `${where}: ${(error.params as { missingProperty: string }).missingProperty} is required`;
  if (error.keyword === 'enum')
    return `${where}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (error.keyword === 'not' || (error.keyword === 'type' && path.endsWith('circuitBreaker')))
    return `${where}: must be false or an object of failures, windowMs, coolDownMs`;
  return `${where}: ${error.message ?? 'is invalid'}`;
}

function knownKeys(path: string): string[] {
  if (path === '') return Object.keys(GUARDS_CONFIG_SCHEMA.properties);
  if (path.endsWith('circuitBreaker')) return ['failures', 'windowMs', 'coolDownMs'];
  if (path === 'idempotency') return Object.keys(GUARDS_CONFIG_SCHEMA.properties.idempotency.properties);
  if (path.startsWith('idempotency.tools.')) return ['keyArgument'];
  return Object.keys(toolGuardsSchema.properties);
}

/** The guards of `tool`: its own settings, else the top level's, else the defaults. */
export function resolveToolGuards(config: GuardsConfig, tool: string): ResolvedToolGuards {
  const own = Object.hasOwn(config.tools ?? {}, tool) ? config.tools![tool]! : undefined;
  const timeoutMs = own?.timeoutMs ?? config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const top = config.circuitBreaker;
  const mine = own?.circuitBreaker;
  const off = mine === false || (mine === undefined && top === false);
  return {
    timeoutMs,
    circuitBreaker: off ? undefined : { ...DEFAULT_BREAKER_OPTIONS, ...(top || {}), ...(mine || {}) },
  };
}
