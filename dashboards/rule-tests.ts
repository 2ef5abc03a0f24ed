/**
 * Generates `promtool test rules` unit tests from the same alert definitions the rule
 * files are rendered from: for each alert, synthetic input series with one label set
 * that must fire and others that must stay silent, the exact labels and annotations
 * expected, and (where the `for` duration allows) a check that it does not fire early.
 */
import {
  DURATION_BUCKETS_SECONDS,
  ERROR_OUTCOMES,
  FORWARD_DROP_REASONS,
  LABEL,
  MCP_METHOD,
  METRICS,
  PROVIDERS,
  SPAN_REJECT_REASONS,
  UNKNOWN_LABEL_VALUE,
  type LabelName,
  type MetricDefinition,
  type BreakerState,
  type Outcome,
  type ViolationKind,
} from '../contract/index.js';
import {
  alertDefinitions,
  dashboardUrl,
  recordingDefinitions,
  type AlertDefinition,
  type TemplateSyntax,
  type ValueFormat,
} from './alert-rules.js';
import type { ResolvedOptions } from './options.js';
import { durationSeconds } from './promql.js';
import { REPLAYED_OUTCOME, TIMEOUT_OUTCOME, breakerValue } from './guard-panels.js';
import { UNKNOWN_TOOL_KIND } from './tools.js';

type Labels = Partial<Record<LabelName, string>>;

interface InputSeries {
  series: string;
  values: string;
}

interface ExpectedAlert {
  exp_labels: Record<string, string>;
  exp_annotations: Record<string, string>;
}

/** One scenario: series, which label set fires with which printed value. */
interface Scenario {
  series: InputSeries[];
  firing: { labels: Labels; value: string };
}

const SERVICE = 'orders';
/** The client view's agent and the server it calls (one nobody instruments). */
const AGENT = 'support-agent';
const SAAS_SERVER = 'saas-search';
const OTHER_SERVER = 'saas-tickets';
const GOOD = PROVIDERS.ANTHROPIC;
const BAD = PROVIDERS.OPENAI;
const BORDERLINE = PROVIDERS.GCP_GEMINI;
const MODEL = 'model-1';
const OK_OUTCOME = 'ok' satisfies Outcome;

/** Go's `%.4g` for the magnitudes alerts print (what Prometheus' humanize functions use). */
function g4(x: number): string {
  return String(Number(x.toPrecision(4)));
}

/** What Prometheus prints for a value in the given format (humanize, humanizePercentage, humanizeDuration), for the magnitudes used here. */
export function humanizeLikePrometheus(x: number, format: ValueFormat): string {
  if (format === 'percent') return `${g4(x * 100)}%`;
  if (format === 'rate') return String(Number(x.toPrecision(3)));
  if (format === 'seconds') {
    if (x >= 60 || x < 1) throw new Error(`humanizeDuration of ${x} is not modelled here`);
    return `${g4(x)}s`;
  }
  if (x < 1 || x >= 1000) throw new Error(`humanize of ${x} is not modelled here`);
  return g4(x);
}

function seriesName(metric: MetricDefinition, labels: Labels, suffix = '', extra: Record<string, string> = {}): string {
  const all: Record<string, string> = { ...(labels as Record<string, string>), ...extra };
  const body = Object.entries(all)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  return `${metric.name}${suffix}{${body}}`;
}

function callLabels(provider: string, tool: string): Labels {
  return {
    [LABEL.SERVICE_NAME]: SERVICE,
    [LABEL.GEN_AI_TOOL_NAME]: tool,
    [LABEL.GEN_AI_PROVIDER_NAME]: provider,
    [LABEL.GEN_AI_REQUEST_MODEL]: MODEL,
  };
}

