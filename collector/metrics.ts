/**
 * Registers every metric of the contract's METRICS catalog on an injected prom-client
 * registry (never the global one). The registry should be an OpenMetrics registry so that
 * exemplars render; see exposition.ts for the classic text format.
 */
import { Counter, Gauge, Histogram, type Registry, type RegistryContentType } from 'prom-client';
import { METRICS, type MetricDefinition } from '../contract/index.js';

/** The collector's prom-client instruments, by catalog key. */
export interface CollectorMetrics {
  calls: Counter<string>;
  violations: Counter<string>;
  duration: Histogram<string>;
  tokens: Counter<string>;
  catalogTool: Gauge<string>;
  catalogTotal: Gauge<string>;
  selfCorrections: Counter<string>;
  spansReceived: Counter<string>;
  spansRejected: Counter<string>;
  seriesDropped: Counter<string>;
  requestDuration: Histogram<string>;
  forwardSent: Counter<string>;
  forwardDropped: Counter<string>;
}

function counter(def: MetricDefinition, registry: Registry<RegistryContentType>): Counter<string> {
  return new Counter({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] });
}

function gauge(def: MetricDefinition, registry: Registry<RegistryContentType>): Gauge<string> {
  return new Gauge({ name: def.name, help: def.help, labelNames: [...def.labels], registers: [registry] });
}

function histogram(def: MetricDefinition, registry: Registry<RegistryContentType>, enableExemplars: boolean): Histogram<string> {
  return new Histogram({
    name: def.name,
    help: def.help,
    labelNames: [...def.labels],
    buckets: [...(def.buckets ?? [])],
    registers: [registry],
    enableExemplars,
  });
}

/** Creates and registers the catalog's metrics. Exemplars (trace_id) are enabled on the MCP duration histogram. */
export function createCollectorMetrics(registry: Registry<RegistryContentType>): CollectorMetrics {
  return {
    calls: counter(METRICS.TOOL_CALLS, registry),
    violations: counter(METRICS.TOOL_SCHEMA_VIOLATIONS, registry),
    duration: histogram(METRICS.SERVER_OPERATION_DURATION, registry, true),
    tokens: counter(METRICS.TOOL_TOKENS, registry),
    catalogTool: gauge(METRICS.TOOL_CATALOG_TOOL_TOKENS, registry),
    catalogTotal: gauge(METRICS.TOOL_CATALOG_TOKENS, registry),
    selfCorrections: counter(METRICS.TOOL_SELF_CORRECTIONS, registry),
    spansReceived: counter(METRICS.COLLECTOR_SPANS_RECEIVED, registry),
    spansRejected: counter(METRICS.COLLECTOR_SPANS_REJECTED, registry),
    seriesDropped: counter(METRICS.COLLECTOR_SERIES_DROPPED, registry),
    requestDuration: histogram(METRICS.COLLECTOR_REQUEST_DURATION, registry, false),
    forwardSent: counter(METRICS.COLLECTOR_FORWARD_SENT, registry),
    forwardDropped: counter(METRICS.COLLECTOR_FORWARD_DROPPED, registry),
  };
}
