/**
 * A purpose-built reader for OTLP/protobuf `ExportTraceServiceRequest` bodies that goes
 * straight from bytes to {@link SpanView}s, without the full object tree a generated
 * decoder builds (protobufjs decode + toObject is the throughput bottleneck on Node 20).
 *
 * Field numbers are those of opentelemetry-proto (collector/trace/v1/trace_service.proto,
 * trace/v1/trace.proto, common/v1/common.proto, resource/v1/resource.proto); the tests
 * decode the same bytes with protobufjs and compare. Fields tallying does not need
 * (scope, links, trace state, flags, dropped counts, schema URLs) are skipped by length.
 *
 * Malformed input throws {@link OtlpDecodeError}: truncated varints and fixed fields,
 * lengths past the end of their message, group wire types (deprecated, never used by
 * OTLP), invalid wire types, a known field with the wrong wire type, ids of the wrong size.
 * Unknown fields of every valid wire type are skipped, as proto3 requires.
 */
import { setAttribute } from './decode-attributes.js';
import { OtlpDecodeError, OtlpLimitError, resolveDecodeLimits, type DecodeLimits } from './decode-errors.js';
import type { AttributeValue, Attributes, SpanEventView, SpanView } from './span-view.js';

/** Wire types (protobuf encoding spec). */
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_START_GROUP = 3;
const WIRE_END_GROUP = 4;
const WIRE_FIXED32 = 5;

/** A tag value: field number and wire type as they appear on the wire. */
function tag(field: number, wire: number): number {
  return (field << 3) | wire;
}

/** Bit masks of the field numbers each message decodes; used to reject a known field sent with the wrong wire type. */
function fields(...numbers: number[]): number {
  return numbers.reduce((mask, n) => mask | (1 << n), 0);
}

// ExportTraceServiceRequest
const REQUEST_RESOURCE_SPANS = tag(1, WIRE_LEN);
const REQUEST_KNOWN = fields(1);
// ResourceSpans
const RESOURCE_SPANS_RESOURCE = tag(1, WIRE_LEN);
const RESOURCE_SPANS_SCOPE_SPANS = tag(2, WIRE_LEN);
const RESOURCE_SPANS_KNOWN = fields(1, 2);
// Resource
const RESOURCE_ATTRIBUTES = tag(1, WIRE_LEN);
const RESOURCE_KNOWN = fields(1);
// ScopeSpans
const SCOPE_SPANS_SPANS = tag(2, WIRE_LEN);
const SCOPE_SPANS_KNOWN = fields(2);
// Span
const SPAN_TRACE_ID = tag(1, WIRE_LEN);
const SPAN_SPAN_ID = tag(2, WIRE_LEN);
const SPAN_PARENT_SPAN_ID = tag(4, WIRE_LEN);
const SPAN_NAME = tag(5, WIRE_LEN);
const SPAN_KIND = tag(6, WIRE_VARINT);
const SPAN_START_TIME = tag(7, WIRE_FIXED64);
const SPAN_END_TIME = tag(8, WIRE_FIXED64);
const SPAN_ATTRIBUTES = tag(9, WIRE_LEN);
const SPAN_EVENTS = tag(11, WIRE_LEN);
const SPAN_STATUS = tag(15, WIRE_LEN);
const SPAN_KNOWN = fields(1, 2, 4, 5, 6, 7, 8, 9, 11, 15);
// Span.Event
const EVENT_TIME = tag(1, WIRE_FIXED64);
const EVENT_NAME = tag(2, WIRE_LEN);
const EVENT_ATTRIBUTES = tag(3, WIRE_LEN);
const EVENT_KNOWN = fields(1, 2, 3);
// Status
const STATUS_CODE = tag(3, WIRE_VARINT);
const STATUS_KNOWN = fields(3);
// KeyValue
const KEY_VALUE_KEY = tag(1, WIRE_LEN);
const KEY_VALUE_VALUE = tag(2, WIRE_LEN);
const KEY_VALUE_KNOWN = fields(1, 2);
// AnyValue (a oneof: the last member on the wire wins)
const ANY_STRING = tag(1, WIRE_LEN);
const ANY_BOOL = tag(2, WIRE_VARINT);
const ANY_INT = tag(3, WIRE_VARINT);
const ANY_DOUBLE = tag(4, WIRE_FIXED64);
const ANY_ARRAY = tag(5, WIRE_LEN);
const ANY_KVLIST = tag(6, WIRE_LEN);
const ANY_BYTES = tag(7, WIRE_LEN);
const ANY_KNOWN = fields(1, 2, 3, 4, 5, 6, 7);
// ArrayValue
const ARRAY_VALUES = tag(1, WIRE_LEN);
const ARRAY_KNOWN = fields(1);

