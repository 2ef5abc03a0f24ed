/**
 * The ingest memory budget: one count of the bytes that request bodies hold at once, across
 * all requests, so concurrent bodies cannot add up past it (the role the OpenTelemetry
 * Collector's memory limiter plays, but decided per byte before it is held, so no burst can
 * outrun it). Each request holds a {@link Reservation}: the wire bytes it has read, the bytes
 * gzip has inflated, and, during the synchronous decode, an upper bound of what decoding
 * builds on the heap ({@link JSON_CEILING_PER_BYTE}, {@link estimateJsonDecodedBytes},
 * {@link protobufDecodePlan}). Released bytes are garbage until V8 collects them;
 * {@link GarbageGate} keeps that garbage within a share of the budget.
 */
import { isAscii } from 'node:buffer';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** The shared budget. `capacity` bytes in all; reservations that do not fit are refused. */
export class IngestBudget {
  private used = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`capacity must be an integer of at least 1, got ${String(capacity)}`);
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** Bytes still free. */
  get available(): number {
    return this.capacity - this.used;
  }

  /** A new, empty reservation against this budget. */
  open(): Reservation {
    return new Reservation(this);
  }

  /** @internal Reserves `n` bytes if they fit; false (and nothing reserved) otherwise. */
  take(n: number): boolean {
    if (n <= 0) return true;
    if (this.used + n > this.capacity) return false;
    this.used += n;
    return true;
  }

  /** @internal Gives back `n` bytes. */
  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** What one request holds of the budget; released in full by {@link Reservation.close}. */
export class Reservation {
  private held = 0;
  private closed = false;

  constructor(private readonly budget: IngestBudget) {}

  /** Bytes this request holds. */
  get bytes(): number {
    return this.held;
  }

  /** Holds `n` more bytes if the budget has them; false when it does not (nothing changes then). */
  grow(n: number): boolean {
    if (this.closed) return false;
    if (!this.budget.take(n)) return false;
    this.held += n;
    return true;
  }

  /** Gives back `n` of the bytes held (no more than held). */
  shrink(n: number): void {
    const m = Math.min(n, this.held);
    this.held -= m;
    this.budget.give(m);
  }

