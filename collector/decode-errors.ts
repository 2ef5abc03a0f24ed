/**
 * The errors both OTLP decoders throw, and their per-request limits. The receiver maps
 * OtlpDecodeError to 400 (a body that does not decode is never retried by clients) and
 * puts the message in the google.rpc.Status.
 */

/** An OTLP request body that is not a well-formed ExportTraceServiceRequest; `message` says where and why. */
export class OtlpDecodeError extends Error {
  override readonly name: string = 'OtlpDecodeError';

  constructor(message: string) {
    super(message);
  }
}

/**
 * A well-formed request with more spans or events than the decoder's limits allow. A
 * subclass, so a receiver may answer 413 rather than 400; either way nothing is tallied.
 */
export class OtlpLimitError extends OtlpDecodeError {
  override readonly name: string = 'OtlpLimitError';
}

/**
 * Per-request limits of both decoders. A span view costs a few hundred bytes of heap while
 * an empty span is 2 bytes on the wire, so without a cap a body under any sane size limit
 * could still expand into gigabytes.
 */
export interface DecodeLimits {
  /** Most spans one request may carry. Default 100,000 (clients batch 512 by default; the OTel Collector 8,192). */
  maxSpans?: number;
  /** Most span events one request may carry, all spans together. Default 500,000. */
  maxEvents?: number;
}

/** Defaults of {@link DecodeLimits}, in one place. */
export const DEFAULT_DECODE_LIMITS: Readonly<Required<DecodeLimits>> = { maxSpans: 100_000, maxEvents: 500_000 };

/** Limits with defaults filled in; a bad value is a programming error, named at once. */
export function resolveDecodeLimits(limits: DecodeLimits | undefined): Required<DecodeLimits> {
  const resolved = { ...DEFAULT_DECODE_LIMITS, ...limits };
  for (const key of ['maxSpans', 'maxEvents'] as const) {
    const v = resolved[key];
    if (!(Number.isInteger(v) && v >= 0) && v !== Infinity)
      throw new RangeError(`${key} must be a non-negative integer or Infinity, got ${String(v)}`);
  }
  return resolved;
}
