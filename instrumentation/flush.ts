import { trace } from '@opentelemetry/api';
import { DeferredWork } from './deferred-work.js';

/**
 * Ends the spans still waiting for deferred work (token counting, logging), then flushes
 * the given tracer provider (default: the global one, when it has `forceFlush`). Call it
 * before shutting down your own OpenTelemetry SDK, so the last calls' spans are exported:
 * `await flush(); await sdk.shutdown();`. Never rejects.
 */
export async function flush(tracerProvider: unknown = trace.getTracerProvider()): Promise<void> {
  try {
    DeferredWork.flushAll();
    const delegate = (tracerProvider as { getDelegate?: () => unknown }).getDelegate?.() ?? tracerProvider;
    await (delegate as { forceFlush?: () => Promise<void> }).forceFlush?.();
  } catch {
    // Telemetry failures never reach the caller.
  }
}