  /** Gives back everything; later calls do nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.budget.give(this.held);
    this.held = 0;
  }
}

/*
 * Heap cost of what JSON.parse builds, per token, measured on Node 20 (x64, no pointer
 * compression) with bodies of 8 to 16 MiB made of nothing but that token, peak RSS over the
 * body: `{},` 98 bytes, `[],` 70, `[0],` 99, `0,` 26, `1.5,` 54, `"",` 19, one string 2 bytes
 * per byte (the decoded text and the parsed value), an object of 1.5 million members 240 bytes
 * per member (dictionary mode), nested arrays `[[[...]]]` 104 bytes per level, nested objects
 * `{"":{"":...}}` 114 per level. A realistic OTLP/JSON batch costs 4.5 times its size. The
 * weights below put every one of those at or above what was measured.
 */
const JSON_OBJECT_COST = 112;
const JSON_ARRAY_COST = 112;
const JSON_VALUE_COST = 48;
const JSON_MEMBER_COST = 16;
/** Members past this many in one object cost {@link JSON_LARGE_OBJECT_MEMBER_COST} (V8 turns such objects into dictionaries). */
const JSON_FAST_MEMBERS = 32;
const JSON_LARGE_OBJECT_MEMBER_COST = 256;
/** Nesting tracked member by member; deeper, every member is priced as in a large object (OTLP nests about 8 deep). */
const JSON_TRACKED_DEPTH = 64;
/** Per byte of body: the body itself, the decoded text, the parsed strings (one byte per character)... */
const JSON_BYTE_COST_ONE_BYTE = 3;
/** ...or two bytes per character when any character is outside Latin-1 (V8 then stores the whole text as UTF-16). */
const JSON_BYTE_COST_TWO_BYTE = 5;

/**
 * Most bytes of heap one byte of valid JSON became in any shape measured (nested arrays, 52;
 * empty objects, 33), with a margin: reserving this much needs no scan. When it does not fit,
 * {@link estimateJsonDecodedBytes} prices the body closer.
 */
export const JSON_CEILING_PER_BYTE = 64;

/**
 * An upper bound, in bytes, of the memory decoding this OTLP/JSON body takes at its peak
 * (the body included), from one linear scan that counts objects, arrays, values and members
 * outside strings. Never below the true peak for the shapes measured (see the weights above).
 */
export function estimateJsonDecodedBytes(bytes: Uint8Array): number {
  // Buffer's indexOf is memchr; a plain Uint8Array's is not.
  const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let objects = 0;
  let arrays = 0;
  let separators = 0;
  let members = 0;
  let largeMembers = 0;
  // Any byte outside ASCII may be a character outside Latin-1: priced as two-byte text (native check, fast).
  const wide = !isAscii(body);
  // Members counted per open object (arrays hold -1), so huge objects are priced as dictionaries.
  const members_ = new Int32Array(JSON_TRACKED_DEPTH);
  let depth = 0;
  for (let i = 0, n = body.length; i < n; i++) {
    const c = body[i]!;
    switch (c) {
      case 0x22: {
        // A string: jump to its closing quote (memchr), skipping quotes escaped by an odd run of backslashes.
        let end = body.indexOf(0x22, i + 1);
        for (;;) {
          if (end < 0) return priced(body.length, wide, objects, arrays, separators, members, largeMembers);
          let slashes = 0;
          while (body[end - 1 - slashes] === 0x5c) slashes++;
          if (slashes % 2 === 0) break;
          end = body.indexOf(0x22, end + 1);
        }
        i = end;
        break;
      }
      case 0x7b: // {
        objects++;
        if (depth < JSON_TRACKED_DEPTH) members_[depth] = 0;
        depth++;
        break;
      case 0x5b: // [
        arrays++;
        if (depth < JSON_TRACKED_DEPTH) members_[depth] = -1;
        depth++;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        if (depth > 0) depth--;
        break;
      case 0x2c: // ,
        separators++;
        break;
      case 0x3a: {
        // :
        const top = depth - 1;
        if (top >= JSON_TRACKED_DEPTH) largeMembers++;
        else if (top >= 0 && members_[top]! >= 0) {
          if (members_[top]! >= JSON_FAST_MEMBERS) largeMembers++;
          else members++;
          members_[top]!++;
        } else members++;
        break;
      }
      default:
        break;
    }
  }
  return priced(body.length, wide, objects, arrays, separators, members, largeMembers);
}

function priced(
  size: number,
  wide: boolean,
  objects: number,
  arrays: number,
  separators: number,
  members: number,
  largeMembers: number,
): number {
  return (
    size * (wide ? JSON_BYTE_COST_TWO_BYTE : JSON_BYTE_COST_ONE_BYTE) +
    objects * JSON_OBJECT_COST +
    arrays * JSON_ARRAY_COST +
    separators * JSON_VALUE_COST +
    members * JSON_MEMBER_COST +
    largeMembers * JSON_LARGE_OBJECT_MEMBER_COST
  );
}

/*
 * The protobuf reader builds nothing for skipped fields; what it builds is bounded by the body
 * (ids become hex strings, twice their bytes; strings and arrays of scalars about their size)
 * plus a fixed cost per span and per event (a span of 2 bytes on the wire became about 320
 * bytes of heap, measured with 100,000 empty spans).
 */
const PROTOBUF_BYTE_COST = 4;
const PROTOBUF_SPAN_COST = 400;
const PROTOBUF_EVENT_COST = 240;

/** How much to reserve for decoding one protobuf body, and the span/event limits that keep the decode within it. */
export interface ProtobufDecodePlan {
  /** Bytes to reserve (the body included). */
  bytes: number;
  maxSpans: number;
  maxEvents: number;
  /** True when the limits are below the decoder's defaults because the budget is short. */
  reduced: boolean;
}

/**
 * Plans the decode of a protobuf body of `size` bytes within `available` bytes of budget: the
 * body's own cost, then spans and events up to the decoder's defaults (`maxSpans`,
 * `maxEvents`), fewer when the budget cannot pay for them. Undefined when not even the body's
 * cost fits.
 */
export function protobufDecodePlan(size: number, available: number, maxSpans: number, maxEvents: number): ProtobufDecodePlan | undefined {
  const base = size * PROTOBUF_BYTE_COST;
  if (base > available) return undefined;
  // No more spans or events than the body has room for (an empty one takes 2 bytes on the wire).
  const wantSpans = Math.min(maxSpans, Math.floor(size / 2));
  const wantEvents = Math.min(maxEvents, Math.floor(size / 2));
  const full = base + wantSpans * PROTOBUF_SPAN_COST + wantEvents * PROTOBUF_EVENT_COST;
  if (full <= available) return { bytes: full, maxSpans: wantSpans, maxEvents: wantEvents, reduced: false };
  // Split what is left between spans and events, half each.
  const rest = available - base;
  const spans = Math.min(wantSpans, Math.floor(rest / 2 / PROTOBUF_SPAN_COST));
  const events = Math.min(wantEvents, Math.floor(rest / 2 / PROTOBUF_EVENT_COST));
  return { bytes: base + spans * PROTOBUF_SPAN_COST + events * PROTOBUF_EVENT_COST, maxSpans: spans, maxEvents: events, reduced: true };
}

/** The largest decode reservation a protobuf body of `size` bytes can ask for (with the decoder's default limits). */
export function protobufDecodeCeiling(size: number, maxSpans: number, maxEvents: number): number {
  return (
    size * PROTOBUF_BYTE_COST +
    Math.min(maxSpans, Math.floor(size / 2)) * PROTOBUF_SPAN_COST +
    Math.min(maxEvents, Math.floor(size / 2)) * PROTOBUF_EVENT_COST
  );
}

/** V8's full collection, obtained without `--expose-gc` on the command line; undefined when the runtime refuses. */
function obtainGc(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

function heapInUse(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

/**
 * Makes released reservations real. A finished request's bytes are garbage until V8 collects
 * them, and with a large live heap (every metric at the cardinality cap) V8 lets hundreds of
 * megabytes of garbage pile up before a full collection: a burst of large bodies would then
 * outrun the budget in RSS. So once requests have released an eighth of `allowance` bytes since
 * the last look, this compares the heap (JS heap plus Buffers) with its size after the last
 * collection, and runs a full collection when it grew by more than `allowance`, or by half of
 * it while ingest is under pressure (refusing for load), when the budget's own bytes are
 * nearly all in use. A look costs half a microsecond; ordinary ingest (512-span batches) makes
 * about one collection per 2,000 requests, a flood of large bodies one per few of them.
 */
export class GarbageGate {
  private sinceLook = 0;
  private baseline: number;
  /** Full collections run so far. */
  collections = 0;

  constructor(
    private readonly allowance: number,
    private readonly gc: (() => void) | undefined = obtainGc(),
  ) {
    this.baseline = heapInUse();
  }

  /** A request released `bytes` of the budget; `pressured` while ingest refuses for load. */
  released(bytes: number, pressured: boolean): void {
    if (this.gc === undefined) return;
    this.sinceLook += bytes;
    if (this.sinceLook < this.allowance / 8) return;
    this.sinceLook = 0;
    const now = heapInUse();
    if (now - this.baseline > (pressured ? this.allowance / 2 : this.allowance)) {
      this.gc();
      this.collections++;
      this.baseline = heapInUse();
    } else if (now < this.baseline) {
      // V8 collected on its own.
      this.baseline = now;
    }
  }
}