const TWO_POW_32 = 4294967296;
const DEFAULT_LIMITS = resolveDecodeLimits(undefined);

/** Byte to the char codes of its two lower-case hex digits, at [2b] and [2b + 1]. */
const HEX_CODES: readonly number[] = Array.from({ length: 512 }, (_, i) =>
  (i >> 1)
    .toString(16)
    .padStart(2, '0')
    .charCodeAt(i & 1),
);
/** Scratch space for the char codes of one id (32 for a trace id). */
const hexScratch: number[] = new Array<number>(32).fill(0);

/** Buffer's native slicers (present on every Node Buffer, not in @types/node); toString() adds argument checks per call. */
interface FastSlicers {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
const HAS_FAST_SLICERS =
  typeof (Buffer.prototype as unknown as Partial<FastSlicers>).utf8Slice === 'function' &&
  typeof (Buffer.prototype as unknown as Partial<FastSlicers>).latin1Slice === 'function';

/**
 * Short ASCII strings (attribute keys, tool, provider and model names, outcomes) repeat in
 * almost every span; a direct-mapped cache returns the same string without allocating. The
 * slot comes from the length and three bytes (no hashing pass); a hit is confirmed byte by
 * byte, so a collision only costs a miss.
 */
const STRING_CACHE_SIZE = 4096;
const STRING_CACHE_MAX_LENGTH = 64;
const stringCache: string[] = new Array<string>(STRING_CACHE_SIZE).fill('');
/** The bytes of each cached string, STRING_CACHE_MAX_LENGTH per slot, compared four at a time. */
const stringCacheBytes = new Uint8Array(STRING_CACHE_SIZE * STRING_CACHE_MAX_LENGTH);
const stringCacheView = new DataView(stringCacheBytes.buffer);

/**
 * What a caller needs from the spans; everything else is still read and checked (so the
 * same bodies are rejected with the same errors) but never turned into values: attribute
 * values of other keys are walked without decoding their strings or building arrays, and
 * events of other names are walked and dropped. Without a projection, everything is decoded.
 * A projected decode equals the full decode with attributes and events filtered.
 */
export interface DecodeProjection {
  /** Span attribute keys to keep. Default: all. */
  spanAttributes?: ReadonlySet<string>;
  /** Resource attribute keys to keep. Default: all. */
  resourceAttributes?: ReadonlySet<string>;
  /** Names of the span events to keep (with all their attributes). Default: all. */
  events?: ReadonlySet<string>;
}

/** Decoding state: the body, its read position and the two halves of the last long varint. */
class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  readonly text: Buffer;
  pos = 0;
  lo = 0;
  hi = 0;
  /** Spans and events still allowed (see DecodeLimits). */
  spansLeft: number;
  eventsLeft: number;
  /** Projection sets (undefined: keep all). */
  readonly keepSpan: ReadonlySet<string> | undefined;
  readonly keepResource: ReadonlySet<string> | undefined;
  readonly keepEvents: ReadonlySet<string> | undefined;

  constructor(buf: Uint8Array, limits: Required<DecodeLimits>, projection: DecodeProjection | undefined) {
    this.buf = buf;
    this.keepSpan = projection?.spanAttributes;
    this.keepResource = projection?.resourceAttributes;
    this.keepEvents = projection?.events;
    this.spansLeft = limits.maxSpans;
    this.eventsLeft = limits.maxEvents;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  }
}

