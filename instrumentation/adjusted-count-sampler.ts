import { createRequire } from 'node:module';
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import type { Sampler, SamplingResult, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { ATTR } from '../contract/index.js';

type TraceBase = typeof import('@opentelemetry/sdk-trace-base');
let traceBase: TraceBase | undefined;
// Loaded on first use: `mcplens/register` imports this file at start-up, and the SDK's
// module graph (semantic conventions included) costs a few hundred ms to load.
function loadTraceBase(): TraceBase {
  traceBase ??= createRequire(import.meta.url)('@opentelemetry/sdk-trace-base') as TraceBase;
  return traceBase;
}

/** Options of {@link createAdjustedCountSampler}. */
export interface AdjustedCountSamplerOptions {
  /**
   * Follow the parent's sampling decision where there is a parent (ParentBased), and
   * apply the ratio to root spans only. Default false (every span by the ratio).
   */
  parentBased?: boolean;
}

/**
 * TraceIdRatioBased, plus the adjusted count on every span it samples: a sampled span
 * stands for `1 / ratio` spans, so a collector that adds `mcplens.sample.adjusted_count`
 * instead of counting spans keeps call counts right downstream.
 */
class AdjustedCountSampler implements Sampler {
  private readonly ratioSampler: TraceIdRatioBasedSampler;
  private readonly sampledAttributes: Attributes;
  private readonly recordAndSampled: number;

  constructor(private readonly ratio: number) {
    const { TraceIdRatioBasedSampler, SamplingDecision } = loadTraceBase();
    this.ratioSampler = new TraceIdRatioBasedSampler(ratio);
    this.recordAndSampled = SamplingDecision.RECORD_AND_SAMPLED;
    this.sampledAttributes = { [ATTR.ADJUSTED_COUNT]: 1 / ratio };
  }

  shouldSample(
    context: Context,
    traceId: string,
    _spanName: string,
    _spanKind: SpanKind,
    _attributes: Attributes,
    _links: Link[],
  ): SamplingResult {
    const result = this.ratioSampler.shouldSample(context, traceId);
    if (result.decision !== this.recordAndSampled) return result;
    // SamplingResult.attributes are added to the span by the tracer: no per-span work here.
    return { ...result, attributes: { ...result.attributes, ...this.sampledAttributes } };
  }

  toString(): string {
    return `AdjustedCountSampler{ratio=${this.ratio}}`;
  }
}

/**
 * A trace-id ratio sampler that marks each sampled span with its adjusted count
 * (`ATTR.ADJUSTED_COUNT` = 1 / ratio). With `parentBased`, spans that have a parent
 * follow the parent's decision and carry no adjusted count (the parent's ratio is not
 * known here): a collector counts such a span once.
 *
 * @param ratio probability in [0, 1] that a trace is sampled
 * @throws RangeError when ratio is not a number in [0, 1]
 */
export function createAdjustedCountSampler(ratio: number, options: AdjustedCountSamplerOptions = {}): Sampler {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new RangeError(`mcplens: sampling ratio must be a number in [0, 1], got ${String(ratio)}`);
  }
  const root = new AdjustedCountSampler(ratio);
  return options.parentBased === true ? new (loadTraceBase().ParentBasedSampler)({ root }) : root;
}
