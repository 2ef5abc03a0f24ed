/**
 * The guard's one step before a write tool runs: claim its idempotency key, or say why it must
 * not run (a replay of the stored answer, a conflict, a duplicate in progress, a store that
 * cannot answer). Transport-agnostic: the caller maps each outcome to its own answer.
 */
import { fingerprintArguments, hashedIdentity, idempotencyStorageKey, textIdentity } from './fingerprint.js';
import { IdempotencyStoreError } from './store-error.js';
import type { IdempotencyRecord, IdempotencyStore, JsonValue } from './types.js';

/** One call of a write tool carrying an idempotency key. */
export interface IdempotentCall {
  /** The caller's identity (e.g. a token's subject) when there is one: records never cross scopes. */
  scope?: string;
  tool: string;
  key: string;
  /** The call's arguments: their canonical JSON decides "same call" (key order ignored). */
  args: unknown;
}

/** Options of `beginIdempotent`. */
export interface BeginIdempotentOptions {
  /** How long a duplicate waits for the first call to finish, in ms (0: refuse at once). Default 0. */
  waitMs?: number;
  /** Poll interval while waiting, in ms. Default 25. */
  pollMs?: number;
}

/** The holder of a claim: exactly one of its methods should be called, once. */
export interface IdempotentRun {
  kind: 'run';
  /**
   * Stores the handler's answer (errors included), also when it comes late, after a timeout
   * already answered the client. Resolves false when the lease was lost (another owner took
   * the key) and nothing was stored; rejects with `IdempotencyStoreError` when the store failed.
   */
  complete(result: JsonValue, isError: boolean): Promise<boolean>;
  /** Frees the key when the handler never started (nothing to store), so a retry may run. */
  release(): Promise<boolean>;
}

/** What `beginIdempotent` decided. Refusals (every kind but `run`) are never stored. */
export type IdempotentBegin =
  | IdempotentRun
  /** The same call already ran: answer this, do not run the handler. */
  | { kind: 'replay'; result: JsonValue; isError: boolean }
  /** The key was used with different arguments. */
  | { kind: 'conflict' }
  /** The same call is running now (and did not finish within `waitMs`). */
  | { kind: 'in_progress' }
  /** The store could not answer: refuse with "retry later" (fail closed) or run without it (fail open). */
  | { kind: 'unavailable'; error: IdempotencyStoreError };

// A record can vanish between a refused claim and the read (expiry): a few tries, never a loop.
const MAX_CLAIM_TRIES = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Claims `call.key` in `store` for this call, or returns why the handler must not run.
 * @throws TypeError when the arguments have no canonical JSON form (see `fingerprintArguments`).
 */
export async function beginIdempotent(
  store: IdempotencyStore,
  call: IdempotentCall,
  options: BeginIdempotentOptions = {},
): Promise<IdempotentBegin> {
  const fingerprint = fingerprintArguments(call.args);
  const key = idempotencyStorageKey(call.scope, call.tool, call.key, store.inProcess === true ? textIdentity : hashedIdentity);
  const waitMs = options.waitMs ?? 0;
  const pollMs = options.pollMs ?? 25;
  const deadline = Date.now() + waitMs;
  try {
    for (let tries = 0; tries < MAX_CLAIM_TRIES;) {
      const outcome = await store.claim(key, fingerprint);
      if (outcome.won) return runFor(store, outcome.claim);
      let record: IdempotencyRecord = outcome.record;
      // Wait (bounded) for a duplicate in progress to finish or its lease to end.
      while (record.state === 'in_progress' && record.fingerprint === fingerprint && Date.now() + pollMs <= deadline) {
        await sleep(pollMs);
        record = await store.get(key);
      }
      if (record.state === 'absent') {
        tries++;
        continue;
      }
      if (record.fingerprint !== fingerprint) return { kind: 'conflict' };
      if (record.state === 'in_progress') return { kind: 'in_progress' };
      return { kind: 'replay', result: record.result.result, isError: record.result.isError };
    }
    return { kind: 'in_progress' };
  } catch (error) {
    if (error instanceof IdempotencyStoreError) return { kind: 'unavailable', error };
    throw error;
  }
}

function runFor(store: IdempotencyStore, claim: Parameters<IdempotencyStore['complete']>[0]): IdempotentRun {
  let settled = false;
  const once = (): boolean => {
    const first = !settled;
    settled = true;
    return first;
  };
  return {
    kind: 'run',
    complete: (result, isError) => (once() ? store.complete(claim, { result, isError }) : Promise.resolve(false)),
    release: () => (once() ? store.release(claim) : Promise.resolve(false)),
  };
}
