/**
 * Spans waiting for their token counts are bounded in time: a tokenizer starved of CPU
 * cannot hold them, and a shutdown ends them at once, each saying why.
 */
import { describe, expect, it } from '@jest/globals';
import { TOKENS_NOT_COUNTED_REASONS, type TokensNotCountedReason } from '../../contract/index.js';
import { DeferredWork } from '../../instrumentation/deferred-work.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('DeferredWork.wait', () => {
  it('ends a span still waiting past its bound as backlog, and leaves one whose counts came', async () => {
    const ended: Array<[string, TokensNotCountedReason]> = [];
    DeferredWork.wait((reason) => ended.push(['starved', reason]), 50);
    const stopWaiting = DeferredWork.wait((reason) => ended.push(['counted', reason]), 50);
    stopWaiting(); // its counts arrived in time
    expect(DeferredWork.hasWork()).toBe(true);
    for (let i = 0; i < 40 && ended.length === 0; i++) await sleep(25);
    expect(ended).toEqual([['starved', TOKENS_NOT_COUNTED_REASONS.BACKLOG]]);
    expect(DeferredWork.hasWork()).toBe(false);
  });

  it('a shutdown ends every waiting span at once, marked shutdown', () => {
    const ended: TokensNotCountedReason[] = [];
    DeferredWork.wait((reason) => ended.push(reason), 60_000);
    DeferredWork.wait(() => {
      throw new Error('a failing span end is reported, not thrown');
    }, 60_000);
    expect(DeferredWork.abandonWaiting()).toBe(2);
    expect(ended).toEqual([TOKENS_NOT_COUNTED_REASONS.SHUTDOWN]);
    expect(DeferredWork.hasWork()).toBe(false);
  });
});
