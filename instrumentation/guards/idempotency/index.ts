/** Idempotency keys for write tools: the stores and the guard's begin step. */
export {
  beginIdempotent,
  type BeginIdempotentOptions,
  type IdempotentBegin,
  type IdempotentCall,
  type IdempotentRun,
} from './begin-idempotent.js';
export {
  fingerprintArguments,
  hashedIdentity,
  idempotencyStorageKey,
  MAX_TEXT_IDENTITY,
  textIdentity,
  type CallDigest,
} from './fingerprint.js';
export { MemoryIdempotencyStore, type MemoryIdempotencyStoreOptions } from './memory-store.js';
export { RedisIdempotencyStore, type RedisCommandSender, type RedisIdempotencyStoreOptions } from './redis-store.js';
export { IdempotencyStoreError, type IdempotencyStoreErrorKind } from './store-error.js';
export {
  DEFAULT_LEASE_MS,
  DEFAULT_RESULT_TTL_MS,
  type ClaimOutcome,
  type IdempotencyClaim,
  type IdempotencyRecord,
  type IdempotencyStore,
  type JsonValue,
  type StoredResult,
} from './types.js';