function fail(message: string): never {
  throw new OtlpDecodeError(message);
}

// Error messages are built in these cold functions, not in the hot readers that call them:
// a template literal in a small hot function makes it too large for V8 to inline.
function failAt(what: string, pos: number): never {
  fail(`${what} ${pos}`);
}

function failLength(len: number, pos: number, left: number): never {
  fail(`length ${len} at byte ${pos} runs past the end of its message (${left} bytes left)`);
}

function failWire(message: string, field: number, what: string, wire: number, pos: number, note: string): never {
  fail(`${message} field ${field}: ${what} ${wire} at byte ${pos}${note}`);
}

function failLimit(what: string, pos: number): never {
  throw new OtlpLimitError(`${what} ${pos}`);
}

function failIdSize(field: string, size: number, len: number, pos: number): never {
  fail(`${field}: expected ${size} bytes, got ${len} (at byte ${pos})`);
}

/** Reads a varint of up to 10 bytes into r.lo / r.hi (unsigned 32-bit halves). */
function readVarint64(r: Reader, end: number): void {
  const buf = r.buf;
  const start = r.pos;
  let pos = start;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) failAt('truncated varint at byte', start);
    const b = buf[pos++]!;
    if (i < 4) lo |= (b & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (b & 0x7f) << 28;
      hi |= (b & 0x7f) >>> 4;
    } else hi |= (b & 0x7f) << (7 * i - 32);
    if (b < 0x80) {
      r.pos = pos;
      r.lo = lo >>> 0;
      r.hi = hi >>> 0;
      return;
    }
  }
  failAt('varint longer than 10 bytes at byte', start);
}

function readTag(r: Reader, end: number): number {
  const pos = r.pos;
  // pos < end always holds here (callers loop while r.pos < end); one-byte tags are the common case.
  const b = r.buf[pos]!;
  if (b < 0x80) {
    r.pos = pos + 1;
    if (b < 8) failAt('field number 0 at byte', pos);
    return b;
  }
  readVarint64(r, end);
  if (r.hi !== 0) failAt('field number too large at byte', pos);
  if (r.lo >>> 3 === 0) failAt('field number 0 at byte', pos);
  return r.lo;
}

/** Reads the length prefix of a length-delimited field and checks it fits in the enclosing message. */
function readLength(r: Reader, end: number): number {
  const pos = r.pos;
  let len: number;
  if (pos < end && r.buf[pos]! < 0x80) {
    len = r.buf[pos]!;
    r.pos = pos + 1;
  } else {
    readVarint64(r, end);
    len = r.hi * TWO_POW_32 + r.lo;
  }
  if (len > end - r.pos) failLength(len, pos, end - r.pos);
  return len;
}

/** A varint read as int32, as protobuf does for enums (negative values arrive as 10-byte varints). */
function readInt32(r: Reader, end: number): number {
  const pos = r.pos;
  if (pos < end && r.buf[pos]! < 0x80) {
    r.pos = pos + 1;
    return r.buf[pos]!;
  }
  readVarint64(r, end);
  return r.lo | 0;
}

/** An int64 varint as the nearest double (exact up to 2^53). */
function readInt64(r: Reader, end: number): number {
  const pos = r.pos;
  if (pos < end && r.buf[pos]! < 0x80) {
    r.pos = pos + 1;
    return r.buf[pos]!;
  }
  readVarint64(r, end);
  return (r.hi | 0) * TWO_POW_32 + r.lo;
}

/** A fixed64 (timestamps in nanoseconds) as the nearest double. */
function readFixed64(r: Reader, end: number): number {
  const pos = r.pos;
  if (end - pos < 8) failAt('truncated fixed64 at byte', pos);
  r.pos = pos + 8;
  return r.view.getUint32(pos + 4, true) * TWO_POW_32 + r.view.getUint32(pos, true);
}

function readDouble(r: Reader, end: number): number {
  const pos = r.pos;
  if (end - pos < 8) failAt('truncated double at byte', pos);
  r.pos = pos + 8;
  return r.view.getFloat64(pos, true);
}

