/**
 * Shared pieces of every dashboard: the datasource reference, the template variables,
 * the Prometheus query builder with explicit refId and legend, legends, thresholds and
 * the grid. Panels compose these; nothing here knows a particular panel.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import { LABEL, METRICS, type LabelName, type MetricDefinition } from '../contract/index.js';
import { eq, matchVariable, rate, selector, sumBy, type Matcher } from './promql.js';

/** Names of the dashboards' template variables (dashboard names, not telemetry names). */
export const VAR = {
  DATASOURCE: 'datasource',
  SERVICE: 'service',
  PROVIDER: 'provider',
  MODEL: 'model',
  TOOL: 'tool',
  /** The called server's name, in the client view only (`server_name`). */
  SERVER: 'server',
  PRICE_PER_MILLION: 'price_per_million',
  REQUESTS_PER_DAY: 'requests_per_day',
} as const;

/** Grafana's query-time macros used by the panels. */
export const MACRO = {
  RATE_INTERVAL: '$__rate_interval',
  RANGE: '$__range',
} as const;

/** Every panel and query points at the datasource variable, so one dashboard serves any Prometheus. */
export const DATASOURCE_REF = { type: 'prometheus', uid: `\${${VAR.DATASOURCE}}` } as const;

/** Uids of the generated dashboards (alert annotations link to them). */
export const DASHBOARD_UID = {
  OVERVIEW: 'mcplens-overview',
  TOOLS: 'mcplens-tools',
  PROVIDER: 'mcplens-provider',
} as const;

/** Tag shared by the mcplens dashboards; the dashboard links list dashboards by it. */
export const DASHBOARD_TAG = 'mcplens';

/**
 * Shown instead of Grafana's bare "No data" on panels only the mcplens collector can fill (tokens,
 * catalog, self-corrections, client view, breaker state, denied calls): with spanmetrics-only
 * collection they stay empty by design.
 */
export const NO_DATA_WITHOUT_COLLECTOR = 'No data. Spanmetrics-only collection never fills this panel (docs/scaling.md).';

/** Matchers of the call metrics (calls, violations, tokens, self-corrections) by the standard variables. */
export function callFilters(include: { model?: boolean; tool?: boolean } = {}): Matcher[] {
  const m: Matcher[] = [matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE), matchVariable(LABEL.GEN_AI_PROVIDER_NAME, VAR.PROVIDER)];
  if (include.model !== false) m.push(matchVariable(LABEL.GEN_AI_REQUEST_MODEL, VAR.MODEL));
  if (include.tool !== false) m.push(matchVariable(LABEL.GEN_AI_TOOL_NAME, VAR.TOOL));
  return m;
}

/**
 * Matchers of the client view's call metrics by the variables that apply to them: the server,
 * provider, model and tool. Not `service`: its values are the servers' services, while a
 * client-view series' `service_name` is the calling agent's.
 */
export function clientCallFilters(): Matcher[] {
  return [
    matchVariable(LABEL.SERVER_NAME, VAR.SERVER),
    matchVariable(LABEL.GEN_AI_PROVIDER_NAME, VAR.PROVIDER),
    matchVariable(LABEL.GEN_AI_REQUEST_MODEL, VAR.MODEL),
    matchVariable(LABEL.GEN_AI_TOOL_NAME, VAR.TOOL),
  ];
}

/** A Prometheus query with the datasource variable, an explicit refId and an explicit legend. */
export function promQuery(refId: string, expr: string, legend: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder().datasource(DATASOURCE_REF).refId(refId).expr(expr).legendFormat(legend).range();
}

/**
 * One query per outcome, refIds A, B, ...: calls per second of `calls` (filtered by `filters`)
 * with that outcome, summed, at 0 when it did not happen. The lines of an outcome breakdown.
 */
export function outcomeQueries(
  calls: MetricDefinition,
  filters: readonly Matcher[],
  outcomes: readonly string[],
  window: string,
): prometheus.DataqueryBuilder[] {
  return outcomes.map((outcome, i) =>
    promQuery(
      String.fromCharCode(65 + i),
      `${sumBy([], rate(selector(calls, [...filters, eq(LABEL.OUTCOME, outcome)]), window))} or vector(0)`,
      outcome,
    ),
  );
}

/** An instant query in time-series format: one value per series, for stat and bar-gauge panels. */
export function instantQuery(refId: string, expr: string, legend: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder().datasource(DATASOURCE_REF).refId(refId).expr(expr).legendFormat(legend).instant();
}

/** An instant query in table format, for table and bar-gauge panels. */
export function tableQuery(refId: string, expr: string, legend: string): prometheus.DataqueryBuilder {
  return new prometheus.DataqueryBuilder()
    .datasource(DATASOURCE_REF)
    .refId(refId)
    .expr(expr)
    .legendFormat(legend)
    .instant()
    .format(prometheus.PromQueryFormat.Table);
}

