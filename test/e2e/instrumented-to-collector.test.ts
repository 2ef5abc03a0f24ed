/**
 * End to end without Prometheus: a real McpServer instrumented with instrumentServer(),
 * driven by a real client with a known mix of providers and malformed calls, exports with
 * the real OTLP protobuf (gzip) exporter to the real collector; /metrics and /api/summary
 * must hold the exact counts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { ATTR, LABEL, METRICS, UNKNOWN_LABEL_VALUE } from '../../contract/index.js';
import { createCollector, type Collector } from '../../collector/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import type { Summary } from '../../collector/summary-types.js';

const SERVICE = 'e2e-calc';
let collector: Collector;
let base: string;
let tracerProvider: BasicTracerProvider;
const clients: Client[] = [];

/** Parses the classic text format into `name{sorted labels}` -> value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}=${v}`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

function sum(metrics: Map<string, number>, name: string, where: Record<string, string>): number {
  let total = 0;
  for (const [key, value] of metrics) {
    if (!key.startsWith(`${name}{`)) continue;
    if (Object.entries(where).every(([k, v]) => key.includes(`${k}=${v},`) || key.includes(`${k}=${v}}`))) total += value;
  }
  return total;
}

beforeAll(async () => {
  collector = createCollector({ host: '127.0.0.1', port: 0 });
  const { url } = await collector.listen();
  base = url.replace(/\/$/, '');
  tracerProvider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: SERVICE }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces`, compression: 'gzip' as never }))],
  });
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await tracerProvider.shutdown();
  await collector.close();
});

async function agent(provider: string, model: string): Promise<(name: string, args: unknown) => Promise<void>> {
  const server = instrumentServer(new McpServer({ name: SERVICE, version: '1.0.0' }), { tracerProvider });
  server.registerTool('add', { description: 'Add', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await server.connect(st);
  const client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(ct);
  clients.push(client);
  const baggage = `${ATTR.GEN_AI_PROVIDER_NAME}=${provider},${ATTR.GEN_AI_REQUEST_MODEL}=${model}`;
  return async (name, args) => {
    await client
      .request(
        { method: 'tools/call', params: { name, arguments: args as Record<string, unknown>, _meta: { baggage } } },
        CallToolResultSchema,
      )
      .catch(() => undefined);
  };
}

describe('instrumented server -> OTLP protobuf -> collector', () => {
  it('counts every call once, malformed calls by primary kind, per provider', async () => {
    const openai = await agent('openai', 'gpt-4.1');
    const anthropic = await agent('anthropic', 'claude-sonnet-4');
    for (let i = 0; i < 5; i++) await anthropic('add', { a: i, b: 1 });
    await openai('add', { a: 1, b: 2 });
    await openai('add', { a: 1 }); // missing_required
    await openai('add', { a: '1', b: 2 }); // wrong_type
    await openai('search_web', { q: 'x' }); // unknown_tool
    await openai('add', '{"a":1,"b":2}'); // not_an_object, -32603
    await openai('add', { a: 2, b: 2 }); // corrects the malformed add calls in the same session
    await flush(tracerProvider);

    const deadline = Date.now() + 10_000;
    let metrics = new Map<string, number>();
    while (Date.now() < deadline) {
      metrics = parseMetrics(await (await fetch(`${base}/metrics`)).text());
      if (sum(metrics, METRICS.TOOL_CALLS.name, {}) >= 11) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const calls = METRICS.TOOL_CALLS.name;
    const violations = METRICS.TOOL_SCHEMA_VIOLATIONS.name;
    expect(sum(metrics, calls, { [LABEL.GEN_AI_PROVIDER_NAME]: 'anthropic' })).toBe(5);
    expect(sum(metrics, calls, { [LABEL.GEN_AI_PROVIDER_NAME]: 'openai' })).toBe(6);
    expect(sum(metrics, calls, { [LABEL.GEN_AI_PROVIDER_NAME]: 'openai', [LABEL.OUTCOME]: 'rejected' })).toBe(4);
    expect(sum(metrics, violations, { [LABEL.GEN_AI_PROVIDER_NAME]: 'anthropic' })).toBe(0);
    // The clean provider's ratio reads 0, not "no data": its violation series exist at zero.
    expect(
      metrics.has(
        `${violations}{${[`${LABEL.GEN_AI_PROVIDER_NAME}=anthropic`, `${LABEL.GEN_AI_REQUEST_MODEL}=claude-sonnet-4`, `${LABEL.GEN_AI_TOOL_NAME}=add`, `${LABEL.SERVICE_NAME}=${SERVICE}`, `${LABEL.VIOLATION_KIND}=missing_required`].sort().join(',')}}`,
      ),
    ).toBe(true);
    for (const kind of ['missing_required', 'wrong_type', 'unknown_tool', 'not_an_object']) {
      expect(sum(metrics, violations, { [LABEL.GEN_AI_PROVIDER_NAME]: 'openai', [LABEL.VIOLATION_KIND]: kind })).toBe(1);
    }
    expect(sum(metrics, violations, { [LABEL.GEN_AI_TOOL_NAME]: UNKNOWN_LABEL_VALUE })).toBe(1);
    expect([...metrics.keys()].some((k) => k.includes('search_web'))).toBe(false);
    const corrections = sum(metrics, METRICS.TOOL_SELF_CORRECTIONS.name, { [LABEL.GEN_AI_PROVIDER_NAME]: 'openai' });
    if (corrections !== 3) {
      const summary = (await (await fetch(`${base}/api/summary`)).json()) as Summary;
      throw new Error(`self-corrections ${corrections}: ${JSON.stringify(summary.recentViolations)}`);
    }
    expect(
      sum(metrics, METRICS.TOOL_TOKENS.name, { [LABEL.GEN_AI_PROVIDER_NAME]: 'anthropic', [LABEL.TOKEN_KIND]: 'arguments' }),
    ).toBeGreaterThan(0);

    const summary = (await (await fetch(`${base}/api/summary`)).json()) as Summary;
    const openaiSummary = summary.providers.find((p) => p.provider === 'openai')!;
    expect(openaiSummary.calls).toBe(6);
    expect(openaiSummary.malformed).toBe(4);
    expect(summary.providers.find((p) => p.provider === 'anthropic')!.malformedRatio).toBe(0);
    expect(summary.recentViolations.map((v) => v.tool)).toContain('search_web');
  });
});
