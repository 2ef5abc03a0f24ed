import { describe, expect, it } from '@jest/globals';
import { context, ROOT_CONTEXT, trace, TraceFlags, type Context } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type Sampler } from '@opentelemetry/sdk-trace-base';
import { ATTR } from '../../contract/index.js';
import { createAdjustedCountSampler } from '../../instrumentation/adjusted-count-sampler.js';

/** Starts `count` root spans (or children of `parent`) through a real tracer with `sampler`. */
function record(sampler: Sampler, count: number, parent: Context = ROOT_CONTEXT) {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('test');
  for (let i = 0; i < count; i++) tracer.startSpan('tools/call add', {}, parent).end();
  return exporter.getFinishedSpans();
}

function remoteParent(sampled: boolean): Context {
  return trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });
}

describe('createAdjustedCountSampler', () => {
  it('samples about ratio of the traces and marks each sampled span with 1 / ratio', () => {
    const spans = record(createAdjustedCountSampler(0.25), 4000);
    // Binomial(4000, 0.25): mean 1000, sd about 27; these bounds are over 7 sd away.
    expect(spans.length).toBeGreaterThan(800);
    expect(spans.length).toBeLessThan(1200);
    expect(new Set(spans.map((s) => s.attributes[ATTR.ADJUSTED_COUNT]))).toEqual(new Set([4]));
  });

  it('ratio 1 keeps every span with adjusted count 1; ratio 0 keeps none', () => {
    const all = record(createAdjustedCountSampler(1), 50);
    expect(all).toHaveLength(50);
    expect(all.every((s) => s.attributes[ATTR.ADJUSTED_COUNT] === 1)).toBe(true);
    expect(record(createAdjustedCountSampler(0), 50)).toHaveLength(0);
  });

  it('the decision is the trace id ratio decision: the same trace id, the same answer', () => {
    const sampler = createAdjustedCountSampler(0.5);
    const ids = Array.from({ length: 200 }, (_, i) => i.toString(16).padStart(32, '0').replace(/^0/, 'f'));
    const first = ids.map((id) => sampler.shouldSample(ROOT_CONTEXT, id, 'x', 1, {}, []).decision);
    const second = ids.map((id) => sampler.shouldSample(ROOT_CONTEXT, id, 'x', 1, {}, []).decision);
    expect(second).toEqual(first);
  });

  it('parentBased follows a parent: a sampled parent keeps the child (no adjusted count), an unsampled one drops it', () => {
    const sampler = createAdjustedCountSampler(0.01, { parentBased: true });
    const kept = record(sampler, 20, remoteParent(true));
    expect(kept).toHaveLength(20);
    expect(kept.every((s) => s.attributes[ATTR.ADJUSTED_COUNT] === undefined)).toBe(true);
    expect(record(sampler, 20, remoteParent(false))).toHaveLength(0);
    // Roots still go by the ratio, with the adjusted count.
    const roots = record(createAdjustedCountSampler(0.5, { parentBased: true }), 400);
    expect(roots.length).toBeGreaterThan(100);
    expect(roots.length).toBeLessThan(300);
    expect(roots.every((s) => s.attributes[ATTR.ADJUSTED_COUNT] === 2)).toBe(true);
  });

  it.each([-0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses ratio %p, naming it', (ratio) => {
    expect(() => createAdjustedCountSampler(ratio)).toThrow(new RegExp(`got ${String(ratio)}`));
  });
});
