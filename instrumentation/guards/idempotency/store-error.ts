/** Why a store could not answer; the guard picks fail-closed ("retry later") or fail-open from it. */
export type IdempotencyStoreErrorKind =
  /** The store did not answer within its command timeout. */
  | 'timeout'
  /** The connection is down or closed. */
  | 'connection'
  /** The store answered with an error (e.g. Redis out of memory, scripting disabled). */
  | 'server'
  /** The in-memory store is full of claims in progress (none may be evicted). */
  | 'capacity';

/** The store is unavailable for this call; nothing was run or stored by the failing call. */
export class IdempotencyStoreError extends Error {
  override readonly name = 'IdempotencyStoreError';

  constructor(
    readonly kind: IdempotencyStoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