/** The cached string of `slot` when it holds bytes [start, stop) of `buf`, else undefined. */
function cachedAt(r: Reader, slot: number, start: number, len: number): string | undefined {
  const cached = stringCache[slot]!;
  if (cached.length !== len) return undefined;
  const base = slot * STRING_CACHE_MAX_LENGTH;
  const view = r.view;
  const buf = r.buf;
  let i = 0;
  while (i + 4 <= len && view.getInt32(start + i) === stringCacheView.getInt32(base + i)) i += 4;
  if (i + 4 > len) while (i < len && buf[start + i] === stringCacheBytes[base + i]) i++;
  // Cached strings are ASCII, so equal bytes are ASCII too.
  return i === len ? cached : undefined;
}

/**
 * Decodes UTF-8 bytes [start, stop): cached for short ASCII, native slicing otherwise. The
 * cache is two-way: a string may sit in either of two slots, so two frequent strings whose
 * first slots collide do not evict each other on every span.
 */
function decodeString(r: Reader, start: number, stop: number): string {
  const len = stop - start;
  if (len === 0) return '';
  const buf = r.buf;
  if (len <= STRING_CACHE_MAX_LENGTH) {
    const h =
      Math.imul(len, 0x9e3779b1) ^
      Math.imul(buf[start]!, 0x85ebca6b) ^
      Math.imul(buf[stop - 1]!, 0xc2b2ae35) ^
      Math.imul(buf[start + (len >> 1)]!, 0x27d4eb2f);
    const slot = h >>> 20;
    const hit = cachedAt(r, slot, start, len);
    if (hit !== undefined) return hit;
    const slot2 = (h & (STRING_CACHE_SIZE - 1)) ^ (buf[start + (len >> 2)]! << 4);
    const hit2 = cachedAt(r, slot2, start, len);
    if (hit2 !== undefined) return hit2;
    let ascii = true;
    for (let i = start; i < stop; i++) {
      if (buf[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // ASCII is the same in latin1 and UTF-8, and latin1 needs no validation pass.
      const s = HAS_FAST_SLICERS ? (r.text as unknown as FastSlicers).latin1Slice(start, stop) : r.text.toString('latin1', start, stop);
      // An empty first slot takes it; otherwise the second one (its occupant, if any, is evicted).
      const target = stringCache[slot] === '' ? slot : slot2;
      stringCache[target] = s;
      stringCacheBytes.set(buf.subarray(start, stop), target * STRING_CACHE_MAX_LENGTH);
      return s;
    }
  }
  // Invalid sequences become U+FFFD, as protobufjs and TextDecoder do.
  return HAS_FAST_SLICERS ? (r.text as unknown as FastSlicers).utf8Slice(start, stop) : r.text.toString('utf8', start, stop);
}

function readString(r: Reader, end: number): string {
  const len = readLength(r, end);
  const start = r.pos;
  r.pos = start + len;
  return decodeString(r, start, start + len);
}

/** A trace or span id as lower-case hex; '' when absent (zero length), an error for any other size. */
function readId(r: Reader, end: number, size: number, field: string): string {
  const pos = r.pos;
  const len = readLength(r, end);
  const start = r.pos;
  r.pos = start + len;
  if (len === 0) return '';
  if (len !== size) failIdSize(field, size, len, pos);
  // One flat string from a char-code table (concatenating per byte builds a rope of 16 pieces).
  const buf = r.buf;
  const codes = hexScratch;
  codes.length = 2 * len;
  for (let i = 0; i < len; i++) {
    const b = buf[start + i]! << 1;
    codes[2 * i] = HEX_CODES[b]!;
    codes[2 * i + 1] = HEX_CODES[b + 1]!;
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * Skips a field this reader does not use. A field it does use, arriving with another wire
 * type, is malformed (as the OTel Collector's generated decoder also rules).
 */
function skipField(r: Reader, end: number, tagValue: number, known: number, message: string): void {
  const wire = tagValue & 7;
  const field = tagValue >>> 3;
  if (field < 32 && (known & (1 << field)) !== 0) {
    failWire(message, field, 'wrong wire type', wire, r.pos, '');
  }
  const pos = r.pos;
  switch (wire) {
    case WIRE_VARINT:
      readVarint64(r, end);
      return;
    case WIRE_FIXED64:
      if (end - pos < 8) failAt('truncated fixed64 at byte', pos);
      r.pos = pos + 8;
      return;
    case WIRE_LEN: {
      const n = readLength(r, end);
      r.pos += n;
      return;
    }
    case WIRE_FIXED32:
      if (end - pos < 4) failAt('truncated fixed32 at byte', pos);
      r.pos = pos + 4;
      return;
    case WIRE_START_GROUP:
    case WIRE_END_GROUP:
      failWire(message, field, 'group wire type', wire, pos, ' (deprecated, not used by OTLP)');
    // falls through: fail() never returns
    default:
      failWire(message, field, 'invalid wire type', wire, pos, '');
  }
}

/** Skips a length-delimited payload (note: `r.pos += readLength(...)` would add to the position read before the prefix). */
function skipBytes(r: Reader, end: number): void {
  const n = readLength(r, end);
  r.pos += n;
}

/** Opens an embedded message: returns its end offset (its length already checked). */
function enter(r: Reader, end: number): number {
  const len = readLength(r, end);
  return r.pos + len;
}

/** ArrayValue: scalars only; nested arrays, maps, bytes and empty values are dropped. */
function readArray(r: Reader, end: number): (string | number | boolean)[] {
  const values: (string | number | boolean)[] = [];
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === ARRAY_VALUES) {
      const v = readAnyValue(r, enter(r, end), false);
      if (v !== undefined) values.push(v as string | number | boolean);
    } else skipField(r, end, t, ARRAY_KNOWN, 'ArrayValue');
  }
  return values;
}

/** AnyValue flattened to an {@link AttributeValue}; undefined for maps, bytes and empty values. */
function readAnyValue(r: Reader, end: number, allowArray: boolean): AttributeValue | undefined {
  let value: AttributeValue | undefined;
  while (r.pos < end) {
    const t = readTag(r, end);
    switch (t) {
      case ANY_STRING:
        value = readString(r, end);
        break;
      case ANY_BOOL:
        readVarint64(r, end);
        value = r.lo !== 0 || r.hi !== 0;
        break;
      case ANY_INT:
        value = readInt64(r, end);
        break;
      case ANY_DOUBLE:
        value = readDouble(r, end);
        break;
      case ANY_ARRAY:
        if (allowArray) value = readArray(r, enter(r, end));
        else {
          skipBytes(r, end);
          value = undefined;
        }
        break;
      case ANY_KVLIST:
      case ANY_BYTES:
        skipBytes(r, end);
        value = undefined;
        break;
      default:
        skipField(r, end, t, ANY_KNOWN, 'AnyValue');
    }
  }
  return value;
}

/** Walks an ArrayValue as {@link readArray} does (same checks, same errors) without building it. */
function skipArray(r: Reader, end: number): void {
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === ARRAY_VALUES) skipAnyValue(r, enter(r, end), false);
    else skipField(r, end, t, ARRAY_KNOWN, 'ArrayValue');
  }
}

/** Walks an AnyValue as {@link readAnyValue} does (same checks, same errors) without decoding it. */
function skipAnyValue(r: Reader, end: number, allowArray: boolean): void {
  while (r.pos < end) {
    const t = readTag(r, end);
    switch (t) {
      case ANY_STRING:
        skipBytes(r, end);
        break;
      case ANY_BOOL:
        readVarint64(r, end);
        break;
      case ANY_INT:
        readInt64(r, end);
        break;
      case ANY_DOUBLE:
        readDouble(r, end);
        break;
      case ANY_ARRAY:
        if (allowArray) skipArray(r, enter(r, end));
        else skipBytes(r, end);
        break;
      case ANY_KVLIST:
      case ANY_BYTES:
        skipBytes(r, end);
        break;
      default:
        skipField(r, end, t, ANY_KNOWN, 'AnyValue');
    }
  }
}

/** One KeyValue into `attributes`; with `keep`, values of other keys are walked, not decoded. */
function readKeyValue(r: Reader, end: number, attributes: Attributes, keep: ReadonlySet<string> | undefined): void {
  let key = '';
  let value: AttributeValue | undefined;
  /** Whether `key` is kept (always true without a projection). */
  let kept = true;
  /** Range of a value walked without decoding (its key was not kept when it arrived), -1 when none. */
  let skippedStart = -1;
  let skippedEnd = -1;
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === KEY_VALUE_KEY) {
      key = readString(r, end);
      if (keep !== undefined) kept = keep.has(key);
    } else if (t === KEY_VALUE_VALUE) {
      const valueEnd = enter(r, end);
      if (!kept) {
        skippedStart = r.pos;
        skippedEnd = valueEnd;
        skipAnyValue(r, valueEnd, true);
        value = undefined;
      } else {
        skippedStart = -1;
        value = readAnyValue(r, valueEnd, true);
      }
    } else skipField(r, end, t, KEY_VALUE_KNOWN, 'KeyValue');
  }
  // A value before any key belongs to the key '' (decoded above: `kept` starts true).
  if (keep !== undefined && (key === '' ? !keep.has('') : !kept)) return;
  if (skippedStart >= 0) {
    // A later key field named a kept key (a repeated key: the last one wins): decode the walked value now.
    r.pos = skippedStart;
    value = readAnyValue(r, skippedEnd, true);
    r.pos = end;
  }
  if (value !== undefined) setAttribute(attributes, key, value);
}

