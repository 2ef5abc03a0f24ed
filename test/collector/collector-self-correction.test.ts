/**
 * Self-correction rules on the tracker itself: ordered by span start (not arrival), the
 * same session and tool only, within the window, each malformed call counted once, and
 * bounded memory. (The end-to-end count through the exporters is in collector-ingest.)
 */
import { describe, expect, it } from '@jest/globals';
import { MAX_GOOD, MAX_PENDING, SelfCorrectionTracker } from '../../collector/self-correction.js';

const WINDOW = 60_000;

function tracker(maxKeys = 100): SelfCorrectionTracker<string> {
  return new SelfCorrectionTracker<string>({ windowMs: WINDOW, maxKeys });
}

describe('SelfCorrectionTracker', () => {
  it('a later well-formed call to the same tool in the same session corrects earlier malformed calls once', () => {
    const t = tracker();
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 0, malformed: true, payload: 'm1' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 10, malformed: true, payload: 'm2' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 20, malformed: false, payload: 'ok' })).toEqual(['m1', 'm2']);
    // Already counted: a second good call corrects nothing.
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 30, malformed: false, payload: 'ok' })).toEqual([]);
  });

  it('ignores other sessions, other tools, and calls outside the window or before the malformed one', () => {
    const t = tracker();
    t.observe({ sessionKey: 's', tool: 'a', startMs: 1000, malformed: true, payload: 'm' });
    expect(t.observe({ sessionKey: 'other', tool: 'a', startMs: 1001, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'b', startMs: 1002, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 999, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 1000 + WINDOW + 1, malformed: false, payload: '' })).toEqual([]);
  });

  it('orders by span start: a well-formed call that arrived first still corrects an earlier-started malformed call', () => {
    const t = tracker();
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 5000, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 4000, malformed: true, payload: 'late' })).toEqual(['late']);
    // A malformed call that started after every known good call waits for a later one.
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 6000, malformed: true, payload: 'next' })).toEqual([]);
  });

  it('keeps memory bounded: keys forgotten least recently used first, pending calls capped', () => {
    const t = tracker(10);
    for (let i = 0; i < 1000; i++) t.observe({ sessionKey: `s${i}`, tool: 'a', startMs: i, malformed: true, payload: `m${i}` });
    expect(t.size).toBe(10);
    // s0 was forgotten; s999 is still known.
    expect(t.observe({ sessionKey: 's0', tool: 'a', startMs: 5, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's999', tool: 'a', startMs: 1005, malformed: false, payload: '' })).toEqual(['m999']);
    const u = tracker();
    for (let i = 0; i < MAX_PENDING + 10; i++) u.observe({ sessionKey: 's', tool: 'a', startMs: i, malformed: true, payload: `m${i}` });
    expect(u.observe({ sessionKey: 's', tool: 'a', startMs: 1000, malformed: false, payload: '' })).toHaveLength(MAX_PENDING);
  });

  it('keeps the latest MAX_GOOD well-formed starts, whatever their arrival order', () => {
    const t = new SelfCorrectionTracker<string>({ windowMs: 1500, maxKeys: 10 });
    // Well-formed calls starting at 101..120 s arrive latest first: the earliest ones must be the ones forgotten.
    const count = MAX_GOOD + 4;
    for (let i = count; i >= 1; i--) t.observe({ sessionKey: 's', tool: 'a', startMs: (100 + i) * 1000, malformed: false, payload: '' });
    const oldestKept = 100 + count - MAX_GOOD + 1;
    // Only a forgotten start (101 s) lies within 1.5 s after 100.9 s.
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 100_900, malformed: true, payload: 'early' })).toEqual([]);
    // A kept one (the oldest kept) does for a malformed call just before it.
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: oldestKept * 1000 - 800, malformed: true, payload: 'kept' })).toEqual(['kept']);
  });

  it('tells (session, tool) pairs apart even when their names contain the separator', () => {
    const t = tracker();
    t.observe({ sessionKey: 'a\u0000b', tool: 'c', startMs: 0, malformed: true, payload: 'm' });
    expect(t.observe({ sessionKey: 'a', tool: 'b\u0000c', startMs: 10, malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 'a\u0000b', tool: 'c', startMs: 10, malformed: false, payload: '' })).toEqual(['m']);
  });
});
