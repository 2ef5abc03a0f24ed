import { diag, trace } from '@opentelemetry/api';
import { processDeferredWork } from './deferred-work.js';
import { defaultTokenService } from './token-service.js';
import { settleWithin } from './settle-within.js';

/**
 * Ends every span still waiting for deferred work or token counts: waits up to `timeoutMs`
 * for the counts, then ends the rest without them (marked `mcplens.tokens.not_counted = shutdown`).
 * `onlyWhenReady` (the process is ending): a token worker still loading its vocabulary (a
 * session of a few hundred milliseconds) is not waited for, and is stopped, so that its
 * termination overlaps the last export.
 */
export async function drainDeferred(timeoutMs = 1500, options: { onlyWhenReady?: boolean } = {}): Promise<void> {
  const ran = processDeferredWork.flushAll();
  const tokens = defaultTokenService();
  const ready = tokens.isReady?.() !== false;
  if (options.onlyWhenReady === true) tokens.stopIfNotReady?.();
  // No span waiting: schedule nothing, so a flush on beforeExit lets the process exit.
  if (ran === 0 && !processDeferredWork.hasWork()) return;
  if (ready || options.onlyWhenReady !== true) await settleWithin(tokens.idle(), timeoutMs, { keepAlive: true });
  const abandoned = processDeferredWork.abandonWaiting();
  if (abandoned > 0) diag.debug(`mcplens: ${abandoned} spans ended without token counts (exit budget, or a token worker still starting)`);
  // Let the span-ending continuations of the last counts run.
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Ends the spans still waiting for deferred work (token counting, logging), then flushes
 * the given tracer provider (default: the global one, when it has `forceFlush`); token counts
 * get up to `timeoutMs` (default 5 s). Call it
 * before shutting down your own OpenTelemetry SDK, so the last calls' spans are exported:
 * `await flush(); await sdk.shutdown();`. Never rejects.
 */
export async function flush(tracerProvider: unknown = trace.getTracerProvider(), timeoutMs = 5000): Promise<void> {
  try {
    await drainDeferred(timeoutMs);
    const delegate = (tracerProvider as { getDelegate?: () => unknown }).getDelegate?.() ?? tracerProvider;
    await (delegate as { forceFlush?: () => Promise<void> }).forceFlush?.();
  } catch {
    // Telemetry failures never reach the caller.
  }
}
