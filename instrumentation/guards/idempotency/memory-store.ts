/**
 * The default idempotency store: one process's memory, bounded. At the cap the oldest finished
 * record goes; claims in progress are never evicted (a full store of them refuses new claims
 * with a `capacity` error instead). Records expire after their TTL, claims after their lease.
 * Besides the stored answer, a record holds its key (at most 256 characters) and fingerprint.
 */
import { IdempotencyStoreError } from './store-error.js';
import {
  DEFAULT_LEASE_MS,
  DEFAULT_RESULT_TTL_MS,
  type ClaimOutcome,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
  type StoredResult,
} from './types.js';

/** Options of `MemoryIdempotencyStore`. */
export interface MemoryIdempotencyStoreOptions {
  /** Most records held, claims in progress included. Default 10,000. */
  maxRecords?: number;
  /** How long a finished record is kept, in ms. Default 24 h. */
  ttlMs?: number;
  /** How long a claim in progress holds its key, in ms. Default 60 s. */
  leaseMs?: number;
}

type Entry =
  | { state: 'in_progress'; token: string; fingerprint: string; expiresAt: number }
  | { state: 'done'; fingerprint: string; result: StoredResult; expiresAt: number };

/**
 * Claim tokens: they only tell this process's claims apart (a claim never leaves the process), so
 * a counter does what a random UUID did, without the random bytes on every call.
 */
let claimsMade = 0;

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`MemoryIdempotencyStore: ${name} must be a positive integer, got ${value}`);
  return value;
}

/** In-process `IdempotencyStore`: right for one replica; use the Redis store for several. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  /** Short storage keys are kept as text: they never leave the process, and hashing them cost a fifth of a keyed call. */
  readonly inProcess = true;
  private readonly maxRecords: number;
  private readonly ttlMs: number;
  private readonly leaseMs: number;
  private readonly entries = new Map<string, Entry>();
  /**
   * Finished records in completion order (so expiry order, the TTL being one), oldest at `head`.
   * A queue beside the map because evicting by iterating the map from its start walks over the
   * holes its deletions leave, which made every eviction cost grow with the cap.
   */
  private doneQueue: { key: string; entry: Entry }[] = [];
  private head = 0;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.maxRecords = positiveInteger('maxRecords', options.maxRecords ?? 10_000);
    this.ttlMs = positiveInteger('ttlMs', options.ttlMs ?? DEFAULT_RESULT_TTL_MS);
    this.leaseMs = positiveInteger('leaseMs', options.leaseMs ?? DEFAULT_LEASE_MS);
  }

  /** Records held now (expired ones not yet swept included). */
  get size(): number {
    return this.entries.size;
  }

  claim(key: string, fingerprint: string): Promise<ClaimOutcome> {
    const now = Date.now();
    const existing = this.live(key, now);
    if (existing) return Promise.resolve({ won: false, record: toRecord(existing) });
    if (this.entries.size >= this.maxRecords && !this.evictOne(now)) {
      return Promise.reject(new IdempotencyStoreError('capacity', `idempotency store full: ${this.maxRecords} claims in progress`));
    }
    const token = `claim-${++claimsMade}`;
    this.entries.set(key, { state: 'in_progress', token, fingerprint, expiresAt: now + this.leaseMs });
    return Promise.resolve({ won: true, claim: { key, token, fingerprint } });
  }

  complete(claim: IdempotencyClaim, result: StoredResult): Promise<boolean> {
    if (!this.holds(claim)) return Promise.resolve(false);
    const entry: Entry = { state: 'done', fingerprint: claim.fingerprint, result, expiresAt: Date.now() + this.ttlMs };
    this.entries.set(claim.key, entry);
    this.doneQueue.push({ key: claim.key, entry });
    // Records that expired without an eviction leave stale items; drop them before they add up.
    if (this.doneQueue.length - this.head > 2 * this.maxRecords) {
      this.doneQueue = this.doneQueue.slice(this.head).filter((item) => this.entries.get(item.key) === item.entry);
      this.head = 0;
    }
    return Promise.resolve(true);
  }

  release(claim: IdempotencyClaim): Promise<boolean> {
    if (!this.holds(claim)) return Promise.resolve(false);
    this.entries.delete(claim.key);
    return Promise.resolve(true);
  }

  get(key: string): Promise<IdempotencyRecord> {
    const entry = this.live(key, Date.now());
    return Promise.resolve(entry ? toRecord(entry) : { state: 'absent' });
  }

  private holds(claim: IdempotencyClaim): boolean {
    const entry = this.live(claim.key, Date.now());
    return entry?.state === 'in_progress' && entry.token === claim.token;
  }

  /** The entry of `key` unless expired (an expired one is dropped). */
  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drops the oldest finished record, else an expired claim; false when every entry is a live claim. */
  private evictOne(now: number): boolean {
    while (this.head < this.doneQueue.length) {
      const { key, entry } = this.doneQueue[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.doneQueue.length) {
        this.doneQueue = this.doneQueue.slice(this.head);
        this.head = 0;
      }
      // Skip records already gone (expired, or replaced after their expiry by a new claim).
      if (this.entries.get(key) === entry) {
        this.entries.delete(key);
        return true;
      }
    }
    // Only claims left: a slow scan, reached only when the store is full of them.
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(key);
        return true;
      }
    }
    return false;
  }
}

function toRecord(entry: Entry): Exclude<IdempotencyRecord, { state: 'absent' }> {
  return entry.state === 'done'
    ? { state: 'done', fingerprint: entry.fingerprint, result: entry.result }
    : { state: 'in_progress', fingerprint: entry.fingerprint };
}
