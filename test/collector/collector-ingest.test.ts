/**
 * End to end through real OTLP exporters: JSON (exporter-trace-otlp-http) and protobuf with
 * gzip (exporter-trace-otlp-proto) into the real collector, then the parsed /metrics (both
 * formats) and /api/summary.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { LABEL, METRICS, OVERFLOW_LABEL_VALUE, UNKNOWN_LABEL_VALUE, UNKNOWN_PROVIDER, VIOLATION_KINDS } from '../../contract/index.js';
import type { Summary } from '../../collector/summary-types.js';
import {
  SCENARIO,
  countOf,
  emitScenario,
  makeTracer,
  scrape,
  startCollector,
  sumOf,
  type Started,
  type TestTracer,
} from './collector-harness.js';

const CALLS = METRICS.TOOL_CALLS.name;
const VIOL = METRICS.TOOL_SCHEMA_VIOLATIONS.name;
const DUR = METRICS.SERVER_OPERATION_DURATION.name;
const SERVICES = { json: 'orders-json', protobuf: 'orders-proto' } as const;

let started: Started;
const tracers: TestTracer[] = [];

beforeAll(async () => {
  started = await startCollector();
  const base = Date.now() - 200_000;
  for (const encoding of ['json', 'protobuf'] as const) {
    const t = makeTracer(started.url, encoding, SERVICES[encoding]);
    tracers.push(t);
    emitScenario(t.tracer, base);
    await t.flush();
  }
});

afterAll(async () => {
  for (const t of tracers) await t.shutdown();
  await started.collector.close();
});

describe('tallies from both OTLP encodings', () => {
  for (const encoding of ['json', 'protobuf'] as const) {
    const service = SERVICES[encoding];
    it(`${encoding}: counts every SERVER tools/call once, per provider, with the adjusted count`, async () => {
      const { samples } = await scrape(started.url);
      const svc = { [LABEL.SERVICE_NAME]: service };
      expect(sumOf(samples, CALLS, svc)).toBe(SCENARIO.calls);
      for (const [provider, n] of Object.entries(SCENARIO.byProvider)) {
        expect([provider, sumOf(samples, CALLS, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: provider })]).toEqual([provider, n]);
      }
      // Provider and model 'unknown' when absent; unknown tool never a label value.
      expect(
        sumOf(samples, CALLS, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: UNKNOWN_PROVIDER, [LABEL.GEN_AI_REQUEST_MODEL]: UNKNOWN_PROVIDER }),
      ).toBe(1);
      expect(countOf(samples, CALLS, { [LABEL.GEN_AI_TOOL_NAME]: 'nope' })).toBe(0);
      expect(sumOf(samples, CALLS, { ...svc, [LABEL.GEN_AI_TOOL_NAME]: UNKNOWN_LABEL_VALUE })).toBe(2);
      expect(sumOf(samples, CALLS, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: 'openai', [LABEL.OUTCOME]: 'tool_error' })).toBe(2);
      expect(countOf(samples, CALLS, { [LABEL.GEN_AI_TOOL_NAME]: OVERFLOW_LABEL_VALUE })).toBe(0);
    });

    it(`${encoding}: violations once per malformed call by primary kind, with the calls' label values`, async () => {
      const { samples } = await scrape(started.url);
      const openai = { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_PROVIDER_NAME]: 'openai' };
      for (const kind of VIOLATION_KINDS) {
        expect([kind, sumOf(samples, VIOL, { ...openai, [LABEL.VIOLATION_KIND]: kind })]).toEqual([
          kind,
          SCENARIO.openaiViolations[kind] ?? 0,
        ]);
      }
      expect(
        sumOf(samples, VIOL, {
          [LABEL.SERVICE_NAME]: service,
          [LABEL.GEN_AI_TOOL_NAME]: UNKNOWN_LABEL_VALUE,
          [LABEL.VIOLATION_KIND]: 'unknown_tool',
        }),
      ).toBe(2);
      // Every violation series has a calls series with the same call labels.
      const callKeys = new Set(
        samples
          .filter((s) => s.name === CALLS)
          .map(
            (s) =>
              `${s.labels['service_name']}|${s.labels['gen_ai_tool_name']}|${s.labels['gen_ai_provider_name']}|${s.labels['gen_ai_request_model']}`,
          ),
      );
      for (const s of samples.filter((x) => x.name === VIOL)) {
        expect(
          callKeys.has(
            `${s.labels['service_name']}|${s.labels['gen_ai_tool_name']}|${s.labels['gen_ai_provider_name']}|${s.labels['gen_ai_request_model']}`,
          ),
        ).toBe(true);
      }
    });

    it(`${encoding}: the malformed ratio of a clean provider reads 0 from existing zero series`, async () => {
      const { samples } = await scrape(started.url);
      const anthropic = { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_PROVIDER_NAME]: 'anthropic' };
      // One zero series per kind exists, so sum by provider is 0, not "no data".
      expect(countOf(samples, VIOL, anthropic)).toBe(VIOLATION_KINDS.length);
      expect(sumOf(samples, VIOL, anthropic) / sumOf(samples, CALLS, anthropic)).toBe(0);
      const openai = { [LABEL.SERVICE_NAME]: service, [LABEL.GEN_AI_PROVIDER_NAME]: 'openai' };
      expect(sumOf(samples, VIOL, openai) / sumOf(samples, CALLS, openai)).toBe(0.25);
    });

    it(`${encoding}: durations for every SERVER MCP span, tokens, self-corrections, catalog gauges`, async () => {
      const { samples } = await scrape(started.url);
      const svc = { [LABEL.SERVICE_NAME]: service };
      expect(sumOf(samples, `${DUR}_count`, svc)).toBe(SCENARIO.serverMcpObservations);
      expect(sumOf(samples, `${DUR}_count`, { ...svc, [LABEL.MCP_METHOD_NAME]: 'initialize' })).toBe(1);
      // 20 ms spans land in the 0.02 bucket, not the 0.01 one.
      expect(sumOf(samples, `${DUR}_bucket`, { ...svc, le: '0.01', [LABEL.MCP_METHOD_NAME]: 'tools/call' })).toBe(0);
      expect(sumOf(samples, `${DUR}_bucket`, { ...svc, le: '0.02', [LABEL.MCP_METHOD_NAME]: 'tools/call' })).toBe(SCENARIO.calls);
      for (const [kind, n] of Object.entries(SCENARIO.openaiTokens)) {
        expect(sumOf(samples, METRICS.TOOL_TOKENS.name, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: 'openai', [LABEL.TOKEN_KIND]: kind })).toBe(
          n,
        );
      }
      expect(sumOf(samples, METRICS.TOOL_SELF_CORRECTIONS.name, { ...svc, [LABEL.GEN_AI_PROVIDER_NAME]: 'openai' })).toBe(
        SCENARIO.openaiSelfCorrections,
      );
      expect(sumOf(samples, METRICS.TOOL_SELF_CORRECTIONS.name, svc)).toBe(SCENARIO.openaiSelfCorrections);
      expect(sumOf(samples, METRICS.TOOL_CATALOG_TOKENS.name, svc)).toBe(300);
      expect(sumOf(samples, METRICS.TOOL_CATALOG_TOOL_TOKENS.name, { ...svc, [LABEL.GEN_AI_TOOL_NAME]: 'cancel_order' })).toBe(180);
    });
  }

  it('counts received spans by encoding (the CLIENT span is received but not tallied)', async () => {
    const { samples } = await scrape(started.url);
    // 8+5+2+1+1 calls + 1 client + 1 tools/list + 1 initialize = 20 spans per encoding.
    expect(sumOf(samples, METRICS.COLLECTOR_SPANS_RECEIVED.name, { [LABEL.ENCODING]: 'json' })).toBe(20);
    expect(sumOf(samples, METRICS.COLLECTOR_SPANS_RECEIVED.name, { [LABEL.ENCODING]: 'protobuf' })).toBe(20);
    expect(sumOf(samples, METRICS.COLLECTOR_SPANS_REJECTED.name)).toBe(0);
  });
});

describe('exposition formats', () => {
  it('classic text keeps _total on counter families and samples', async () => {
    const { text, contentType } = await scrape(started.url);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain(`# TYPE ${CALLS} counter`);
    expect(text).toMatch(new RegExp(`^${CALLS}\\{`, 'm'));
    expect(text).not.toContain('# {trace_id=');
    expect(text).not.toContain('# EOF');
  });

  it('OpenMetrics keeps _total on counter samples and carries trace_id exemplars of sent spans', async () => {
    const { text, samples, contentType } = await scrape(started.url, true);
    expect(contentType).toMatch(/^application\/openmetrics-text/);
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
    expect(sumOf(samples, CALLS)).toBe(2 * SCENARIO.calls);
    expect(countOf(samples, CALLS.replace(/_total$/, ''))).toBe(0);
    const exemplars = samples.filter((s) => s.name === `${DUR}_bucket` && s.exemplar !== undefined);
    expect(exemplars.length).toBeGreaterThan(0);
    const sent = new Set<string>();
    for (const t of tracers) for (const id of t.traceIds()) sent.add(id);
    for (const e of exemplars) {
      const m = /trace_id="([0-9a-f]{32})"/.exec(e.exemplar!);
      expect(m).not.toBeNull();
      expect(sent.has(m![1]!)).toBe(true);
    }
  });
});

describe('/api/summary', () => {
  it('reports per provider, model and tool, recent violations and catalogs', async () => {
    const res = await fetch(`${started.url}/api/summary`);
    expect(res.status).toBe(200);
    const s = (await res.json()) as Summary;
    expect(s.totals.calls).toBe(2 * SCENARIO.calls);
    const openai = s.providers.find((p) => p.provider === 'openai')!;
    expect(openai.calls).toBe(16);
    expect(openai.malformed).toBe(4);
    expect(openai.malformedRatio).toBe(0.25);
    expect(openai.violations).toEqual({ missing_required: 2, wrong_type: 2 });
    expect(openai.selfCorrections).toBe(2);
    expect(openai.tokens['arguments']).toBe(160);
    expect(openai.models.map((m) => m.model)).toEqual(['gpt-4.1']);
    expect(openai.latency.p50).toBeGreaterThan(0.01);
    expect(openai.latency.p50).toBeLessThanOrEqual(0.02);
    expect(openai.trend.reduce((a, b) => a + b.calls, 0)).toBe(16);
    const anthropic = s.providers.find((p) => p.provider === 'anthropic')!;
    expect(anthropic.malformedRatio).toBe(0);
    expect(anthropic.outcomes['ok']).toBe(10);
    expect(s.providers.find((p) => p.provider === 'mistral_ai')!.calls).toBe(8);
    // The real unknown tool name shows in recent violations, never as a tool row.
    expect(s.tools.some((t) => t.tool === 'nope')).toBe(false);
    expect(s.tools.find((t) => t.tool === UNKNOWN_LABEL_VALUE && t.service === SERVICES.json)!.calls).toBe(2);
    expect(s.recentViolations.length).toBe(8);
    expect(s.recentViolations.some((v) => v.tool === 'nope' && v.kind === 'unknown_tool')).toBe(true);
    expect(s.recentViolations.find((v) => v.kind === 'wrong_type')!.paths).toEqual(['/quantity']);
    expect(s.recentViolations[0]!.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(s.catalogs.find((c) => c.service === SERVICES.protobuf)).toEqual({
      service: SERVICES.protobuf,
      totalTokens: 300,
      tools: [
        { tool: 'cancel_order', tokens: 180 },
        { tool: 'lookup_inventory', tokens: 120 },
      ],
      listsNotCounted: 0,
      latestNotCounted: null,
    });
    expect(s.collector).toEqual({ spansReceived: 40, spansRejected: 0, seriesDropped: 0 });
  });

  it('serves the status page at / and health endpoints', async () => {
    const page = await fetch(`${started.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<html');
    expect((await fetch(`${started.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${started.url}/readyz`)).status).toBe(200);
  });
});
