/**
 * The "MCP overview" dashboard: traffic, the headline malformed-call ratio per provider,
 * outcomes, latency with trace exemplars, tokens, the tool catalog's cost and self-corrections
 * (the server view), then a row of the same calls as the agents counted them (the client view).
 * One function per panel; {@link overviewDashboard} lays them out.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { LABEL, MALFORMED_RATIO_LEVELS, MCP_METHOD, METRICS, OUTCOMES } from '../contract/index.js';
import {
  DASHBOARD_TAG,
  DASHBOARD_UID,
  DATASOURCE_REF,
  MACRO,
  VAR,
  at,
  builtInAnnotations,
  callFilters,
  clientCallFilters,
  dashboardLinks,
  legendOf,
  listLegend,
  NO_DATA_WITHOUT_COLLECTOR,
  outcomeQueries,
  promQuery,
  serverVariable,
  standardVariables,
  tableLegend,
  trafficLight,
} from './defaults.js';
import type { ResolvedOptions } from './options.js';
import { CLIENT_VIEW, eq, malformedRatio, matchVariable, maxBy, quantile, rate, selector, sumBy } from './promql.js';
import { CATALOG_COST } from '../contract/catalog-cost.js';

const R = MACRO.RATE_INTERVAL;
/** Thresholds of the headline panel: 1% is worth a look, 5% is the default alert threshold. */
export const MALFORMED_WARN = MALFORMED_RATIO_LEVELS.WARN;
export const MALFORMED_CRIT = MALFORMED_RATIO_LEVELS.CRITICAL;
/** Days in the monthly cost estimate (the contract's, shared with `mcplens catalog`). */
const DAYS_PER_MONTH = CATALOG_COST.DAYS_PER_MONTH;
/** Said on the panels of both views: a call between an instrumented agent and an instrumented server is in both. */
const SERVER_VIEW_NOTE =
  'Server view: counted by the instrumented servers. The client-view row counts the same calls as the agents sent them; never add the two.';
const CLIENT_VIEW_NOTE =
  'Client view: counted by the instrumented agents (instrumentClient), graded against the tools they listed, so it covers servers nobody instruments. ' +
  'The panels above count the same calls server-side; compare the two views, never add them.';

/** Tool calls per second by provider. */
export function callRateByProvider(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(1)
    .title('Tool calls by provider')
    .description('tools/call requests per second, by the LLM provider that made them.')
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .legend(tableLegend())
    .gridPos(at(0, 0, 12, 8))
    .withTarget(
      promQuery(
        'A',
        sumBy([LABEL.GEN_AI_PROVIDER_NAME], rate(selector(METRICS.TOOL_CALLS, callFilters()), R)),
        legendOf(LABEL.GEN_AI_PROVIDER_NAME),
      ),
    );
}

/** The headline: the malformed-call ratio per provider now, green / yellow at 1% / red at 5%. */
export function malformedRatioStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .id(2)
    .title('Malformed-call ratio by provider')
    .description(
      'Share of tools/call requests whose arguments break the tool input schema (or name an unknown tool), per provider. ' +
        'Reads 0% for a provider with calls and no violations. Yellow from 1%, red from 5% (the default alert threshold). ' +
        SERVER_VIEW_NOTE,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .decimals(2)
    .thresholds(trafficLight(MALFORMED_WARN, MALFORMED_CRIT))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .gridPos(at(12, 0, 12, 8))
    .withTarget(promQuery('A', malformedRatio(callFilters(), [LABEL.GEN_AI_PROVIDER_NAME], R), legendOf(LABEL.GEN_AI_PROVIDER_NAME)));
}

