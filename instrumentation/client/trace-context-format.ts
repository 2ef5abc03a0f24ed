import { isSpanContextValid, TraceFlags, type SpanContext } from '@opentelemetry/api';

/**
 * The `traceparent` W3CTraceContextPropagator writes for `spanContext`, or undefined where it
 * writes none (an invalid context). Written here, on every request's path, without the
 * propagator's context object and regular expressions; test/client/request-injection.test.ts
 * holds it to the propagator's output.
 */
export function traceparentOf(spanContext: SpanContext): string | undefined {
  if (!isValidSpanContext(spanContext)) return undefined;
  return `00-${spanContext.traceId}-${spanContext.spanId}-0${Number(spanContext.traceFlags || TraceFlags.NONE).toString(16)}`;
}

/** As the API's `isSpanContextValid`: ids of 32 and 16 hex digits (either case), not all zero. */
export function isValidSpanContext(spanContext: SpanContext): boolean {
  const { traceId, spanId } = spanContext;
  // Anything but strings (never from a conforming tracer) is left to the API's own check.
  if (typeof traceId !== 'string' || typeof spanId !== 'string') return isSpanContextValid(spanContext);
  return isHexId(traceId, 32) && isHexId(spanId, 16);
}

function isHexId(id: string, length: number): boolean {
  if (id.length !== length) return false;
  let nonZero = false;
  for (let i = 0; i < length; i++) {
    const c = id.charCodeAt(i);
    if (c === 0x30) continue;
    // 1-9, A-F, a-f
    if (!((c > 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
    nonZero = true;
  }
  return nonZero;
}
