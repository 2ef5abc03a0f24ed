/**
 * OTLP/JSON `ExportTraceServiceRequest` bodies to {@link SpanView}s: `JSON.parse`, then one
 * validating walk. OTLP/JSON differs from the plain proto3 JSON mapping in that trace and
 * span ids are hex (not base64) and enums are integers; as the mapping allows, enum names,
 * snake_case field names and int64 / fixed64 values as strings or numbers are accepted
 * too, and unknown fields are ignored.
 *
 * The output matches {@link decodeTracesProtobuf} for the same request, field by field.
 */
import { setAttribute } from './decode-attributes.js';
import { OtlpDecodeError, OtlpLimitError, resolveDecodeLimits, type DecodeLimits } from './decode-errors.js';
import type { DecodeProjection } from './decode-protobuf.js';
import type { AttributeValue, Attributes, SpanEventView, SpanView } from './span-view.js';

type Json = Record<string, unknown>;

const SPAN_KIND_NAMES: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_CODE_NAMES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

const HEX_ID = /^[0-9a-f]*$/;
const HEX_ID_ANY_CASE = /^[0-9a-fA-F]*$/;
const UNSIGNED_INTEGER = /^[0-9]+$/;
const SIGNED_INTEGER = /^-?[0-9]+$/;
const TWO_POW_64 = 18446744073709551616;
const DEFAULT_LIMITS = resolveDecodeLimits(undefined);

/**
 * Paths are only spelled out when something fails: a field is named by its owner's path
 * plus the field name, joined in {@link fail}, so the walk builds no strings on valid input.
 */