function clientCallLabels(provider: string, server: string, tool: string): Labels {
  return {
    [LABEL.SERVICE_NAME]: AGENT,
    [LABEL.SERVER_NAME]: server,
    [LABEL.GEN_AI_TOOL_NAME]: tool,
    [LABEL.GEN_AI_PROVIDER_NAME]: provider,
    [LABEL.GEN_AI_REQUEST_MODEL]: MODEL,
  };
}

/** The scenarios by alert name. `steps` is the number of increments per series; `perWindow` the increments per rate window; `step` the seconds between samples. */
function scenarios(o: ResolvedOptions, steps: number, perWindow: number, step: number): Record<string, Scenario> {
  const counter = (perStep: number): string => `0+${perStep}x${steps}`;
  const calls = (labels: Labels, outcome: Outcome, perStep: number): InputSeries => ({
    series: seriesName(METRICS.TOOL_CALLS, { ...labels, [LABEL.OUTCOME]: outcome }),
    values: counter(perStep),
  });
  const violations = (labels: Labels, kind: ViolationKind, perStep: number): InputSeries => ({
    series: seriesName(METRICS.TOOL_SCHEMA_VIOLATIONS, { ...labels, [LABEL.VIOLATION_KIND]: kind }),
    values: counter(perStep),
  });
  const P = LABEL.GEN_AI_PROVIDER_NAME;
  const clientCalls = (labels: Labels, outcome: Outcome, perStep: number): InputSeries => ({
    series: seriesName(METRICS.CLIENT_TOOL_CALLS, { ...labels, [LABEL.OUTCOME]: outcome }),
    values: counter(perStep),
  });
  const clientViolations = (labels: Labels, kind: ViolationKind, perStep: number): InputSeries => ({
    series: seriesName(METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS, { ...labels, [LABEL.VIOLATION_KIND]: kind }),
    values: counter(perStep),
  });

  // Malformed ratio: the bad provider at twice the threshold, a borderline one at half, a clean one at zero.
  const badMalformed = Math.ceil(o.malformedRatioThreshold * 200);
  const borderMalformed = Math.floor(o.malformedRatioThreshold * 50);
  const malformed: Scenario = {
    series: [
      calls(callLabels(BAD, 'search'), OK_OUTCOME, 100),
      violations(callLabels(BAD, 'search'), 'missing_required', badMalformed),
      calls(callLabels(BORDERLINE, 'search'), OK_OUTCOME, 100),
      violations(callLabels(BORDERLINE, 'search'), 'wrong_type', borderMalformed),
      calls(callLabels(GOOD, 'search'), OK_OUTCOME, 100),
      violations(callLabels(GOOD, 'search'), 'missing_required', 0),
    ],
    firing: { labels: { [P]: BAD }, value: humanizeLikePrometheus(badMalformed / 100, 'percent') },
  };

  // Client view: the bad provider's calls to one server at twice the threshold, its calls to another
  // server at half, the good provider's at zero; server-side series at twice the threshold for the
  // good provider must not make the client alert fire.
  const clientMalformed: Scenario = {
    series: [
      clientCalls(clientCallLabels(BAD, SAAS_SERVER, 'search'), OK_OUTCOME, 100),
      clientViolations(clientCallLabels(BAD, SAAS_SERVER, 'search'), 'missing_required', badMalformed),
      clientCalls(clientCallLabels(BAD, OTHER_SERVER, 'open_ticket'), OK_OUTCOME, 100),
      clientViolations(clientCallLabels(BAD, OTHER_SERVER, 'open_ticket'), 'wrong_type', borderMalformed),
      clientCalls(clientCallLabels(GOOD, SAAS_SERVER, 'search'), OK_OUTCOME, 100),
      clientViolations(clientCallLabels(GOOD, SAAS_SERVER, 'search'), 'missing_required', 0),
      calls(callLabels(GOOD, 'search'), OK_OUTCOME, 100),
      violations(callLabels(GOOD, 'search'), 'missing_required', badMalformed),
    ],
    firing: { labels: { [P]: BAD, [LABEL.SERVER_NAME]: SAAS_SERVER }, value: humanizeLikePrometheus(badMalformed / 100, 'percent') },
  };

  // Unknown tools: the bad provider calls a made-up tool; the good one's unknown_tool series stays at zero.
  const unknown: Scenario = {
    series: [
      calls(callLabels(BAD, UNKNOWN_LABEL_VALUE), ERROR_OUTCOMES[0], 2),
      violations(callLabels(BAD, UNKNOWN_LABEL_VALUE), UNKNOWN_TOOL_KIND, 2),
      calls(callLabels(GOOD, 'search'), OK_OUTCOME, 100),
      violations(callLabels(GOOD, 'search'), UNKNOWN_TOOL_KIND, 0),
    ],
    firing: { labels: { [P]: BAD }, value: humanizeLikePrometheus(2 * perWindow, 'number') },
  };

  // Tool errors: `flaky` fails at twice the threshold; `solid` has no error series at all;
  // calls to unknown tools all fail but belong to the unknown-tool alert.
  const errors = Math.ceil(o.toolErrorRatioThreshold * 200);
  const toolErrors: Scenario = {
    series: [
      calls(callLabels(GOOD, 'flaky'), OK_OUTCOME, 100 - errors),
      calls(callLabels(GOOD, 'flaky'), ERROR_OUTCOMES[0], errors),
      calls(callLabels(GOOD, 'solid'), OK_OUTCOME, 100),
      calls(callLabels(GOOD, UNKNOWN_LABEL_VALUE), ERROR_OUTCOMES[0], 100),
    ],
    firing: {
      labels: { [LABEL.SERVICE_NAME]: SERVICE, [LABEL.GEN_AI_TOOL_NAME]: 'flaky' },
      value: humanizeLikePrometheus(errors / 100, 'percent'),
    },
  };

  // Latency: `slow` observes everything in the bucket just above the bound; `fast` in the first bucket.
  const buckets = DURATION_BUCKETS_SECONDS;
  const j = buckets.findIndex((b) => b > o.toolLatencyP95Seconds);
  const lower = buckets[j];
  const upper = buckets[j + 1];
  if (lower === undefined || upper === undefined)
    throw new Error(`toolLatencyP95Seconds ${o.toolLatencyP95Seconds} leaves no bucket above it to test with`);
  const histogram = (tool: string, firstFull: number): InputSeries[] =>
    [...buckets.map(String), '+Inf'].map((le, i) => ({
      series: seriesName(
        METRICS.SERVER_OPERATION_DURATION,
        {
          [LABEL.SERVICE_NAME]: SERVICE,
          [LABEL.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
          [LABEL.GEN_AI_TOOL_NAME]: tool,
          [LABEL.GEN_AI_PROVIDER_NAME]: GOOD,
        },
        '_bucket',
        { le },
      ),
      values: counter(i >= firstFull ? 10 : 0),
    }));
  const latency: Scenario = {
    series: [...histogram('slow', j + 1), ...histogram('fast', 0)],
    firing: {
      labels: { [LABEL.SERVICE_NAME]: SERVICE, [LABEL.GEN_AI_TOOL_NAME]: 'slow' },
      value: humanizeLikePrometheus(lower + (upper - lower) * 0.95, 'seconds'),
    },
  };

  // Guard ratios (timeouts, replays): the firing tool halfway between the threshold and every call,
  // a quiet tool without series of that outcome, and calls to unknown tools left to their own alert.
  const guardRatio = (outcome: Outcome, threshold: number, firingTool: string, quietTool: string): Scenario => {
    const hits = Math.ceil(((1 + threshold) / 2) * 100);
    return {
      series: [
        calls(callLabels(GOOD, firingTool), OK_OUTCOME, 100 - hits),
        calls(callLabels(GOOD, firingTool), outcome, hits),
        calls(callLabels(GOOD, quietTool), OK_OUTCOME, 100),
        calls(callLabels(GOOD, UNKNOWN_LABEL_VALUE), outcome, 100),
      ],
      firing: {
        labels: { [LABEL.SERVICE_NAME]: SERVICE, [LABEL.GEN_AI_TOOL_NAME]: firingTool },
        value: humanizeLikePrometheus(hits / 100, 'percent'),
      },
    };
  };

  // Circuit: `export` is open in one replica and closed in the other (max, not sum, decides);
  // `search` is half-open in both replicas, which would reach the open value if they were added.
  const breaker = (instance: string, tool: string, state: BreakerState): InputSeries => ({
    series: seriesName(METRICS.TOOL_CIRCUIT_BREAKER_STATE, {
      [LABEL.SERVICE_NAME]: SERVICE,
      [LABEL.SERVICE_INSTANCE_ID]: instance,
      [LABEL.GEN_AI_TOOL_NAME]: tool,
    }),
    values: `${breakerValue(state)}+0x${steps}`,
  });
  const circuit: Scenario = {
    series: [
      breaker('replica-a', 'export', 'open'),
      breaker('replica-b', 'export', 'closed'),
      breaker('replica-a', 'search', 'half_open'),
      breaker('replica-b', 'search', 'half_open'),
    ],
    firing: {
      labels: { [LABEL.SERVICE_NAME]: SERVICE, [LABEL.GEN_AI_TOOL_NAME]: 'export' },
      value: humanizeLikePrometheus(breakerValue('open'), 'number'),
    },
  };

  // Denied calls: one client above the rate (at least 1/s, so the printed value is exact), one at half the threshold.
  const deniedRate = Math.max(1, Math.ceil(o.deniedCallsPerSecond * 2));
  const denied = (client: string, perSecond: number): InputSeries => ({
    series: seriesName(METRICS.TOOL_UNAUTHORIZED_CALLS, {
      [LABEL.SERVICE_NAME]: SERVICE,
      [LABEL.GEN_AI_TOOL_NAME]: 'refund',
      [LABEL.CLIENT_NAME]: client,
    }),
    values: counter(perSecond * step),
  });
  const deniedCalls: Scenario = {
    series: [denied('rogue-agent', deniedRate), denied('careful-agent', o.deniedCallsPerSecond / 2)],
    firing: { labels: { [LABEL.CLIENT_NAME]: 'rogue-agent' }, value: humanizeLikePrometheus(deniedRate, 'rate') },
  };

  const collector = (metric: MetricDefinition, firing: Labels, silent: Labels): Scenario => ({
    series: [
      { series: seriesName(metric, firing), values: counter(5) },
      { series: seriesName(metric, silent), values: counter(0) },
    ],
    firing: { labels: firing, value: humanizeLikePrometheus(5 * perWindow, 'number') },
  });

  return {
    MCPMalformedCallRatioHigh: malformed,
    MCPClientMalformedCallRatioHigh: clientMalformed,
    MCPUnknownToolCalls: unknown,
    MCPToolErrorRatioHigh: toolErrors,
    MCPToolLatencyP95High: latency,
    MCPToolCircuitOpen: circuit,
    MCPToolTimeoutRatioHigh: guardRatio(TIMEOUT_OUTCOME, o.timeoutRatioThreshold, 'slow_export', 'quick_lookup'),
    MCPClientDeniedCallsHigh: deniedCalls,
    MCPToolReplayRatioHigh: guardRatio(REPLAYED_OUTCOME, o.replayRatioThreshold, 'charge', 'lookup'),
    MCPLensCollectorRejectingSpans: collector(
      METRICS.COLLECTOR_SPANS_REJECTED,
      { [LABEL.REASON]: SPAN_REJECT_REASONS.INVALID_ID },
      { [LABEL.REASON]: SPAN_REJECT_REASONS.INVALID_TIME },
    ),
    MCPLensCollectorDroppingSeries: collector(
      METRICS.COLLECTOR_SERIES_DROPPED,
      { [LABEL.METRIC]: METRICS.TOOL_CALLS.name },
      { [LABEL.METRIC]: METRICS.TOOL_TOKENS.name },
    ),
    MCPLensCollectorForwardDropping: collector(
      METRICS.COLLECTOR_FORWARD_DROPPED,
      { [LABEL.ENDPOINT]: 'http://tempo:4318/v1/traces', [LABEL.REASON]: FORWARD_DROP_REASONS.QUEUE_FULL },
      { [LABEL.ENDPOINT]: 'http://tempo:4318/v1/traces', [LABEL.REASON]: FORWARD_DROP_REASONS.REJECTED },
    ),
  };
}

function expectedAlert(d: AlertDefinition, o: ResolvedOptions, s: Scenario): ExpectedAlert {
  const labels = s.firing.labels as Record<string, string>;
  const t: TemplateSyntax = {
    label: (name) => {
      const v = labels[name];
      if (v === undefined) throw new Error(`scenario of ${d.name} lacks label ${name}`);
      return v;
    },
    value: () => s.firing.value,
  };
  return {
    exp_labels: { severity: d.severity, ...labels },
    exp_annotations: { summary: d.summary(t), description: d.description(t), dashboard_url: dashboardUrl(d, o.grafanaUrl, t) },
  };
}

/**
 * The `promtool test rules` file for the rule file rendered with the same options.
 * `ruleFile` is how the test file names the rule file (relative to the test file).
 */
export function promtoolTestFile(o: ResolvedOptions, ruleFile: string): Record<string, unknown> {
  const windowSec = durationSeconds(o.rateWindow);
  // Five samples per rate window, at most one a minute.
  const step = Math.max(1, Math.min(60, Math.floor(windowSec / 5)));
  const perWindow = Math.round(windowSec / step);
  const byName = new Map(alertDefinitions(o).map((d) => [d.name, d]));
  const longestFor = Math.max(...[...byName.values()].map((d) => durationSeconds(d.for)));
  const steps = Math.ceil((windowSec + longestFor) / step) + 10;
  const all = scenarios(o, steps, perWindow, step);
  const tests: Array<Record<string, unknown>> = [];
  for (const [name, s] of Object.entries(all)) {
    const d = byName.get(name);
    if (!d) throw new Error(`scenario for unknown alert ${name}`);
    const forSec = durationSeconds(d.for);
    const fireAt = windowSec + forSec + 3 * step;
    const alertTests: Array<Record<string, unknown>> = [];
    // Pending alerts are not listed: before `for` has passed the alert must not be there yet.
    if (forSec >= 3 * step) alertTests.push({ eval_time: `${2 * step}s`, alertname: name, exp_alerts: [] });
    alertTests.push({ eval_time: `${fireAt}s`, alertname: name, exp_alerts: [expectedAlert(d, o, s)] });
    const test: Record<string, unknown> = { name, interval: `${step}s`, input_series: s.series, alert_rule_test: alertTests };
    // The recorded malformed ratios (server and client view) read 0, not "no data", for the clean provider.
    const record = recordingDefinitions(o).find((r) => r.expr === d.query);
    if (record && (name === 'MCPMalformedCallRatioHigh' || name === 'MCPClientMalformedCallRatioHigh')) {
      const clean = d.by.map((l) => `${l}="${l === LABEL.GEN_AI_PROVIDER_NAME ? GOOD : (s.firing.labels[l] ?? '')}"`).join(', ');
      test.promql_expr_test = [
        {
          expr: `${record.record}{${clean}}`,
          eval_time: `${fireAt}s`,
          exp_samples: [{ labels: `${record.record}{${clean}}`, value: 0 }],
        },
      ];
    }
    tests.push(test);
  }
  return { rule_files: [ruleFile], evaluation_interval: `${step}s`, tests };
}
