/**
 * mcplens dashboards and alerts as code, public as `mcplens/dashboards`: Grafana
 * dashboards, Grafana provisioning, and Prometheus / Grafana alert rules, generated
 * from the telemetry contract.
 *
 * Adding an export here makes it public API: test/package/entry-points.test.ts pins the list.
 * The lint, template-variable and rule-test helpers are for tests, imported by their file path.
 */
export { generateAll, renderAll, dashboardModels, OUTPUT_PATHS } from './generate.js';
export type { GenerateAllOptions } from './generate.js';
export { runDashboardsCli } from './cli.js';
export { ConfigError } from '../contract/config-error.js';
export { resolveOptions, createDefaultOptions } from './options.js';
export type { GeneratorOptions, AlertOptions, ResolvedOptions } from './options.js';
export { alertDefinitions, recordingDefinitions, alertExpr } from './alert-rules.js';
export type { AlertDefinition, RecordingDefinition, TemplateSyntax, ValueFormat } from './alert-rules.js';
export { prometheusRuleFile, RULE_GROUPS } from './prometheus-rules.js';
export { grafanaAlertFile } from './grafana-alerts.js';
export { overviewDashboard } from './overview.js';
export { toolsDashboard } from './tools.js';
export { providerDashboard } from './provider.js';
export { DASHBOARD_UID, VAR } from './defaults.js';
