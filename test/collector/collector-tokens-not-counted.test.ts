/**
 * No silent zeros: tools/call and tools/list spans whose tokens could not be counted
 * (`mcplens.tokens.not_counted`, or no token attribute at all) sent through real OTLP
 * exporters (JSON and protobuf with gzip) into the real collector. Checks
 * `mcp_tool_tokens_not_counted_total` (by reason, reasons outside the contract kept to one
 * label value), that such calls add nothing to `mcp_tool_tokens_total`, the summary's
 * not-counted fields, and that an uncounted tools/list never overwrites a known catalog with 0.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LABEL, METRICS, PROVIDERS, TOKENS_NOT_COUNTED_REASONS, UNKNOWN_LABEL_VALUE } from '../../contract/index.js';
import { TOKENS_UNREPORTED, type Summary, type ToolSummary } from '../../collector/summary-types.js';
import {
  countOf,
  emitCall,
  emitCatalog,
  emitUncountedCatalog,
  makeTracer,
  scrape,
  startCollector,
  sumOf,
  type Started,
  type TestTracer,
} from './collector-harness.js';

const R = TOKENS_NOT_COUNTED_REASONS;
const NOT_COUNTED = METRICS.TOOL_TOKENS_NOT_COUNTED.name;
const TOKENS = METRICS.TOOL_TOKENS.name;
const SERVICES = { json: 'tok-json', protobuf: 'tok-proto' } as const;
/** A service whose only tools/list was not counted, and one whose tools/list carries nothing (token counting off). */
const UNCOUNTED_CATALOG = 'tok-uncounted-catalog';
const UNREPORTED_CATALOG = 'tok-unreported-catalog';
const BOGUS_REASONS = 50;

let started: Started;
const tracers: TestTracer[] = [];

/** One service's calls: every way tokens can be unknown, beside counted calls. */
function emitCalls(t: TestTracer, base: number): void {
  const openai = { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool: 'search', outcome: 'ok' as const };
  emitCall(t.tracer, { ...openai, startMs: base, tokensArguments: 10, tokensResult: 100 });
  emitCall(t.tracer, { ...openai, startMs: base + 1, tokensArguments: 10, tokensResult: 100 });
  emitCall(t.tracer, { ...openai, startMs: base + 2, tokensNotCounted: R.BACKLOG });
  // A sampled span standing for 4 calls.
  emitCall(t.tracer, { ...openai, startMs: base + 3, tokensNotCounted: R.SHUTDOWN, adjustedCount: 4 });
  emitCall(t.tracer, { ...openai, startMs: base + 4, tokensNotCounted: 'gremlins' });
  // The marker wins over token attributes beside it (the contract never sends both).
  emitCall(t.tracer, { ...openai, startMs: base + 5, tokensNotCounted: R.TOO_LARGE, tokensArguments: 5, tokensResult: 7 });
  // No call of this one was counted.
  for (let i = 0; i < 3; i++)
    emitCall(t.tracer, {
      provider: PROVIDERS.ANTHROPIC,
      model: 'claude-sonnet-4-5',
      tool: 'fetch',
      startMs: base + 10 + i,
      outcome: 'ok',
      tokensNotCounted: R.FAILED,
    });
  // Neither counts nor a marker: token counting off, or older instrumentation.
  for (let i = 0; i < 2; i++)
    emitCall(t.tracer, { provider: PROVIDERS.MISTRAL_AI, model: 'mistral-large', tool: 'lookup', startMs: base + 20 + i, outcome: 'ok' });
  // Values outside the contract (strings, a number, a boolean) share one label value.
  for (let i = 0; i < BOGUS_REASONS; i++) {
    const value = i === 0 ? 42 : i === 1 ? true : `bogus-${i}`;
    emitCall(t.tracer, {
      provider: PROVIDERS.X_AI,
      model: 'grok-4',
      tool: 'probe',
      startMs: base + 30 + i,
      outcome: 'ok',
      tokensNotCounted: value,
    });
  }
  // A counted catalog, then a listing whose tokens are unknown: the known catalog stays.
  emitCatalog(t.tracer, base + 100, { search: 100, fetch: 50 });
  emitUncountedCatalog(t.tracer, base + 101, R.BACKLOG);
}