/** The malformed-call ratio per provider over time, with the thresholds drawn as lines. */
export function malformedRatioOverTime(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(3)
    .title('Malformed-call ratio over time')
    .description(
      `Malformed tools/call requests over all tools/call requests, per provider and model. Dashed lines at 1% and 5%. ${SERVER_VIEW_NOTE}`,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .min(0)
    .thresholds(trafficLight(MALFORMED_WARN, MALFORMED_CRIT))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
    .legend(tableLegend())
    .gridPos(at(0, 8, 12, 8))
    .withTarget(
      promQuery(
        'A',
        malformedRatio(callFilters(), [LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL], R),
        legendOf(LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL),
      ),
    );
}

/** Calls per second by outcome: one query per value of the contract's outcome set, 0 when absent. */
export function outcomeBreakdown(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(4)
    .title('Outcomes')
    .description(
      `tools/call requests per second by outcome (${OUTCOMES.join(', ')}). Every outcome is shown, at 0 when it did not happen. ${SERVER_VIEW_NOTE}`,
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .fillOpacity(30)
    .legend(tableLegend())
    .gridPos(at(12, 8, 12, 8))
    .targets(outcomeQueries(METRICS.TOOL_CALLS, callFilters(), OUTCOMES, R));
}

/** p50/p95/p99 of tools/call, with exemplars that carry trace ids (linked to Tempo by the datasource). */
export function latencyQuantiles(): timeseries.PanelBuilder {
  const filters = [...callFilters({ model: false }), eq(LABEL.MCP_METHOD_NAME, MCP_METHOD.TOOLS_CALL)];
  const panel = new timeseries.PanelBuilder()
    .id(5)
    .title('Tool-call latency')
    .description(
      'p50, p95 and p99 of tools/call duration from the server-side histogram. Exemplar dots carry trace ids and open the trace in Tempo.',
    )
    .datasource(DATASOURCE_REF)
    .unit('s')
    .legend(listLegend())
    .gridPos(at(0, 16, 12, 8));
  [0.5, 0.95, 0.99].forEach((q, i) => {
    panel.withTarget(
      promQuery(
        String.fromCharCode(65 + i),
        quantile(q, METRICS.SERVER_OPERATION_DURATION, filters, [], R),
        `p${Math.round(q * 100)}`,
      ).exemplar(true),
    );
  });
  return panel;
}

/** Tokens per second of arguments and results, by provider and model. */
export function tokensByProvider(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(6)
    .title('Tokens by provider and model')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      'Tokens per second of tools/call arguments and results, by provider, model and token kind: what tool traffic adds to LLM context.',
    )
    .datasource(DATASOURCE_REF)
    .unit('short')
    .legend(tableLegend())
    .gridPos(at(12, 16, 12, 8))
    .withTarget(
      promQuery(
        'A',
        sumBy(
          [LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL, LABEL.TOKEN_KIND],
          rate(selector(METRICS.TOOL_TOKENS, callFilters()), R),
        ),
        legendOf(LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL, LABEL.TOKEN_KIND),
      ),
    );
}

/** Tokens the tool catalog adds to every LLM request, per service. */
export function catalogTokens(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .id(7)
    .title('Tool catalog tokens')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      "Tokens each service's tool catalog (names, descriptions, input schemas) adds to every LLM request that lists its tools, as last seen in tools/list.",
    )
    .datasource(DATASOURCE_REF)
    .unit('short')
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .gridPos(at(0, 24, 8, 6))
    .withTarget(
      promQuery(
        'A',
        maxBy([LABEL.SERVICE_NAME], selector(METRICS.TOOL_CATALOG_TOKENS, [matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE)])),
        legendOf(LABEL.SERVICE_NAME),
      ),
    );
}

/** Monthly cost of sending the catalog: tokens x requests per day x 30 x price per million / 1e6. */
export function catalogMonthlyCost(): stat.PanelBuilder {
  const tokens = maxBy([LABEL.SERVICE_NAME], selector(METRICS.TOOL_CATALOG_TOKENS, [matchVariable(LABEL.SERVICE_NAME, VAR.SERVICE)]));
  return new stat.PanelBuilder()
    .id(8)
    .title('Estimated monthly catalog cost')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      `Catalog tokens x $${VAR.REQUESTS_PER_DAY} LLM requests per day x ${DAYS_PER_MONTH} days x $${VAR.PRICE_PER_MILLION} USD per million input tokens. ` +
        'Set both in the variables above.',
    )
    .datasource(DATASOURCE_REF)
    .unit('currencyUSD')
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .gridPos(at(8, 24, 8, 6))
    .withTarget(
      promQuery(
        'A',
        `${tokens} * $${VAR.REQUESTS_PER_DAY} * ${DAYS_PER_MONTH} * $${VAR.PRICE_PER_MILLION} / 1000000`,
        legendOf(LABEL.SERVICE_NAME),
      ),
    );
}

/** Share of malformed calls that the model fixed itself with a well-formed retry of the same tool. */
export function selfCorrectionRate(): timeseries.PanelBuilder {
  const by = [LABEL.GEN_AI_PROVIDER_NAME];
  const malformed = sumBy(by, rate(selector(METRICS.TOOL_SCHEMA_VIOLATIONS, callFilters()), R));
  const corrected = sumBy(by, rate(selector(METRICS.TOOL_SELF_CORRECTIONS, callFilters()), R));
  return (
    new timeseries.PanelBuilder()
      .id(9)
      .title('Self-correction rate')
      .noValue(NO_DATA_WITHOUT_COLLECTOR)
      .description(
        'Malformed calls followed, in the same session, by a well-formed call to the same tool, over all malformed calls, per provider.',
      )
      .datasource(DATASOURCE_REF)
      .unit('percentunit')
      .min(0)
      .legend(tableLegend())
      .gridPos(at(16, 24, 8, 6))
      // `or malformed * 0` gives 0 rather than no data before the first self-correction.
      .withTarget(promQuery('A', `(${corrected} or ${malformed} * 0) / ${malformed}`, legendOf(LABEL.GEN_AI_PROVIDER_NAME)))
  );
}

