import { trace } from '@opentelemetry/api';
import { DeferredWork } from './deferred-work.js';
import { defaultTokenService } from './token-service.js';

/**
 * Ends every span still waiting for deferred work or token counts: waits up to `timeoutMs`
 * for the counts, then ends the rest without them.
 */
export async function drainDeferred(timeoutMs = 1500): Promise<void> {
  const ran = DeferredWork.flushAll();
  const tokens = defaultTokenService();
  // Nothing waiting: schedule nothing, so a flush on beforeExit lets the process exit.
  if (ran === 0 && tokens.isIdle()) return;
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  await Promise.race([tokens.idle(), bound]);
  clearTimeout(timer);
  // Past the bound (a worker still loading its vocabulary, say): end those spans without token counts.
  DeferredWork.abandonWaiting();
  // Let the span-ending continuations of the last counts run.
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Ends the spans still waiting for deferred work (token counting, logging), then flushes
 * the given tracer provider (default: the global one, when it has `forceFlush`). Call it
 * before shutting down your own OpenTelemetry SDK, so the last calls' spans are exported:
 * `await flush(); await sdk.shutdown();`. Never rejects.
 */
export async function flush(tracerProvider: unknown = trace.getTracerProvider()): Promise<void> {
  try {
    await drainDeferred(5000);
    const delegate = (tracerProvider as { getDelegate?: () => unknown }).getDelegate?.() ?? tracerProvider;
    await (delegate as { forceFlush?: () => Promise<void> }).forceFlush?.();
  } catch {
    // Telemetry failures never reach the caller.
  }
}
