/**
 * Label values and numeric attributes, against the real collector (port 0) fed by
 * real OTLP exporters (JSON, and protobuf with gzip):
 * - label values past `maxLabelValueBytes` are cut at a UTF-8 boundary and end with `…~` and a
 *   hash of the whole value, so long names sharing a prefix stay distinct series; counted;
 * - values holding control characters, lone surrogates or a series-key separator
 *   (`,name:`) are rewritten the same way, and label sets that prom-client's series key
 *   used to merge (`openai,gen_ai_request_model:gpt` + `x` vs `openai` + `gpt,gen_ai_request_model:x`)
 *   are two series with their own counts; `/api/summary` shows the very same values;
 * - token counts outside 0..MAX_TOKEN_COUNT (1e308, negative, fractional, NaN, strings) are
 *   dropped and counted, the call still counts, `mcp_tool_tokens_total` never reaches +Inf.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { SpanKind, type Attributes as OtelAttributes } from '@opentelemetry/api';
import {
  ATTR,
  EVENT,
  LABEL,
  LABEL_VALUE_REWRITE_REASONS,
  MAX_TOKEN_COUNT,
  MCP_METHOD,
  METRICS,
  VALUE_REJECT_REASONS,
} from '../../contract/index.js';
import { ConfigError, resolveConfig } from '../../collector/config.js';
import type { Summary } from '../../collector/summary-types.js';
import { makeTracer, scrape, startCollector, sumOf, type Sample, type Started, type TestTracer } from './collector-harness.js';

const CALLS = METRICS.TOOL_CALLS.name;
const DURATION_COUNT = `${METRICS.SERVER_OPERATION_DURATION.name}_count`;
const TOKENS = METRICS.TOOL_TOKENS.name;
const REWRITTEN = METRICS.COLLECTOR_LABEL_VALUES_REWRITTEN.name;
const VALUES_REJECTED = METRICS.COLLECTOR_ATTRIBUTE_VALUES_REJECTED.name;
const SPANS_REJECTED = METRICS.COLLECTOR_SPANS_REJECTED.name;
const CATALOG_TOOL = METRICS.TOOL_CATALOG_TOOL_TOKENS.name;
const REWRITTEN_TAIL = /\u2026~[0-9a-f]{8}$/;

const running: Started[] = [];
const tracers: TestTracer[] = [];

afterAll(async () => {
  for (const t of tracers) await t.shutdown();
  for (const s of running) await s.collector.close();
});

async function collector(options: Parameters<typeof startCollector>[0] = {}): Promise<Started> {
  const s = await startCollector(options);
  running.push(s);
  return s;
}

function tracer(url: string, encoding: 'json' | 'protobuf', service: string): TestTracer {
  const t = makeTracer(url, encoding, service);
  tracers.push(t);
  return t;
}

/** One SERVER tools/call span with exactly these attributes (besides the method). */
function call(t: TestTracer, startMs: number, attributes: OtelAttributes): void {
  const span = t.tracer.startSpan('tools/call', {
    kind: SpanKind.SERVER,
    attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL, [ATTR.OUTCOME]: 'ok', ...attributes },
    startTime: startMs,
  });
  span.end(startMs + 10);
}

async function summaryOf(url: string): Promise<Summary> {
  const res = await fetch(`${url}/api/summary`);
  expect(res.status).toBe(200);
  return (await res.json()) as Summary;
}

function samplesOf(samples: readonly Sample[], name: string, service: string): Sample[] {
  return samples.filter((s) => s.name === name && s.labels[LABEL.SERVICE_NAME] === service);
}

const hash8 = (v: string, encoding: 'utf8' | 'utf16le' = 'utf8'): string =>
  createHash('sha256').update(v, encoding).digest('hex').slice(0, 8);

