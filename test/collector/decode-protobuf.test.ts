/**
 * The collector's OTLP/protobuf reader against real parts: requests recorded by the OTel SDK
 * and serialised by @opentelemetry/otlp-transformer, checked field by field against
 * protobufjs decoding the same bytes (with the OTLP definitions) and against the SDK's
 * own spans; unknown fields, malformed and random bodies.
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import protobuf from 'protobufjs';
import { decodeTracesProtobuf } from '../../collector/decode-protobuf.js';
import { OtlpDecodeError, OtlpLimitError } from '../../collector/decode-errors.js';
import { OTLP_SPAN_KIND, OTLP_STATUS_CODE } from '../../collector/span-view.js';
import { ATTR, EVENT } from '../../contract/index.js';
import {
  buildKitchenSinkSpans,
  buildToolCallSpans,
  expectedAttributes,
  referenceDecode,
  seededRandom,
} from '../../harness/otlp-span-fixtures.js';
import { loadOtlpTypes } from '../../harness/otlp-proto-types.js';

function serialize(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return bytes;
}

/** Runs decode and returns the error it throws, or 'ok'. */
function outcome(body: Uint8Array): 'ok' | Error {
  try {
    decodeTracesProtobuf(body);
    return 'ok';
  } catch (err) {
    return err as Error;
  }
}

/** A varint as bytes (non-negative, below 2^53). */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}
function field(num: number, wire: number, payload: number[]): number[] {
  return [...varint((num << 3) | wire), ...payload];
}
function len(num: number, body: number[]): number[] {
  return field(num, 2, [...varint(body.length), ...body]);
}
/** An HrTime as the nearest double of its exact nanosecond count (one rounding, as fixed64 decoding does). */
function nanos([seconds, ns]: [number, number]): number {
  return Number(BigInt(seconds) * 1_000_000_000n + BigInt(ns));
}
function str(s: string): number[] {
  return [...Buffer.from(s, 'utf8')];
}