/** Walks a Span.Event as {@link readEvent} does (same checks, same errors), returning only its name. */
function readEventName(r: Reader, end: number): string {
  let name = '';
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === EVENT_TIME) readFixed64(r, end);
    else if (t === EVENT_NAME) name = readString(r, end);
    else if (t === EVENT_ATTRIBUTES) readKeyValue(r, enter(r, end), {}, EMPTY_SET);
    else skipField(r, end, t, EVENT_KNOWN, 'Span.Event');
  }
  return name;
}

const EMPTY_SET: ReadonlySet<string> = new Set();

function readEvent(r: Reader, end: number): SpanEventView {
  let name = '';
  let timeUnixNano = 0;
  const attributes: Attributes = {};
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === EVENT_TIME) timeUnixNano = readFixed64(r, end);
    else if (t === EVENT_NAME) name = readString(r, end);
    else if (t === EVENT_ATTRIBUTES) readKeyValue(r, enter(r, end), attributes, undefined);
    else skipField(r, end, t, EVENT_KNOWN, 'Span.Event');
  }
  return { name, timeUnixNano, attributes };
}

function readStatusCode(r: Reader, end: number): number {
  let code = 0;
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === STATUS_CODE) code = readInt32(r, end);
    else skipField(r, end, t, STATUS_KNOWN, 'Status');
  }
  return code;
}

