/**
 * The tracer and the duration histogram that the server-side observer and the client
 * instrumentation both open the same way: mcplens's instrumentation scope, and the contract's
 * duration buckets.
 */
import { metrics, trace, type Histogram, type MeterProvider, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { DURATION_BUCKETS_SECONDS, type OTEL_METRICS } from '../contract/index.js';
import { VERSION } from './version.js';

/**
 * mcplens's tracer from `fixed`, else from the global provider, which can be replaced
 * (trace.disable() then a new registration): the function returned follows it.
 */
export function followedTracer(fixed: TracerProvider | undefined): () => Tracer {
  if (fixed !== undefined) {
    const tracer = fixed.getTracer('mcplens', VERSION);
    return () => tracer;
  }
  let source = trace.getTracerProvider();
  let tracer = source.getTracer('mcplens', VERSION);
  return () => {
    const global = trace.getTracerProvider();
    if (global !== source) {
      source = global;
      tracer = global.getTracer('mcplens', VERSION);
    }
    return tracer;
  };
}

/** One of the contract's operation-duration histograms, on mcplens's meter (`provider`, else the global one). */
export function durationHistogram(
  provider: MeterProvider | undefined,
  metric: (typeof OTEL_METRICS)['SERVER_OPERATION_DURATION' | 'CLIENT_OPERATION_DURATION'],
): Histogram {
  return (provider ?? metrics.getMeterProvider()).getMeter('mcplens', VERSION).createHistogram(metric.name, {
    unit: metric.unit,
    description: metric.description,
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
}
