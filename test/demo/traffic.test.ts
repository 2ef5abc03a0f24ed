/**
 * The simulated agents against the real instrumented order server: real MCP clients over
 * InMemoryTransport pairs, real mcplens instrumentation, spans collected in memory. The
 * seeded plan is exact, and what mcplens measured must equal what the agents meant to send.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { trace, context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR, PROVIDERS } from '../../contract/index.js';
import { AGENT_PROFILES, baggageFor, createPrng, planCalls, startTraffic, type PlannedCall } from '../../demo/traffic.js';

const SEED = 42;
const CALLS = 300;

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

function toolCallSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call');
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

function tally(calls: readonly PlannedCall[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of calls) {
    const key = `${c.provider} ${c.intended ?? (c.correction ? 'correction' : 'clean')}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

describe('the seeded call plan', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(planCalls(SEED, 50)).toEqual(planCalls(SEED, 50));
    expect(planCalls(SEED + 1, 50)).not.toEqual(planCalls(SEED, 50));
    expect(createPrng(7)()).toBe(createPrng(7)());
  });

  it('has the documented profile counts for seed 42 (300 calls)', () => {
    expect(tally(planCalls(SEED, CALLS))).toEqual({
      'anthropic clean': 76,
      'openai clean': 70,
      'openai not_an_object': 4,
      'openai correction': 4,
      'gcp.gemini clean': 34,
      'gcp.gemini missing_required': 11,
      'gcp.gemini correction': 7,
      'deepseek clean': 27,
      'deepseek wrong_type': 9,
      'deepseek correction': 2,
      'mistral_ai clean': 50,
      'mistral_ai unknown_tool': 6,
    });
  });

  it('gives every provider of the contract a profile, one of them clean, each with its own model', () => {
    expect(AGENT_PROFILES.map((p) => p.provider).sort()).toEqual(
      [PROVIDERS.ANTHROPIC, PROVIDERS.DEEPSEEK, PROVIDERS.GCP_GEMINI, PROVIDERS.MISTRAL_AI, PROVIDERS.OPENAI].sort(),
    );
    expect(AGENT_PROFILES.filter((p) => p.mistake === null)).toHaveLength(1);
    expect(new Set(AGENT_PROFILES.map((p) => p.model)).size).toBe(AGENT_PROFILES.length);
    expect(baggageFor('deepseek', 'deepseek-chat')).toBe('gen_ai.provider.name=deepseek,gen_ai.request.model=deepseek-chat');
  });

  it('follows each malformed call it corrects with the well-formed call to the same tool by the same agent', () => {
    const plan = planCalls(SEED, 2000);
    const corrections = plan.filter((c) => c.correction);
    expect(corrections.length).toBeGreaterThan(20);
    for (const c of corrections) {
      const previous = plan
        .slice(0, c.index)
        .reverse()
        .find((p) => p.provider === c.provider);
      expect(previous?.intended).not.toBeNull();
      expect(previous?.tool).toBe(c.tool);
      // The corrected call carries the same intent: same idempotency key when there is one.
      const prevArgs = typeof previous?.arguments === 'string' ? JSON.parse(previous.arguments) : previous?.arguments;
      const key = (c.arguments as Record<string, unknown>).idempotency_key;
      if (key !== undefined && (prevArgs as Record<string, unknown>).idempotency_key !== undefined) {
        expect((prevArgs as Record<string, unknown>).idempotency_key).toBe(key);
      }
    }
  });
});

describe('simulated agents against the instrumented order server', () => {
  let spans: ReadableSpan[] = [];
  let planned: PlannedCall[] = [];
  let stats: Awaited<ReturnType<typeof startTraffic>>['stats'];

  beforeAll(async () => {
    provider.register();
    const traffic = await startTraffic({
      seed: SEED,
      rate: 1000,
      maxCalls: CALLS,
      server: { latencyScale: 0 },
      maxInFlightPerAgent: 10_000,
    });
    await traffic.done;
    await traffic.stop();
    stats = traffic.stats;
    planned = planCalls(SEED, CALLS);
    await waitFor(() => toolCallSpans().length >= CALLS, 10_000);
    spans = toolCallSpans();
  });

  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('answers every planned call, over the transport, with no skips or failures', () => {
    expect(stats.failures).toBe(0);
    expect(stats.skipped).toBe(0);
    expect(spans).toHaveLength(CALLS);
    const byProvider: Record<string, number> = {};
    for (const c of planned) byProvider[c.provider] = (byProvider[c.provider] ?? 0) + 1;
    expect(stats.sent).toEqual(byProvider);
  });

  it('is attributed to each provider and model through _meta baggage', () => {
    for (const s of spans) {
      expect(s.attributes[ATTR.PROVIDER_SOURCE]).toBe('baggage');
      const profile = AGENT_PROFILES.find((p) => p.provider === s.attributes[ATTR.GEN_AI_PROVIDER_NAME]);
      expect(profile).toBeDefined();
      expect(s.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe(profile?.model);
    }
  });

  it('is classified by mcplens exactly as each profile intended, per provider and kind', () => {
    const measured: Record<string, number> = {};
    for (const s of spans) {
      const kind = s.attributes[ATTR.VIOLATION_KIND];
      const key = `${String(s.attributes[ATTR.GEN_AI_PROVIDER_NAME])} ${kind === undefined ? 'none' : String(kind)}`;
      measured[key] = (measured[key] ?? 0) + 1;
    }
    const intended: Record<string, number> = {};
    for (const c of planned) {
      const key = `${c.provider} ${c.intended ?? 'none'}`;
      intended[key] = (intended[key] ?? 0) + 1;
    }
    expect(measured).toEqual(intended);
    expect(measured['anthropic none']).toBe(76);
    expect(Object.keys(measured).filter((k) => k.startsWith('anthropic '))).toEqual(['anthropic none']);
  });

  it('ends every malformed call rejected and every well-formed call ok or tool_error', () => {
    const outcomes: Record<string, Record<string, number>> = {};
    for (const s of spans) {
      const malformed = s.attributes[ATTR.VIOLATION_KIND] !== undefined ? 'malformed' : 'well-formed';
      const o = (outcomes[malformed] ??= {});
      const outcome = String(s.attributes[ATTR.OUTCOME]);
      o[outcome] = (o[outcome] ?? 0) + 1;
    }
    expect(Object.keys(outcomes['malformed'] ?? {})).toEqual(['rejected']);
    expect(outcomes['malformed']?.['rejected']).toBe(30);
    expect(Object.keys(outcomes['well-formed'] ?? {}).sort()).toEqual(['ok', 'tool_error']);
    // Shipped orders and unknown SKUs give some tool errors among well-formed calls.
    expect(outcomes['well-formed']?.['tool_error']).toBeGreaterThan(5);
  });

  it('records the hallucinated tool names on the span and the field paths of the other kinds', () => {
    const unknown = spans.filter((s) => s.attributes[ATTR.VIOLATION_KIND] === 'unknown_tool');
    expect(new Set(unknown.map((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME]))).toEqual(
      new Set(planned.filter((c) => c.intended === 'unknown_tool').map((c) => c.tool)),
    );
    const wrongType = spans.filter((s) => s.attributes[ATTR.VIOLATION_KIND] === 'wrong_type');
    for (const s of wrongType) expect(String(s.attributes[ATTR.VIOLATION_PATHS])).toContain('/amount/value');
  });

  it('keeps one session per agent, so corrections share the session of their malformed call', () => {
    const sessions = new Map<string, Set<string>>();
    for (const s of spans) {
      const p = String(s.attributes[ATTR.GEN_AI_PROVIDER_NAME]);
      if (!sessions.has(p)) sessions.set(p, new Set());
      sessions.get(p)?.add(String(s.attributes[ATTR.SESSION_KEY]));
    }
    expect([...sessions.values()].map((s) => s.size)).toEqual(AGENT_PROFILES.map(() => 1));
    expect(new Set([...sessions.values()].flatMap((s) => [...s])).size).toBe(AGENT_PROFILES.length);
  });
});
