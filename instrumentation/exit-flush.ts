import { diag } from '@opentelemetry/api';

/** Longest a signal waits for the flush before the process goes on exiting. */
export const MAX_SIGNAL_FLUSH_MS = 2000;

/** Options of {@link installExitFlush}. */
export interface ExitFlushOptions {
  /** Exports what is buffered. Its failure is reported through diag, never thrown. */
  flush: () => Promise<void>;
  /** Bounded wait on SIGTERM/SIGINT, in ms. Default and maximum {@link MAX_SIGNAL_FLUSH_MS}. */
  signalTimeoutMs?: number;
  /** Signals to flush on. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
}

/**
 * Flushes buffered spans when the process is about to end: on `beforeExit`, when stdin
 * ends or closes (a stdio MCP server's client has gone), and on SIGTERM/SIGINT with a
 * bounded wait, after which the signal is raised again if nobody else listens for it, so
 * the process dies of it as it would have without mcplens. Returns an uninstaller.
 */
export function installExitFlush(options: ExitFlushOptions): () => void {
  const timeoutMs = Math.min(Math.max(options.signalTimeoutMs ?? MAX_SIGNAL_FLUSH_MS, 0), MAX_SIGNAL_FLUSH_MS);
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);

  let inFlight: Promise<void> | undefined;
  // One flush at a time: beforeExit fires again once the flush's own I/O is done, and a
  // second flush with nothing buffered does no I/O, so the process then exits.
  const flushOnce = (): Promise<void> => {
    if (inFlight !== undefined) return inFlight;
    let flushing: Promise<void>;
    try {
      flushing = options.flush();
    } catch (error) {
      flushing = Promise.reject(error);
    }
    inFlight = flushing
      .catch((error: unknown) => diag.error('mcplens: flush on exit failed', error))
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };

  const onBeforeExit = (): void => {
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
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      });
      void Promise.race([flushOnce(), bound]).then(() => {
        clearTimeout(timer);
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
