/**
 * The "MCP tools" dashboard: a table per tool, the tools models get wrong most, violation
 * kinds by provider, calls to tools that do not exist, then the guard panels (guard-panels.ts).
 * One function per panel.
 */
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ERROR_OUTCOMES, LABEL, MALFORMED_RATIO_LEVELS, MCP_METHOD, METRICS, type ViolationKind } from '../contract/index.js';
import {
  DASHBOARD_TAG,
  DASHBOARD_UID,
  DATASOURCE_REF,
  MACRO,
  at,
  builtInAnnotations,
  callFilters,
  dashboardLinks,
  instantQuery,
  legendOf,
  promQuery,
  standardVariables,
  tableLegend,
  tableQuery,
  trafficLight,
} from './defaults.js';
import { guardPanels } from './guard-panels.js';
import type { ResolvedOptions } from './options.js';
import { eq, errorRatio, increase, malformedRatio, quantile, rate, selector, sumBy } from './promql.js';

const R = MACRO.RATE_INTERVAL;
/** The violation kind of a call to a tool the server does not have (a hallucinated tool name). */
export const UNKNOWN_TOOL_KIND: ViolationKind = 'unknown_tool';

/** Columns of the per-tool table, in order: refId, header, unit. */
const TOOL_TABLE_COLUMNS = [
  { refId: 'A', header: 'Calls', unit: 'short' },
  { refId: 'B', header: 'Error %', unit: 'percentunit' },
  { refId: 'C', header: 'Malformed %', unit: 'percentunit' },
  { refId: 'D', header: 'p95', unit: 's' },
  { refId: 'E', header: 'Tokens', unit: 'short' },
] as const;

/** One row per service and tool over the selected time range: calls, error %, malformed %, p95 and tokens. */
export function toolTable(): table.PanelBuilder {
  const by = [LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME];
  const range = MACRO.RANGE;
  const latencyFilters = [...callFilters({ model: false }), eq(LABEL.MCP_METHOD_NAME, MCP_METHOD.TOOLS_CALL)];
  const exprs: Record<(typeof TOOL_TABLE_COLUMNS)[number]['refId'], string> = {
    A: sumBy(by, increase(selector(METRICS.TOOL_CALLS, callFilters()), range)),
    B: errorRatio(callFilters(), by, range),
    C: malformedRatio(callFilters(), by, range),
    D: quantile(0.95, METRICS.SERVER_OPERATION_DURATION, latencyFilters, by, range),
    E: sumBy(by, increase(selector(METRICS.TOOL_TOKENS, callFilters()), range)),
  };
  const renames: Record<string, string> = {};
  const panel = new table.PanelBuilder()
    .id(1)
    .title('Tools')
    .description(
      `Per service and tool over the selected time range: calls, error ratio (outcomes ${ERROR_OUTCOMES.join(', ')}), malformed-call ratio, p95 latency and tokens.`,
    )
    .datasource(DATASOURCE_REF)
    .unit('short')
    .gridPos(at(0, 0, 24, 10));
  for (const col of TOOL_TABLE_COLUMNS) {
    panel.withTarget(tableQuery(col.refId, exprs[col.refId], col.header));
    renames[`Value #${col.refId}`] = col.header;
    panel.overrideByName(col.header, [{ id: 'unit', value: col.unit }]);
  }
  return panel
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName: renames } })
    .overrideByName('Malformed %', [
      { id: 'custom.cellOptions', value: { type: 'color-background' } },
      { id: 'thresholds', value: trafficLight(MALFORMED_RATIO_LEVELS.WARN, MALFORMED_RATIO_LEVELS.CRITICAL).build() },
    ]);
}

/** The ten tools with the most malformed calls in the selected time range. */
export function topViolatingTools(): bargauge.PanelBuilder {
  return new bargauge.PanelBuilder()
    .id(2)
    .title('Top violating tools')
    .description('The ten tools with the most malformed calls over the selected time range.')
    .datasource(DATASOURCE_REF)
    .unit('short')
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .gridPos(at(0, 10, 12, 9))
    .withTarget(
      instantQuery(
        'A',
        `topk(10, ${sumBy([LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME], increase(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, callFilters()), MACRO.RANGE))})`,
        legendOf(LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME),
      ),
    );
}

/** Malformed calls per second by provider and primary violation kind. */
export function violationKindsByProvider(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(3)
    .title('Violation kinds by provider')
    .description('Malformed tools/call requests per second, by provider and primary violation kind.')
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .fillOpacity(30)
    .legend(tableLegend())
    .gridPos(at(12, 10, 12, 9))
    .withTarget(
      promQuery(
        'A',
        sumBy([LABEL.GEN_AI_PROVIDER_NAME, LABEL.VIOLATION_KIND], rate(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, callFilters()), R)),
        legendOf(LABEL.GEN_AI_PROVIDER_NAME, LABEL.VIOLATION_KIND),
      ),
    );
}

/** Calls to tools the server does not have, by provider and model: the model made the tool up. */
export function unknownToolCalls(): timeseries.PanelBuilder {
  const filters = [...callFilters({ tool: false }), eq(LABEL.VIOLATION_KIND, UNKNOWN_TOOL_KIND)];
  return new timeseries.PanelBuilder()
    .id(4)
    .title('Calls to unknown tools')
    .description(
      'tools/call requests per second naming a tool the server does not have (hallucinated tool names), by provider and model. The names stay on the spans, never in labels.',
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .legend(tableLegend())
    .gridPos(at(0, 19, 24, 8))
    .withTarget(
      promQuery(
        'A',
        sumBy([LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL], rate(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, filters), R)),
        legendOf(LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL),
      ),
    );
}

/** Builds the MCP tools dashboard model. */
export function toolsDashboard(o: ResolvedOptions): dashboard.Dashboard {
  const board = new dashboard.DashboardBuilder('MCP tools')
    .uid(DASHBOARD_UID.TOOLS)
    .description(
      'Per-tool health of MCP servers: calls, errors, malformed calls, latency, tokens, calls to tools that do not exist, ' +
        'and what the opt-in guards (timeouts, circuit breakers, authorization, idempotency keys) decided.',
    )
    .tags([DASHBOARD_TAG])
    .timezone('browser')
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .variables(standardVariables(o.prometheusDatasourceUid))
    .link(dashboardLinks())
    .annotation(builtInAnnotations())
    .withPanel(toolTable())
    .withPanel(topViolatingTools())
    .withPanel(violationKindsByProvider())
    .withPanel(unknownToolCalls());
  for (const p of guardPanels(o.replayRatioThreshold)) board.withPanel(p);
  return board.build();
}
