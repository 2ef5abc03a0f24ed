import { propagation, ROOT_CONTEXT, type Baggage, type Span, type TextMapSetter } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { BAGGAGE_KEYS, META_KEYS, UNKNOWN_PROVIDER } from '../../contract/index.js';
import { isRecord } from '../is-record.js';
import type { CallModel } from './model-scope.js';
import { traceparentOf } from './trace-context-format.js';

// Our own W3C baggage propagator, not the global one: SEP-414 fixes the format in `_meta`,
// whatever propagator the application registered (often none).
const baggagePropagator = new W3CBaggagePropagator();

const metaSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

// The `baggage` member of provider and model, serialised once per pair: the header depends on
// nothing else (unless the application's whole baggage is propagated). Bounded: a process that
// cycles through many models starts over rather than grows.
const MAX_CACHED_HEADERS = 256;
const PROTO = '__proto__';
const headers = new Map<string, Map<string, string | undefined>>();
let cachedHeaders = 0;

/**
 * A copy of an outgoing request whose `params._meta` carries the span's `traceparent` / `tracestate`
 * and the call's baggage (SEP-414). Keys the caller put in `_meta` win; the caller's objects are not
 * changed (an in-memory transport hands them to the server as they are).
 */
export function withTraceMeta(
  message: Record<string, unknown>,
  span: Span,
  model: CallModel,
  appBaggage: Baggage | undefined,
  allBaggage: boolean,
): Record<string, unknown> {
  const injected: Record<string, unknown> = {};
  let any = false;
  const spanContext = span.spanContext();
  const traceparent = traceparentOf(spanContext);
  if (traceparent !== undefined) {
    injected[META_KEYS.TRACEPARENT] = traceparent;
    if (spanContext.traceState) injected[META_KEYS.TRACESTATE] = spanContext.traceState.serialize();
    any = true;
  }
  const baggage = allBaggage && appBaggage !== undefined ? serialise(outgoingBaggage(model, appBaggage)) : baggageHeader(model);
  if (baggage !== undefined) {
    injected[META_KEYS.BAGGAGE] = baggage;
    any = true;
  }
  if (!any) return message;
  const params = isRecord(message.params) ? message.params : {};
  const meta = isRecord(params._meta) ? merged(injected, params._meta) : injected;
  return copyWith(message, 'params', copyWith(params, '_meta', meta));
}

// `{ ...a, ...b }` and `{ ...a, [key]: value }`, as copies made by assignment: V8 (Node 20) takes a
// slow path, about 0.7 µs each, when a key is added to an object made by spreading. Assignment
// differs from spreading only for an own `__proto__` key (it would set the prototype), hence the
// spread there.

/** `{ ...injected, ...callerMeta }`: the caller's keys win, in `injected` (a fresh object) itself. */
function merged(injected: Record<string, unknown>, callerMeta: Record<string, unknown>): Record<string, unknown> {
  return Object.hasOwn(callerMeta, PROTO) ? { ...injected, ...callerMeta } : Object.assign(injected, callerMeta);
}

/** `{ ...source, [key]: value }`. */
function copyWith(source: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  if (Object.hasOwn(source, PROTO)) return { ...source, [key]: value };
  const copy: Record<string, unknown> = Object.assign({}, source);
  copy[key] = value;
  return copy;
}

/**
 * The `baggage` member carrying only provider and model (undefined when both are unknown): the
 * W3C baggage propagator's own output, computed once per pair.
 */
export function baggageHeader(model: CallModel): string | undefined {
  let byModel = headers.get(model.provider);
  if (byModel?.has(model.model) === true) return byModel.get(model.model);
  const header = serialise(outgoingBaggage(model, undefined));
  if (cachedHeaders >= MAX_CACHED_HEADERS) {
    headers.clear();
    cachedHeaders = 0;
    byModel = undefined;
  }
  if (byModel === undefined) headers.set(model.provider, (byModel = new Map()));
  byModel.set(model.model, header);
  cachedHeaders++;
  return header;
}

/** The baggage propagator's header for `bag`, or undefined when it writes none. */
function serialise(bag: Baggage | undefined): string | undefined {
  if (bag === undefined) return undefined;
  const carrier: Record<string, unknown> = {};
  baggagePropagator.inject(propagation.setBaggage(ROOT_CONTEXT, bag), carrier, metaSetter);
  const header = carrier[META_KEYS.BAGGAGE];
  return typeof header === 'string' ? header : undefined;
}

/** Only provider and model by default: the application's other baggage may hold what must not leave. */
function outgoingBaggage(model: CallModel, appBaggage: Baggage | undefined): Baggage | undefined {
  let bag = appBaggage ?? propagation.createBaggage();
  if (model.provider !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.PROVIDER, { value: model.provider });
  if (model.model !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.MODEL, { value: model.model });
  return bag.getAllEntries().length === 0 ? undefined : bag;
}
