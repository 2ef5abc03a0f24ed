/**
 * The collector's OTLP/JSON decoder against real parts: the same SDK spans serialised by
 * @opentelemetry/otlp-transformer's JsonTraceSerializer and ProtobufTraceSerializer must
 * decode to identical span views; the spellings the proto3 JSON mapping allows (int64 as
 * number or string, enum names, snake_case keys, upper-case hex) change nothing; bad bodies
 * fail with OtlpDecodeError naming the path.
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { decodeTracesJson } from '../../collector/decode-json.js';
import { decodeTracesProtobuf } from '../../collector/decode-protobuf.js';
import { OtlpDecodeError, OtlpLimitError } from '../../collector/decode-errors.js';
import type { SpanView } from '../../collector/span-view.js';
import { buildKitchenSinkSpans, buildToolCallSpans, seededRandom } from '../../harness/otlp-span-fixtures.js';

type Json = Record<string, unknown>;

function jsonBody(spans: ReadableSpan[]): Uint8Array {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return bytes;
}

function protobufBody(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return bytes;
}

/** Applies `fn` to every object in a JSON tree (after its children). */
function walk(value: unknown, fn: (obj: Json, key: string | undefined) => void, key?: string): void {
  if (Array.isArray(value)) value.forEach((v) => walk(v, fn, key));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) walk(v, fn, k);
    fn(value as Json, key);
  }
}

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

function errorOf(body: string | Uint8Array): Error | 'ok' {
  try {
    decodeTracesJson(body);
    return 'ok';
  } catch (err) {
    return err as Error;
  }
}

