import { diag } from '@opentelemetry/api';

/**
 * Whether `promise` settled within `ms` (a rejection counts as settled and goes to diag);
 * never rejects. `keepAlive`: the timer keeps the process alive while someone waits (the
 * thing awaited, such as the token worker, does not); otherwise it never does.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number, options: { keepAlive?: boolean } = {}): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(ms, 0));
    if (options.keepAlive !== true) timer.unref();
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        (err: unknown) => {
          diag.debug('mcplens: a bounded wait ended in an error', err);
          return true;
        },
      ),
      bound,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
