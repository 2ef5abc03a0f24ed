/**
 * The idempotency guard's set-up: the configured store (memory, or Redis through a node-redis
 * client of its own), which argument of which tool carries the key, and the answers it gives
 * in the handler's place.
 */
import { diag } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { IdempotencyConfig } from './guard-config.js';
import { MemoryIdempotencyStore, RedisIdempotencyStore, type IdempotencyStore } from './idempotency/index.js';
import { toolError, type ToolErrorResult } from './guard-answers.js';

/** Margin of a claim's lease over the longest tool timeout: a crashed replica frees its keys soon after. */
const LEASE_MARGIN_MS = 30_000;

export interface IdempotencyGuard {
  readonly store: IdempotencyStore;
  readonly waitMs: number;
  readonly failOpen: boolean;
  /** The call's idempotency key: the configured argument of a configured tool, when it is a non-empty string. */
  keyOf(tool: string, args: unknown): string | undefined;
}

/** Builds the guard; `longestTimeoutMs` sizes the default lease. */
export function createIdempotencyGuard(config: IdempotencyConfig, longestTimeoutMs: number): IdempotencyGuard {
  const ttlMs = config.ttlMs;
  const leaseMs = config.leaseMs ?? longestTimeoutMs + LEASE_MARGIN_MS;
  let store: IdempotencyStore;
  if (typeof config.store === 'object') store = config.store;
  else if (config.store === 'redis') store = redisStore(config.redisUrl!, { ttlMs, leaseMs, commandTimeoutMs: config.commandTimeoutMs });
  else store = new MemoryIdempotencyStore({ maxRecords: config.maxRecords, ttlMs, leaseMs });
  const tools = config.tools;
  return {
    store,
    waitMs: config.waitMs ?? 0,
    failOpen: config.whenUnavailable === 'run',
    keyOf(tool, args) {
      if (!Object.hasOwn(tools, tool) || args === null || typeof args !== 'object') return undefined;
      const key = (args as Record<string, unknown>)[tools[tool]!.keyArgument];
      return typeof key === 'string' && key !== '' ? key : undefined;
    },
  };
}

const requireLazily = createRequire(import.meta.url);

/** Delay between two attempts to reach Redis again. */
const RECONNECT_DELAY_MS = 1000;

/**
 * A store on a node-redis client of its own that never keeps the process alive: its socket is
 * unref'd, and it reconnects on an unref'd timer of mcplens' (node-redis' own reconnection
 * waits on ref'd timers, which would keep a finished server running while Redis is down).
 */
function redisStore(url: string, options: { ttlMs?: number; leaseMs: number; commandTimeoutMs?: number }): IdempotencyStore {
  // node-redis (CommonJS) loads only when a Redis store is configured: it takes ~100 ms to load.
  const { createClient } = requireLazily('redis') as typeof import('redis');
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  let warned = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = (): void => {
    client.connect().then(
      () => (warned = false),
      () => reconnectLater(),
    );
  };
  const reconnectLater = (): void => {
    if (retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      if (!client.isOpen) connect();
    }, RECONNECT_DELAY_MS);
    retry.unref();
  };
  client.on('error', (err: Error) => {
    // One warning per outage; keyed calls are refused (or run, if configured) meanwhile.
    if (!warned) diag.warn(`mcplens: the idempotency store's Redis at ${url} is unreachable (${err.message})`);
    warned = true;
    reconnectLater();
  });
  // Unref'd before connecting: node-redis applies it to every socket it opens.
  client.unref();
  connect();
  return new RedisIdempotencyStore({ client, ...options });
}

/** The same key was used with other arguments. */
export function conflict(key: string): ToolErrorResult {
  return toolError(`Idempotency key "${key}" was already used with different arguments; use a new key for a different request.`);
}

/** The first call with this key is still running. */
export function inProgress(key: string): ToolErrorResult {
  return toolError(`A call with idempotency key "${key}" is still in progress; retry in a moment with the same key.`);
}

/** The store could not answer and the configuration fails closed. */
export function storeUnavailable(): ToolErrorResult {
  return toolError('The idempotency store is unavailable; nothing was done; retry later with the same key.');
}