/** Client view: the malformed-call ratio per provider and model as the agents graded their own calls. */
export function clientMalformedRatioByModel(): timeseries.PanelBuilder {
  const by = [LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL];
  return new timeseries.PanelBuilder()
    .id(10)
    .title('Client view: malformed-call ratio by provider and model')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      `Malformed tools/call requests over all tools/call requests the agents sent, per provider and model. Dashed lines at 1% and 5%. ${CLIENT_VIEW_NOTE}`,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .min(0)
    .thresholds(trafficLight(MALFORMED_WARN, MALFORMED_CRIT))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed))
    .legend(tableLegend())
    .gridPos(at(0, 30, 8, 8))
    .withTarget(promQuery('A', malformedRatio(clientCallFilters(), by, R, CLIENT_VIEW), legendOf(...by)));
}

/** Client view: the malformed-call ratio per called server now, green / yellow at 1% / red at 5%. */
export function clientMalformedRatioByServer(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .id(11)
    .title('Client view: malformed-call ratio by server')
    .noValue(NO_DATA_WITHOUT_COLLECTOR)
    .description(
      'Share of the tools/call requests the agents sent to each server (by its serverInfo name) whose arguments break the listed input schema or name a tool the server did not list. ' +
        `Yellow from 1%, red from 5% (the default alert threshold). ${CLIENT_VIEW_NOTE}`,
    )
    .datasource(DATASOURCE_REF)
    .unit('percentunit')
    .decimals(2)
    .thresholds(trafficLight(MALFORMED_WARN, MALFORMED_CRIT))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.Area)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .gridPos(at(8, 30, 8, 8))
    .withTarget(promQuery('A', malformedRatio(clientCallFilters(), [LABEL.SERVER_NAME], R, CLIENT_VIEW), legendOf(LABEL.SERVER_NAME)));
}

/** Client view: calls per second by outcome, one query per value of the contract's outcome set, 0 when absent. */
export function clientOutcomeBreakdown(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .id(12)
    .title('Client view: outcomes')
    .description(
      `tools/call requests per second the agents sent, by the outcome they saw (${OUTCOMES.join(', ')}), at 0 when it did not happen. ${CLIENT_VIEW_NOTE}`,
    )
    .datasource(DATASOURCE_REF)
    .unit('reqps')
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal))
    .fillOpacity(30)
    .legend(tableLegend())
    .gridPos(at(16, 30, 8, 8))
    .targets(outcomeQueries(CLIENT_VIEW.calls, clientCallFilters(), OUTCOMES, R));
}

/** The dashboard's own variables: price per million input tokens and LLM requests per day. */
export function costVariables(o: ResolvedOptions): dashboard.TextBoxVariableBuilder[] {
  const price = String(o.pricePerMillionTokens);
  const perDay = String(o.requestsPerDay);
  return [
    new dashboard.TextBoxVariableBuilder(VAR.PRICE_PER_MILLION)
      .label('USD per 1M input tokens')
      .description('Price of one million input tokens of your model, for the catalog cost estimate.')
      .defaultValue(price)
      .current({ text: price, value: price }),
    new dashboard.TextBoxVariableBuilder(VAR.REQUESTS_PER_DAY)
      .label('LLM requests per day')
      .description('LLM requests per day that carry the tool catalog, for the catalog cost estimate.')
      .defaultValue(perDay)
      .current({ text: perDay, value: perDay }),
  ];
}

/** Builds the MCP overview dashboard model. */
export function overviewDashboard(o: ResolvedOptions): dashboard.Dashboard {
  return new dashboard.DashboardBuilder('MCP overview')
    .uid(DASHBOARD_UID.OVERVIEW)
    .description(
      'Tool calls of MCP servers by LLM provider: malformed-call ratio, outcomes, latency, tokens and catalog cost (server view), ' +
        'and the same calls as the agents saw them (client view).',
    )
    .tags([DASHBOARD_TAG])
    .timezone('browser')
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .variables([...standardVariables(o.prometheusDatasourceUid), serverVariable(), ...costVariables(o)])
    .link(dashboardLinks())
    .annotation(builtInAnnotations())
    .withPanel(callRateByProvider())
    .withPanel(malformedRatioStat())
    .withPanel(malformedRatioOverTime())
    .withPanel(outcomeBreakdown())
    .withPanel(latencyQuantiles())
    .withPanel(tokensByProvider())
    .withPanel(catalogTokens())
    .withPanel(catalogMonthlyCost())
    .withPanel(selfCorrectionRate())
    .withPanel(clientMalformedRatioByModel())
    .withPanel(clientMalformedRatioByServer())
    .withPanel(clientOutcomeBreakdown())
    .build();
}
