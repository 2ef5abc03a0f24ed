import { diag } from '@opentelemetry/api';
import { settleWithin } from './settle-within.js';

/** Options of {@link installExitFlush}. */
export interface ExitFlushOptions {
  /** Exports what is buffered. Its failure is reported through diag, never thrown. */
  flush: () => Promise<void>;
  /** The exit budget: the longest the process is kept alive for one flush, in ms. */
  timeoutMs: number;
  /** Called when the budget ran out before the flush settled (ends in-flight exports). */
  onTimeout?: () => void;
  /**
   * Whether a flush has anything to do. `beforeExit` flushes only then (default: once):
   * every flush holds the process for a moment, after which `beforeExit` fires again.
   */
  hasWork?: () => boolean;
  /** Signals to flush on. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * Flushes buffered spans when the process is about to end: on `beforeExit`, when stdin
 * ends or closes (a stdio MCP server's host has gone), and on SIGTERM/SIGINT, after which
 * the signal is raised again if nobody else listens for it, so the process dies of it as
 * it would have without mcplens. Each flush keeps the process alive for at most
 * `timeoutMs`: one timer does, nothing else that mcplens starts holds the event loop
 * (exports, token counting), so once the flush settles or the budget runs out the
 * process ends as it would have without mcplens. Returns an uninstaller.
 */
export function installExitFlush(options: ExitFlushOptions): () => void {
  const timeoutMs = Math.max(options.timeoutMs, 0);
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);

  let inFlight: Promise<void> | undefined;
  // Once a budget has run out the process is ending: no later beforeExit may hold it again.
  let exhausted = false;
  let flushedOnBeforeExit = false;
  const hasWork = options.hasWork ?? (() => !flushedOnBeforeExit);
  const flushOnce = (): Promise<void> => {
    if (inFlight !== undefined) return inFlight;
    let flushing: Promise<void>;
    try {
      flushing = options.flush();
    } catch (error) {
      flushing = Promise.reject(error);
    }
    // The budget's timer is referenced on purpose: it is what keeps the process alive while the flush runs.
    inFlight = settleWithin(
      flushing.catch((error: unknown) => diag.error('mcplens: flush on exit failed', error)),
      timeoutMs,
      { keepAlive: true },
    )
      .then((settled) => {
        if (settled) return;
        exhausted = true;
        try {
          options.onTimeout?.();
        } catch (error) {
          diag.error('mcplens: ending the exports on exit failed', error);
        }
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const onBeforeExit = (): void => {
    if (exhausted || inFlight !== undefined || !hasWork()) return;
    flushedOnBeforeExit = true;
    void flushOnce();
  };
  process.on('beforeExit', onBeforeExit);

  const onStdinGone = (): void => {
    void flushOnce();
  };
  // Listening for end/close does not start reading stdin, nor keep the process alive.
  process.stdin.once('end', onStdinGone);
  process.stdin.once('close', onStdinGone);

  const signalHandlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of signals) {
    let received = false;
    const handler = (): void => {
      if (received) {
        // A second signal while flushing: stop waiting.
        reraise(signal, handler);
        return;
      }
      received = true;
      void flushOnce().then(() => {
        if (process.listenerCount(signal) === 1) reraise(signal, handler);
        // Otherwise the application listens for the signal too and decides when to exit.
      });
    };
    signalHandlers.set(signal, handler);
    process.on(signal, handler);
  }

  return () => {
    process.removeListener('beforeExit', onBeforeExit);
    process.stdin.removeListener('end', onStdinGone);
    process.stdin.removeListener('close', onStdinGone);
    for (const [signal, handler] of signalHandlers) process.removeListener(signal, handler);
  };
}

function reraise(signal: NodeJS.Signals, handler: () => void): void {
  process.removeListener(signal, handler);
  // With no listener left, the default action applies: the process ends by this signal.
  process.kill(process.pid, signal);
}
