import { diag, trace } from '@opentelemetry/api';
import { DeferredWork } from './deferred-work.js';
import { defaultTokenService } from './token-service.js';

/** True while spans wait for deferred work or token counts (counts whose spans already ended do not count). */
export function hasDeferredWork(): boolean {
  return DeferredWork.hasWork();
}

/**
 * Ends every span still waiting for deferred work or token counts: waits up to `timeoutMs`
 * for the counts, then ends the rest without them (marked `mcplens.tokens.not_counted = shutdown`).
 * `onlyWhenReady` (the process is ending): do not wait for a token worker that is still
 * starting, and stop it.
 */
export async function drainDeferred(timeoutMs = 1500, options: { onlyWhenReady?: boolean } = {}): Promise<void> {
  const ran = DeferredWork.flushAll();
  const tokens = defaultTokenService();
  if (options.onlyWhenReady === true && tokens.isReady?.() === false) {
    // At a process's end a worker still loading its vocabulary (a session that lasted a few
    // hundred milliseconds) is not waited for: its spans end marked not counted, at once,
    // and the worker is stopped.
    const abandoned = DeferredWork.abandonWaiting();
    if (abandoned > 0) diag.debug(`mcplens: ${abandoned} spans ended without token counts: the token worker was still starting`);
    tokens.stopIfNotReady?.();
    await new Promise<void>((resolve) => setImmediate(resolve));
    return;
  }
  // No span waiting: schedule nothing, so a flush on beforeExit lets the process exit.
  if (ran === 0 && !DeferredWork.hasWork()) return;
  let timer: NodeJS.Timeout | undefined;
  // Referenced: the worker never keeps the process alive, so while someone awaits the
  // counts this bounded timer does (as any awaited I/O would).
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([tokens.idle(), bound]);
  clearTimeout(timer);
  // Past the bound (a worker still loading its vocabulary, say): end those spans without token counts.
  const abandoned = DeferredWork.abandonWaiting();
  if (abandoned > 0) diag.debug(`mcplens: ${abandoned} spans ended without token counts: the exit budget ran out first`);
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