function readSpan(r: Reader, end: number, resource: Attributes): SpanView {
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let name = '';
  let kind = 0;
  let startTimeUnixNano = 0;
  let startHi = 0;
  let startLo = 0;
  let endHi = 0;
  let endLo = 0;
  let endTimeUnixNano = 0;
  let statusCode = 0;
  const attributes: Attributes = {};
  const events: SpanEventView[] = [];
  while (r.pos < end) {
    const t = readTag(r, end);
    switch (t) {
      case SPAN_TRACE_ID:
        traceId = readId(r, end, 16, 'Span.trace_id');
        break;
      case SPAN_SPAN_ID:
        spanId = readId(r, end, 8, 'Span.span_id');
        break;
      case SPAN_PARENT_SPAN_ID:
        parentSpanId = readId(r, end, 8, 'Span.parent_span_id');
        break;
      case SPAN_NAME:
        name = readString(r, end);
        break;
      case SPAN_KIND:
        kind = readInt32(r, end);
        break;
      case SPAN_START_TIME:
        startTimeUnixNano = readFixed64(r, end);
        startHi = r.view.getUint32(r.pos - 4, true);
        startLo = r.view.getUint32(r.pos - 8, true);
        break;
      case SPAN_END_TIME:
        endTimeUnixNano = readFixed64(r, end);
        endHi = r.view.getUint32(r.pos - 4, true);
        endLo = r.view.getUint32(r.pos - 8, true);
        break;
      case SPAN_ATTRIBUTES:
        readKeyValue(r, enter(r, end), attributes, r.keepSpan);
        break;
      case SPAN_EVENTS: {
        if (--r.eventsLeft < 0) failLimit('more span events than the limit allows at byte', r.pos);
        const eventEnd = enter(r, end);
        if (r.keepEvents !== undefined) {
          // The name may follow the attributes: walk the event once for it, decode only the kept ones.
          const start = r.pos;
          if (!r.keepEvents.has(readEventName(r, eventEnd))) break;
          r.pos = start;
        }
        events.push(readEvent(r, eventEnd));
        break;
      }
      case SPAN_STATUS:
        // A repeated singular message replaces the earlier one (as protobufjs decodes it).
        statusCode = readStatusCode(r, enter(r, end));
        break;
      default:
        skipField(r, end, t, SPAN_KNOWN, 'Span');
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
    // Exact while the difference stays below 2^53 ns (104 days).
    durationNano: (endHi - startHi) * TWO_POW_32 + (endLo - startLo),
    statusCode,
    attributes,
    events,
    resource,
  };
}

function readScopeSpans(r: Reader, end: number, resource: Attributes, out: SpanView[]): void {
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === SCOPE_SPANS_SPANS) {
      if (--r.spansLeft < 0) failLimit('more spans than the limit allows at byte', r.pos);
      out.push(readSpan(r, enter(r, end), resource));
    } else skipField(r, end, t, SCOPE_SPANS_KNOWN, 'ScopeSpans');
  }
}

