/**
 * Which tools of a catalog are called at all, from a mcplens collector's `/api/summary` (calls per
 * tool since the collector started). Tools nobody calls still cost their tokens on every request.
 */

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
