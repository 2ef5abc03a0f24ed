/**
 * Spans waiting for their token counts are bounded in time: a tokenizer starved of CPU
 * cannot hold them, and a shutdown ends them at once, each saying why.
 */
import { describe, expect, it } from '@jest/globals';
import { TOKENS_NOT_COUNTED_REASONS, type TokensNotCountedReason } from '../../contract/index.js';
import { DeferredWork, DeferredWorkRegistry } from '../../instrumentation/deferred-work.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeferredWork.wait', () => {
  it('ends a span still waiting past its bound as backlog, and leaves one whose counts came', async () => {
    const registry = new DeferredWorkRegistry();
    const work = new DeferredWork(10, registry);
    const ended: Array<[string, TokensNotCountedReason]> = [];
    work.wait((reason) => ended.push(['starved', reason]), 50);
    const stopWaiting = work.wait((reason) => ended.push(['counted', reason]), 50);
    stopWaiting(); // its counts arrived in time
    expect(registry.hasWork()).toBe(true);
    for (let i = 0; i < 40 && ended.length === 0; i++) await sleep(25);
    expect(ended).toEqual([['starved', TOKENS_NOT_COUNTED_REASONS.BACKLOG]]);
    expect(registry.hasWork()).toBe(false);
  });

  it('a shutdown ends every waiting span of every registered queue at once, marked shutdown', () => {
    const registry = new DeferredWorkRegistry();
    const first = new DeferredWork(10, registry);
    const second = new DeferredWork(10, registry);
    const ended: TokensNotCountedReason[] = [];
    first.wait((reason) => ended.push(reason), 60_000);
    first.wait(() => {
      throw new Error('a failing span end is reported, not thrown');
    }, 60_000);
    second.wait((reason) => ended.push(reason), 60_000);
    expect(registry.abandonWaiting()).toBe(3);
    expect(ended).toEqual([TOKENS_NOT_COUNTED_REASONS.SHUTDOWN, TOKENS_NOT_COUNTED_REASONS.SHUTDOWN]);
    expect(registry.hasWork()).toBe(false);
  });

  it('a registry sees only the queues registered with it, and runs their queued jobs on flushAll', () => {
    const registry = new DeferredWorkRegistry();
    const other = new DeferredWorkRegistry();
    const work = new DeferredWork(10, registry);
    new DeferredWork(10, other).wait(() => undefined, 60_000);
    const ran: string[] = [];
    work.push(() => ran.push('job'));
    expect(registry.hasWork()).toBe(true);
    expect(registry.flushAll()).toBe(1);
    expect(ran).toEqual(['job']);
    expect(registry.hasWork()).toBe(false);
    expect(other.abandonWaiting()).toBe(1);
  });
});