function readResource(r: Reader, end: number, resource: Attributes): void {
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === RESOURCE_ATTRIBUTES) readKeyValue(r, enter(r, end), resource, r.keepResource);
    else skipField(r, end, t, RESOURCE_KNOWN, 'Resource');
  }
}

function readResourceSpans(r: Reader, end: number, out: SpanView[]): void {
  // The resource may follow its scope_spans on the wire: spans share this object, filled whenever it arrives.
  const resource: Attributes = {};
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === RESOURCE_SPANS_SCOPE_SPANS) readScopeSpans(r, enter(r, end), resource, out);
    else if (t === RESOURCE_SPANS_RESOURCE) readResource(r, enter(r, end), resource);
    else skipField(r, end, t, RESOURCE_SPANS_KNOWN, 'ResourceSpans');
  }
}

/**
 * Decodes an OTLP/protobuf `ExportTraceServiceRequest` into span views, in wire order.
 *
 * Attribute values: strings, booleans, int64 (as the nearest double), doubles and arrays
 * of those; map, bytes and empty values are left out (nested ones too). Ids are lower-case
 * hex; an absent (zero-length) trace or span id gives '', which the spec calls invalid:
 * the caller decides whether to reject such a span (partial success).
 *
 * With a `projection`, only the attributes and events it names are decoded (the rest is
 * still checked): the same result as the full decode, filtered.
 *
 * @throws OtlpDecodeError when the body is not a well-formed request; OtlpLimitError (a
 *   subclass) when it carries more spans or events than `limits` allow.
 */
export function decodeTracesProtobuf(body: Uint8Array, limits?: DecodeLimits, projection?: DecodeProjection): SpanView[] {
  const r = new Reader(body, limits === undefined ? DEFAULT_LIMITS : resolveDecodeLimits(limits), projection);
  const end = body.length;
  const out: SpanView[] = [];
  while (r.pos < end) {
    const t = readTag(r, end);
    if (t === REQUEST_RESOURCE_SPANS) readResourceSpans(r, enter(r, end), out);
    else skipField(r, end, t, REQUEST_KNOWN, 'ExportTraceServiceRequest');
  }
  return out;
}
