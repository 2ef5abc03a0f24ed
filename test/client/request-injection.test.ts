/** What the client puts in a request's `_meta`: its hand-written `traceparent` and cached `baggage` against the OTel W3C propagators' output on the same inputs, and the copy it sends. */
import { describe, expect, it } from '@jest/globals';
import {
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type SpanContext,
  type TextMapSetter,
} from '@opentelemetry/api';
import { TraceState, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BAGGAGE_KEYS, META_KEYS, UNKNOWN_PROVIDER } from '../../contract/index.js';
import { baggageHeader, withTraceMeta } from '../../instrumentation/client/request-injection.js';
import { isValidSpanContext, traceparentOf } from '../../instrumentation/client/trace-context-format.js';
import type { CallModel } from '../../instrumentation/client/model-scope.js';

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

function injected(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  new W3CTraceContextPropagator().inject(ctx, carrier, setter);
  new W3CBaggagePropagator().inject(ctx, carrier, setter);
  return carrier;
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const ids: Array<[string, string]> = [
  [TRACE, SPAN],
  [TRACE.toUpperCase(), SPAN.toUpperCase()],
  ['4BF92f3577b34da6a3ce929d0e0e4736', '00F067aa0ba902b7'],
  ['0'.repeat(32), SPAN],
  [TRACE, '0'.repeat(16)],
  ['0'.repeat(31) + '1', '0'.repeat(15) + '1'],
  [TRACE.slice(1), SPAN],
  [TRACE + '0', SPAN],
  [TRACE, SPAN.slice(1)],
  [`${TRACE.slice(0, 31)}g`, SPAN],
  [TRACE, `${SPAN.slice(0, 15)}G`],
  [`${TRACE}\n`, SPAN],
  [TRACE, `${SPAN}\n`],
  [` ${TRACE.slice(1)}`, SPAN],
  ['', ''],
  [TRACE.replace('4', '/'), SPAN.replace('f', ':')],
  [TRACE.replace('a', '@'), SPAN.replace('a', '`')],
];
const flags = [TraceFlags.NONE, TraceFlags.SAMPLED, 2, 3, 15, 16, 255];

describe('traceparentOf', () => {
  it.each(ids)('writes what W3CTraceContextPropagator writes for %p / %p, every flag', (traceId, spanId) => {
    for (const traceFlags of flags) {
      const spanContext: SpanContext = { traceId, spanId, traceFlags };
      expect(isValidSpanContext(spanContext)).toBe(isSpanContextValid(spanContext));
      expect(traceparentOf(spanContext)).toBe(injected(trace.setSpanContext(ROOT_CONTEXT, spanContext)).traceparent);
    }
  });

  it('agrees with the propagator on 2,000 random ids', () => {
    const hex = '0123456789abcdefABCDEF';
    const id = (n: number): string => Array.from({ length: n }, () => hex[Math.floor(Math.random() * hex.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const spanContext: SpanContext = { traceId: id(32), spanId: id(16), traceFlags: i % 3 };
      expect(traceparentOf(spanContext)).toBe(injected(trace.setSpanContext(ROOT_CONTEXT, spanContext)).traceparent);
    }
  });
});

const models: Array<[string, string]> = [
  ['anthropic', 'claude-sonnet-4-5'],
  ['openai', UNKNOWN_PROVIDER],
  [UNKNOWN_PROVIDER, 'gpt-4.1'],
  [UNKNOWN_PROVIDER, UNKNOWN_PROVIDER],
  ['my provider, inc.', 'model=1;weight=2'],
  ['prozent%20', 'ü/ß é 模型 🙂'],
  ['a"b\\c', "it's <x> & y"],
  ['x'.repeat(5000), 'short'],
];

const model = (provider: string, name: string): CallModel => ({ provider, model: name, source: 'resolver' });

describe('baggageHeader', () => {
  it.each(models)('writes what W3CBaggagePropagator writes for provider %p and model %p, cached or not', (provider, name) => {
    let bag = propagation.createBaggage();
    if (provider !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.PROVIDER, { value: provider });
    if (name !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.MODEL, { value: name });
    const expected = bag.getAllEntries().length === 0 ? undefined : injected(propagation.setBaggage(ROOT_CONTEXT, bag)).baggage;
    expect(baggageHeader(model(provider, name))).toBe(expected);
    expect(baggageHeader(model(provider, name))).toBe(expected);
  });
});

describe('withTraceMeta', () => {
  const spanContext: SpanContext = {
    traceId: TRACE,
    spanId: SPAN,
    traceFlags: TraceFlags.SAMPLED,
    traceState: new TraceState('vendor=v1,other=x'),
  };
  const span = trace.wrapSpanContext(spanContext);

  it.each(models)("puts the propagators' members in _meta for %p / %p, all baggage or not", (provider, name) => {
    const app = propagation.createBaggage({ tenant: { value: 'a b,c' }, [BAGGAGE_KEYS.MODEL]: { value: 'overridden' } });
    for (const allBaggage of [false, true]) {
      const message = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', _meta: { progressToken: 7 } } };
      const sent = withTraceMeta(message, span, model(provider, name), app, allBaggage) as typeof message;
      let bag = allBaggage ? app : propagation.createBaggage();
      if (provider !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.PROVIDER, { value: provider });
      if (name !== UNKNOWN_PROVIDER) bag = bag.setEntry(BAGGAGE_KEYS.MODEL, { value: name });
      let ctx = trace.setSpan(ROOT_CONTEXT, span);
      if (bag.getAllEntries().length > 0) ctx = propagation.setBaggage(ctx, bag);
      expect(sent.params._meta).toEqual({ ...injected(ctx), progressToken: 7 });
      expect(Object.keys(sent.params._meta).slice(0, 2)).toEqual([META_KEYS.TRACEPARENT, META_KEYS.TRACESTATE]);
      expect(message.params._meta).toEqual({ progressToken: 7 });
    }
  });

  it('copies as spreading would: no params, no _meta, own __proto__ keys kept as keys', () => {
    const bare = { jsonrpc: '2.0', id: 3, method: 'ping' };
    const sent = withTraceMeta(bare, span, model('openai', 'gpt-4.1'), undefined, false) as Record<string, Record<string, unknown>>;
    expect(Object.keys(sent)).toEqual(['jsonrpc', 'id', 'method', 'params']);
    expect(Object.keys(sent.params!)).toEqual(['_meta']);
    expect(bare).toEqual({ jsonrpc: '2.0', id: 3, method: 'ping' });

    // JSON.parse makes `__proto__` an own key; a copy by assignment would set the prototype instead.
    const hostile = JSON.parse(
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","__proto__":{"p":1},"_meta":{"__proto__":{"m":1},"traceparent":"mine"}}}',
    ) as Record<string, unknown>;
    const copied = withTraceMeta(hostile, span, model('openai', 'gpt-4.1'), undefined, false) as Record<
      string,
      Record<string, Record<string, unknown>>
    >;
    const params = copied.params!;
    const meta = params._meta!;
    for (const obj of [params, meta]) {
      expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
      expect(Object.hasOwn(obj, '__proto__')).toBe(true);
    }
    expect(meta.traceparent).toBe('mine');
    expect(Object.keys(meta)).toEqual([META_KEYS.TRACEPARENT, META_KEYS.TRACESTATE, META_KEYS.BAGGAGE, '__proto__']);
  });

  it('returns the message itself when there is nothing to inject', () => {
    const message = { jsonrpc: '2.0', id: 2, method: 'ping' };
    const invalid = trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });
    expect(withTraceMeta(message, invalid, model(UNKNOWN_PROVIDER, UNKNOWN_PROVIDER), undefined, false)).toBe(message);
  });
});
