/**
 * Substitutes Grafana template variables and macros in a query, the way Grafana does
 * before it sends the query to Prometheus. Used to check every dashboard query with
 * promtool and to run them against a real Prometheus.
 */
import { MACRO, VAR } from './defaults.js';

/** Values used for checking: every label variable is "All" (`.*`), ranges are one minute / one hour. */
export function defaultSubstitutions(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    [VAR.SERVICE]: '.*',
    [VAR.PROVIDER]: '.*',
    [VAR.MODEL]: '.*',
    [VAR.TOOL]: '.*',
    [VAR.SERVER]: '.*',
    [VAR.PRICE_PER_MILLION]: '3',
    [VAR.REQUESTS_PER_DAY]: '10000',
    [MACRO.RATE_INTERVAL.slice(1)]: '1m',
    [MACRO.RANGE.slice(1)]: '1h',
    __interval: '1m',
    ...overrides,
  };
}

/**
 * Replaces `$name`, `${name}` and `[[name]]` by `values[name]`. Throws on a variable
 * without a value, so a query can never reach promtool or Prometheus half-substituted.
 */
export function substituteVariables(query: string, values: Record<string, string>): string {
  return query.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    const value = values[name];
    if (value === undefined) throw new Error(`No value for Grafana variable ${whole} in query: ${query}`);
    return value;
  });
}