function fail(path: string, field: string, reason: string): never {
  throw new OtlpDecodeError(`${field === '' ? path : `${path}.${field}`}: ${reason}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' || type === 'undefined' ? `an ${type}` : `a ${type}`;
}

/** A field by its lowerCamelCase name or, failing that, its proto (snake_case) name; null counts as absent. */
function get(obj: Json, camel: string, snake: string): unknown {
  const v = obj[camel];
  if (v !== undefined && v !== null) return v;
  const s = obj[snake];
  return s === null ? undefined : s;
}

function asObject(value: unknown, path: string, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, field, `expected an object, got ${describe(value)}`);
  return value as Json;
}

/** A repeated field: absent gives an empty list. */
function asArray(value: unknown, path: string, field: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(path, field, `expected an array, got ${describe(value)}`);
  return value;
}

function asString(value: unknown, path: string, field: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') fail(path, field, `expected a string, got ${describe(value)}`);
  return value;
}

function asId(value: unknown, hexLength: number, path: string, field: string): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') fail(path, field, `expected ${hexLength} hex characters, got ${describe(value)}`);
  // Absent ids are '' in both decoders (zero-length bytes on the wire).
  if (value.length === 0) return '';
  if (value.length !== hexLength) fail(path, field, `expected ${hexLength} hex characters, got ${value.length}`);
  if (HEX_ID.test(value)) return value;
  if (HEX_ID_ANY_CASE.test(value)) return value.toLowerCase();
  fail(path, field, `expected ${hexLength} hex characters, got a non-hex character`);
}

/** An enum as its integer value or its name. */
function asEnum(value: unknown, names: Readonly<Record<string, number>>, path: string, field: string): number {
  if (value === undefined) return 0;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -2147483648 && value <= 2147483647) return value;
    fail(path, field, `expected an enum value (int32), got ${value}`);
  }
  if (typeof value === 'string') {
    const n = names[value];
    if (n !== undefined && Object.prototype.hasOwnProperty.call(names, value)) return n;
    if (SIGNED_INTEGER.test(value)) return asEnum(Number(value), names, path, field);
    fail(path, field, `unknown enum name ${JSON.stringify(value.slice(0, 64))}`);
  }
  fail(path, field, `expected an enum number or name, got ${describe(value)}`);
}

/** A fixed64 (nanosecond timestamp) as a decimal string or number, to the nearest double. */
function asFixed64(value: unknown, path: string, field: string): number {
  if (value === undefined) return 0;
  if (typeof value === 'string') {
    if (!UNSIGNED_INTEGER.test(value)) fail(path, field, `expected an unsigned integer, got ${JSON.stringify(value.slice(0, 64))}`);
    const n = Number(value);
    if (n >= TWO_POW_64) fail(path, field, 'out of range for fixed64');
    return n;
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value >= TWO_POW_64) fail(path, field, `expected an unsigned integer, got ${value}`);
    return value;
  }
  fail(path, field, `expected an unsigned integer as a string or number, got ${describe(value)}`);
}

/**
 * end - start of two validated fixed64 values, exact when both came as decimal strings
 * (as the OTel JSON exporter sends them): the last nine digits are subtracted apart.
 */
function exactDifference(end: unknown, start: unknown, approximate: number): number {
  if (typeof end !== 'string' || typeof start !== 'string' || end.length < 10 || start.length < 10) return approximate;
  const endHead = Number(end.slice(0, -9));
  const startHead = Number(start.slice(0, -9));
  return (endHead - startHead) * 1e9 + (Number(end.slice(-9)) - Number(start.slice(-9)));
}

/**
 * An int64 as a decimal string or number, to the nearest double. Integers beyond the int64
 * range are kept, not refused: the OTel JS JSON exporter sends any integral number (1e300
 * too) as intValue, where its protobuf exporter sends a double of the same value.
 */
function asInt64(value: unknown, path: string, field: string): number {
  let n: number;
  if (typeof value === 'string') {
    if (!SIGNED_INTEGER.test(value)) fail(path, field, `expected an integer, got ${JSON.stringify(value.slice(0, 64))}`);
    n = Number(value);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) fail(path, field, `expected an integer, got ${value}`);
    n = value;
  } else fail(path, field, `expected an integer as a string or number, got ${describe(value)}`);
  // Normalise -0 so both decoders agree (a varint has no negative zero).
  return n === 0 ? 0 : n;
}

/** A double as a number or, per the proto3 JSON mapping, a string (including NaN and +-Infinity). */
function asDouble(value: unknown, path: string, field: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') {
    if (value === 'NaN') return NaN;
    if (value === 'Infinity') return Infinity;
    if (value === '-Infinity') return -Infinity;
    const n = Number(value);
    if (value.trim() !== '' && Number.isFinite(n)) return n;
  }
  fail(path, field, `expected a number, got ${typeof value === 'string' ? JSON.stringify(value.slice(0, 64)) : describe(value)}`);
}

function asBool(value: unknown, path: string, field: string): boolean {
  if (typeof value !== 'boolean') fail(path, field, `expected a boolean, got ${describe(value)}`);
  return value;
}

/** The path of attribute `i` of list `list` under `owner`, with `.arrayValue.values[j]` when j >= 0. */
function attributePath(owner: string, list: string, i: number, j: number): string {
  const value = `${owner}.${list}[${i}].value`;
  return j < 0 ? value : `${value}.arrayValue.values[${j}]`;
}

/**
 * AnyValue flattened: undefined for maps, bytes, empty values (and, inside arrays, nested
 * arrays). `owner`, `list`, `i`, `j` locate it for error messages (j < 0 outside arrays).
 */
function readAnyValue(value: unknown, owner: string, list: string, i: number, j: number): AttributeValue | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(attributePath(owner, list, i, j), '', `expected an object, got ${describe(value)}`);
  }
  const any = value as Json;
  let v: unknown;
  if ((v = get(any, 'stringValue', 'string_value')) !== undefined) {
    if (typeof v === 'string') return v;
    return asString(v, attributePath(owner, list, i, j), 'stringValue');
  }
  if ((v = get(any, 'intValue', 'int_value')) !== undefined) {
    if (typeof v === 'number' && Number.isInteger(v) && v !== 0) return v;
    return asInt64(v, attributePath(owner, list, i, j), 'intValue');
  }
  if ((v = get(any, 'boolValue', 'bool_value')) !== undefined) {
    if (typeof v === 'boolean') return v;
    return asBool(v, attributePath(owner, list, i, j), 'boolValue');
  }
  if ((v = get(any, 'doubleValue', 'double_value')) !== undefined) {
    if (typeof v === 'number') return v;
    return asDouble(v, attributePath(owner, list, i, j), 'doubleValue');
  }
  if ((v = get(any, 'arrayValue', 'array_value')) !== undefined) {
    const arrayObject = asObject(v, attributePath(owner, list, i, j), 'arrayValue');
    const items = get(arrayObject, 'values', 'values');
    if (items !== undefined && !Array.isArray(items))
      fail(attributePath(owner, list, i, j), 'arrayValue.values', `expected an array, got ${describe(items)}`);
    if (j >= 0 || items === undefined) return j >= 0 ? undefined : [];
    const out: (string | number | boolean)[] = [];
    for (let k = 0; k < items.length; k++) {
      const item = readAnyValue(items[k], owner, list, i, k);
      if (item !== undefined) out.push(item as string | number | boolean);
    }
    return out;
  }
  // kvlistValue, bytesValue and the empty AnyValue have no flat form.
  return undefined;
}

/** Reads `owner.list` (a KeyValue list) into `attributes`; with `keep`, only those keys (every value is still checked). */
function readAttributes(items: unknown, owner: string, list: string, attributes: Attributes, keep?: ReadonlySet<string>): void {
  if (items === undefined) return;
  if (!Array.isArray(items)) fail(owner, list, `expected an array, got ${describe(items)}`);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      fail(owner, `${list}[${i}]`, `expected an object, got ${describe(item)}`);
    const kv = item as Json;
    const key = kv.key === undefined || kv.key === null ? '' : kv.key;
    if (typeof key !== 'string') fail(owner, `${list}[${i}].key`, `expected a string, got ${describe(key)}`);
    const raw = kv.value;
    if (raw === undefined || raw === null) continue;
    const value = readAnyValue(raw, owner, list, i, -1);
    if (value !== undefined && (keep === undefined || keep.has(key))) setAttribute(attributes, key, value);
  }
}

function readEvent(value: unknown, spanPath: string, index: number): SpanEventView {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(spanPath, `events[${index}]`, `expected an object, got ${describe(value)}`);
  const ev = value as Json;
  const attributes: Attributes = {};
  let timeUnixNano: number;
  let name: string;
  const t = get(ev, 'timeUnixNano', 'time_unix_nano');
  const n = ev.name ?? undefined;
  if (typeof t === 'string' && UNSIGNED_INTEGER.test(t) && typeof n === 'string') {
    // The common case, without building the event's path.
    timeUnixNano = Number(t);
    name = n;
    if (timeUnixNano >= TWO_POW_64) fail(`${spanPath}.events[${index}]`, 'timeUnixNano', 'out of range for fixed64');
  } else {
    const path = `${spanPath}.events[${index}]`;
    timeUnixNano = asFixed64(t, path, 'timeUnixNano');
    name = asString(n, path, 'name');
  }
  const list = ev.attributes ?? undefined;
  if (list !== undefined) readAttributes(list, `${spanPath}.events[${index}]`, 'attributes', attributes);
  return { name, timeUnixNano, attributes };
}

/** What is still allowed of the request's limits, and the projection. */
interface Budget {
  spans: number;
  events: number;
  projection: DecodeProjection | undefined;
}

function readSpan(value: unknown, path: string, resource: Attributes, budget: Budget): SpanView {
  const s = asObject(value, path, '');
  const traceId = asId(get(s, 'traceId', 'trace_id'), 32, path, 'traceId');
  const spanId = asId(get(s, 'spanId', 'span_id'), 16, path, 'spanId');
  const parentSpanId = asId(get(s, 'parentSpanId', 'parent_span_id'), 16, path, 'parentSpanId');
  const name = asString(s.name ?? undefined, path, 'name');
  const kind = asEnum(s.kind ?? undefined, SPAN_KIND_NAMES, path, 'kind');
  const rawStart = get(s, 'startTimeUnixNano', 'start_time_unix_nano');
  const rawEnd = get(s, 'endTimeUnixNano', 'end_time_unix_nano');
  const startTimeUnixNano = asFixed64(rawStart, path, 'startTimeUnixNano');
  const endTimeUnixNano = asFixed64(rawEnd, path, 'endTimeUnixNano');
  let statusCode = 0;
  const status = s.status ?? undefined;
  if (status !== undefined) {
    statusCode = asEnum(asObject(status, path, 'status').code ?? undefined, STATUS_CODE_NAMES, path, 'status.code');
  }
  const attributes: Attributes = {};
  readAttributes(s.attributes ?? undefined, path, 'attributes', attributes, budget.projection?.spanAttributes);
  const eventList = asArray(s.events ?? undefined, path, 'events');
  budget.events -= eventList.length;
  if (budget.events < 0) throw new OtlpLimitError(`${path}.events: more span events than the limit allows`);
  const keepEvents = budget.projection?.events;
  let events: SpanEventView[];
  if (keepEvents === undefined) {
    events = new Array(eventList.length);
    for (let i = 0; i < eventList.length; i++) events[i] = readEvent(eventList[i], path, i);
  } else {
    events = [];
    for (let i = 0; i < eventList.length; i++) {
      const event = readEvent(eventList[i], path, i);
      if (keepEvents.has(event.name)) events.push(event);
    }
  }
  return {
    traceId,
    spanId,
    parentSpanId,
    name,
    kind,
    startTimeUnixNano,
    endTimeUnixNano,
    durationNano: exactDifference(rawEnd, rawStart, endTimeUnixNano - startTimeUnixNano),
    statusCode,
    attributes,
    events,
    resource,
  };
}

function parse(body: string | Uint8Array): unknown {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new OtlpDecodeError('body is not valid UTF-8');
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`body is not JSON: ${(err as Error).message}`);
  }
}

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (a string, or UTF-8 bytes) into span
 * views, in document order. Ids are lower-cased; an absent or empty id gives '', which
 * the spec calls invalid: the caller decides whether to reject such a span.
 *
 * @throws OtlpDecodeError naming the JSON path of the first problem (OtlpLimitError, a
 *   subclass, past `limits`), e.g.
 *   `resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters, got 31`.
 *
 * With a `projection` (see decode-protobuf.ts), only the attributes and events it names are
 * kept; everything is still checked, so the same bodies fail with the same errors.
 */
export function decodeTracesJson(body: string | Uint8Array, limits?: DecodeLimits, projection?: DecodeProjection): SpanView[] {
  const { maxSpans, maxEvents } = limits === undefined ? DEFAULT_LIMITS : resolveDecodeLimits(limits);
  const budget: Budget = { spans: maxSpans, events: maxEvents, projection };
  const request = asObject(parse(body), 'request', '');
  const out: SpanView[] = [];
  const resourceSpans = asArray(get(request, 'resourceSpans', 'resource_spans'), 'resourceSpans', '');
  for (let i = 0; i < resourceSpans.length; i++) {
    const rsPath = `resourceSpans[${i}]`;
    const rs = asObject(resourceSpans[i], rsPath, '');
    const resource: Attributes = {};
    const res = rs.resource ?? undefined;
    if (res !== undefined)
      readAttributes(
        asObject(res, rsPath, 'resource').attributes ?? undefined,
        `${rsPath}.resource`,
        'attributes',
        resource,
        projection?.resourceAttributes,
      );
    const scopeSpans = asArray(get(rs, 'scopeSpans', 'scope_spans'), rsPath, 'scopeSpans');
    for (let j = 0; j < scopeSpans.length; j++) {
      const ssPath = `${rsPath}.scopeSpans[${j}]`;
      const spans = asArray(asObject(scopeSpans[j], ssPath, '').spans ?? undefined, ssPath, 'spans');
      budget.spans -= spans.length;
      if (budget.spans < 0) throw new OtlpLimitError(`${ssPath}.spans: more spans than the limit allows`);
      // One path string per span (cheap); field paths are joined only on failure.
      for (let k = 0; k < spans.length; k++) out.push(readSpan(spans[k], `${ssPath}.spans[${k}]`, resource, budget));
    }
  }
  return out;
}
