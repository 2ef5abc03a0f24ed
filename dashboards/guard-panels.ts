/**
 * The "Guards" panels of the MCP tools dashboard: what the opt-in production guards around
 * tools/call (timeouts, circuit breakers, authorization, idempotency keys) decided, per tool.
 * They sit on the tools dashboard because every guard decision is per tool, and its service and
 * tool variables are the ones the guard alerts link with. One function per panel.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { BREAKER_STATES, GUARD_OUTCOMES, LABEL, METRICS, type BreakerState, type Outcome } from '../contract/index.js';
import {
  DATASOURCE_REF,
  MACRO,
  NO_DATA_WITHOUT_COLLECTOR,
  VAR,
  at,
  callFilters,
  legendOf,
  outcomeQueries,
  promQuery,
  tableLegend,
} from './defaults.js';
import { matchVariable, outcomeRateOrZero, outcomeRatio, rate, selector, sumBy, type Matcher } from './promql.js';

const R = MACRO.RATE_INTERVAL;
const S = LABEL.SERVICE_NAME;
const T = LABEL.GEN_AI_TOOL_NAME;

/** The guard outcomes the panels and alerts single out. */
export const TIMEOUT_OUTCOME = 'timeout' satisfies Outcome;
export const REPLAYED_OUTCOME = 'replayed' satisfies Outcome;
/** Outcomes of calls a guard refused without running the tool: an open circuit and the caller's faults. */
export const REFUSAL_OUTCOMES: readonly Outcome[] = [
  ...GUARD_OUTCOMES.ERRORS.filter((o) => o !== TIMEOUT_OUTCOME),
  ...GUARD_OUTCOMES.CALLER_FAULTS,
];

/** The breaker-state gauge's value of a state (its index in BREAKER_STATES). */
export function breakerValue(state: BreakerState): number {
  return BREAKER_STATES.indexOf(state);
}

/** Grid row the guard panels start at, below the tools dashboard's other panels. */
export const GUARDS_TOP = 27;

/** Matchers of the guard metrics that carry service and tool but no caller labels. */
function serviceToolFilters(): Matcher[] {
  return [matchVariable(S, VAR.SERVICE), matchVariable(T, VAR.TOOL)];
}

/**
 * The breaker state per service, replica and tool. `max` folds duplicate series of one replica
 * (two collectors, a restart) into its worst state; a sum would add states up into nonsense.
 */
function breakerStates(): string {
  return `max by (${S}, ${LABEL.SERVICE_INSTANCE_ID}, ${T}) (${selector(METRICS.TOOL_CIRCUIT_BREAKER_STATE, serviceToolFilters())})`;
}

const BREAKER_COLORS: Record<BreakerState, string> = { closed: 'green', half_open: 'yellow', open: 'red' };

/** Number of breakers (per service, replica and tool) open and half-open now; 0 when none. */
export function breakersNotClosed(): stat.PanelBuilder {
  const panel = new stat.PanelBuilder()
    .id(5)
    .title('Guards: circuit breakers open or half-open')
    .description(
      'Circuit breakers (one per service, replica and tool) that are open (calls refused without running) or half-open (one trial call let through), now. ' +
        'Reads 0 when every breaker is closed or none is configured.',
    )
    .datasource(DATASOURCE_REF)
    .unit('short')
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: 'green' },
        { value: 1, color: 'red' },
      ]),
    )
    .gridPos(at(0, GUARDS_TOP, 6, 8));
  (['open', 'half_open'] as const).forEach((state, i) => {
    panel.withTarget(promQuery(String.fromCharCode(65 + i), `count(${breakerStates()} == ${breakerValue(state)}) or vector(0)`, state));
  });
  return panel;
}

/** Each breaker's state over time: closed green, half-open yellow, open red. */
export function breakerStateTimeline(): statetimeline.PanelBuilder {
  const options: Record<string, dashboard.ValueMappingResult> = {};
  BREAKER_STATES.forEach((state, index) => {
    options[String(breakerValue(state))] = { text: state, color: BREAKER_COLORS[state], index };
  });
  return new statetimeline.PanelBuilder()
    .id(6)
    .title('Guards: circuit breaker state')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      "Each tool's circuit breaker per service and replica (service.instance.id), as the replica last reported it on its tools/call spans: " +
        'closed, half-open or open.',
    )
    .datasource(DATASOURCE_REF)
    .unit('short')
    .mappings([{ type: dashboard.MappingType.ValueToText, options }])
    .showValue(common.VisibilityMode.Never)
    .legend(tableLegend().calcs([]))
    .gridPos(at(6, GUARDS_TOP, 18, 8))
    .withTarget(promQuery('A', breakerStates(), legendOf(S, LABEL.SERVICE_INSTANCE_ID, T)));
}

