/**
 * Where the production guards plug into `instrumentServer`, without attach.ts importing them:
 * their modules (authorization, idempotency stores, breaker) load only where guards can be
 * configured, so `mcplens/register` starts a server without guards as fast as before.
 * guards/enable.ts fills the slot; the `mcplens` entry imports it, `--import` only when
 * `MCPLENS_GUARDS` is set.
 */
import type { GuardRecorder } from './tool-guards.js';
import type { InstrumentOptions } from '../types.js';

/** What attach.ts asks of the guards. */
export interface GuardSupport {
  /**
   * Guards `protocol`'s tools/call with `options.guards` (checked, built once per options object).
   * Throws a ConfigError for a mistake in them or a server whose handlers cannot be guarded.
   */
  install(
    server: object,
    protocol: object,
    options: InstrumentOptions,
    recorderFor: (requestId: unknown) => GuardRecorder | undefined,
    seenFromImport: boolean,
  ): void;
}

let support: GuardSupport | undefined;

export function setGuardSupport(value: GuardSupport): void {
  support = value;
}

export function guardSupport(): GuardSupport | undefined {
  return support;
}

/** Set on the `extra` of mcplens' own tools/list requests: the caller-scoped filter does not apply. */
export const UNFILTERED_LISTING = Symbol.for('mcplens.unfilteredListing');