beforeAll(async () => {
  started = await startCollector();
  const base = Date.now() - 100_000;
  for (const encoding of ['json', 'protobuf'] as const) {
    const t = makeTracer(started.url, encoding, SERVICES[encoding]);
    tracers.push(t);
    emitCalls(t, base);
    await t.flush();
  }
  const uncounted = makeTracer(started.url, 'protobuf', UNCOUNTED_CATALOG);
  tracers.push(uncounted);
  emitUncountedCatalog(uncounted.tracer, base, R.SHUTDOWN);
  await uncounted.flush();
  const unreported = makeTracer(started.url, 'json', UNREPORTED_CATALOG);
  tracers.push(unreported);
  // A failed listing has no catalog to count: it says nothing. A successful one without counts is not counted.
  emitUncountedCatalog(unreported.tracer, base, undefined, '-32603');
  emitUncountedCatalog(unreported.tracer, base + 1, undefined);
  await unreported.flush();
});

afterAll(async () => {
  for (const t of tracers) await t.shutdown();
  await started.collector.close();
});

async function summary(): Promise<Summary> {
  const res = await fetch(`${started.url}/api/summary`);
  expect(res.status).toBe(200);
  return (await res.json()) as Summary;
}

function tool(s: Summary, service: string, name: string): ToolSummary {
  const t = s.tools.find((x) => x.service === service && x.tool === name);
  if (t === undefined) throw new Error(`no tool ${service}/${name} in the summary`);
  return t;
}

