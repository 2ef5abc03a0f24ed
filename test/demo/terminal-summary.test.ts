/**
 * The demo's terminal summary shows calls whose tokens were not counted as "not counted"
 * (with how many), never as 0 tokens: spans sent through a real OTLP exporter into the real
 * collector, its `/api/summary` fetched as the demo does, then formatted as the table (a
 * terminal) and as plain lines (logs).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PROVIDERS, TOKENS_NOT_COUNTED_REASONS } from '../../contract/index.js';
import type { Summary } from '../../collector/summary-types.js';
import { fetchSummary, formatSummaryLines, formatSummaryTable, formatTokens } from '../../demo/terminal-summary.js';
import { emitCall, makeTracer, startCollector, type Started, type TestTracer } from '../collector/collector-harness.js';

let started: Started;
let t: TestTracer;
let summary: Summary;

beforeAll(async () => {
  started = await startCollector();
  t = makeTracer(started.url, 'protobuf', 'orders');
  const base = Date.now() - 10_000;
  const counted = { tokensArguments: 10, tokensResult: 100, outcome: 'ok' as const };
  // openai: two counted calls and one whose tokens the tokenizer could not keep up with.
  emitCall(t.tracer, { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool: 'search', startMs: base, ...counted });
  emitCall(t.tracer, { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool: 'search', startMs: base + 1, ...counted });
  emitCall(t.tracer, {
    provider: PROVIDERS.OPENAI,
    model: 'gpt-4.1',
    tool: 'search',
    startMs: base + 2,
    outcome: 'ok',
    tokensNotCounted: TOKENS_NOT_COUNTED_REASONS.BACKLOG,
  });
  // anthropic: no call counted.
  for (let i = 0; i < 3; i++) {
    emitCall(t.tracer, {
      provider: PROVIDERS.ANTHROPIC,
      model: 'claude-sonnet-4-5',
      tool: 'search',
      startMs: base + 10 + i,
      outcome: 'ok',
      tokensNotCounted: TOKENS_NOT_COUNTED_REASONS.SHUTDOWN,
    });
  }
  // deepseek: every call counted.
  emitCall(t.tracer, { provider: PROVIDERS.DEEPSEEK, model: 'deepseek-chat', tool: 'search', startMs: base + 20, ...counted });
  await t.flush();
  summary = await fetchSummary(started.url);
});

afterAll(async () => {
  await t.shutdown();
  await started.collector.close();
});

function provider(name: string): Summary['providers'][number] {
  const p = summary.providers.find((x) => x.provider === name);
  if (p === undefined) throw new Error(`no provider ${name}`);
  return p;
}

describe('terminal summary of tokens not counted', () => {
  it('formats tokens as counted, partly counted, or not counted', () => {
    expect(formatTokens(provider(PROVIDERS.DEEPSEEK))).toBe('110');
    expect(formatTokens(provider(PROVIDERS.OPENAI))).toBe('220 (+1 not counted)');
    expect(formatTokens(provider(PROVIDERS.ANTHROPIC))).toBe('not counted (3 calls)');
    expect(formatTokens(provider(PROVIDERS.ANTHROPIC), true)).toBe('not_counted');
    expect(formatTokens(summary.totals)).toBe('330 (+4 not counted)');
  });

  it('the table shows "not counted" in the tokens column, never 0', () => {
    const lines = formatSummaryTable(summary);
    const row = (name: string): string => lines.find((l) => l.startsWith(`${name} `)) ?? '';
    expect(row(PROVIDERS.ANTHROPIC)).toMatch(/ not counted \(3 calls\)$/);
    expect(row(PROVIDERS.OPENAI)).toMatch(/ 220 \(\+1 not counted\)$/);
    expect(row(PROVIDERS.DEEPSEEK)).toMatch(/ 110$/);
    expect(row('all')).toMatch(/ 330 \(\+4 not counted\)$/);
  });

  it('plain lines carry tokens=not_counted and the count of such calls, values without spaces', () => {
    const lines = formatSummaryLines(summary, new Date('2026-01-01T12:00:00Z'));
    const line = (name: string): string => lines.find((l) => l.startsWith(`[12:00:00] ${name} `)) ?? '';
    expect(line(PROVIDERS.ANTHROPIC)).toMatch(/ tokens=not_counted tokens_not_counted=3$/);
    expect(line(PROVIDERS.OPENAI)).toMatch(/ tokens=220 tokens_not_counted=1$/);
    expect(line(PROVIDERS.DEEPSEEK)).toMatch(/ tokens=110$/);
  });

  it('reads a summary without the not-counted fields (an older collector) as all counted', () => {
    const { tokensNotCounted: _n, tokensNotCountedReasons: _r, ...older } = provider(PROVIDERS.DEEPSEEK);
    expect(formatTokens(older as unknown as Summary['providers'][number])).toBe('110');
  });
});
