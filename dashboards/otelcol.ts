/**
 * OpenTelemetry Collector (contrib distribution) configurations for running mcplens past one
 * machine, generated from the telemetry contract so their attribute, metric and label names
 * never drift from what the collector, dashboards and alerts use:
 *
 * - {@link loadBalancingConfig}: a load-balancing tier that sends every span carrying the
 *   session key to one mcplens collector per session (self-correction stays exact), the
 *   others by trace id, and all of them to Tempo.
 * - {@link spanMetricsConfig}: no mcplens collector at all; `spanmetrics` connectors turn
 *   SERVER `tools/call` spans into the contract's call counter, duration histogram and
 *   violations counter.
 *
 * Neither has run in this repository (no collector binary here): test/compose checks their
 * structure against the component list and required keys of OTELCOL_VERSION.
 */
import {
  ATTR,
  CALL_LABELS,
  DURATION_BUCKETS_SECONDS,
  LABEL,
  MCP_METHOD,
  METRICS,
  OTEL_METRICS,
  UNKNOWN_LABEL_VALUE,
  ATTRIBUTE_TO_LABEL,
  type LabelName,
} from '../contract/index.js';

/** The OpenTelemetry Collector contrib release these files are written for (image tag). */
export const OTELCOL_VERSION = '0.162.0';
/** The image the compose `scale` profile runs. */
export const OTELCOL_IMAGE = `otel/opentelemetry-collector-contrib:${OTELCOL_VERSION}`;

/** Where the compose `scale` profile's mcplens collectors listen (service name, OTLP/HTTP port). */
export const SCALE_COLLECTORS = [
  { name: 'collector-1', port: 4318, relayPort: 14317 },
  { name: 'collector-2', port: 4318, relayPort: 14327 },
] as const;

const TEMPO_OTLP_HTTP = 'http://tempo:4318';
/** Namespace of the second spanmetrics connector (malformed calls), renamed to the contract's counter. */
const VIOLATIONS_NAMESPACE = 'mcplens.violations';

/** `attributes["key"]` in OTTL. */
function attr(key: string): string {
  return `attributes[${JSON.stringify(key)}]`;
}

/** The span attribute a label comes from (the contract's attribute-to-label table, read backwards). */
function attributeOf(label: LabelName): string {
  const found = Object.entries(ATTRIBUTE_TO_LABEL).find(([, l]) => l === label);
  if (found === undefined) throw new Error(`otelcol config: no span attribute fills label ${label}`);
  return found[0];
}

/** OTLP receiver on both protocols, on all interfaces (inside a container network). */
function otlpReceiver(): Record<string, unknown> {
  return { protocols: { grpc: { endpoint: '0.0.0.0:4317' }, http: { endpoint: '0.0.0.0:4318' } } };
}

/**
 * The load-balancing tier. The `loadbalancing` exporter speaks OTLP/gRPC only and the mcplens
 * collector OTLP/HTTP only, so each mcplens collector gets a relay pipeline (an OTLP/gRPC
 * receiver and an `otlphttp` exporter); here they run in the same process, in production as a
 * sidecar next to each mcplens collector.
 */
export function loadBalancingConfig(): Record<string, unknown> {
  const key = ATTR.SESSION_KEY;
  const receivers: Record<string, unknown> = { otlp: otlpReceiver() };
  const exporters: Record<string, unknown> = {
    // Spans of one MCP session go to one mcplens collector. The exporter takes the key from the
    // first span of each trace chunk, so only spans that carry it enter this pipeline.
    'loadbalancing/session': {
      routing_key: 'attributes',
      routing_attributes: [key],
      protocol: { otlp: { timeout: '5s', tls: { insecure: true } } },
      resolver: {
        static: { hostnames: SCALE_COLLECTORS.map((c) => `otelcol:${c.relayPort}`) },
        // With N mcplens collectors behind a headless service, resolve them instead:
        // dns: { hostname: 'mcplens-relays.observability.svc.cluster.local', port: 4317 }
      },
    },
    // Spans without the key (CLIENT spans, INTERNAL late-completion spans) are counted the same on
    // any collector: routed by trace id, so they never decide where a session's spans go.
    'loadbalancing/trace': {
      routing_key: 'traceID',
      protocol: { otlp: { timeout: '5s', tls: { insecure: true } } },
      resolver: { static: { hostnames: SCALE_COLLECTORS.map((c) => `otelcol:${c.relayPort}`) } },
    },
    'otlphttp/tempo': { endpoint: TEMPO_OTLP_HTTP },
  };
  const pipelines: Record<string, unknown> = {
    'traces/session': { receivers: ['otlp'], processors: ['filter/with-session-key', 'batch'], exporters: ['loadbalancing/session'] },
    'traces/other': { receivers: ['otlp'], processors: ['filter/without-session-key', 'batch'], exporters: ['loadbalancing/trace'] },
    'traces/tempo': { receivers: ['otlp'], processors: ['batch'], exporters: ['otlphttp/tempo'] },
  };
  for (const c of SCALE_COLLECTORS) {
    receivers[`otlp/${c.name}`] = { protocols: { grpc: { endpoint: `0.0.0.0:${c.relayPort}` } } };
    exporters[`otlphttp/${c.name}`] = { endpoint: `http://${c.name}:${c.port}` };
    pipelines[`traces/${c.name}`] = { receivers: [`otlp/${c.name}`], processors: [], exporters: [`otlphttp/${c.name}`] };
  }
  return {
    receivers,
    processors: {
      // The filter processor drops the spans its conditions match.
      'filter/with-session-key': { error_mode: 'ignore', traces: { span: [`${attr(key)} == nil`] } },
      'filter/without-session-key': { error_mode: 'ignore', traces: { span: [`${attr(key)} != nil`] } },
      batch: {},
    },
    exporters,
    service: { pipelines },
  };
}