describe('decodeTracesJson', () => {
  let kitchen: ReadableSpan[];
  let canonical: SpanView[];
  let parsed: Json;

  beforeAll(() => {
    kitchen = buildKitchenSinkSpans();
    canonical = decodeTracesProtobuf(protobufBody(kitchen));
    parsed = JSON.parse(Buffer.from(jsonBody(kitchen)).toString('utf8')) as Json;
  });

  it('gives the same span views as the protobuf reader for the same SDK spans', () => {
    const fromJson = decodeTracesJson(jsonBody(kitchen));
    expect(fromJson.length).toBe(kitchen.length);
    expect(fromJson).toEqual(canonical);
    const calls = buildToolCallSpans(200, 5);
    expect(decodeTracesJson(jsonBody(calls))).toEqual(decodeTracesProtobuf(protobufBody(calls)));
  });

  it('accepts a string body as well as bytes', () => {
    expect(decodeTracesJson(JSON.stringify(parsed))).toEqual(canonical);
  });

  it('accepts int64 and fixed64 as numbers or strings', () => {
    // The SDK sends timestamps as strings and ints as numbers: swap both.
    const swapped = structuredClone(parsed);
    let swaps = 0;
    walk(swapped, (obj) => {
      for (const key of ['startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano']) {
        if (typeof obj[key] === 'string') {
          obj[key] = Number(obj[key]);
          swaps++;
        }
      }
      if (typeof obj.intValue === 'number' && Number.isSafeInteger(obj.intValue)) {
        obj.intValue = String(obj.intValue);
        swaps++;
      }
    });
    expect(swaps).toBeGreaterThan(20);
    // Timestamps sent as JSON numbers are doubles already: only the string form gives exact durations.
    const withoutDuration = (spans: SpanView[]) => spans.map(({ durationNano: _, ...rest }) => rest);
    expect(withoutDuration(decodeTracesJson(JSON.stringify(swapped)))).toEqual(withoutDuration(canonical));
  });

  it('accepts enum names, snake_case field names, upper-case hex ids and unknown fields', () => {
    const variant = structuredClone(parsed);
    const KINDS = [
      'SPAN_KIND_UNSPECIFIED',
      'SPAN_KIND_INTERNAL',
      'SPAN_KIND_SERVER',
      'SPAN_KIND_CLIENT',
      'SPAN_KIND_PRODUCER',
      'SPAN_KIND_CONSUMER',
    ];
    const CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
    walk(variant, (obj, key) => {
      if (typeof obj.kind === 'number') obj.kind = KINDS[obj.kind];
      if (key === 'status' && typeof obj.code === 'number') obj.code = CODES[obj.code];
      for (const id of ['traceId', 'spanId', 'parentSpanId']) if (typeof obj[id] === 'string') obj[id] = (obj[id] as string).toUpperCase();
      obj.someFutureField = { nested: [1, 'two'] };
      obj.droppedSomething = 3;
      for (const k of Object.keys(obj)) {
        if (/[A-Z]/.test(k) && k !== 'someFutureField' && k !== 'droppedSomething') {
          obj[snake(k)] = obj[k];
          delete obj[k];
        }
      }
    });
    const text = JSON.stringify(variant);
    expect(text).toContain('"resource_spans"');
    expect(text).toContain('"SPAN_KIND_SERVER"');
    expect(text).toContain('"STATUS_CODE_ERROR"');
    expect(text).toContain('"string_value"');
    expect(decodeTracesJson(text)).toEqual(canonical);
  });

  it('leaves out map, bytes and empty values and nested arrays, as the protobuf reader does', () => {
    const body = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  name: 'x',
                  kind: 2,
                  startTimeUnixNano: '1767000000000000001',
                  attributes: [
                    { key: 'map', value: { kvlistValue: { values: [{ key: 'a', value: { stringValue: 'b' } }] } } },
                    { key: 'bytes', value: { bytesValue: 'AQID' } },
                    { key: 'empty', value: {} },
                    { key: 'null', value: null },
                    { key: 'novalue' },
                    {
                      key: 'list',
                      value: {
                        arrayValue: {
                          values: [{ intValue: '-9' }, { arrayValue: { values: [] } }, {}, { doubleValue: 'NaN' }, { boolValue: false }],
                        },
                      },
                    },
                    { key: 'inf', value: { doubleValue: '-Infinity' } },
                    { key: 'dup', value: { stringValue: 'a' } },
                    { key: 'dup', value: { stringValue: 'b' } },
                    { key: '__proto__', value: { stringValue: 'safe' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    const [span] = decodeTracesJson(JSON.stringify(body));
    expect(span).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      parentSpanId: '',
      name: 'x',
      kind: 2,
      // eslint-disable-next-line no-loss-of-precision -- the decoder reads these as doubles, like JSON.parse
      startTimeUnixNano: 1767000000000000001,
      endTimeUnixNano: 0,
      // eslint-disable-next-line no-loss-of-precision -- the decoder reads these as doubles, like JSON.parse
      durationNano: -1767000000000000001,
      statusCode: 0,
      attributes: { list: [-9, NaN, false], inf: -Infinity, dup: 'b', ['__proto__']: 'safe' },
      events: [],
      resource: {},
    });
    expect(Object.getPrototypeOf(span?.attributes)).toBe(Object.prototype);
  });

  it('enforces the span and event limits', () => {
    const body = jsonBody(buildToolCallSpans(40, 12));
    const spans = decodeTracesJson(body);
    const events = spans.reduce((n, s) => n + s.events.length, 0);
    expect(events).toBeGreaterThan(0);
    expect(decodeTracesJson(body, { maxSpans: 40, maxEvents: events })).toEqual(spans);
    expect(() => decodeTracesJson(body, { maxSpans: 39 })).toThrow(OtlpLimitError);
    expect(() => decodeTracesJson(body, { maxEvents: events - 1 })).toThrow(/events: more span events than the limit allows/);
    const empties = (n: number) => `{"resourceSpans":[{"scopeSpans":[{"spans":[${Array(n).fill('{}').join(',')}]}]}]}`;
    expect(decodeTracesJson(empties(100_000)).length).toBe(100_000);
    expect(() => decodeTracesJson(empties(100_001))).toThrow(OtlpLimitError);
  });

  it('decodes empty requests to no spans', () => {
    for (const body of ['{}', '{"resourceSpans":[]}', '{"resourceSpans":null}', '{"resourceSpans":[{"scopeSpans":[{}]}]}']) {
      expect(decodeTracesJson(body)).toEqual([]);
    }
  });

  it('rejects bad bodies with OtlpDecodeError naming the path', () => {
    const span = (extra: Json) =>
      JSON.stringify({
        resourceSpans: [{}, { scopeSpans: [{}, { spans: [{}, {}, {}, { traceId: '0af7651916cd43dd8448eb211c80319c', ...extra }] }] }],
      });
    const cases: [string | Uint8Array, RegExp][] = [
      ['', /body is not JSON/],
      ['{"resourceSpans": [', /body is not JSON/],
      [Uint8Array.from([0x7b, 0xff, 0x7d]), /body is not valid UTF-8/],
      ['[]', /^request: expected an object, got an array$/],
      ['null', /^request: expected an object, got null$/],
      ['{"resourceSpans": {}}', /^resourceSpans: expected an array, got an object$/],
      ['{"resourceSpans": [1]}', /^resourceSpans\[0\]: expected an object, got a number$/],
      [
        span({ traceId: '0af7651916cd43dd8448eb211c80319' }),
        /^resourceSpans\[1\]\.scopeSpans\[1\]\.spans\[3\]\.traceId: expected 32 hex characters, got 31$/,
      ],
      [span({ traceId: 'zaf7651916cd43dd8448eb211c80319c' }), /spans\[3\]\.traceId: expected 32 hex characters, got a non-hex character/],
      [span({ spanId: 12 }), /spans\[3\]\.spanId: expected 16 hex characters, got a number/],
      [span({ parentSpanId: 'b7ad6b71692033' }), /spans\[3\]\.parentSpanId: expected 16 hex characters, got 14/],
      [span({ name: 5 }), /spans\[3\]\.name: expected a string/],
      [span({ kind: 'SERVER' }), /spans\[3\]\.kind: unknown enum name "SERVER"/],
      [span({ kind: 1.5 }), /spans\[3\]\.kind: expected an enum value/],
      [span({ startTimeUnixNano: '-1' }), /spans\[3\]\.startTimeUnixNano: expected an unsigned integer/],
      [span({ endTimeUnixNano: 1.5 }), /spans\[3\]\.endTimeUnixNano: expected an unsigned integer/],
      [span({ status: { code: 'BAD' } }), /spans\[3\]\.status\.code: unknown enum name/],
      [span({ status: 'error' }), /spans\[3\]\.status: expected an object/],
      [span({ attributes: {} }), /spans\[3\]\.attributes: expected an array/],
      [span({ attributes: [{ key: 1, value: { stringValue: 'x' } }] }), /spans\[3\]\.attributes\[0\]\.key: expected a string/],
      [
        span({ attributes: [{ key: 'k', value: { intValue: 'abc' } }] }),
        /spans\[3\]\.attributes\[0\]\.value\.intValue: expected an integer/,
      ],
      [span({ attributes: [{ key: 'k', value: { intValue: 1.5 } }] }), /attributes\[0\]\.value\.intValue: expected an integer, got 1.5/],
      [span({ attributes: [{ key: 'k', value: { boolValue: 'true' } }] }), /attributes\[0\]\.value\.boolValue: expected a boolean/],
      [span({ attributes: [{ key: 'k', value: { doubleValue: 'x' } }] }), /attributes\[0\]\.value\.doubleValue: expected a number/],
      [
        span({ attributes: [{ key: 'k', value: { arrayValue: { values: [1] } } }] }),
        /attributes\[0\]\.value\.arrayValue\.values\[0\]: expected an object/,
      ],
      [span({ events: [{}, { timeUnixNano: 'soon' }] }), /spans\[3\]\.events\[1\]\.timeUnixNano: expected an unsigned integer/],
      [span({ events: [{ attributes: [{ key: 'k', value: 'v' }] }] }), /events\[0\]\.attributes\[0\]\.value: expected an object/],
      [
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"stringValue":7}}]}}]}',
        /^resourceSpans\[0\]\.resource\.attributes\[0\]\.value\.stringValue: expected a string, got a number$/,
      ],
    ];
    for (const [body, reason] of cases) {
      const result = errorOf(body);
      if (!(result instanceof OtlpDecodeError)) throw new Error(`${String(body)}: expected OtlpDecodeError, got ${String(result)}`);
      expect([String(body), result.message]).toEqual([String(body), expect.stringMatching(reason)]);
    }
  });

  it('throws OtlpDecodeError for every truncation of a small request', () => {
    const body = jsonBody(buildToolCallSpans(2, 3));
    expect(decodeTracesJson(body).length).toBe(2);
    for (let cut = 0; cut < body.length; cut++) {
      const result = errorOf(body.subarray(0, cut));
      if (!(result instanceof OtlpDecodeError)) throw new Error(`cut at ${cut}: expected OtlpDecodeError, got ${String(result)}`);
    }
  });

  it('never throws anything but OtlpDecodeError when parts of a valid request are replaced (seeded, bounded)', () => {
    const random = seededRandom(7);
    const base = JSON.parse(Buffer.from(jsonBody(buildToolCallSpans(3, 11))).toString('utf8')) as Json;
    const junk = (): unknown =>
      [null, 0, -1, 1.5, '', 'x', 'SPAN_KIND_SERVER', true, [], [{}], {}, { values: [] }, '0af7651916cd43dd8448eb211c80319c'][
        Math.floor(random() * 13)
      ];
    let ok = 0;
    let rejected = 0;
    for (let i = 0; i < 1500; i++) {
      const doc = structuredClone(base);
      const slots: [Json, string][] = [];
      walk(doc, (obj) => {
        for (const k of Object.keys(obj)) slots.push([obj, k]);
      });
      for (let j = 0; j < 1 + Math.floor(random() * 3); j++) {
        const [obj, k] = slots[Math.floor(random() * slots.length)]!;
        obj[k] = junk();
      }
      const text = JSON.stringify(doc);
      const result = errorOf(i % 2 === 0 ? text : Buffer.from(text));
      if (result === 'ok') ok++;
      else if (result instanceof OtlpDecodeError) rejected++;
      else throw new Error(`iteration ${i}: ${String(result)} for ${text}`);
    }
    expect(ok).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });
});
