/**
 * Renders the alert definitions as Grafana-managed alert rules in Grafana's
 * file-provisioning shape. The foundation SDK's builders emit the HTTP API shape
 * (`folderUID`, `orgID`, `ruleGroup` on every rule), so rules are built with them and
 * then converted: `{apiVersion: 1, groups: [{orgId, name, folder, interval, rules}]}`.
 */
import * as alerting from '@grafana/grafana-foundation-sdk/alerting';
import * as expr from '@grafana/grafana-foundation-sdk/expr';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import { alertDefinitions, dashboardUrl, type AlertDefinition, type TemplateSyntax, type ValueFormat } from './alert-rules.js';
import type { ResolvedOptions } from './options.js';
import { durationSeconds } from './promql.js';

const QUERY = 'A';
const REDUCED = 'B';
const CONDITION = 'C';
/** Grafana's server-side expressions datasource. */
const EXPR_DATASOURCE = { type: '__expr__', uid: '__expr__' } as const;

/** Grafana's alert template language: `$labels`, and `$values` by refId. */
export const GRAFANA_TEMPLATES: TemplateSyntax = {
  label: (name) => `{{ $labels.${name} }}`,
  value: (format: ValueFormat) => `{{ ${HUMANIZE[format]} $values.${REDUCED}.Value }}`,
};

const HUMANIZE: Record<ValueFormat, string> = {
  percent: 'humanizePercentage',
  number: 'humanize',
  seconds: 'humanizeDuration',
  rate: 'printf "%.3g"',
};

/** The rule, built with the SDK (HTTP API shape). */
function buildRule(d: AlertDefinition, o: ResolvedOptions): alerting.Rule {
  // Query a range a bit longer than the rate window so the instant query has samples.
  const lookback = Math.max(600, durationSeconds(o.rateWindow) * 2);
  return new alerting.RuleBuilder(d.name)
    .uid(d.uid)
    .condition(CONDITION)
    .withQuery(
      new alerting.QueryBuilder(QUERY)
        .datasourceUid(o.prometheusDatasourceUid)
        .relativeTimeRange({ from: lookback, to: 0 })
        .model(
          new prometheus.DataqueryBuilder()
            .refId(QUERY)
            .expr(d.query)
            .instant()
            .datasource({ type: 'prometheus', uid: o.prometheusDatasourceUid }),
        ),
    )
    .withQuery(
      new alerting.QueryBuilder(REDUCED)
        .datasourceUid(EXPR_DATASOURCE.uid)
        .model(new expr.TypeReduceBuilder().refId(REDUCED).expression(QUERY).reducer('last').datasource(EXPR_DATASOURCE)),
    )
    .withQuery(
      new alerting.QueryBuilder(CONDITION).datasourceUid(EXPR_DATASOURCE.uid).model(
        new expr.TypeThresholdBuilder()
          .refId(CONDITION)
          .expression(REDUCED)
          .conditions([{ evaluator: { type: 'gt', params: [d.threshold] } }])
          .datasource(EXPR_DATASOURCE),
      ),
    )
    .forDuration(d.for)
    .noDataState('OK')
    .execErrState('Error')
    .labels({ severity: d.severity })
    .annotations({
      summary: d.summary(GRAFANA_TEMPLATES),
      description: d.description(GRAFANA_TEMPLATES),
      dashboard_url: dashboardUrl(d, o.grafanaUrl, GRAFANA_TEMPLATES),
      __dashboardUid__: d.dashboardUid,
    })
    .isPaused(false)
    .ruleGroup('mcplens')
    .folderUID(o.folder)
    .orgID(1)
    .build();
}

/** One rule in the provisioning shape. */
export interface ProvisionedRule {
  uid: string;
  title: string;
  condition: string;
  data: unknown[];
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  noDataState: string;
  execErrState: string;
  isPaused: boolean;
}

/** Converts an SDK rule (HTTP API shape) to the file-provisioning shape. */
export function toProvisionedRule(rule: alerting.Rule): ProvisionedRule {
  // Built queries carry function members: a JSON round trip leaves plain data for YAML.
  const plain = JSON.parse(JSON.stringify(rule)) as alerting.Rule;
  if (!plain.uid) throw new Error(`Grafana rule "${plain.title}" has no uid`);
  return {
    uid: plain.uid,
    title: plain.title,
    condition: plain.condition,
    data: plain.data,
    for: plain.for,
    labels: plain.labels ?? {},
    annotations: plain.annotations ?? {},
    noDataState: plain.noDataState,
    execErrState: plain.execErrState,
    isPaused: plain.isPaused ?? false,
  };
}

/** The Grafana alert-rule provisioning file as an object, ready for YAML. */
export function grafanaAlertFile(o: ResolvedOptions): {
  apiVersion: 1;
  groups: Array<{ orgId: number; name: string; folder: string; interval: string; rules: ProvisionedRule[] }>;
} {
  return {
    apiVersion: 1,
    groups: [
      {
        orgId: 1,
        name: 'mcplens',
        folder: o.folder,
        interval: o.evaluationInterval,
        rules: alertDefinitions(o).map((d) => toProvisionedRule(buildRule(d, o))),
      },
    ],
  };
}
