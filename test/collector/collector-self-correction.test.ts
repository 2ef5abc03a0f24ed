/**
 * Self-correction rules on the tracker itself: ordered by span start (not arrival), the
 * same session, tool, provider and model only, within the window, each malformed call
 * counted once, and bounded memory. Then through real OTLP into a collector: a well-formed
 * call of another provider or model in the session corrects nothing. (The scenario's count
 * through both exporters is in collector-ingest.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LABEL, METRICS, PROVIDERS } from '../../contract/index.js';
import type { Summary } from '../../collector/summary-types.js';
import { MAX_GOOD, MAX_PENDING, SelfCorrectionTracker } from '../../collector/self-correction.js';
import { emitCall, makeTracer, scrape, startCollector, sumOf, type Started, type TestTracer } from './collector-harness.js';

const WINDOW = 60_000;

function tracker(maxKeys = 100): SelfCorrectionTracker<string> {
  return new SelfCorrectionTracker<string>({ windowMs: WINDOW, maxKeys });
}

describe('SelfCorrectionTracker', () => {
  it('a later well-formed call to the same tool in the same session corrects earlier malformed calls once', () => {
    const t = tracker();
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 0, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'm1' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 10, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'm2' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 20, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: 'ok' }),
    ).toEqual(['m1', 'm2']);
    // Already counted: a second good call corrects nothing.
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 30, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: 'ok' }),
    ).toEqual([]);
  });

  it('only the same provider and model correct: another caller in the session corrects nothing', () => {
    const t = tracker();
    t.observe({ sessionKey: 's', tool: 'a', startMs: 1000, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'm' });
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 1001, provider: 'anthropic', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 1002, provider: 'openai', model: 'gpt-4o', malformed: false, payload: '' }),
    ).toEqual([]);
    // Keys are compared part by part: a provider and model that concatenate alike stay apart.
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 1003, provider: 'openaig', model: 'pt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(t.size).toBe(4);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 1004, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual(['m']);
    // Order by start holds per caller too: another caller's later good call seen first does not correct a late malformed call.
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 900, provider: 'anthropic', model: 'claude', malformed: true, payload: 'late' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 950, provider: 'anthropic', model: 'claude', malformed: false, payload: '' }),
    ).toEqual(['late']);
  });

  it('forgets keys least recently used first and drops the maps they leave empty', () => {
    const t = tracker(2);
    t.observe({ sessionKey: 's', tool: 'a', startMs: 0, provider: 'p1', model: 'm', malformed: true, payload: 'p1' });
    t.observe({ sessionKey: 's', tool: 'a', startMs: 0, provider: 'p2', model: 'm', malformed: true, payload: 'p2' });
    t.observe({ sessionKey: 's', tool: 'a', startMs: 0, provider: 'p3', model: 'm', malformed: true, payload: 'p3' });
    expect(t.size).toBe(2);
    // p1 was forgotten; p2 and p3 are still known.
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 10, provider: 'p1', model: 'm', malformed: false, payload: '' })).toEqual([]);
    expect(t.observe({ sessionKey: 's', tool: 'a', startMs: 10, provider: 'p3', model: 'm', malformed: false, payload: '' })).toEqual([
      'p3',
    ]);
    expect(t.size).toBe(2);
  });

  it('ignores other sessions, other tools, and calls outside the window or before the malformed one', () => {
    const t = tracker();
    t.observe({ sessionKey: 's', tool: 'a', startMs: 1000, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'm' });
    expect(
      t.observe({ sessionKey: 'other', tool: 'a', startMs: 1001, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'b', startMs: 1002, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 999, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({
        sessionKey: 's',
        tool: 'a',
        startMs: 1000 + WINDOW + 1,
        provider: 'openai',
        model: 'gpt-4.1',
        malformed: false,
        payload: '',
      }),
    ).toEqual([]);
  });

  it('orders by span start: a well-formed call that arrived first still corrects an earlier-started malformed call', () => {
    const t = tracker();
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 5000, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 4000, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'late' }),
    ).toEqual(['late']);
    // A malformed call that started after every known good call waits for a later one.
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 6000, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'next' }),
    ).toEqual([]);
  });

  it('keeps memory bounded: keys forgotten least recently used first, pending calls capped', () => {
    const t = tracker(10);
    for (let i = 0; i < 1000; i++)
      t.observe({ sessionKey: `s${i}`, tool: 'a', startMs: i, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: `m${i}` });
    expect(t.size).toBe(10);
    // s0 was forgotten; s999 is still known.
    expect(
      t.observe({ sessionKey: 's0', tool: 'a', startMs: 5, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 's999', tool: 'a', startMs: 1005, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual(['m999']);
    const u = tracker();
    for (let i = 0; i < MAX_PENDING + 10; i++)
      u.observe({ sessionKey: 's', tool: 'a', startMs: i, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: `m${i}` });
    expect(
      u.observe({ sessionKey: 's', tool: 'a', startMs: 1000, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toHaveLength(MAX_PENDING);
  });

  it('keeps the latest MAX_GOOD well-formed starts, whatever their arrival order', () => {
    const t = new SelfCorrectionTracker<string>({ windowMs: 1500, maxKeys: 10 });
    // Well-formed calls starting at 101..120 s arrive latest first: the earliest ones must be the ones forgotten.
    const count = MAX_GOOD + 4;
    for (let i = count; i >= 1; i--)
      t.observe({
        sessionKey: 's',
        tool: 'a',
        startMs: (100 + i) * 1000,
        provider: 'openai',
        model: 'gpt-4.1',
        malformed: false,
        payload: '',
      });
    const oldestKept = 100 + count - MAX_GOOD + 1;
    // Only a forgotten start (101 s) lies within 1.5 s after 100.9 s.
    expect(
      t.observe({ sessionKey: 's', tool: 'a', startMs: 100_900, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'early' }),
    ).toEqual([]);
    // A kept one (the oldest kept) does for a malformed call just before it.
    expect(
      t.observe({
        sessionKey: 's',
        tool: 'a',
        startMs: oldestKept * 1000 - 800,
        provider: 'openai',
        model: 'gpt-4.1',
        malformed: true,
        payload: 'kept',
      }),
    ).toEqual(['kept']);
  });

  it('tells (session, tool) pairs apart even when their names contain the separator', () => {
    const t = tracker();
    t.observe({ sessionKey: 'a\u0000b', tool: 'c', startMs: 0, provider: 'openai', model: 'gpt-4.1', malformed: true, payload: 'm' });
    expect(
      t.observe({ sessionKey: 'a', tool: 'b\u0000c', startMs: 10, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual([]);
    expect(
      t.observe({ sessionKey: 'a\u0000b', tool: 'c', startMs: 10, provider: 'openai', model: 'gpt-4.1', malformed: false, payload: '' }),
    ).toEqual(['m']);
  });
});

describe('self-correction through OTLP', () => {
  let started: Started;
  let t: TestTracer;

  beforeAll(async () => {
    started = await startCollector();
    t = makeTracer(started.url, 'protobuf', 'orders');
    const base = Date.now() - 100_000;
    const tool = 'lookup_inventory';
    const openai = { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool };
    // Session s1: openai's malformed call, then anthropic's well-formed call of the same tool: no correction.
    emitCall(t.tracer, { ...openai, session: 's1', startMs: base, outcome: 'rejected', violationKind: 'missing_required' });
    emitCall(t.tracer, {
      provider: PROVIDERS.ANTHROPIC,
      model: 'claude-sonnet-4-5',
      tool,
      session: 's1',
      startMs: base + 1000,
      outcome: 'ok',
    });
    // Same provider, another model: no correction either.
    emitCall(t.tracer, { ...openai, model: 'gpt-4o', session: 's1', startMs: base + 2000, outcome: 'ok' });
    // Session s2: openai's malformed call, then openai's (same model) well-formed call: one correction.
    emitCall(t.tracer, { ...openai, session: 's2', startMs: base, outcome: 'rejected', violationKind: 'wrong_type' });
    emitCall(t.tracer, { ...openai, session: 's2', startMs: base + 1000, outcome: 'ok' });
    await t.flush();
  });

  afterAll(async () => {
    await t.shutdown();
    await started.collector.close();
  });

  it('counts only a correction by the same provider and model, in the metric and the summary', async () => {
    const { samples } = await scrape(started.url);
    const name = METRICS.TOOL_SELF_CORRECTIONS.name;
    expect(sumOf(samples, name)).toBe(1);
    expect(sumOf(samples, name, { [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.OPENAI, [LABEL.GEN_AI_REQUEST_MODEL]: 'gpt-4.1' })).toBe(1);
    const summary = (await (await fetch(`${started.url}/api/summary`)).json()) as Summary;
    expect(summary.totals.selfCorrections).toBe(1);
    expect(summary.providers.find((p) => p.provider === PROVIDERS.OPENAI)?.selfCorrections).toBe(1);
    expect(summary.providers.find((p) => p.provider === PROVIDERS.ANTHROPIC)?.selfCorrections).toBe(0);
  });
});
