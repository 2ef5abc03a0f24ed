/**
 * Renders the alert and recording definitions as a Prometheus rule file
 * (`promtool check rules` format): one group of recording rules, one of alerts.
 */
import {
  alertDefinitions,
  alertExpr,
  dashboardUrl,
  recordingDefinitions,
  type AlertDefinition,
  type TemplateSyntax,
  type ValueFormat,
} from './alert-rules.js';
import type { ResolvedOptions } from './options.js';

/** Prometheus' alert template language: `$labels` and `$value` with its humanize functions. */
export const PROMETHEUS_TEMPLATES: TemplateSyntax = {
  label: (name) => `{{ $labels.${name} }}`,
  value: (format: ValueFormat) => `{{ $value | ${HUMANIZE[format]} }}`,
};

const HUMANIZE: Record<ValueFormat, string> = {
  percent: 'humanizePercentage',
  number: 'humanize',
  seconds: 'humanizeDuration',
  rate: 'printf "%.3g"',
};

/** Names of the two rule groups. */
export const RULE_GROUPS = { RECORDING: 'mcplens-recording', ALERTS: 'mcplens-alerts' } as const;

/** A Prometheus alerting rule as it appears in a rule file. */
export interface PrometheusAlertingRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The Prometheus alerting rule of one definition. */
export function prometheusAlertingRule(d: AlertDefinition, o: ResolvedOptions): PrometheusAlertingRule {
  return {
    alert: d.name,
    expr: alertExpr(d),
    for: d.for,
    labels: { severity: d.severity },
    annotations: {
      summary: d.summary(PROMETHEUS_TEMPLATES),
      description: d.description(PROMETHEUS_TEMPLATES),
      dashboard_url: dashboardUrl(d, o.grafanaUrl, PROMETHEUS_TEMPLATES),
    },
  };
}

/** The rule file as an object, ready for YAML. */
export function prometheusRuleFile(o: ResolvedOptions): { groups: Array<Record<string, unknown>> } {
  return {
    groups: [
      {
        name: RULE_GROUPS.RECORDING,
        interval: o.evaluationInterval,
        rules: recordingDefinitions(o).map((r) => ({ record: r.record, expr: r.expr })),
      },
      { name: RULE_GROUPS.ALERTS, interval: o.evaluationInterval, rules: alertDefinitions(o).map((d) => prometheusAlertingRule(d, o)) },
    ],
  };
}
