/**
 * The collector's view of one decoded span: only what tallying needs, flat and cheap to
 * build. Both decoders (protobuf and JSON) produce it, so everything downstream is
 * encoding-agnostic.
 */

/** An OTLP AnyValue flattened: arrays of scalars are kept, maps and bytes are dropped. */
export type AttributeValue = string | number | boolean | readonly (string | number | boolean)[];

/** Attributes by key. Keys are the contract's names (see contract/telemetry.ts). */
export type Attributes = Record<string, AttributeValue>;

/** OTLP wire values of `Span.SpanKind` (note: the OTel JS API numbers these differently). */
export const OTLP_SPAN_KIND = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;

/** OTLP wire values of `Status.StatusCode`. */
export const OTLP_STATUS_CODE = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export interface SpanEventView {
  name: string;
  /** Nanoseconds since the epoch, as a double (sub-microsecond precision is lost; fine for ordering and durations). */
  timeUnixNano: number;
  attributes: Attributes;
}

export interface SpanView {
  /** Lower-case hex, 32 characters. */
  traceId: string;
  /** Lower-case hex, 16 characters. */
  spanId: string;
  /** Lower-case hex, or '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP wire value, see {@link OTLP_SPAN_KIND}. */
  kind: number;
  /** Nanoseconds since the epoch, as a double. */
  startTimeUnixNano: number;
  endTimeUnixNano: number;
  /**
   * end - start in nanoseconds, computed exactly from the 64-bit values (the doubles above
   * are 256 ns coarse at today's epoch, enough to put a 20 ms span past the 0.02 bucket).
   */
  durationNano: number;
  /** OTLP wire value, see {@link OTLP_STATUS_CODE}. */
  statusCode: number;
  attributes: Attributes;
  events: SpanEventView[];
  /** Resource attributes (e.g. `service.name`); one object shared by all spans of a ResourceSpans. */
  resource: Attributes;
}
