/**
 * The idempotency store's interface, shared by the in-memory and the Redis stores. Results are
 * plain JSON values: nothing here knows about MCP or a transport.
 */

/** A JSON value as a tool result is stored and replayed. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** What the handler answered, stored as is (an error answer included). */
export interface StoredResult {
  result: JsonValue;
  /** True when the handler's answer was an error (it is replayed as one). */
  isError: boolean;
}

/** The state of one storage key. */
export type IdempotencyRecord =
  { state: 'absent' } | { state: 'in_progress'; fingerprint: string } | { state: 'done'; fingerprint: string; result: StoredResult };

/** Proof of a won claim, handed back to `complete` or `release`. Opaque to callers. */
export interface IdempotencyClaim {
  readonly key: string;
  /** Unique per claim: only the holder may complete or release it. */
  readonly token: string;
  readonly fingerprint: string;
}

/** The outcome of `claim`: won (run the handler) or the record that was already there. */
export type ClaimOutcome = { won: true; claim: IdempotencyClaim } | { won: false; record: Exclude<IdempotencyRecord, { state: 'absent' }> };

/**
 * Where idempotency records live. Every method may reject with an `IdempotencyStoreError`
 * (store unreachable, slow, full); none rejects for a refused compare-and-set, which is `false`.
 */
export interface IdempotencyStore {
  /**
   * True when records never leave this process: storage keys of at most 256 characters are then
   * handed over as text instead of SHA-256. Otherwise (the default) keys are SHA-256, so no
   * caller identity reaches the store in clear. Fingerprints are SHA-256 for every store.
   */
  readonly inProcess?: boolean;
  /** Atomically claims `key` for one run (a short lease), or returns the record already there. */
  claim(key: string, fingerprint: string): Promise<ClaimOutcome>;
  /** Stores the handler's answer (result TTL) if the claim is still held; false if its lease was lost. */
  complete(claim: IdempotencyClaim, result: StoredResult): Promise<boolean>;
  /** Drops the claim when nothing ran, so the next call may run; false if it was no longer held. */
  release(claim: IdempotencyClaim): Promise<boolean>;
  /** The current record of `key`. */
  get(key: string): Promise<IdempotencyRecord>;
}

/** Default time a finished record is kept: 24 hours. */
export const DEFAULT_RESULT_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Default lease of a claim in progress: 60 s. Set it to the tool timeout plus a margin, so a
 * crashed replica blocks a key only that long.
 */
export const DEFAULT_LEASE_MS = 60_000;
