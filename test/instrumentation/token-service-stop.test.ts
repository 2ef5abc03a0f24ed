/**
 * The token service at a process's end (`stopIfNotReady`, called by the exit flush): counts not
 * answered yet, a batch still in its window included, settle as not counted, no worker starts
 * afterwards, and the vocabulary is never loaded in the server's own thread (200 ms of the exit).
 */
import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { TOKEN_BACKLOG_BOUNDS, WorkerTokenService, type TokenCount } from '../../instrumentation/token-service.js';

const nodeRequire = createRequire(import.meta.url);
/** True once this thread has loaded the o200k vocabulary (the in-thread fallback). */
const vocabularyLoaded = (): boolean => Object.keys(nodeRequire.cache).some((path) => path.includes('o200k_base'));
const later = (count: TokenCount): Promise<number[] | undefined> => {
  if (!('later' in count)) throw new Error(`expected a pending count, got ${JSON.stringify(count)}`);
  return count.later;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('WorkerTokenService.stopIfNotReady', () => {
  it('settles a batch still in its window as not counted, and never starts a worker for it', async () => {
    const service = new WorkerTokenService(TOKEN_BACKLOG_BOUNDS);
    const pending = later(service.count(['hello world']));
    service.stopIfNotReady();
    expect(await pending).toBeUndefined();
    // Past the batch window: nothing was sent, so nothing started.
    await sleep(100);
    expect(service.isIdle()).toBe(true);
    expect(service.count(['again'])).toEqual({ notCounted: 'shutdown' });
    expect(vocabularyLoaded()).toBe(false);
  });

  it('stops a worker still loading, with a batch in its window, without counting it in this thread', async () => {
    const service = new WorkerTokenService(TOKEN_BACKLOG_BOUNDS);
    service.warmUp();
    const pending = later(service.count(['hello world']));
    expect(service.isReady()).toBe(false);
    service.stopIfNotReady();
    expect(await pending).toBeUndefined();
    await sleep(100);
    expect(vocabularyLoaded()).toBe(false);
  });

  it('leaves a ready worker counting', async () => {
    const service = new WorkerTokenService(TOKEN_BACKLOG_BOUNDS);
    service.warmUp();
    for (let i = 0; i < 100 && !service.isReady(); i++) await sleep(50);
    expect(service.isReady()).toBe(true);
    const pending = later(service.count(['hello world']));
    service.stopIfNotReady();
    expect(await pending).toEqual([2]);
  }, 15_000);
});