describe('label values that used to share a series', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    it(`keeps label sets apart whatever their values hold: ',', ':', '=', quotes, newlines (${encoding})`, async () => {
      const { url } = await collector();
      const service = `sep-${encoding}`;
      const t = tracer(url, encoding, service);
      const base = Date.now() - 10_000;
      // [provider, model, tool, calls]: pairs that prom-client's `name:value,` key made one series.
      const sets: Array<[string, string, string, number]> = [
        ['openai,gen_ai_request_model:gpt', 'x', 'lookup', 1],
        ['openai', 'gpt,gen_ai_request_model:x', 'lookup', 2],
        ['p', 'm,gen_ai_tool_name:t', 'u', 3],
        ['p', 'm', 't,gen_ai_tool_name:u', 4],
        ['q"uote=1', 'a:b=c', 'say "hi"', 5],
        ['q"uote=1', 'a:b=c\n', 'say "hi"', 6],
        ['q"uote=1', 'a:b=c\r\n', 'say "hi"', 7],
        ['plain, with comma', 'm:1', 'x=y', 8],
      ];
      let n = 0;
      for (const [provider, model, tool, calls] of sets) {
        for (let i = 0; i < calls; i++)
          call(t, base + n++, { [ATTR.GEN_AI_PROVIDER_NAME]: provider, [ATTR.GEN_AI_REQUEST_MODEL]: model, [ATTR.GEN_AI_TOOL_NAME]: tool });
      }
      await t.flush();

      const { samples } = await scrape(url);
      const calls = samplesOf(samples, CALLS, service).filter((s) => s.labels[LABEL.OUTCOME] === 'ok');
      // One series per label set, each with its own count (the old code had 7 here: 1 + 2 merged).
      expect(calls.map((s) => s.value).sort((a, b) => a - b)).toEqual(sets.map((s) => s[3]));
      // The duration histogram has no model label: sets differing only by model share its series.
      const byProviderTool = new Map<string, number>();
      for (const [provider, , tool, count] of sets)
        byProviderTool.set(`${provider}\u0000${tool}`, (byProviderTool.get(`${provider}\u0000${tool}`) ?? 0) + count);
      const durations = samplesOf(samples, DURATION_COUNT, service);
      expect(durations.map((s) => s.value).sort((a, b) => a - b)).toEqual([...byProviderTool.values()].sort((a, b) => a - b));
      // Values without a separator, control character or excess length are exported unchanged.
      const byCount = new Map(calls.map((s) => [s.value, s.labels]));
      expect(byCount.get(5)).toMatchObject({
        [LABEL.GEN_AI_PROVIDER_NAME]: 'q"uote=1',
        [LABEL.GEN_AI_REQUEST_MODEL]: 'a:b=c',
        [LABEL.GEN_AI_TOOL_NAME]: 'say "hi"',
      });
      expect(byCount.get(8)).toMatchObject({
        [LABEL.GEN_AI_PROVIDER_NAME]: 'plain, with comma',
        [LABEL.GEN_AI_REQUEST_MODEL]: 'm:1',
        [LABEL.GEN_AI_TOOL_NAME]: 'x=y',
      });
      // A separator is replaced and the value marked with the hash of the original.
      expect(byCount.get(1)![LABEL.GEN_AI_PROVIDER_NAME]).toBe(
        `openai\ufffdgen_ai_request_model:gpt\u2026~${hash8('openai,gen_ai_request_model:gpt')}`,
      );
      expect(byCount.get(2)![LABEL.GEN_AI_REQUEST_MODEL]).toBe(
        `gpt\ufffdgen_ai_request_model:x\u2026~${hash8('gpt,gen_ai_request_model:x')}`,
      );
      expect(byCount.get(6)![LABEL.GEN_AI_REQUEST_MODEL]).toBe(`a:b=c\ufffd\u2026~${hash8('a:b=c\n')}`);
      expect(byCount.get(7)![LABEL.GEN_AI_REQUEST_MODEL]).toBe(`a:b=c\ufffd\ufffd\u2026~${hash8('a:b=c\r\n')}`);
      // Counted once per span and label.
      expect(
        sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_PROVIDER_NAME, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.SEPARATOR }),
      ).toBe(1);
      expect(
        sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_REQUEST_MODEL, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.SEPARATOR }),
      ).toBe(2 + 3);
      expect(
        sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_TOOL_NAME, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.SEPARATOR }),
      ).toBe(4);
      expect(
        sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_REQUEST_MODEL, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.INVALID_TEXT }),
      ).toBe(6 + 7);

      // The summary holds the very same values, with the same counts.
      const summary = await summaryOf(url);
      const models = summary.providers.flatMap((p) => p.models.map((m) => `${p.provider}|${m.model}|${m.calls}`)).sort();
      const fromMetrics = new Map<string, number>();
      for (const s of calls) {
        const k = `${s.labels[LABEL.GEN_AI_PROVIDER_NAME]}|${s.labels[LABEL.GEN_AI_REQUEST_MODEL]}`;
        fromMetrics.set(k, (fromMetrics.get(k) ?? 0) + s.value);
      }
      expect(models).toEqual([...fromMetrics].map(([k, v]) => `${k}|${v}`).sort());
      const tools = summary.tools.map((x) => `${x.tool}|${x.calls}`).sort();
      const toolCounts = new Map<string, number>();
      for (const s of calls)
        toolCounts.set(s.labels[LABEL.GEN_AI_TOOL_NAME]!, (toolCounts.get(s.labels[LABEL.GEN_AI_TOOL_NAME]!) ?? 0) + s.value);
      expect(tools).toEqual([...toolCounts].map(([k, v]) => `${k}|${v}`).sort());
    });
  }

  it('rewrites lone surrogates and control characters, keeping distinct values distinct (JSON keeps lone surrogates)', async () => {
    const { url } = await collector();
    const service = 'bad-text';
    const t = tracer(url, 'json', service);
    const base = Date.now() - 10_000;
    const providers = ['p\ud800', 'p\ud801', 'p\u0000', 'p\u0001', 'p\u007f', 'p\u0085', 'fine\u2026', `posing\u2026~${'0'.repeat(8)}`];
    providers.forEach((provider, i) => {
      for (let k = 0; k <= i; k++) call(t, base + i * 10 + k, { [ATTR.GEN_AI_PROVIDER_NAME]: provider, [ATTR.GEN_AI_TOOL_NAME]: 'x' });
    });
    await t.flush();
    const { samples } = await scrape(url);
    const calls = samplesOf(samples, CALLS, service).filter((s) => s.labels[LABEL.OUTCOME] === 'ok');
    expect(calls.map((s) => s.value).sort((a, b) => a - b)).toEqual(providers.map((_, i) => i + 1));
    const byCount = new Map(calls.map((s) => [s.value, s.labels[LABEL.GEN_AI_PROVIDER_NAME]!]));
    expect(byCount.get(1)).toBe(`p\ufffd\u2026~${hash8('p\ud800', 'utf16le')}`);
    expect(byCount.get(2)).toBe(`p\ufffd\u2026~${hash8('p\ud801', 'utf16le')}`);
    expect(byCount.get(3)).toBe(`p\ufffd\u2026~${hash8('p\u0000')}`);
    // An ellipsis alone is ordinary text; an ending that poses as a rewrite is not.
    expect(byCount.get(7)).toBe('fine\u2026');
    expect(byCount.get(8)).toBe(`posing\u2026~${'0'.repeat(8)}\u2026~${hash8(`posing\u2026~${'0'.repeat(8)}`)}`);
    expect(
      sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_PROVIDER_NAME, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.INVALID_TEXT }),
    ).toBe(1 + 2 + 3 + 4 + 5 + 6 + 8);
    for (const v of byCount.values()) expect(/[\u0000-\u001f\u007f-\u009f]/.test(v)).toBe(false);
  });
});