describe('tokens not counted', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    const service = SERVICES[encoding];
    const svc = { [LABEL.SERVICE_NAME]: service };

    it(`${encoding}: ${NOT_COUNTED} counts marked tools/call spans by reason, with the adjusted count`, async () => {
      const { samples } = await scrape(started.url);
      const openai = {
        ...svc,
        [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.OPENAI,
        [LABEL.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
        [LABEL.GEN_AI_TOOL_NAME]: 'search',
      };
      expect(sumOf(samples, NOT_COUNTED, { ...openai, [LABEL.REASON]: R.BACKLOG })).toBe(1);
      expect(sumOf(samples, NOT_COUNTED, { ...openai, [LABEL.REASON]: R.SHUTDOWN })).toBe(4);
      expect(sumOf(samples, NOT_COUNTED, { ...openai, [LABEL.REASON]: R.TOO_LARGE })).toBe(1);
      expect(sumOf(samples, NOT_COUNTED, { ...openai, [LABEL.REASON]: UNKNOWN_LABEL_VALUE })).toBe(1);
      expect(countOf(samples, NOT_COUNTED, { [LABEL.REASON]: 'gremlins' })).toBe(0);
      expect(sumOf(samples, NOT_COUNTED, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.ANTHROPIC, [LABEL.REASON]: R.FAILED })).toBe(3);
      // Calls with neither counts nor a marker are in the summary only.
      expect(countOf(samples, NOT_COUNTED, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.MISTRAL_AI })).toBe(0);
    });

    it(`${encoding}: reason values outside the contract go to one ${UNKNOWN_LABEL_VALUE} series`, async () => {
      const { samples } = await scrape(started.url);
      const xai = { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.X_AI };
      expect(countOf(samples, NOT_COUNTED, xai)).toBe(1);
      expect(sumOf(samples, NOT_COUNTED, { ...xai, [LABEL.REASON]: UNKNOWN_LABEL_VALUE })).toBe(BOGUS_REASONS);
      const allowed = new Set<string>([...Object.values(R), UNKNOWN_LABEL_VALUE]);
      const reasons = new Set(samples.filter((s) => s.name === NOT_COUNTED).map((s) => s.labels[LABEL.REASON]!));
      expect([...reasons].filter((r) => !allowed.has(r))).toEqual([]);
    });

    it(`${encoding}: tokens of calls not counted are not added to ${TOKENS}, as 0 or otherwise`, async () => {
      const { samples } = await scrape(started.url);
      const openai = { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.OPENAI };
      expect(sumOf(samples, TOKENS, { ...openai, [LABEL.TOKEN_KIND]: 'arguments' })).toBe(20);
      expect(sumOf(samples, TOKENS, { ...openai, [LABEL.TOKEN_KIND]: 'result' })).toBe(200);
      expect(countOf(samples, TOKENS, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: PROVIDERS.ANTHROPIC })).toBe(0);
    });

    it(`${encoding}: /api/summary says how many calls were not counted and why, per tool`, async () => {
      const s = await summary();
      const search = tool(s, service, 'search');
      expect(search.calls).toBe(9);
      expect(search.tokens).toEqual({ arguments: 20, result: 200 });
      expect(search.tokensNotCounted).toBe(7);
      expect(search.tokensNotCountedReasons).toEqual({ [R.BACKLOG]: 1, [R.SHUTDOWN]: 4, [UNKNOWN_LABEL_VALUE]: 1, [R.TOO_LARGE]: 1 });
      // Not one call of this tool was counted: its tokens are unknown, and the summary says so.
      const fetchTool = tool(s, service, 'fetch');
      expect([fetchTool.calls, fetchTool.tokensNotCounted, fetchTool.tokensNotCountedReasons]).toEqual([3, 3, { [R.FAILED]: 3 }]);
      const lookup = tool(s, service, 'lookup');
      expect([lookup.calls, lookup.tokensNotCounted, lookup.tokensNotCountedReasons]).toEqual([2, 2, { [TOKENS_UNREPORTED]: 2 }]);
      expect(tool(s, service, 'probe').tokensNotCountedReasons).toEqual({ [UNKNOWN_LABEL_VALUE]: BOGUS_REASONS });
    });
  }

  it('/api/summary totals, providers and models carry the not-counted calls of both encodings', async () => {
    const s = await summary();
    // Per service: openai 7, anthropic 3, mistral 2 (unreported), x_ai 50.
    expect(s.totals.tokensNotCounted).toBe(2 * (7 + 3 + 2 + BOGUS_REASONS));
    expect(s.totals.calls - s.totals.tokensNotCounted).toBe(2 * 2);
    const anthropic = s.providers.find((p) => p.provider === PROVIDERS.ANTHROPIC)!;
    expect([anthropic.calls, anthropic.tokensNotCounted]).toEqual([6, 6]);
    expect(anthropic.models[0]!.tokensNotCountedReasons).toEqual({ [R.FAILED]: 6 });
    const openai = s.providers.find((p) => p.provider === PROVIDERS.OPENAI)!;
    expect(openai.tokensNotCountedReasons).toEqual({ [R.BACKLOG]: 2, [R.SHUTDOWN]: 8, [UNKNOWN_LABEL_VALUE]: 2, [R.TOO_LARGE]: 2 });
  });

  it('an uncounted tools/list keeps the known catalog (gauge and summary) and says the latest was not counted', async () => {
    const { samples } = await scrape(started.url);
    for (const service of Object.values(SERVICES)) {
      expect(sumOf(samples, METRICS.TOOL_CATALOG_TOKENS.name, { [LABEL.SERVICE_NAME]: service })).toBe(150);
      expect(
        sumOf(samples, METRICS.TOOL_CATALOG_TOOL_TOKENS.name, { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_TOOL_NAME]: 'search' }),
      ).toBe(100);
    }
    // No counted listing at all: no gauge, not a gauge at 0.
    expect(countOf(samples, METRICS.TOOL_CATALOG_TOKENS.name, { [LABEL.SERVICE_NAME]: UNCOUNTED_CATALOG })).toBe(0);
    expect(countOf(samples, METRICS.TOOL_CATALOG_TOKENS.name, { [LABEL.SERVICE_NAME]: UNREPORTED_CATALOG })).toBe(0);
    const s = await summary();
    expect(s.catalogs.find((c) => c.service === SERVICES.json)).toEqual({
      service: SERVICES.json,
      totalTokens: 150,
      tools: [
        { tool: 'search', tokens: 100 },
        { tool: 'fetch', tokens: 50 },
      ],
      listsNotCounted: 1,
      latestNotCounted: R.BACKLOG,
    });
    expect(s.catalogs.find((c) => c.service === UNCOUNTED_CATALOG)).toEqual({
      service: UNCOUNTED_CATALOG,
      totalTokens: null,
      tools: [],
      listsNotCounted: 1,
      latestNotCounted: R.SHUTDOWN,
    });
    // The failed listing said nothing; the successful one without counts is unreported.
    expect(s.catalogs.find((c) => c.service === UNREPORTED_CATALOG)).toEqual({
      service: UNREPORTED_CATALOG,
      totalTokens: null,
      tools: [],
      listsNotCounted: 1,
      latestNotCounted: TOKENS_UNREPORTED,
    });
  });

  it('a counted listing after an uncounted one clears latestNotCounted', async () => {
    const t = makeTracer(started.url, 'protobuf', UNCOUNTED_CATALOG);
    try {
      emitCatalog(t.tracer, Date.now() - 1000, { only: 30 });
      await t.flush();
    } finally {
      await t.shutdown();
    }
    const s = await summary();
    expect(s.catalogs.find((c) => c.service === UNCOUNTED_CATALOG)).toEqual({
      service: UNCOUNTED_CATALOG,
      totalTokens: 30,
      tools: [{ tool: 'only', tokens: 30 }],
      listsNotCounted: 1,
      latestNotCounted: null,
    });
  });
});