/** Calls cut by the guard's per-tool timeout, per second, per service and tool; 0 for tools without timeouts. */
export function timeoutsPerTool(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(7)
    .title('Guards: timeouts per tool')
    .description(
      `tools/call requests per second that the guard's timeout ended (outcome ${TIMEOUT_OUTCOME}), per service and tool. They count as errors in the error ratio.`,
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .min(0)
    .legend(tableLegend())
    .gridPos(at(0, GUARDS_TOP + 8, 12, 8))
    .withTarget(promQuery('A', outcomeRateOrZero([TIMEOUT_OUTCOME], callFilters(), [S, T], R), legendOf(S, T)));
}

/** Calls a guard refused without running the tool, per second, by outcome; every refusal outcome shown, at 0 when absent. */
export function refusedByOutcome(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(8)
    .title('Guards: refused calls by outcome')
    .description(
      `tools/call requests per second a guard refused without running the tool, by outcome (${REFUSAL_OUTCOMES.join(', ')}): ` +
        'an open circuit, missing scopes, a reused idempotency key with other arguments, a duplicate of a call still running.',
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .fillOpacity(30)
    .legend(tableLegend())
    .gridPos(at(12, GUARDS_TOP + 8, 12, 8))
    .targets(outcomeQueries(METRICS.TOOL_CALLS, callFilters(), REFUSAL_OUTCOMES, R));
}

/** Calls the authorization guard denied, per second, by calling client name. */
export function deniedByClient(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(9)
    .title('Guards: denied calls by client')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      'tools/call requests per second the authorization guard refused (missing scopes), by the calling client (its clientInfo.name). ' +
        'The missing scopes are on the spans.',
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .min(0)
    .legend(tableLegend())
    .gridPos(at(0, GUARDS_TOP + 16, 8, 8))
    .withTarget(
      promQuery(
        'A',
        sumBy([LABEL.CLIENT_NAME], rate(selector(METRICS.TOOL_UNAUTHORIZED_CALLS, serviceToolFilters()), R)),
        legendOf(LABEL.CLIENT_NAME),
      ),
    );
}

/** Calls answered from the idempotency store, per second, per service and tool; 0 for tools without replays. */
export function replaysPerTool(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(10)
    .title('Guards: replays per tool')
    .description(
      `tools/call requests per second that repeated an idempotency key and got the stored answer again without running the tool (outcome ${REPLAYED_OUTCOME}), per service and tool.`,
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .min(0)
    .legend(tableLegend())
    .gridPos(at(8, GUARDS_TOP + 16, 8, 8))
    .withTarget(promQuery('A', outcomeRateOrZero([REPLAYED_OUTCOME], callFilters(), [S, T], R), legendOf(S, T)));
}

/** Replays over all calls per service and tool, with the replay alert's threshold drawn as a dashed line. */
export function replayRatioPerTool(threshold: number): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(11)
    .title('Guards: replay ratio per tool')
    .description(
      `Share of the tools/call requests per service and tool answered from the idempotency store (outcome ${REPLAYED_OUTCOME}). ` +
        `A high share means a model or agent retries too much; the dashed line is the alert threshold (${threshold * 100}%).`,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .min(0)
    .thresholds(
      new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
        { value: null, color: 'green' },
        { value: threshold, color: 'red' },
      ]),
    )
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
    .legend(tableLegend())
    .gridPos(at(16, GUARDS_TOP + 16, 8, 8))
    .withTarget(promQuery('A', outcomeRatio([REPLAYED_OUTCOME], callFilters(), [S, T], R), legendOf(S, T)));
}

/** Every guard panel, in layout order. */
export function guardPanels(replayRatioThreshold: number): Array<cog.Builder<dashboard.Panel>> {
  return [
    breakersNotClosed(),
    breakerStateTimeline(),
    timeoutsPerTool(),
    refusedByOutcome(),
    deniedByClient(),
    replaysPerTool(),
    replayRatioPerTool(replayRatioThreshold),
  ];
}
