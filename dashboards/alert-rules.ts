/**
 * The alert rules, defined once. Each definition is rendered as a Prometheus alerting
 * rule (prometheus-rules.ts), as a Grafana-managed rule (grafana-alerts.ts) and as the
 * expectations of the promtool unit tests (rule-tests.ts); texts are written against a
 * {@link TemplateSyntax} so each renderer fills in its own template language.
 */
import { BREAKER_STATES, LABEL, MCP_METHOD, METRICS, UNKNOWN_LABEL_VALUE, type LabelName } from '../contract/index.js';
import { DASHBOARD_UID, VAR } from './defaults.js';
import { REPLAYED_OUTCOME, TIMEOUT_OUTCOME, breakerValue } from './guard-panels.js';
import type { ResolvedOptions } from './options.js';
import { CLIENT_VIEW, eq, errorRatio, increase, malformedRatio, neq, outcomeRatio, quantile, rate, selector, sumBy } from './promql.js';
import { UNKNOWN_TOOL_KIND } from './tools.js';

/** How an alert's value is printed: as a percentage, a plain number, a duration in seconds or a per-second rate (three significant digits, no SI prefix). */
export type ValueFormat = 'percent' | 'number' | 'seconds' | 'rate';

/** The template language of one renderer. */
export interface TemplateSyntax {
  /** The value of a label of the alerting series. */
  label(name: LabelName): string;
  /** The alert's current value, humanised. */
  value(format: ValueFormat): string;
}

/** One alert, independent of where it is evaluated. */
export interface AlertDefinition {
  /** Alert name (Prometheus `alert`, Grafana `title`). */
  readonly name: string;
  /** Grafana rule uid. */
  readonly uid: string;
  readonly severity: 'warning' | 'critical';
  /** PromQL whose value is compared with the threshold; its labels are `by`. */
  readonly query: string;
  /** The alert fires where `query > threshold`. */
  readonly threshold: number;
  readonly for: string;
  /** Labels of each alerting series. */
  readonly by: readonly LabelName[];
  readonly format: ValueFormat;
  summary(t: TemplateSyntax): string;
  description(t: TemplateSyntax): string;
  /** Dashboard the alert links to, and which of its variables take which label. */
  readonly dashboardUid: string;
  readonly dashboardVars: ReadonlyArray<readonly [variable: string, label: LabelName]>;
}

/** The Prometheus alerting expression of a definition. */
export function alertExpr(d: AlertDefinition): string {
  return `${d.query} > ${d.threshold}`;
}

/** Link to the alert's dashboard with its variables set from the alert's labels. */
export function dashboardUrl(d: AlertDefinition, grafanaUrl: string, t: TemplateSyntax): string {
  const vars = d.dashboardVars.map(([v, l]) => `var-${v}=${t.label(l)}`).join('&');
  return `${grafanaUrl.replace(/\/+$/, '')}/d/${d.dashboardUid}${vars ? `?${vars}` : ''}`;
}