describe('label value length limit', () => {
  it('cuts long values at a UTF-8 boundary with a hash of the whole value: distinct names stay distinct, the scrape stays small, every span counts', async () => {
    const { url } = await collector();
    const service = 'long-names';
    const t = tracer(url, 'protobuf', service);
    const base = Date.now() - 10_000;
    const prefix = 'x'.repeat(300);
    // 25 distinct 100 kB tool names sharing a 300-byte prefix (the attack of the issue, scaled down).
    const names = Array.from({ length: 25 }, (_, i) => `${prefix}${String(i).padStart(4, '0')}${'y'.repeat(100_000)}`);
    names.forEach((tool, i) =>
      call(t, base + i, {
        [ATTR.GEN_AI_TOOL_NAME]: tool,
        [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
        [ATTR.GEN_AI_REQUEST_MODEL]: '€'.repeat(200),
      }),
    );
    await t.flush();
    const { text, samples } = await scrape(url);
    // About 330 kB (every series of 25 call label sets, 256-byte values); the names alone are 2.5 MB.
    expect(text.length).toBeLessThan(1_000_000);
    const calls = samplesOf(samples, CALLS, service).filter((s) => s.labels[LABEL.OUTCOME] === 'ok');
    expect(calls).toHaveLength(25);
    expect(calls.every((s) => s.value === 1)).toBe(true);
    const tools = calls.map((s) => s.labels[LABEL.GEN_AI_TOOL_NAME]!);
    expect(new Set(tools).size).toBe(25);
    for (const tool of tools) {
      expect(Buffer.byteLength(tool)).toBe(256);
      expect(tool).toMatch(REWRITTEN_TAIL);
    }
    expect(new Set(tools)).toEqual(new Set(names.map((n) => `${'x'.repeat(256 - 12)}\u2026~${hash8(n)}`)));
    // 200 euro signs (600 bytes) cut at a character boundary: 81 whole ones (243 bytes), then the 12-byte marker and hash.
    const model = calls[0]!.labels[LABEL.GEN_AI_REQUEST_MODEL]!;
    expect(model).toBe(`${'€'.repeat(81)}\u2026~${hash8('€'.repeat(200))}`);
    expect(sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_TOOL_NAME, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.TOO_LONG })).toBe(
      25,
    );
    expect(
      sumOf(samples, REWRITTEN, { [LABEL.LABEL]: LABEL.GEN_AI_REQUEST_MODEL, [LABEL.REASON]: LABEL_VALUE_REWRITE_REASONS.TOO_LONG }),
    ).toBe(25);
    const summary = await summaryOf(url);
    expect(summary.tools.map((x) => x.tool).sort()).toEqual([...tools].sort());
    expect(summary.totals.calls).toBe(25);
  });

  it("bounds what the summary keeps beside labels: an unknown tool's name, field paths, session keys", async () => {
    const { url } = await collector();
    const service = 'long-beside';
    const t = tracer(url, 'protobuf', service);
    const base = Date.now() - 10_000;
    const name = `nope_${'n'.repeat(50_000)}`;
    const path = `/${'p'.repeat(50_000)}`;
    const paths = Array.from({ length: 100 }, (_, i) => `${path}${i}`);
    // A malformed call with a huge session key, then its correction in the same session: still paired.
    const session = 's'.repeat(50_000);
    const tool = { [ATTR.GEN_AI_TOOL_NAME]: 'lookup', [ATTR.GEN_AI_PROVIDER_NAME]: 'openai', [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt' };
    call(t, base, { ...tool, [ATTR.SESSION_KEY]: session, [ATTR.VIOLATION_KIND]: 'wrong_type', [ATTR.VIOLATION_PATHS]: paths });
    call(t, base + 1000, { ...tool, [ATTR.SESSION_KEY]: session });
    call(t, base + 2000, {
      [ATTR.GEN_AI_TOOL_NAME]: name,
      [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt',
      [ATTR.VIOLATION_KIND]: 'unknown_tool',
      [ATTR.OUTCOME]: 'rejected',
    });
    await t.flush();
    const summary = await summaryOf(url);
    const recent = summary.recentViolations;
    expect(recent.map((v) => v.tool)).toEqual([`${name.slice(0, 244)}\u2026~${hash8(name)}`, 'lookup']);
    expect(recent[1]!.paths).toHaveLength(16);
    for (const p of recent[1]!.paths) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(256);
    expect(JSON.stringify(summary).length).toBeLessThan(50_000);
    expect(summary.totals.selfCorrections).toBe(1);
    const { samples } = await scrape(url);
    expect(sumOf(samples, METRICS.TOOL_SELF_CORRECTIONS.name, { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_TOOL_NAME]: 'lookup' })).toBe(
      1,
    );
  });

  it('follows maxLabelValueBytes, and refuses a limit too small for the marker and hash', async () => {
    const { url } = await collector({ maxLabelValueBytes: 40 });
    const t = tracer(url, 'json', 's'.repeat(100));
    call(t, Date.now() - 1000, { [ATTR.GEN_AI_TOOL_NAME]: 'short', [ATTR.ERROR_TYPE]: 'e'.repeat(41) });
    await t.flush();
    const { samples } = await scrape(url);
    const service = `${'s'.repeat(40 - 12)}\u2026~${hash8('s'.repeat(100))}`;
    expect(sumOf(samples, CALLS, { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_TOOL_NAME]: 'short' })).toBe(1);
    expect(
      sumOf(samples, DURATION_COUNT, {
        [LABEL.SERVICE_NAME]: service,
        [LABEL.ERROR_TYPE]: `${'e'.repeat(28)}\u2026~${hash8('e'.repeat(41))}`,
      }),
    ).toBe(1);
    expect(() => resolveConfig({ maxLabelValueBytes: 31 })).toThrow(ConfigError);
    expect(() => resolveConfig({ maxLabelValueBytes: 31 })).toThrow(/maxLabelValueBytes.*31/);
    expect(resolveConfig({}).maxLabelValueBytes).toBe(256);
  });
});

