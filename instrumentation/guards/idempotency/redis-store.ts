/**
 * The idempotency store shared by replicas: Redis. A claim is `SET key <claim> NX PX <lease>`
 * (in a script that returns the existing value when the key is taken, so claim-or-read is one
 * atomic round trip); complete and release are compare-and-set / compare-and-delete scripts on
 * the exact claim value, whose random owner token makes a late owner's write a no-op.
 *
 * Every command is bounded by `commandTimeoutMs`: a down or slow Redis rejects with an
 * `IdempotencyStoreError` instead of waiting in the client's offline queue.
 */
import { randomUUID } from 'node:crypto';
import { IdempotencyStoreError, type IdempotencyStoreErrorKind } from './store-error.js';
import {
  DEFAULT_LEASE_MS,
  DEFAULT_RESULT_TTL_MS,
  type ClaimOutcome,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
  type StoredResult,
} from './types.js';

/**
 * The one method the store needs of a Redis client: a node-redis (`redis` package) client fits.
 * Give that client an `error` listener: node-redis emits `error` on every lost connection.
 */
export interface RedisCommandSender {
  sendCommand(args: readonly string[]): Promise<unknown>;
}

/** Options of `RedisIdempotencyStore`. */
export interface RedisIdempotencyStoreOptions {
  /** A connected client (e.g. `await createClient({url}).on('error', log).connect()`); the caller owns it. */
  client: RedisCommandSender;
  /** Prefix of every key. Default `mcplens:idem:`. */
  prefix?: string;
  /** How long a finished record is kept, in ms. Default 24 h. */
  ttlMs?: number;
  /** How long a claim in progress holds its key, in ms (tool timeout plus a margin). Default 60 s. */
  leaseMs?: number;
  /** Bound on each Redis round trip, in ms. Default 500. */
  commandTimeoutMs?: number;
}

// SET NX fails only when the key exists, and the script is atomic, so GET then returns a value.
const CLAIM_SCRIPT = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])`;
const COMPLETE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// Stored values: "p\n<token>\n<fingerprint>" for a claim, "d\n<fingerprint>\n<0|1>\n<JSON>" when done.
// Tokens (UUIDs) and fingerprints (base64url) hold no newline.
const claimValue = (claim: IdempotencyClaim): string => `p\n${claim.token}\n${claim.fingerprint}`;
const doneValue = (fingerprint: string, stored: StoredResult): string =>
  `d\n${fingerprint}\n${stored.isError ? 1 : 0}\n${JSON.stringify(stored.result) ?? 'null'}`;

function parseValue(key: string, value: string): Exclude<IdempotencyRecord, { state: 'absent' }> {
  const [state, first, second] = value.split('\n', 3);
  if (state === 'p' && first !== undefined && second !== undefined) return { state: 'in_progress', fingerprint: second };
  if (state === 'd' && first !== undefined && second !== undefined) {
    const json = value.slice(state.length + first.length + second.length + 3);
    try {
      return { state: 'done', fingerprint: first, result: { result: JSON.parse(json) as StoredResult['result'], isError: second === '1' } };
    } catch (error) {
      throw new IdempotencyStoreError('server', `idempotency: unreadable result at ${key}`, { cause: error });
    }
  }
  throw new IdempotencyStoreError('server', `idempotency: unreadable record at ${key}`);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`RedisIdempotencyStore: ${name} must be a positive integer, got ${value}`);
  return value;
}

/** `server` for a node-redis error reply (matched by class name: this module does not load the client), else `connection`. */
function errorKind(error: unknown): IdempotencyStoreErrorKind {
  for (let proto: unknown = Object.getPrototypeOf(error); proto; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === 'ErrorReply') return 'server';
  }
  return 'connection';
}

/** `IdempotencyStore` in Redis, for several replicas behind one endpoint. */
export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly client: RedisCommandSender;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly leaseMs: number;
  private readonly commandTimeoutMs: number;

  constructor(options: RedisIdempotencyStoreOptions) {
    this.client = options.client;
    this.prefix = options.prefix ?? 'mcplens:idem:';
    this.ttlMs = positiveInteger('ttlMs', options.ttlMs ?? DEFAULT_RESULT_TTL_MS);
    this.leaseMs = positiveInteger('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS);
    this.commandTimeoutMs = positiveInteger('commandTimeoutMs', options.commandTimeoutMs ?? 500);
  }

  async claim(key: string, fingerprint: string): Promise<ClaimOutcome> {
    const claim: IdempotencyClaim = { key, token: randomUUID(), fingerprint };
    const existing = await this.send(['EVAL', CLAIM_SCRIPT, '1', this.prefix + key, claimValue(claim), String(this.leaseMs)]);
    if (existing === null) return { won: true, claim };
    return { won: false, record: parseValue(key, String(existing)) };
  }

  async complete(claim: IdempotencyClaim, result: StoredResult): Promise<boolean> {
    const args = [claimValue(claim), doneValue(claim.fingerprint, result), String(this.ttlMs)];
    return (await this.send(['EVAL', COMPLETE_SCRIPT, '1', this.prefix + claim.key, ...args])) === 1;
  }

  async release(claim: IdempotencyClaim): Promise<boolean> {
    return (await this.send(['EVAL', RELEASE_SCRIPT, '1', this.prefix + claim.key, claimValue(claim)])) === 1;
  }

  async get(key: string): Promise<IdempotencyRecord> {
    const value = await this.send(['GET', this.prefix + key]);
    return value === null ? { state: 'absent' } : parseValue(key, String(value));
  }

  /** One command, bounded; every failure becomes an `IdempotencyStoreError`. */
  private async send(args: readonly string[]): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new IdempotencyStoreError('timeout', `idempotency: Redis did not answer within ${this.commandTimeoutMs} ms`)),
        this.commandTimeoutMs,
      );
    });
    try {
      const reply = Promise.resolve().then(() => this.client.sendCommand(args));
      // A reply that fails after the timeout answered is of no interest.
      reply.catch(() => undefined);
      return await Promise.race([reply, timeout]);
    } catch (error) {
      if (error instanceof IdempotencyStoreError) throw error;
      throw new IdempotencyStoreError(errorKind(error), `idempotency: Redis failed: ${(error as Error).message}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}