/** Every alert, with thresholds and durations from the options. */
export function alertDefinitions(o: ResolvedOptions): AlertDefinition[] {
  const w = o.rateWindow;
  const P = LABEL.GEN_AI_PROVIDER_NAME;
  const S = LABEL.SERVICE_NAME;
  const T = LABEL.GEN_AI_TOOL_NAME;
  const SRV = LABEL.SERVER_NAME;
  const C = LABEL.CLIENT_NAME;
  // Calls to unknown tools have their own alert; keep them out of the per-tool ones.
  const knownTools = [neq(T, UNKNOWN_LABEL_VALUE)];
  const pct = (x: number): string => `${+(x * 100).toFixed(4)}%`;
  return [
    {
      name: 'MCPMalformedCallRatioHigh',
      uid: 'mcplens-malformed-ratio',
      severity: 'warning',
      query: malformedRatio([], [P], w),
      threshold: o.malformedRatioThreshold,
      for: o.malformedRatioFor,
      by: [P],
      format: 'percent',
      summary: (t) => `Malformed MCP tool calls from ${t.label(P)} at ${t.value('percent')}`,
      description: (t) =>
        `${t.value('percent')} of the tools/call requests made by provider ${t.label(P)} over the last ${w} break the tool input schema or name an unknown tool ` +
        `(threshold ${pct(o.malformedRatioThreshold)} for ${o.malformedRatioFor}).`,
      dashboardUid: DASHBOARD_UID.PROVIDER,
      dashboardVars: [[VAR.PROVIDER, P]],
    },
    {
      // The same threshold and windows as the server view's: the two read the same calls from two sides.
      name: 'MCPClientMalformedCallRatioHigh',
      uid: 'mcplens-client-malformed-ratio',
      severity: 'warning',
      query: malformedRatio([], [P, SRV], w, CLIENT_VIEW),
      threshold: o.malformedRatioThreshold,
      for: o.malformedRatioFor,
      by: [P, SRV],
      format: 'percent',
      summary: (t) => `Malformed MCP tool calls from ${t.label(P)} to server ${t.label(SRV)} at ${t.value('percent')} (client view)`,
      description: (t) =>
        `${t.value('percent')} of the tools/call requests that agents sent with provider ${t.label(P)} to server ${t.label(SRV)} over the last ${w} ` +
        `break the input schema the server listed or name a tool it did not list, as the instrumented clients graded them ` +
        `(threshold ${pct(o.malformedRatioThreshold)} for ${o.malformedRatioFor}).`,
      dashboardUid: DASHBOARD_UID.OVERVIEW,
      dashboardVars: [
        [VAR.PROVIDER, P],
        [VAR.SERVER, SRV],
      ],
    },
    {
      name: 'MCPUnknownToolCalls',
      uid: 'mcplens-unknown-tool',
      severity: 'warning',
      query: sumBy([P], increase(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, [eq(LABEL.VIOLATION_KIND, UNKNOWN_TOOL_KIND)]), w)),
      threshold: 0,
      for: o.unknownToolFor,
      by: [P],
      format: 'number',
      summary: (t) => `${t.label(P)} calls MCP tools that do not exist`,
      description: (t) =>
        `Provider ${t.label(P)} made ${t.value('number')} tools/call requests naming a tool the server does not have over the last ${w} (hallucinated tool names; the names are on the spans).`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [[VAR.PROVIDER, P]],
    },
    {
      name: 'MCPToolErrorRatioHigh',
      uid: 'mcplens-tool-error-ratio',
      severity: 'warning',
      query: errorRatio(knownTools, [S, T], w),
      threshold: o.toolErrorRatioThreshold,
      for: o.toolErrorRatioFor,
      by: [S, T],
      format: 'percent',
      summary: (t) => `MCP tool ${t.label(T)} of ${t.label(S)} fails ${t.value('percent')} of calls`,
      description: (t) =>
        `${t.value('percent')} of the calls to tool ${t.label(T)} of service ${t.label(S)} over the last ${w} ended in a tool error or an error ` +
        `(threshold ${pct(o.toolErrorRatioThreshold)} for ${o.toolErrorRatioFor}).`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [
        [VAR.SERVICE, S],
        [VAR.TOOL, T],
      ],
    },
    {
      name: 'MCPToolLatencyP95High',
      uid: 'mcplens-tool-latency-p95',
      severity: 'warning',
      query: quantile(
        0.95,
        METRICS.SERVER_OPERATION_DURATION,
        [eq(LABEL.MCP_METHOD_NAME, MCP_METHOD.TOOLS_CALL), ...knownTools],
        [S, T],
        w,
      ),
      threshold: o.toolLatencyP95Seconds,
      for: o.toolLatencyFor,
      by: [S, T],
      format: 'seconds',
      summary: (t) => `MCP tool ${t.label(T)} of ${t.label(S)} p95 latency ${t.value('seconds')}`,
      description: (t) =>
        `The 95th percentile of tools/call duration of tool ${t.label(T)} of service ${t.label(S)} over the last ${w} is ${t.value('seconds')} ` +
        `(bound ${o.toolLatencyP95Seconds}s for ${o.toolLatencyFor}).`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [
        [VAR.SERVICE, S],
        [VAR.TOOL, T],
      ],
    },
    {
      // max over replicas: the tool's breaker is open in at least one of them (a sum would add states up).
      name: 'MCPToolCircuitOpen',
      uid: 'mcplens-tool-circuit-open',
      severity: 'critical',
      query: `max by (${S}, ${T}) (${selector(METRICS.TOOL_CIRCUIT_BREAKER_STATE, knownTools)})`,
      threshold: breakerValue('open') - 1,
      for: o.circuitOpenFor,
      by: [S, T],
      format: 'number',
      summary: (t) => `Circuit breaker of MCP tool ${t.label(T)} of ${t.label(S)} open for ${o.circuitOpenFor}`,
      description: (t) =>
        `The circuit breaker of tool ${t.label(T)} of service ${t.label(S)} has been open in at least one replica for ${o.circuitOpenFor}: ` +
        `its calls are refused (outcome circuit_open) without running. Half-open trials keep failing, or the breaker never got one ` +
        `(state ${t.value('number')}; ${BREAKER_STATES.map((s, i) => `${i} ${s}`).join(', ')}).`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [
        [VAR.SERVICE, S],
        [VAR.TOOL, T],
      ],
    },
    {
      name: 'MCPToolTimeoutRatioHigh',
      uid: 'mcplens-tool-timeout-ratio',
      severity: 'warning',
      query: outcomeRatio([TIMEOUT_OUTCOME], knownTools, [S, T], w),
      threshold: o.timeoutRatioThreshold,
      for: o.timeoutRatioFor,
      by: [S, T],
      format: 'percent',
      summary: (t) => `MCP tool ${t.label(T)} of ${t.label(S)} times out on ${t.value('percent')} of calls`,
      description: (t) =>
        `${t.value('percent')} of the calls to tool ${t.label(T)} of service ${t.label(S)} over the last ${w} were cut by the guard's timeout ` +
        `(threshold ${pct(o.timeoutRatioThreshold)} for ${o.timeoutRatioFor}).`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [
        [VAR.SERVICE, S],
        [VAR.TOOL, T],
      ],
    },
    {
      name: 'MCPClientDeniedCallsHigh',
      uid: 'mcplens-client-denied-calls',
      severity: 'warning',
      query: sumBy([C], rate(selector(METRICS.TOOL_UNAUTHORIZED_CALLS), w)),
      threshold: o.deniedCallsPerSecond,
      for: o.deniedCallsFor,
      by: [C],
      format: 'rate',
      summary: (t) => `MCP client ${t.label(C)} is denied ${t.value('rate')} tool calls per second`,
      description: (t) =>
        `The authorization guard refused ${t.value('rate')} tools/call requests per second from client ${t.label(C)} over the last ${w} ` +
        `(threshold ${o.deniedCallsPerSecond}/s for ${o.deniedCallsFor}): a misconfigured client, or one probing for tools it may not call.`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [],
    },
    {
      name: 'MCPToolReplayRatioHigh',
      uid: 'mcplens-tool-replay-ratio',
      severity: 'warning',
      query: outcomeRatio([REPLAYED_OUTCOME], knownTools, [S, T], w),
      threshold: o.replayRatioThreshold,
      for: o.replayRatioFor,
      by: [S, T],
      format: 'percent',
      summary: (t) => `MCP tool ${t.label(T)} of ${t.label(S)} replays ${t.value('percent')} of calls`,
      description: (t) =>
        `${t.value('percent')} of the calls to tool ${t.label(T)} of service ${t.label(S)} over the last ${w} repeated an idempotency key ` +
        `and got the stored answer again (threshold ${pct(o.replayRatioThreshold)} for ${o.replayRatioFor}): a model or agent retrying too much.`,
      dashboardUid: DASHBOARD_UID.TOOLS,
      dashboardVars: [
        [VAR.SERVICE, S],
        [VAR.TOOL, T],
      ],
    },
    {
      name: 'MCPLensCollectorRejectingSpans',
      uid: 'mcplens-collector-rejected-spans',
      severity: 'critical',
      query: sumBy([LABEL.REASON], increase(selector(METRICS.COLLECTOR_SPANS_REJECTED), w)),
      threshold: 0,
      for: o.collectorDropFor,
      by: [LABEL.REASON],
      format: 'number',
      summary: (t) => `mcplens collector rejects spans (${t.label(LABEL.REASON)})`,
      description: (t) =>
        `The collector could not use ${t.value('number')} spans over the last ${w}, reason ${t.label(LABEL.REASON)}: the dashboards undercount.`,
      dashboardUid: DASHBOARD_UID.OVERVIEW,
      dashboardVars: [],
    },
    {
      name: 'MCPLensCollectorDroppingSeries',
      uid: 'mcplens-collector-dropped-series',
      severity: 'critical',
      query: sumBy([LABEL.METRIC], increase(selector(METRICS.COLLECTOR_SERIES_DROPPED), w)),
      threshold: 0,
      for: o.collectorDropFor,
      by: [LABEL.METRIC],
      format: 'number',
      summary: (t) => `mcplens collector drops series of ${t.label(LABEL.METRIC)}`,
      description: (t) =>
        `${t.value('number')} label sets of ${t.label(LABEL.METRIC)} went to the overflow series over the last ${w}: the metric reached its cardinality cap.`,
      dashboardUid: DASHBOARD_UID.OVERVIEW,
      dashboardVars: [],
    },
    {
      name: 'MCPLensCollectorForwardDropping',
      uid: 'mcplens-collector-forward-dropped',
      severity: 'warning',
      query: sumBy([LABEL.ENDPOINT, LABEL.REASON], increase(selector(METRICS.COLLECTOR_FORWARD_DROPPED), w)),
      threshold: 0,
      for: o.collectorDropFor,
      by: [LABEL.ENDPOINT, LABEL.REASON],
      format: 'number',
      summary: (t) => `mcplens collector drops spans forwarded to ${t.label(LABEL.ENDPOINT)}`,
      description: (t) =>
        `${t.value('number')} OTLP requests were not forwarded to ${t.label(LABEL.ENDPOINT)} over the last ${w}, reason ${t.label(LABEL.REASON)}.`,
      dashboardUid: DASHBOARD_UID.OVERVIEW,
      dashboardVars: [],
    },
  ];
}