describe('decodeTracesProtobuf', () => {
  let kitchen: ReadableSpan[];
  let kitchenBytes: Uint8Array;

  beforeAll(() => {
    kitchen = buildKitchenSinkSpans();
    kitchenBytes = serialize(kitchen);
  });

  it('decodes an SDK request exactly as protobufjs does, field by field', () => {
    const mine = decodeTracesProtobuf(kitchenBytes);
    const reference = referenceDecode(kitchenBytes);
    expect(mine.length).toBe(kitchen.length);
    expect(reference.length).toBe(kitchen.length);
    for (let i = 0; i < mine.length; i++) expect(mine[i]).toEqual(reference[i]);
  });

  it('agrees with the spans the SDK recorded (ids, names, kinds, times, attributes, events, status, resource)', () => {
    const mine = decodeTracesProtobuf(kitchenBytes);
    const byId = new Map(mine.map((s) => [s.spanId, s]));
    for (const span of kitchen) {
      const ctx = span.spanContext();
      const view = byId.get(ctx.spanId);
      expect(view).toBeDefined();
      if (!view) continue;
      expect(view.traceId).toBe(ctx.traceId);
      expect(view.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(view.parentSpanId).toBe(span.parentSpanContext?.spanId ?? '');
      expect(view.name).toBe(span.name);
      // The OTel API numbers kinds from INTERNAL = 0; OTLP from UNSPECIFIED = 0.
      expect(view.kind).toBe(span.kind + 1);
      expect(view.statusCode).toBe(span.status.code);
      expect(view.startTimeUnixNano).toBe(nanos(span.startTime));
      expect(view.endTimeUnixNano).toBe(nanos(span.endTime));
      expect(view.attributes).toEqual(expectedAttributes(span.attributes));
      expect(view.events.map((e) => e.name)).toEqual(span.events.map((e) => e.name));
      expect(view.events.map((e) => e.attributes)).toEqual(span.events.map((e) => expectedAttributes(e.attributes ?? {})));
      expect(view.resource).toEqual(expectedAttributes(span.resource.attributes as Record<string, never>));
    }
    const root = mine.find((s) => s.name === 'root');
    expect(root?.kind).toBe(OTLP_SPAN_KIND.SERVER);
    expect(root?.statusCode).toBe(OTLP_STATUS_CODE.OK);
    expect(root?.attributes.unicode).toBe('grüße – 日本語 – 🚀');
    expect(root?.attributes.bigNegative).toBe(-(2 ** 52));
    expect(root?.attributes.withNulls).toEqual(['a', 'b']);
    expect(mine.find((s) => s.name === 'child')?.statusCode).toBe(OTLP_STATUS_CODE.ERROR);
    // Spans of one ResourceSpans share one resource object.
    const kitchenSpans = mine.filter((s) => s.resource[ATTR.SERVICE_NAME] === 'kitchen-sink');
    expect(kitchenSpans.length).toBe(5);
    expect(new Set(kitchenSpans.map((s) => s.resource)).size).toBe(1);
    expect(mine.find((s) => s.name === 'other')?.resource[ATTR.SERVICE_NAME]).toBe('second-service');
  });

  it('decodes realistic MCP tools/call batches like protobufjs', () => {
    const spans = buildToolCallSpans(300, 42);
    const bytes = serialize(spans);
    const mine = decodeTracesProtobuf(bytes);
    expect(mine).toEqual(referenceDecode(bytes));
    expect(mine.length).toBe(300);
    const violated = mine.filter((s) => s.events.some((e) => e.name === EVENT.SCHEMA_VIOLATION));
    expect(violated.length).toBeGreaterThan(20);
    for (const s of violated) expect(s.events[0]?.attributes[ATTR.VIOLATION_KIND]).toBe(s.attributes[ATTR.VIOLATION_KIND]);
  });

  it('handles every AnyValue member protobufjs can write: maps, bytes, nested arrays and empty values are left out', () => {
    const { ExportTraceServiceRequest } = loadOtlpTypes();
    const id = (n: number, size: number) => Buffer.alloc(size, n);
    const request = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'crafted' } }] },
          scopeSpans: [
            {
              scope: { name: 'x', version: '1', attributes: [{ key: 'scope.attr', value: { intValue: 1 } }] },
              spans: [
                {
                  traceId: id(1, 16),
                  spanId: id(2, 8),
                  name: 'crafted',
                  kind: 9, // not a defined SpanKind: proto3 keeps the number
                  startTimeUnixNano: '18446744073709551615',
                  endTimeUnixNano: '1767000000123456789',
                  attributes: [
                    { key: 'map', value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
                    { key: 'bytes', value: { bytesValue: Buffer.from([1, 2, 3]) } },
                    { key: 'empty', value: {} },
                    { key: 'novalue' },
                    { key: 'minInt', value: { intValue: '-9223372036854775808' } },
                    { key: 'maxInt', value: { intValue: '9223372036854775807' } },
                    { key: 'minusOne', value: { intValue: -1 } },
                    { key: 'nan', value: { doubleValue: NaN } },
                    { key: 'inf', value: { doubleValue: -Infinity } },
                    {
                      key: 'mixed',
                      value: {
                        arrayValue: {
                          values: [
                            { stringValue: 's' },
                            { arrayValue: { values: [{ intValue: 1 }] } },
                            { kvlistValue: { values: [] } },
                            { bytesValue: Buffer.from([9]) },
                            {},
                            { boolValue: true },
                            { doubleValue: 0.5 },
                            { intValue: -3 },
                          ],
                        },
                      },
                    },
                    { key: 'dup', value: { stringValue: 'first' } },
                    { key: 'dup', value: { stringValue: 'second' } },
                    { key: '__proto__', value: { arrayValue: { values: [{ stringValue: 'p' }] } } },
                  ],
                  links: [
                    {
                      traceId: id(3, 16),
                      spanId: id(4, 8),
                      traceState: 'a=b',
                      attributes: [{ key: 'l', value: { boolValue: true } }],
                      flags: 0x301,
                    },
                  ],
                  droppedAttributesCount: 5,
                  droppedEventsCount: 6,
                  droppedLinksCount: 7,
                  traceState: 'vendor=x',
                  flags: 0x101,
                  status: { code: 2, message: 'failed' },
                },
                { traceId: id(5, 16), spanId: id(6, 8), parentSpanId: id(2, 8), name: 'x'.repeat(100) },
                {}, // no ids at all: '' (invalid per spec, left for the caller to reject)
              ],
            },
          ],
          schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        },
      ],
    };
    const bytes = ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish();
    const mine = decodeTracesProtobuf(bytes);
    expect(mine).toEqual(referenceDecode(bytes));
    const [first, second, third] = mine;
    expect(first?.kind).toBe(9);
    // eslint-disable-next-line no-loss-of-precision -- 64-bit nanoseconds read as the nearest double, by design
    expect(first?.startTimeUnixNano).toBe(18446744073709551615);
    // eslint-disable-next-line no-loss-of-precision -- 64-bit nanoseconds read as the nearest double, by design
    expect(first?.endTimeUnixNano).toBe(1767000000123456789);
    expect(Object.keys(first?.attributes ?? {})).toEqual(['minInt', 'maxInt', 'minusOne', 'nan', 'inf', 'mixed', 'dup', '__proto__']);
    expect(first?.attributes.minInt).toBe(-9223372036854775808);
    expect(first?.attributes.minusOne).toBe(-1);
    expect(first?.attributes.mixed).toEqual(['s', true, 0.5, -3]);
    expect(first?.attributes.dup).toBe('second');
    // '__proto__' stays data: the object's prototype is untouched.
    expect(Object.getPrototypeOf(first?.attributes)).toBe(Object.prototype);
    expect(first?.attributes['__proto__']).toEqual(['p']);
    expect(first?.statusCode).toBe(2);
    expect(first?.traceId).toBe('01'.repeat(16));
    expect(second?.parentSpanId).toBe('02'.repeat(8));
    expect(third).toMatchObject({ traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, startTimeUnixNano: 0, statusCode: 0 });
  });

  it('skips unknown fields of every wire type at every message level, as protobufjs does', () => {
    const { root } = loadOtlpTypes();
    // Re-parse the same definitions with extra fields in every message: encoding with those
    // and decoding with the real ones puts unknown fields everywhere.
    const extended = new protobuf.Root();
    const json = root.toJSON();
    const addUnknown = (ns: { nested?: Record<string, unknown> }) => {
      for (const child of Object.values(ns.nested ?? {}) as { fields?: Record<string, unknown>; nested?: Record<string, unknown> }[]) {
        if (child.fields) {
          Object.assign(child.fields, {
            zzVarint: { type: 'uint64', id: 90 },
            zzFixed64: { type: 'fixed64', id: 91 },
            zzBytes: { type: 'bytes', id: 92 },
            zzFixed32: { type: 'fixed32', id: 93 },
            zzBigTag: { type: 'sint32', id: 536870911 },
            zzMessage: { type: '.google.protobuf.Any', id: 94 },
          });
        }
        addUnknown(child);
      }
    };
    addUnknown(json as never);
    extended.addJSON((json as { nested: Record<string, protobuf.AnyNestedObject> }).nested);
    extended.resolveAll();
    const Extended = extended.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
    const { ExportTraceServiceRequest } = loadOtlpTypes();
    const plain = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(kitchenBytes), { longs: String, oneofs: false });
    let n = 0;
    const decorate = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(decorate);
      else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
        for (const v of Object.values(value)) decorate(v);
        n++;
        Object.assign(value, {
          zzVarint: '18446744073709551615',
          zzFixed64: '12345678901234',
          zzBytes: Buffer.from([0x0a, 0x05, 0xff]), // looks like a field but is opaque payload
          zzFixed32: 0xdeadbeef,
          zzBigTag: -5,
          zzMessage: { typeUrl: 'x', value: Buffer.from('y') },
        });
      }
    };
    decorate(plain);
    expect(n).toBeGreaterThan(50);
    const bytes = Extended.encode(Extended.fromObject(plain)).finish();
    expect(bytes.length).toBeGreaterThan(kitchenBytes.length + n * 20);
    const mine = decodeTracesProtobuf(bytes);
    expect(mine).toEqual(referenceDecode(bytes));
    expect(mine).toEqual(decodeTracesProtobuf(kitchenBytes));
  });

  it('reads fields in any order: a resource after its spans, attributes after events', () => {
    const span = [
      ...len(11, [...len(2, str('ev')), ...len(3, [...len(2, len(1, str('late'))), ...len(1, str('k'))])]),
      ...len(9, [...len(1, str('a')), ...len(2, field(3, 0, varint(7)))]),
      ...len(5, str('reordered')),
      ...len(2, Array(8).fill(0xab)),
      ...len(1, Array(16).fill(0xcd)),
    ];
    const resourceSpans = [
      ...len(2, len(2, span)),
      ...len(1, len(1, [...len(1, str('service.name')), ...len(2, len(1, str('late-svc')))])),
    ];
    const bytes = Uint8Array.from(len(1, resourceSpans));
    const [view] = decodeTracesProtobuf(bytes);
    expect(view).toEqual(referenceDecode(bytes)[0]);
    expect(view).toMatchObject({
      traceId: 'cd'.repeat(16),
      spanId: 'ab'.repeat(8),
      name: 'reordered',
      attributes: { a: 7 },
      resource: { 'service.name': 'late-svc' },
    });
    expect(view?.events[0]).toEqual({ name: 'ev', timeUnixNano: 0, attributes: { k: 'late' } });
  });

  it('decodes look-alike strings correctly across calls (string cache collisions, non-ASCII of equal length)', () => {
    // Same length, first, middle and last byte: the same cache slot.
    const keys = ['abcde', 'azcye', 'a\u00e9ce'.normalize('NFC'), 'abcd', 'abcdef', 'ab\u00e7de'];
    const request = (order: string[]): Uint8Array => {
      const attributes = order.flatMap((k, i) => len(9, [...len(1, str(k)), ...len(2, len(1, str(`${k}#${i}`)))]));
      const span = [...len(1, Array(16).fill(1)), ...len(2, Array(8).fill(2)), ...attributes];
      return Uint8Array.from(len(1, len(2, len(2, span))));
    };
    for (let round = 0; round < 4; round++) {
      const order = round % 2 === 0 ? keys : [...keys].reverse();
      const bytes = request(order);
      const [view] = decodeTracesProtobuf(bytes);
      expect(view?.attributes).toEqual(referenceDecode(bytes)[0]?.attributes);
      expect(Object.keys(view?.attributes ?? {})).toEqual(order);
      // Strings are copies: overwriting the body afterwards changes nothing already decoded.
      bytes.fill(0x41);
      expect(Object.keys(view?.attributes ?? {})).toEqual(order);
    }
  });

  it('enforces the span and event limits (an empty span is 2 bytes on the wire, its view a few hundred in the heap)', () => {
    const bytes = serialize(buildToolCallSpans(40, 12));
    const spans = decodeTracesProtobuf(bytes);
    const events = spans.reduce((n, s) => n + s.events.length, 0);
    expect(events).toBeGreaterThan(0);
    expect(decodeTracesProtobuf(bytes, { maxSpans: 40, maxEvents: events })).toEqual(spans);
    expect(() => decodeTracesProtobuf(bytes, { maxSpans: 39 })).toThrow(OtlpLimitError);
    expect(() => decodeTracesProtobuf(bytes, { maxEvents: events - 1 })).toThrow(/more span events than the limit allows/);
    // Default limit: 100,000 spans.
    const empties = (n: number) => {
      const scope = new Uint8Array(n * 2);
      for (let i = 0; i < n; i++) scope[2 * i] = 0x12;
      return Uint8Array.from(len(1, len(2, [...scope])));
    };
    expect(decodeTracesProtobuf(empties(100_000)).length).toBe(100_000);
    const err = outcome(empties(100_001));
    expect(err).toBeInstanceOf(OtlpLimitError);
    expect(err).toBeInstanceOf(OtlpDecodeError);
    expect(() => decodeTracesProtobuf(bytes, { maxSpans: -1 })).toThrow(RangeError);
  });

  it('decodes an empty body and an empty request to no spans', () => {
    expect(decodeTracesProtobuf(new Uint8Array(0))).toEqual([]);
    expect(decodeTracesProtobuf(Uint8Array.from(len(1, [])))).toEqual([]);
    expect(decodeTracesProtobuf(Uint8Array.from(len(1, len(2, []))))).toEqual([]);
  });

  it('decodes from a Uint8Array view at an offset into a larger buffer (as a Buffer slice arrives)', () => {
    const padded = Buffer.concat([Buffer.from('garbage-before'), Buffer.from(kitchenBytes), Buffer.from('after')]);
    const view = padded.subarray(14, 14 + kitchenBytes.length);
    expect(decodeTracesProtobuf(view)).toEqual(decodeTracesProtobuf(kitchenBytes));
  });

  it('throws OtlpDecodeError for every truncation of a small request, never another error', () => {
    const bytes = serialize(buildToolCallSpans(2, 3));
    // One top-level field (one resource), so every strict prefix but the empty one is cut inside it.
    expect(decodeTracesProtobuf(bytes).length).toBe(2);
    for (let cut = 1; cut < bytes.length; cut++) {
      const result = outcome(bytes.subarray(0, cut));
      if (!(result instanceof OtlpDecodeError)) throw new Error(`cut at ${cut}: expected OtlpDecodeError, got ${String(result)}`);
    }
  });

  it('rejects malformed structure with a reason', () => {
    const cases: [string, number[], RegExp][] = [
      ['truncated varint', [0x10, 0x80], /truncated varint at byte 1/],
      ['over-long varint', [0x10, ...Array(10).fill(0xff), 0x01], /varint longer than 10 bytes/],
      ['length past the end', [0x0a, 0x05, 0x00], /length 5 at byte 1 runs past the end/],
      ['huge length', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], /runs past the end/],
      ['start group', [0x13, 0x14], /group wire type 3/],
      ['end group', [0x14], /group wire type 4/],
      ['wire type 6', [0x16], /invalid wire type 6/],
      ['wire type 7', [0x17], /invalid wire type 7/],
      ['field number 0', [0x02, 0x00], /field number 0/],
      ['truncated fixed64', [0x11, 1, 2, 3], /truncated fixed64/],
      ['truncated fixed32', [0x15, 1, 2], /truncated fixed32/],
      ['known field, wrong wire type', [0x08, 0x01], /ExportTraceServiceRequest field 1: wrong wire type 0/],
      ['span name as varint', len(1, len(2, len(2, field(5, 0, [1])))), /Span field 5: wrong wire type 0/],
      ['short trace id', len(1, len(2, len(2, len(1, [1, 2, 3])))), /Span.trace_id: expected 16 bytes, got 3/],
      ['long span id', len(1, len(2, len(2, len(2, Array(9).fill(1))))), /Span.span_id: expected 8 bytes, got 9/],
      ['short parent id', len(1, len(2, len(2, len(4, [1])))), /Span.parent_span_id: expected 8 bytes, got 1/],
      [
        'inner length past its message',
        [...len(1, [0x12, 0x02, 0x12, 0x05]), 0, 0, 0, 0, 0, 0],
        /length 5 at byte \d+ runs past the end of its message/,
      ],
      ['group inside an attribute value', len(1, len(2, len(2, len(9, len(2, [0x43]))))), /AnyValue field 8: group wire type 3/],
    ];
    for (const [name, bytes, reason] of cases) {
      const result = outcome(Uint8Array.from(bytes));
      if (!(result instanceof OtlpDecodeError)) throw new Error(`${name}: expected OtlpDecodeError, got ${String(result)}`);
      expect([name, result.message]).toEqual([name, expect.stringMatching(reason)]);
    }
  });

  it('never throws anything but OtlpDecodeError on random and mutated bodies (seeded, bounded)', () => {
    const random = seededRandom(20240611);
    const valid = serialize(buildToolCallSpans(3, 9));
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      let body: Uint8Array;
      if (i % 2 === 0) {
        body = new Uint8Array(Math.floor(random() * 300));
        for (let j = 0; j < body.length; j++) body[j] = Math.floor(random() * 256);
      } else {
        body = Uint8Array.from(valid);
        const flips = 1 + Math.floor(random() * 4);
        for (let j = 0; j < flips; j++) body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
      }
      const result = outcome(body);
      if (result === 'ok') decoded++;
      else if (result instanceof OtlpDecodeError) rejected++;
      else throw new Error(`iteration ${i}: ${String(result)} for ${Buffer.from(body).toString('hex')}`);
    }
    // Both branches are exercised: some mutations still decode, most garbage does not.
    expect(decoded).toBeGreaterThan(50);
    expect(rejected).toBeGreaterThan(1000);
  });
});
