import { AsyncLocalStorage } from 'node:async_hooks';
import { context as otelContext, propagation, type Baggage } from '@opentelemetry/api';
import { BAGGAGE_KEYS, UNKNOWN_PROVIDER, type ProviderSource } from '../../contract/index.js';
import type { ModelScope } from './types.js';

// mcplens' own scope, beside the OpenTelemetry context: an application that registered no context
// manager still gets per-call models (the no-op manager forgets `context.with` at the first await).
const scopes = new AsyncLocalStorage<ModelScope>();

/**
 * Runs `fn` with `provider` and `model` as the LLM behind the MCP calls it makes, across `await`:
 * the calls' CLIENT spans carry them, and so do the servers' spans (through `_meta.baggage`).
 * Sets them as OpenTelemetry baggage too, for the application's other instrumentations.
 * Returns what `fn` returns (its promise, for an async function).
 */
export function withModel<T>(scope: ModelScope, fn: () => T): T {
  const outer = scopes.getStore();
  const merged: ModelScope = {
    provider: scope.provider ?? outer?.provider,
    model: scope.model ?? outer?.model,
  };
  const active = otelContext.active();
  let bag = propagation.getBaggage(active) ?? propagation.createBaggage();
  if (scope.provider !== undefined) bag = bag.setEntry(BAGGAGE_KEYS.PROVIDER, { value: scope.provider });
  if (scope.model !== undefined) bag = bag.setEntry(BAGGAGE_KEYS.MODEL, { value: scope.model });
  return scopes.run(merged, () => otelContext.with(propagation.setBaggage(active, bag), fn));
}

/** The provider and model of a call made now, and where they came from. */
export interface CallModel {
  provider: string;
  model: string;
  source: ProviderSource;
}

/**
 * Provider and model of a call made in the current context: the active baggage (a `withModel()`
 * scope or the application's own), then mcplens' own scope (no context manager registered), then the
 * client's fixed options; `unknown` otherwise.
 */
export function currentModel(bag: Baggage | undefined, fixed: ModelScope): CallModel {
  const fromBag = bag?.getEntry(BAGGAGE_KEYS.PROVIDER)?.value;
  if (fromBag !== undefined && fromBag !== '') {
    return { provider: fromBag, model: bag?.getEntry(BAGGAGE_KEYS.MODEL)?.value ?? UNKNOWN_PROVIDER, source: 'baggage' };
  }
  const scoped = scopes.getStore();
  if (scoped?.provider !== undefined && scoped.provider !== '') {
    return { provider: scoped.provider, model: scoped.model ?? fixed.model ?? UNKNOWN_PROVIDER, source: 'baggage' };
  }
  if (fixed.provider !== undefined && fixed.provider !== '') {
    return { provider: fixed.provider, model: fixed.model ?? UNKNOWN_PROVIDER, source: 'resolver' };
  }
  return { provider: UNKNOWN_PROVIDER, model: UNKNOWN_PROVIDER, source: 'unknown' };
}