/** One recording rule. */
export interface RecordingDefinition {
  readonly record: string;
  readonly expr: string;
}

/**
 * Recording rules for long-range views, named `level:metric:operation` from the contract's
 * names so that no name is typed by hand.
 */
export function recordingDefinitions(o: ResolvedOptions): RecordingDefinition[] {
  const w = o.rateWindow;
  const P = LABEL.GEN_AI_PROVIDER_NAME;
  const ST = [LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME] as const;
  const PS = [P, LABEL.SERVER_NAME] as const;
  const base = (name: string): string => name.replace(/_total$/, '');
  return [
    {
      record: `${P}:${base(METRICS.TOOL_CALLS.name)}:rate${w}`,
      expr: sumBy([P], `rate(${METRICS.TOOL_CALLS.name}[${w}])`),
    },
    {
      record: `${P}:${base(METRICS.TOOL_SCHEMA_VIOLATIONS.name)}:ratio_rate${w}`,
      expr: malformedRatio([], [P], w),
    },
    {
      record: `${PS.join('_')}:${base(CLIENT_VIEW.calls.name)}:rate${w}`,
      expr: sumBy([...PS], `rate(${CLIENT_VIEW.calls.name}[${w}])`),
    },
    {
      record: `${PS.join('_')}:${base(CLIENT_VIEW.violations.name)}:ratio_rate${w}`,
      expr: malformedRatio([], [...PS], w, CLIENT_VIEW),
    },
    {
      record: `${ST.join('_')}:${METRICS.SERVER_OPERATION_DURATION.name}:p95_rate${w}`,
      expr: quantile(0.95, METRICS.SERVER_OPERATION_DURATION, [eq(LABEL.MCP_METHOD_NAME, MCP_METHOD.TOOLS_CALL)], [...ST], w),
    },
  ];
}