/** `{{label}}` legend placeholders for labels, joined by spaces. */
export function legendOf(...labels: LabelName[]): string {
  return labels.map((l) => `{{${l}}}`).join(' ');
}

/** A visible legend, as a table on the right with last and max values. */
export function tableLegend(): common.VizLegendOptionsBuilder {
  return new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.Table)
    .placement(common.LegendPlacement.Right)
    .calcs(['lastNotNull', 'max']);
}

/** A visible list legend at the bottom. */
export function listLegend(): common.VizLegendOptionsBuilder {
  return new common.VizLegendOptionsBuilder()
    .showLegend(true)
    .displayMode(common.LegendDisplayMode.List)
    .placement(common.LegendPlacement.Bottom);
}

/** Green below `warn`, yellow from `warn`, red from `crit`. */
export function trafficLight(warn: number, crit: number): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
    { value: null, color: 'green' },
    { value: warn, color: 'yellow' },
    { value: crit, color: 'red' },
  ]);
}

/** A grid position (Grafana's 24-column grid). */
export function at(x: number, y: number, w: number, h: number): dashboard.GridPos {
  return { x, y, w, h };
}

/** The datasource variable: any Prometheus, defaulting to the provisioned one. */
export function datasourceVariable(defaultUid: string): dashboard.DatasourceVariableBuilder {
  return new dashboard.DatasourceVariableBuilder(VAR.DATASOURCE)
    .label('Prometheus')
    .type('prometheus')
    .current({ text: defaultUid, value: defaultUid });
}

/**
 * A label-values variable over a calls counter (the server view's unless `metric` says
 * otherwise), chained to the variables before it (`service` narrows `provider`, and so on).
 * `multi` adds "All" as `.*`.
 */
export function labelVariable(
  name: string,
  label: LabelName,
  title: string,
  parents: readonly Matcher[],
  multi = true,
  metric: MetricDefinition = METRICS.TOOL_CALLS,
): dashboard.QueryVariableBuilder {
  const query = `label_values(${selector(metric, parents)}, ${label})`;
  const v = new dashboard.QueryVariableBuilder(name)
    .label(title)
    .datasource(DATASOURCE_REF)
    .query(query)
    .definition(query)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
  if (multi) {
    v.multi(true).includeAll(true).allValue('.*').current({ text: 'All', value: '$__all' });
  }
  return v;
}

/** The standard variables: datasource, service, provider, model, tool. `singleProvider` makes provider a single choice. */
export function standardVariables(
  defaultDatasourceUid: string,
  singleProvider = false,
): Array<dashboard.DatasourceVariableBuilder | dashboard.QueryVariableBuilder> {
  const service = matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE);
  const provider = matchVariable(LABEL.GEN_AI_PROVIDER_NAME, VAR.PROVIDER);
  const model = matchVariable(LABEL.GEN_AI_REQUEST_MODEL, VAR.MODEL);
  return [
    datasourceVariable(defaultDatasourceUid),
    labelVariable(VAR.SERVICE, LABEL.SERVICE_NAME, 'Service', []),
    labelVariable(VAR.PROVIDER, LABEL.GEN_AI_PROVIDER_NAME, 'Provider', [service], !singleProvider),
    labelVariable(VAR.MODEL, LABEL.GEN_AI_REQUEST_MODEL, 'Model', [service, provider]),
    labelVariable(VAR.TOOL, LABEL.GEN_AI_TOOL_NAME, 'Tool', [service, provider, model]),
  ];
}

/** The client view's server variable: the called servers' names (`server_name`) as the agents saw them. */
export function serverVariable(): dashboard.QueryVariableBuilder {
  return labelVariable(VAR.SERVER, LABEL.SERVER_NAME, 'Server (client view)', [], true, METRICS.CLIENT_TOOL_CALLS).description(
    'Servers the instrumented agents called, by the name they report in serverInfo. Filters the client-view panels only.',
  );
}

/** Links to the other mcplens dashboards, keeping time range and variables. */
export function dashboardLinks(): dashboard.DashboardLinkBuilder {
  return new dashboard.DashboardLinkBuilder('mcplens')
    .type(dashboard.DashboardLinkType.Dashboards)
    .tags([DASHBOARD_TAG])
    .asDropdown(true)
    .includeVars(true)
    .keepTime(true)
    .targetBlank(false)
    .icon('external link')
    .tooltip('')
    .url('');
}

/**
 * Grafana's built-in "Annotations & Alerts" query. Dashboards get it explicitly: the SDK
 * otherwise writes `annotations: {}` without the `list` Grafana's model expects.
 */
export function builtInAnnotations(): dashboard.AnnotationQueryBuilder {
  return new dashboard.AnnotationQueryBuilder()
    .name('Annotations & Alerts')
    .builtIn(1)
    .datasource({ type: 'grafana', uid: '-- Grafana --' })
    .enable(true)
    .hide(true)
    .iconColor('rgba(0, 211, 255, 1)')
    .type('dashboard');
}
