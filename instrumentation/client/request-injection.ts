import { propagation, ROOT_CONTEXT, trace, type Baggage, type Span, type TextMapSetter } from '@opentelemetry/api';
import { W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BAGGAGE_KEYS, UNKNOWN_PROVIDER } from '../../contract/index.js';
import { isRecord } from '../is-record.js';
import type { CallModel } from './model-scope.js';

// Our own W3C propagators, not the global one: SEP-414 fixes the format in `_meta`,
// whatever propagator the application registered (often none).
const traceContext = new W3CTraceContextPropagator();
const baggagePropagator = new W3CBaggagePropagator();

const metaSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

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
  let ctx = trace.setSpan(ROOT_CONTEXT, span);
  const bag = outgoingBaggage(model, appBaggage, allBaggage);
  if (bag !== undefined) ctx = propagation.setBaggage(ctx, bag);
  traceContext.inject(ctx, injected, metaSetter);
  baggagePropagator.inject(ctx, injected, metaSetter);
  if (Object.keys(injected).length === 0) return message;
  const params = isRecord(message.params) ? message.params : {};
  const meta = isRecord(params._meta) ? params._meta : {};
  return { ...message, params: { ...params, _meta: { ...injected, ...meta } } };
}

/** Only provider and model by default: the application's other baggage may hold what must not leave. */
function outgoingBaggage(model: CallModel, appBaggage: Baggage | undefined, allBaggage: boolean): Baggage | undefined {
  let bag = allBaggage && appBaggage !== undefined ? appBaggage : propagation.createBaggage();
  if (model.provider !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.PROVIDER, { value: model.provider });
  if (model.model !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.MODEL, { value: model.model });
  return bag.getAllEntries().length === 0 ? undefined : bag;
}
