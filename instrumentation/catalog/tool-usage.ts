/**
 * Which tools of a catalog are called at all: from a mcplens collector's `/api/summary` (calls per
 * tool since the collector started) or from Prometheus over a window. Tools nobody calls still
 * cost their tokens on every request.
 */
import { LABEL, METRICS } from '../../contract/index.js';

/** The part of the collector's `/api/summary` this reads (collector/summary-types.ts). */
interface SummaryTools {
  tools: Array<{ service: string; tool: string; calls: number }>;
}

/** Calls per tool name, of `service` when the summary knows it, else of every service. */
export interface ToolUsage {
  readonly source: string;
  /** The service the counts are for, or undefined when they are summed over every service. */
  readonly service: string | undefined;
  readonly calls: ReadonlyMap<string, number>;
}

/** `http://host:4318` or `http://host:4318/api/summary` -> the summary's URL. */
export function summaryUrl(from: URL): URL {
  if (from.pathname.endsWith('/api/summary')) return from;
  return new URL(`${from.pathname.replace(/\/$/, '')}/api/summary${from.search}`, from);
}

/** Reads the collector's summary; throws with a clear message when it cannot. */
export async function readToolUsage(from: URL, service: string | undefined): Promise<ToolUsage> {
  const url = summaryUrl(from);
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
  if (!response.ok) throw new Error(`${url.href} answered ${response.status} ${response.statusText}`.trim());
  const summary = (await response.json()) as Partial<SummaryTools>;
  if (!Array.isArray(summary.tools)) throw new Error(`${url.href} is not a mcplens collector's /api/summary (no "tools")`);
  const known = service !== undefined && summary.tools.some((t) => t.service === service);
  const calls = new Map<string, number>();
  for (const entry of summary.tools) {
    if (known && entry.service !== service) continue;
    calls.set(entry.tool, (calls.get(entry.tool) ?? 0) + (Number.isFinite(entry.calls) ? entry.calls : 0));
  }
  return { source: url.href, service: known ? service : undefined, calls };
}

/** A Prometheus duration such as `30m`, `7d` or `1w`. */
const PROMETHEUS_DURATION = /^[0-9]+(ms|s|m|h|d|w|y)$/;

/** Whether `window` is a Prometheus duration. */
export function isPrometheusDuration(window: string): boolean {
  return PROMETHEUS_DURATION.test(window);
}

/**
 * Calls per tool from Prometheus over `window`. A tool counts as used when any calls series of it
 * has a sample in the window (`count_over_time`), not when `increase()` is above zero: a series is
 * created by its first call, and `increase()` misses that call.
 */
export async function readToolUsageFromPrometheus(prometheus: URL, window: string, service: string | undefined): Promise<ToolUsage> {
  if (!isPrometheusDuration(window)) throw new Error(`${JSON.stringify(window)} is not a Prometheus duration (30m, 7d, ...)`);
  const tool = LABEL.GEN_AI_TOOL_NAME;
  const svc = LABEL.SERVICE_NAME;
  const query = `count by (${tool}, ${svc}) (count_over_time(${METRICS.TOOL_CALLS.name}[${window}]))`;
  const url = new URL(`${prometheus.pathname.replace(/\/$/, '')}/api/v1/query`, prometheus);
  url.searchParams.set('query', query);
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
  const body = (await response.json().catch(() => undefined)) as
    { status?: string; error?: string; data?: { result?: Array<{ metric: Record<string, string>; value: [number, string] }> } } | undefined;
  if (!response.ok || body?.status !== 'success' || !Array.isArray(body.data?.result))
    throw new Error(`${url.origin} did not answer the query (${response.status}${body?.error === undefined ? '' : `: ${body.error}`})`);
  const rows = body.data.result;
  const known = service !== undefined && rows.some((r) => r.metric[svc] === service);
  const calls = new Map<string, number>();
  for (const row of rows) {
    if (known && row.metric[svc] !== service) continue;
    const name = row.metric[tool];
    if (name !== undefined) calls.set(name, (calls.get(name) ?? 0) + Number(row.value[1]));
  }
  return { source: `${url.origin} over ${window}`, service: known ? service : undefined, calls };
}