/** Seconds as a Go duration string (`0.01` -> `10ms`, `2` -> `2s`): how the connector takes buckets. */
export function goDuration(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)}ms` : `${seconds}s`;
}

/** Labels the spanmetrics output must carry: the call labels, outcome, and the histogram's own. */
const SPANMETRICS_LABELS: readonly LabelName[] = [
  ...CALL_LABELS.filter((l) => l !== LABEL.SERVICE_NAME),
  LABEL.OUTCOME,
  LABEL.MCP_METHOD_NAME,
  LABEL.ERROR_TYPE,
];

/**
 * The spanmetrics-only pipeline: SERVER `tools/call` spans through a filter, the `spanmetrics`
 * connector (buckets of the semantic conventions, exemplars, a cardinality limit), and a
 * `transform` that renames its metrics and labels to the contract's, exported for Prometheus.
 */
export function spanMetricsConfig(): Record<string, unknown> {
  // The connector names a dimension by its attribute; `service.name` it adds by itself.
  const dimensions = SPANMETRICS_LABELS.map((label) => {
    const attribute = attributeOf(label);
    return label === LABEL.GEN_AI_TOOL_NAME ? { name: attribute, default: UNKNOWN_LABEL_VALUE } : { name: attribute };
  });
  const violationDimensions = [...CALL_LABELS.filter((l) => l !== LABEL.SERVICE_NAME), LABEL.VIOLATION_KIND].map((label) => ({
    name: attributeOf(label),
  }));
  const renames = [LABEL.SERVICE_NAME, ...SPANMETRICS_LABELS, LABEL.VIOLATION_KIND].flatMap((label) => {
    const from = attributeOf(label);
    return [`set(${attr(label)}, ${attr(from)}) where ${attr(from)} != nil`, `delete_key(attributes, ${JSON.stringify(from)})`];
  });
  // The Prometheus exporter appends `_total` to a monotonic sum and `_seconds` to unit `s`.
  const calls = METRICS.TOOL_CALLS.name.replace(/_total$/, '');
  const duration = METRICS.SERVER_OPERATION_DURATION.name.replace(/_seconds$/, '');
  const violations = METRICS.TOOL_SCHEMA_VIOLATIONS.name.replace(/_total$/, '');
  return {
    receivers: { otlp: otlpReceiver() },
    processors: {
      // Drop everything but SERVER tools/call spans, the calls the contract's metrics count.
      'filter/tools-call': {
        error_mode: 'ignore',
        traces: { span: [`kind != SPAN_KIND_SERVER or ${attr(ATTR.MCP_METHOD_NAME)} != ${JSON.stringify(MCP_METHOD.TOOLS_CALL)}`] },
      },
      // Malformed calls only: the violations counter counts each under its primary kind.
      'filter/malformed': { error_mode: 'ignore', traces: { span: [`${attr(ATTR.VIOLATION_KIND)} == nil`] } },
      'transform/contract-names': {
        error_mode: 'ignore',
        metric_statements: [
          {
            context: 'metric',
            statements: [
              `set(name, ${JSON.stringify(calls)}) where name == "traces.span.metrics.calls"`,
              `set(name, ${JSON.stringify(duration)}) where name == "traces.span.metrics.duration"`,
              `set(unit, ${JSON.stringify(OTEL_METRICS.SERVER_OPERATION_DURATION.unit)}) where name == ${JSON.stringify(duration)}`,
              `set(name, ${JSON.stringify(violations)}) where name == "${VIOLATIONS_NAMESPACE}.calls"`,
            ],
          },
          { context: 'datapoint', statements: renames },
        ],
      },
      batch: {},
    },
    connectors: {
      spanmetrics: {
        histogram: { unit: 's', explicit: { buckets: DURATION_BUCKETS_SECONDS.map(goDuration) } },
        dimensions,
        exemplars: { enabled: true },
        // Label sets past the limit fold into one overflow series instead of growing without bound.
        aggregation_cardinality_limit: 10000,
        aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
        metrics_flush_interval: '15s',
      },
      'spanmetrics/violations': {
        namespace: VIOLATIONS_NAMESPACE,
        histogram: { disable: true },
        dimensions: violationDimensions,
        aggregation_cardinality_limit: 10000,
        aggregation_temporality: 'AGGREGATION_TEMPORALITY_CUMULATIVE',
        metrics_flush_interval: '15s',
      },
    },
    exporters: {
      prometheus: { endpoint: '0.0.0.0:8889', enable_open_metrics: true, resource_to_telemetry_conversion: { enabled: false } },
      'otlphttp/tempo': { endpoint: TEMPO_OTLP_HTTP },
    },
    service: {
      pipelines: {
        'traces/tempo': { receivers: ['otlp'], processors: ['batch'], exporters: ['otlphttp/tempo'] },
        'traces/spanmetrics': { receivers: ['otlp'], processors: ['filter/tools-call'], exporters: ['spanmetrics'] },
        'traces/violations': {
          receivers: ['otlp'],
          processors: ['filter/tools-call', 'filter/malformed'],
          exporters: ['spanmetrics/violations'],
        },
        metrics: {
          receivers: ['spanmetrics', 'spanmetrics/violations'],
          processors: ['transform/contract-names', 'batch'],
          exporters: ['prometheus'],
        },
      },
    },
  };
}