describe('token counts validated', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    it(`drops token counts that are not integers from 0 to ${MAX_TOKEN_COUNT}, counts them, and still counts the calls (${encoding})`, async () => {
      const { url } = await collector();
      const service = `tokens-${encoding}`;
      const t = tracer(url, encoding, service);
      const base = Date.now() - 10_000;
      const tool = { [ATTR.GEN_AI_TOOL_NAME]: 'big', [ATTR.GEN_AI_PROVIDER_NAME]: 'openai', [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt' };
      // Two spans of 1e308 made the counter +Inf before.
      call(t, base, { ...tool, [ATTR.TOKENS_ARGUMENTS]: 1e308, [ATTR.TOKENS_RESULT]: 7 });
      call(t, base + 1, { ...tool, [ATTR.TOKENS_ARGUMENTS]: 1e308, [ATTR.TOKENS_RESULT]: 7 });
      const bad: Array<number | string> = [-5, 1.5, MAX_TOKEN_COUNT + 1, '12', 'NaN', 'abc'];
      // JSON cannot carry NaN or Infinity (it sends null); protobuf can.
      if (encoding === 'protobuf') bad.push(NaN, Infinity);
      bad.forEach((v, i) => call(t, base + 10 + i, { ...tool, [ATTR.TOKENS_ARGUMENTS]: v, [ATTR.TOKENS_RESULT]: 1 }));
      call(t, base + 100, { ...tool, [ATTR.TOKENS_ARGUMENTS]: MAX_TOKEN_COUNT, [ATTR.TOKENS_RESULT]: 0 });
      // A catalog with one bad tool and a bad total: the good tool is kept, the total is its sum.
      const list = t.tracer.startSpan(MCP_METHOD.TOOLS_LIST, {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST, [ATTR.TOKENS_CATALOG]: 1e308 },
        startTime: base + 200,
      });
      list.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: 'good', [ATTR.TOKENS_CATALOG]: 120 });
      list.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: 'huge', [ATTR.TOKENS_CATALOG]: 1e308 });
      list.end(base + 205);
      await t.flush();

      const { samples } = await scrape(url);
      const calls = 2 + bad.length + 1;
      expect(sumOf(samples, CALLS, { [LABEL.SERVICE_NAME]: service })).toBe(calls);
      expect(sumOf(samples, TOKENS, { [LABEL.SERVICE_NAME]: service, [LABEL.TOKEN_KIND]: 'arguments' })).toBe(MAX_TOKEN_COUNT);
      expect(sumOf(samples, TOKENS, { [LABEL.SERVICE_NAME]: service, [LABEL.TOKEN_KIND]: 'result' })).toBe(7 + 7 + bad.length);
      for (const s of samples) expect([s.name, Number.isFinite(s.value)]).toEqual([s.name, true]);
      // 2 + bad arguments + 2 catalog values (total and one tool).
      expect(sumOf(samples, VALUES_REJECTED, { [LABEL.REASON]: VALUE_REJECT_REASONS.INVALID_TOKEN_COUNT })).toBe(2 + bad.length + 2);
      // The spans themselves were used: nothing rejected.
      expect(sumOf(samples, SPANS_REJECTED)).toBe(0);
      expect(sumOf(samples, CATALOG_TOOL, { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_TOOL_NAME]: 'good' })).toBe(120);
      expect(samples.some((s) => s.name === CATALOG_TOOL && s.labels[LABEL.GEN_AI_TOOL_NAME] === 'huge')).toBe(false);
      expect(sumOf(samples, METRICS.TOOL_CATALOG_TOKENS.name, { [LABEL.SERVICE_NAME]: service })).toBe(120);
      const summary = await summaryOf(url);
      expect(summary.totals.calls).toBe(calls);
      expect(summary.totals.tokens).toMatchObject({ arguments: MAX_TOKEN_COUNT, result: 14 + bad.length });
      expect(summary.catalogs.find((c) => c.service === service)?.totalTokens).toBe(120);
    });
  }
});
