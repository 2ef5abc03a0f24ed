/**
 * The demo's live terminal summary: one row per LLM provider (calls, malformed %, top
 * violation kind, p95 latency, tokens), read from the collector's `GET /api/summary`.
 * Calls whose tokens were not counted are shown as such, never as 0 tokens.
 * On a terminal the table is redrawn in place (ANSI cursor moves); when stdout is not a
 * terminal (CI logs, a pipe) it prints plain, timestamped lines at each interval instead.
 */
import type { CallStats, ProviderSummary, Summary } from '../collector/summary-types.js';

/** Where the summary is written: a stream with an optional TTY flag (process.stdout fits). */
export interface SummaryOutput {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

/** Options of {@link startTerminalSummary}. */
export interface TerminalSummaryOptions {
  /** Base URL of the collector, e.g. `http://127.0.0.1:4318`. */
  collectorUrl: string;
  /** Read token, when the collector requires one. */
  token?: string;
  /** Output stream. Default process.stdout. */
  output?: SummaryOutput;
  /** Refresh interval in ms. Default 1000 on a terminal, 10000 otherwise. */
  intervalMs?: number;
}

/** A running summary. */
export interface TerminalSummary {
  /** Fetches and prints once now (also what the timer does). Never throws. */
  refresh(): Promise<void>;
  /** Stops the timer, then prints a final refresh. Idempotent. */
  stop(): Promise<void>;
}

/** The most frequent violation kind of a row, or '-' when it has none. */
export function topViolationKind(stats: CallStats): string {
  let best = '-';
  let bestCount = 0;
  for (const [kind, count] of Object.entries(stats.violations)) {
    if (count > bestCount) [best, bestCount] = [kind, count];
  }
  return best;
}

/** Human-readable seconds: `850µs`, `12ms`, `1.4s`, or '-'. */
export function formatSeconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (s < 0.001) return `${Math.round(s * 1e6)}µs`;
  if (s < 1) return `${Math.round(s * 1000)}ms`;
  return `${s.toFixed(1)}s`;
}

/** `950`, `12.3k`, `4.5M`. */
export function formatCount(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function totalTokens(stats: CallStats): number {
  return Object.values(stats.tokens).reduce((s, n) => s + n, 0);
}

/** Calls whose tokens are unknown (0 from a collector older than the field). */
function notCounted(stats: CallStats): number {
  return stats.tokensNotCounted ?? 0;
}

/**
 * The tokens of a row: `1.2k`; `1.2k (+3 not counted)` when some calls' tokens are unknown;
 * `not counted (12 calls)` when no call's tokens were counted. `compact` (log lines) has no
 * spaces: `1.2k`, `not_counted`; the count of such calls goes in its own field there.
 */
export function formatTokens(stats: CallStats, compact = false): string {
  const n = notCounted(stats);
  if (n > 0 && stats.calls - n <= 1e-9) return compact ? 'not_counted' : `not counted (${formatCount(n)} calls)`;
  const counted = formatCount(totalTokens(stats));
  return n > 0 && !compact ? `${counted} (+${formatCount(n)} not counted)` : counted;
}

interface Row {
  provider: string;
  model: string;
  calls: string;
  malformed: string;
  top: string;
  p95: string;
  tokens: string;
}

function rowOf(label: string, model: string, stats: CallStats): Row {
  return {
    provider: label,
    model,
    calls: String(stats.calls),
    malformed: percent(stats.malformedRatio),
    top: topViolationKind(stats),
    p95: formatSeconds(stats.latency.p95),
    tokens: formatTokens(stats),
  };
}

function modelsOf(p: ProviderSummary): string {
  return p.models.map((m) => m.model).join(',') || '-';
}

const HEADER: Row = {
  provider: 'provider',
  model: 'model',
  calls: 'calls',
  malformed: 'malformed',
  top: 'top violation',
  p95: 'p95',
  tokens: 'tokens',
};
const COLUMNS: ReadonlyArray<keyof Row> = ['provider', 'model', 'calls', 'malformed', 'top', 'p95', 'tokens'];
const RIGHT_ALIGNED = new Set<keyof Row>(['calls', 'malformed', 'p95', 'tokens']);

/** The summary as table lines (no ANSI): a header, one row per provider, a total row. */
export function formatSummaryTable(summary: Summary): string[] {
  const rows = [HEADER, ...summary.providers.map((p) => rowOf(p.provider, modelsOf(p), p)), rowOf('all', '', summary.totals)];
  const widths = COLUMNS.map((c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    COLUMNS.map((c, i) => (RIGHT_ALIGNED.has(c) ? r[c].padStart(widths[i] ?? 0) : r[c].padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/**
 * One plain line per provider, for logs: `[time] provider model calls=.. malformed=..% top=..
 * p95=.. tokens=..`, then `tokens_not_counted=N` when N calls' tokens are unknown.
 */
export function formatSummaryLines(summary: Summary, now: Date = new Date()): string[] {
  const time = now.toISOString().slice(11, 19);
  const lines = summary.providers.map((p) => {
    const r = rowOf(p.provider, modelsOf(p), p);
    const n = notCounted(p);
    const unknown = n > 0 ? ` tokens_not_counted=${formatCount(n)}` : '';
    return `[${time}] ${r.provider} model=${r.model} calls=${r.calls} malformed=${r.malformed} top=${r.top} p95=${r.p95} tokens=${formatTokens(p, true)}${unknown}`;
  });
  if (lines.length === 0) lines.push(`[${time}] no tool calls yet`);
  return lines;
}

/** Fetches the collector's summary. */
export async function fetchSummary(collectorUrl: string, token?: string): Promise<Summary> {
  const res = await fetch(new URL('/api/summary', collectorUrl), {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(2000),
  });
  if (!res.ok) throw new Error(`GET /api/summary answered ${res.status}`);
  return (await res.json()) as Summary;
}

/** Starts refreshing the summary; the first print happens after one interval. */
export function startTerminalSummary(options: TerminalSummaryOptions): TerminalSummary {
  const output: SummaryOutput = options.output ?? process.stdout;
  const tty = output.isTTY === true;
  const intervalMs = options.intervalMs ?? (tty ? 1000 : 10_000);
  if (!(intervalMs >= 50)) throw new RangeError(`intervalMs must be >= 50, got ${String(intervalMs)}`);
  let drawnLines = 0;
  let lastError = '';
  let running: Promise<void> | undefined;

  async function draw(): Promise<void> {
    let lines: string[];
    try {
      const summary = await fetchSummary(options.collectorUrl, options.token);
      lines = tty ? formatSummaryTable(summary) : formatSummaryLines(summary);
      lastError = '';
    } catch (err) {
      // Say it once, not every second: the collector may simply be stopping.
      const message = `summary unavailable: ${err instanceof Error ? err.message : String(err)}`;
      if (message === lastError) return;
      lastError = message;
      lines = [message];
    }
    if (tty) {
      // Move to the start of the previous table and clear to the end of the screen.
      const up = drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : '';
      output.write(up + lines.join('\n') + '\n');
      drawnLines = lines.length;
    } else {
      output.write(lines.join('\n') + '\n');
    }
  }

  function refresh(): Promise<void> {
    // One fetch at a time: a slow collector must not pile up requests.
    running ??= draw().finally(() => (running = undefined));
    return running;
  }

  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref?.();
  let stopping: Promise<void> | undefined;
  return {
    refresh,
    stop(): Promise<void> {
      stopping ??= (async () => {
        clearInterval(timer);
        await running;
        await refresh();
      })();
      return stopping;
    },
  };
}
