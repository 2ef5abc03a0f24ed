/**
 * Response bodies of the OTLP/HTTP receiver, in the request's encoding:
 * `ExportTraceServiceResponse` (200, with `partial_success` when some spans could not be
 * used) and `google.rpc.Status` (every error status). Both are tiny, so they are written
 * by hand rather than through a protobuf library.
 *
 * Field numbers: ExportTraceServiceResponse.partial_success = 1;
 * ExportTracePartialSuccess.rejected_spans (int64) = 1, .error_message (string) = 2
 * (opentelemetry-proto collector/trace/v1/trace_service.proto); google.rpc.Status.code
 * (int32) = 1, .message (string) = 2, .details = 3 (never written).
 */

/** OTLP body encodings. */
export type OtlpEncoding = 'protobuf' | 'json';

/** What `partial_success` reports: how many spans were rejected and why (a warning when rejectedSpans is 0). */
export interface PartialSuccess {
  rejectedSpans: number;
  errorMessage: string;
}

const EMPTY = new Uint8Array(0);

/** Appends a varint of a non-negative integer below 2^53, or of a negative int32/int64 as 10 bytes (two's complement). */
function pushVarint(out: number[], value: number): void {
  if (value < 0) {
    // Negative: 64-bit two's complement, always 10 bytes.
    let big = BigInt.asUintN(64, BigInt(value));
    for (let i = 0; i < 9; i++) {
      out.push(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    out.push(Number(big));
    return;
  }
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function pushString(out: number[], field: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  pushVarint(out, (field << 3) | 2);
  pushVarint(out, bytes.length);
  for (const b of bytes) out.push(b);
}

function checkInteger(value: number, min: number, max: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/**
 * Encodes an `ExportTraceServiceResponse`: empty on full success, with `partial_success`
 * when `partial` is given. Protobuf gives bytes, JSON a string.
 */
export function encodeExportResponse(encoding: 'protobuf', partial?: PartialSuccess): Uint8Array;
export function encodeExportResponse(encoding: 'json', partial?: PartialSuccess): string;
export function encodeExportResponse(encoding: OtlpEncoding, partial?: PartialSuccess): Uint8Array | string;
export function encodeExportResponse(encoding: OtlpEncoding, partial?: PartialSuccess): Uint8Array | string {
  if (partial !== undefined) checkInteger(partial.rejectedSpans, 0, Number.MAX_SAFE_INTEGER, 'rejectedSpans');
  if (encoding === 'json') {
    if (partial === undefined) return '{}';
    const body: { rejectedSpans?: string; errorMessage?: string } = {};
    // int64 is a decimal string in the proto3 JSON mapping; defaults are omitted.
    if (partial.rejectedSpans !== 0) body.rejectedSpans = String(partial.rejectedSpans);
    if (partial.errorMessage !== '') body.errorMessage = partial.errorMessage;
    return JSON.stringify({ partialSuccess: body });
  }
  if (partial === undefined) return EMPTY;
  const inner: number[] = [];
  if (partial.rejectedSpans !== 0) {
    pushVarint(inner, (1 << 3) | 0);
    pushVarint(inner, partial.rejectedSpans);
  }
  if (partial.errorMessage !== '') pushString(inner, 2, partial.errorMessage);
  const out: number[] = [];
  pushVarint(out, (1 << 3) | 2);
  pushVarint(out, inner.length);
  for (const b of inner) out.push(b);
  return Uint8Array.from(out);
}

/**
 * Encodes a `google.rpc.Status` error body (code from google.rpc.Code, e.g. 3
 * INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE). Protobuf gives bytes, JSON a string.
 */
export function encodeStatus(encoding: 'protobuf', code: number, message: string): Uint8Array;
export function encodeStatus(encoding: 'json', code: number, message: string): string;
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Uint8Array | string;
export function encodeStatus(encoding: OtlpEncoding, code: number, message: string): Uint8Array | string {
  checkInteger(code, -2147483648, 2147483647, 'code');
  if (encoding === 'json') return JSON.stringify({ code, message });
  const out: number[] = [];
  if (code !== 0) {
    pushVarint(out, (1 << 3) | 0);
    pushVarint(out, code);
  }
  if (message !== '') pushString(out, 2, message);
  return Uint8Array.from(out);
}
