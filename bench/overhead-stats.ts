/**
 * Helpers the proxy-style overhead benches share (bench/wrap-overhead.ts,
 * bench/proxy-overhead.ts): quantiles, number formatting, plain-text tables, a process's CPU
 * time from /proc, the SDK's version, counting `tools/call` spans, and pacing calls on a timer.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTR, MCP_METHOD } from '../contract/index.js';
import type { ReceivedSpan } from '../harness/otlp-receiver.js';
import { REPO_ROOT } from '../harness/stdio-session.js';
import { parseArgs } from 'node:util';

/** OTLP's SpanKind SERVER. */
const SERVER_KIND = 2;
/** USER_HZ of /proc/<pid>/stat: 100 on Linux whatever the kernel's HZ. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system, every thread) of process `pid` so far, from /proc; undefined elsewhere. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** The installed `@modelcontextprotocol/sdk` version, `?` when unreadable. */
export function sdkVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

/** SERVER spans of `tools/call` among `spans` for which `also` holds. */
export function countCallSpans(spans: readonly ReceivedSpan[], also: (span: ReceivedSpan) => boolean = () => true): number {
  return spans.filter((s) => s.kind === SERVER_KIND && s.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL && also(s)).length;
}

/**
 * Starts `total` calls on a schedule of `rate` per second without awaiting answers (`send`
 * resolves with one call's latency in µs; a rejected call is not counted); resolves when all
 * are settled, with the latencies and the time from the first send to the last answer.
 */
export async function paceCalls(
  send: () => Promise<number>,
  rate: number,
  total: number,
): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  const answers: Array<Promise<void>> = [];
  let lastAnswerAt = 0;
  const start = performance.now();
  await new Promise<void>((done) => {
    let sent = 0;
    // A timer tick sends every call that is due by now: the schedule holds even when ticks are late.
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
      for (; sent < due; sent++) {
        answers.push(
          send().then(
            (us) => {
              latencies.push(us);
              lastAnswerAt = performance.now();
            },
            () => undefined,
          ),
        );
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  await Promise.all(answers);
  return { latencies, elapsedMs: lastAnswerAt - start };
}

/** The q-quantile (nearest rank; the midpoint for the median) of values; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  if (q === 0.5) {
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** `value` to one decimal. */
export function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

/** One decimal, `-` for undefined or NaN; `sign`: a leading `+` on non-negative values. */
export function fmt(value: number | undefined, sign = false): string {
  if (value === undefined || Number.isNaN(value)) return '-';
  const text = String(round1(value));
  return sign && value >= 0 ? `+${text}` : text;
}

/** A plain-text table: first and last columns left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** The flags both overhead benches take (`--rounds`, `--calls`, `--paced-seconds`, `--json`, `--quick`). */
export interface OverheadArgs {
  options: { quick: boolean; rounds?: number; calls?: number; pacedSeconds?: number };
  json: string | undefined;
}

/** Reads the overhead flags, alone or with `--<prefix>-` in front as bench/run.ts passes them; a bad number throws naming the flag. */
export function parseOverheadArgs(argv: readonly string[], prefix: string): OverheadArgs {
  const names = ['rounds', 'calls', 'paced-seconds', 'json'] as const;
  const spec: Record<string, { type: 'string' } | { type: 'boolean'; default: boolean }> = { quick: { type: 'boolean', default: false } };
  for (const name of names) {
    spec[name] = { type: 'string' };
    spec[`${prefix}-${name}`] = { type: 'string' };
  }
  const { values } = parseArgs({ args: [...argv], options: spec, strict: false, allowPositionals: true });
  const text = (name: (typeof names)[number]): string | undefined => {
    const value = values[`${prefix}-${name}`] ?? values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const positive = (name: (typeof names)[number], integer: boolean): number | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!(n > 0) || (integer && !Number.isInteger(n)))
      throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${raw}`);
    return n;
  };
  const options: OverheadArgs['options'] = { quick: values.quick === true };
  const rounds = positive('rounds', true);
  if (rounds !== undefined) options.rounds = rounds;
  const calls = positive('calls', true);
  if (calls !== undefined) options.calls = calls;
  const pacedSeconds = positive('paced-seconds', false);
  if (pacedSeconds !== undefined) options.pacedSeconds = pacedSeconds;
  return { options, json: text('json') };
}
