/**
 * Structural lint of generated dashboards: what Grafana would accept silently but a
 * reader would trip over. The SDK validates nothing, so the generator runs this before
 * writing, and the tests run it on every dashboard.
 */
import { DATASOURCE_REF, VAR } from './defaults.js';
import { catalogSeriesNames } from './promql.js';

/** The parts of a dashboard model the lint reads (plain JSON, as written to disk). */
interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string } };
  options?: { legend?: { showLegend?: boolean } };
  targets?: Array<{ refId?: string; expr?: string; legendFormat?: string; datasource?: { uid?: string } }>;
}
interface DashboardJson {
  uid?: string;
  title?: string;
  panels?: PanelJson[];
  templating?: { list?: Array<{ name?: string; type?: string }> };
}

const PROMQL_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** Metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or durations. */
export function metricNamesIn(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""'); // string literals
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // range and subquery durations
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/\$\{?\w+\}?/g, ' '); // unsubstituted variables
  const names: string[] = [];
  for (const m of s.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (!name || call || PROMQL_KEYWORDS.has(name.toLowerCase())) continue;
    names.push(name);
  }
  return names;
}

/** Problems of one dashboard model; empty when it is clean. */
export function lintDashboard(model: unknown): string[] {
  const d = model as DashboardJson;
  const where = `dashboard ${d.uid ?? d.title ?? '?'}`;
  const problems: string[] = [];
  const catalog = catalogSeriesNames();
  const vars = new Map((d.templating?.list ?? []).map((v) => [v.name, v.type]));
  if (vars.get(VAR.DATASOURCE) !== 'datasource') problems.push(`${where}: no datasource variable "${VAR.DATASOURCE}"`);
  for (const v of [VAR.SERVICE, VAR.PROVIDER, VAR.MODEL, VAR.TOOL]) if (!vars.has(v)) problems.push(`${where}: no variable "${v}"`);
  const ids = new Set<number>();
  for (const p of d.panels ?? []) {
    const at = `${where} panel ${p.id ?? '?'} "${p.title ?? ''}"`;
    if (typeof p.id !== 'number') problems.push(`${at}: no id`);
    else if (ids.has(p.id)) problems.push(`${at}: duplicate id ${p.id}`);
    else ids.add(p.id);
    if (!p.title) problems.push(`${at}: no title`);
    if (!p.description) problems.push(`${at}: no description`);
    if (p.datasource?.uid !== DATASOURCE_REF.uid) problems.push(`${at}: datasource is not the ${DATASOURCE_REF.uid} variable`);
    if (!p.fieldConfig?.defaults?.unit) problems.push(`${at}: no unit`);
    if (p.type === 'timeseries' && p.options?.legend?.showLegend !== true) problems.push(`${at}: legend hidden`);
    const targets = p.targets ?? [];
    if (targets.length === 0) problems.push(`${at}: no targets`);
    const refIds = new Set<string>();
    for (const t of targets) {
      if (!t.refId) problems.push(`${at}: target without refId`);
      else if (refIds.has(t.refId)) problems.push(`${at}: duplicate refId ${t.refId}`);
      else refIds.add(t.refId);
      if (t.datasource?.uid !== DATASOURCE_REF.uid)
        problems.push(`${at} ${t.refId ?? ''}: target datasource is not the ${DATASOURCE_REF.uid} variable`);
      if (t.legendFormat === undefined || t.legendFormat === '') problems.push(`${at} ${t.refId ?? ''}: no legend`);
      if (!t.expr) {
        problems.push(`${at} ${t.refId ?? ''}: no expr`);
        continue;
      }
      for (const m of t.expr.matchAll(/\$\{?(\w+)/g)) {
        const name = m[1] ?? '';
        // `$__rate_interval` and the like are Grafana's own macros, not dashboard variables.
        if (!name.startsWith('__') && !vars.has(name)) problems.push(`${at} ${t.refId ?? ''}: variable $${name} is not defined`);
      }
      for (const name of metricNamesIn(t.expr)) {
        if (!catalog.has(name)) problems.push(`${at} ${t.refId ?? ''}: metric ${name} is not in the contract's catalog`);
      }
    }
  }
  return problems;
}
