/**
 * The "MCP provider drill-down" dashboard: one provider (and model) against all other
 * traffic of the same services and tools. One function per panel.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ERROR_OUTCOMES, LABEL, MCP_METHOD, METRICS, type MetricDefinition } from '../contract/index.js';
import {
  DASHBOARD_TAG,
  DASHBOARD_UID,
  DATASOURCE_REF,
  MACRO,
  VAR,
  at,
  builtInAnnotations,
  callFilters,
  dashboardLinks,
  legendOf,
  promQuery,
  standardVariables,
  tableLegend,
  trafficLight,
} from './defaults.js';
import { MALFORMED_CRIT, MALFORMED_WARN } from './overview.js';
import type { ResolvedOptions } from './options.js';
import { eq, matchVariable, notMatch, oneOf, quantile, rate, selector, sumBy, type Matcher } from './promql.js';

const R = MACRO.RATE_INTERVAL;
const SELECTION_LEGEND = `$${VAR.PROVIDER} $${VAR.MODEL}`;
const REST_LEGEND = 'all other traffic';

/** The selected provider and model (and service and tool). */
function selection(): Matcher[] {
  return callFilters();
}

/** The same services and tools, any provider and model: the selection's baseline. */
function everything(): Matcher[] {
  return [matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE), matchVariable(LABEL.GEN_AI_TOOL_NAME, VAR.TOOL)];
}

function total(metric: MetricDefinition, matchers: Matcher[]): string {
  return sumBy([], rate(selector(metric, matchers), R));
}

/** `sum(rate(...))` that reads 0 rather than nothing where the series do not exist yet. */
function totalOrZero(metric: MetricDefinition, matchers: Matcher[]): string {
  return `(${total(metric, matchers)} or vector(0))`;
}

/** Ratio of two counters for the selection, and for everything minus the selection. */
function selectionVersusRest(num: MetricDefinition, numExtra: Matcher[], den: MetricDefinition): { selected: string; rest: string } {
  const sel = selection();
  const all = everything();
  return {
    selected: `${totalOrZero(num, [...sel, ...numExtra])} / ${total(den, sel)}`,
    rest:
      `(${totalOrZero(num, [...all, ...numExtra])} - ${totalOrZero(num, [...sel, ...numExtra])})` +
      ` / (${total(den, all)} - ${total(den, sel)})`,
  };
}

/** Malformed-call ratio of the selection against all other traffic. */
export function malformedVersusRest(): timeseries.PanelBuilder {
  const q = selectionVersusRest(METRICS.TOOL_SCHEMA_VIOLATIONS, [], METRICS.TOOL_CALLS);
  return new timeseries.PanelBuilder()
    .id(1)
    .title('Malformed-call ratio: this provider vs the rest')
    .description(
      'Malformed tools/call requests over all tools/call requests, for the selected provider and model and for all other traffic of the same services and tools.',
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .min(0)
    .thresholds(trafficLight(MALFORMED_WARN, MALFORMED_CRIT))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
    .legend(tableLegend())
    .gridPos(at(0, 0, 12, 8))
    .withTarget(promQuery('A', q.selected, SELECTION_LEGEND))
    .withTarget(promQuery('B', q.rest, REST_LEGEND));
}

/** The selection's malformed calls per second by primary violation kind. */
export function violationKinds(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(2)
    .title('Violation kinds')
    .description('Malformed tools/call requests per second of the selected provider and model, by primary violation kind.')
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .fillOpacity(30)
    .legend(tableLegend())
    .gridPos(at(12, 0, 12, 8))
    .withTarget(
      promQuery(
        'A',
        sumBy([LABEL.VIOLATION_KIND], rate(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, selection()), R)),
        legendOf(LABEL.VIOLATION_KIND),
      ),
    );
}

/** p95 tools/call latency of the provider against all other providers (the histogram has no model label). */
export function latencyVersusRest(): timeseries.PanelBuilder {
  const base = [
    matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE),
    matchVariable(LABEL.GEN_AI_TOOL_NAME, VAR.TOOL),
    eq(LABEL.MCP_METHOD_NAME, MCP_METHOD.TOOLS_CALL),
  ];
  const d = METRICS.SERVER_OPERATION_DURATION;
  return new timeseries.PanelBuilder()
    .id(3)
    .title('p95 latency: this provider vs the rest')
    .description(
      'p95 of tools/call duration for the selected provider and for all other providers (the duration histogram is not split by model).',
    )
    .datasource(DATASOURCE_REF)
    .unit('s')
    .legend(tableLegend())
    .gridPos(at(0, 8, 12, 8))
    .withTarget(
      promQuery(
        'A',
        quantile(0.95, d, [...base, matchVariable(LABEL.GEN_AI_PROVIDER_NAME, VAR.PROVIDER)], [], R),
        `$${VAR.PROVIDER}`,
      ).exemplar(true),
    )
    .withTarget(
      promQuery('B', quantile(0.95, d, [...base, notMatch(LABEL.GEN_AI_PROVIDER_NAME, `$${VAR.PROVIDER}`)], [], R), 'other providers'),
    );
}

/** Error ratio (the contract's ERROR_OUTCOMES) of the selection against all other traffic. */
export function errorsVersusRest(): timeseries.PanelBuilder {
  const q = selectionVersusRest(METRICS.TOOL_CALLS, [oneOf(LABEL.OUTCOME, ERROR_OUTCOMES)], METRICS.TOOL_CALLS);
  return new timeseries.PanelBuilder()
    .id(4)
    .title('Error ratio: this provider vs the rest')
    .description(
      `tools/call requests with outcome ${ERROR_OUTCOMES.join(' or ')} over all tools/call requests, for the selection and for all other traffic.`,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .min(0)
    .legend(tableLegend())
    .gridPos(at(12, 8, 12, 8))
    .withTarget(promQuery('A', q.selected, SELECTION_LEGEND))
    .withTarget(promQuery('B', q.rest, REST_LEGEND));
}

/** Call rate of the selection by tool. */
export function callsByTool(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(5)
    .title('Tool calls by tool')
    .description('tools/call requests per second of the selected provider and model, by tool.')
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .legend(tableLegend())
    .gridPos(at(0, 16, 24, 8))
    .withTarget(
      promQuery('A', sumBy([LABEL.GEN_AI_TOOL_NAME], rate(selector(METRICS.TOOL_CALLS, selection()), R)), legendOf(LABEL.GEN_AI_TOOL_NAME)),
    );
}

/** Builds the provider drill-down dashboard model. */
export function providerDashboard(o: ResolvedOptions): dashboard.Dashboard {
  return new dashboard.DashboardBuilder('MCP provider drill-down')
    .uid(DASHBOARD_UID.PROVIDER)
    .description('One LLM provider and model against all other traffic: malformed calls, violation kinds, latency and errors.')
    .tags([DASHBOARD_TAG])
    .timezone('browser')
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .variables(standardVariables(o.prometheusDatasourceUid, true))
    .link(dashboardLinks())
    .annotation(builtInAnnotations())
    .withPanel(malformedVersusRest())
    .withPanel(violationKinds())
    .withPanel(latencyVersusRest())
    .withPanel(errorsVersusRest())
    .withPanel(callsByTool())
    .build();
}
