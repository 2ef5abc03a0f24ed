/**
 * Start-up and exit of a stdio MCP server, bare and under `node --import mcplens/register`,
 * the way hosts run it (harness/stdio-session.ts): spawned with pipes, `initialize`
 * written at once, a short session, stdin closed. Measures the first answer (spawn to the
 * `initialize` response) and the exit (stdin closed to the process' end), for the published
 * `@modelcontextprotocol/server-memory` with the collector up (a real mcplens collector),
 * down (closed port) and silent (accepts TCP, never answers), each in three session shapes:
 * initialize only, idle (initialize, tools/list) and with tools/call. Runs are interleaved: every run does one
 * session of each variant, in an order rotated per run, so the machine's drift hits all alike.
 *
 * Run: `node dist/bench/stdio-lifecycle.js [--quick] [--runs N] [--collectors up,down,silent,429,503]
 * [--modes init,idle,calls] [--serial] [--json FILE]` (or `npm run bench`, with the flags spelled
 * `--lifecycle-runs=N`, `--lifecycle-collectors=...`, `--lifecycle-modes=...`, `--lifecycle-serial`,
 * `--lifecycle-json=FILE`; `--quick` is shared).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { COLLECTOR_KINDS, startCollectorVariant, type CollectorKind } from '../harness/collector-variants.js';
import { runStdioSession, SERVER_MEMORY, type StdioSessionResult } from '../harness/stdio-session.js';

/** Collector conditions measured by default. */
export const DEFAULT_LIFECYCLE_COLLECTORS: readonly LifecycleCollector[] = ['up', 'down', 'silent'];
/** `up` here is a real mcplens collector; the others are the harness' stand-ins. */
export type LifecycleCollector = Exclude<CollectorKind, 'collector'>;
const HARNESS_KIND: Readonly<Record<LifecycleCollector, CollectorKind>> = {
  up: 'collector',
  down: 'down',
  silent: 'silent',
  '429': '429',
  '503': '503',
};
const COLLECTOR_TEXT: Readonly<Record<LifecycleCollector, string>> = {
  up: 'collector up',
  down: 'collector down',
  silent: 'collector silent',
  '429': 'collector 429',
  '503': 'collector 503',
};

/** Session shapes: initialize only; idle (initialize, tools/list); with tools/call after tools/list. */
export const LIFECYCLE_MODES = ['init', 'idle', 'calls'] as const;
export type LifecycleMode = (typeof LIFECYCLE_MODES)[number];

/** Targets for a stdio server's start and exit, in ms (bench/README.md). */
export const LIFECYCLE_TARGETS = {
  /** --import adds at most this to the first answer (median). */
  firstAnswerAddedMs: 150,
  /** With a live collector, the exit comes at most this much after the bare server's (median). */
  exitAddedLiveMs: 300,
  /** With a dead, silent or refusing collector, every exit within this after stdin closes. */
  exitWorstDeadMs: 1500,
} as const;

/** Options of {@link runStdioLifecycleBench}; every field optional. */
export interface StdioLifecycleBenchOptions {
  /** Fewer runs (3). Default false. */
  quick?: boolean;
  /** Interleaved runs (each runs every variant once). Default 7, quick 3. */
  runs?: number;
  /** Collector conditions of the instrumented variants. Default up, down, silent. */
  collectors?: readonly LifecycleCollector[];
  /** Session shapes. Default all three. */
  modes?: readonly LifecycleMode[];
  /** tools/call requests of a session "with calls". Default 4. */
  calls?: number;
  /** A server not gone this long after stdin closed is killed and counted as not exited. Default 15,000 ms. */
  exitTimeoutMs?: number;
  /**
   * ms after stdin closed after which the next session may start while this one's exit is still
   * being timed (a server still alive by then waits on sockets and timers, not the CPU).
   * Default 3000; `Infinity` runs sessions strictly one after another.
   */
  overlapAfterMs?: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

/** One variant: bare, or instrumented with a collector condition; in one session shape. */
export interface LifecycleVariant {
  readonly name: string;
  readonly collector: LifecycleCollector | undefined;
  /** How an instrumented variant is observed: `--import` in the server's process, or `mcplens wrap` outside it. */
  readonly host: 'import' | 'wrap';
  readonly mode: LifecycleMode;
  /** tools/call requests of its sessions. */
  readonly calls: number;
}

/** One session's figures. */
export interface LifecycleSample {
  readonly run: number;
  readonly firstAnswerMs: number | undefined;
  /** Undefined when the server did not exit by itself within the timeout. */
  readonly exitMs: number | undefined;
  readonly exitCode: number | null;
  readonly exitSignal: NodeJS.Signals | null;
  /** Requests sent (initialize, tools/list, tools/call). */
  readonly requests: number;
  /** Spans the collector counted (`up` only). */
  readonly spans: number | undefined;
  readonly problems: readonly string[];
}

/** Everything a bench run measured. */
export interface StdioLifecycleReport {
  readonly node: string;
  readonly cpus: number;
  /** 1-minute load average at the start and end. */
  readonly loadAverage: readonly [number, number];
  readonly runs: number;
  readonly calls: number;
  readonly exitTimeoutMs: number;
  readonly overlapAfterMs: number;
  readonly variants: ReadonlyArray<LifecycleVariant & { readonly samples: readonly LifecycleSample[] }>;
}

/** Runs the bench. */
export async function runStdioLifecycleBench(options: StdioLifecycleBenchOptions = {}): Promise<StdioLifecycleReport> {
  const runs = options.runs ?? (options.quick === true ? 3 : 7);
  const calls = options.calls ?? 4;
  const exitTimeoutMs = options.exitTimeoutMs ?? 15_000;
  const overlapAfterMs = options.overlapAfterMs ?? 3000;
  const collectors = options.collectors ?? DEFAULT_LIFECYCLE_COLLECTORS;
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const loadStart = loadavg()[0]!;

  const variants: Array<LifecycleVariant & { samples: LifecycleSample[] }> = [];
  for (const mode of options.modes ?? LIFECYCLE_MODES) {
    const sessionCalls = mode === 'calls' ? calls : 0;
    const text = mode === 'init' ? 'initialize only' : mode === 'idle' ? 'idle' : `${calls} calls`;
    variants.push({ name: `bare, ${text}`, collector: undefined, host: 'import', mode, calls: sessionCalls, samples: [] });
    for (const collector of collectors)
      variants.push({
        name: `--import, ${COLLECTOR_TEXT[collector]}, ${text}`,
        collector,
        host: 'import',
        mode,
        calls: sessionCalls,
        samples: [],
      });
    // mcplens wrap, for servers in any language: the same server observed from outside its process.
    if (collectors.includes('up'))
      variants.push({ name: `wrap, ${COLLECTOR_TEXT.up}, ${text}`, collector: 'up', host: 'wrap', mode, calls: sessionCalls, samples: [] });
  }

  // Warm the file-system cache and V8's code cache of both process kinds: not measured.
  log('stdio lifecycle: warm-up (not measured)');
  // A short exit bound: only the loading matters here.
  for (const variant of [variants.find((v) => v.collector === undefined), variants.find((v) => v.collector !== undefined)]) {
    if (variant !== undefined) await measure(variant, -1, 3000, () => undefined);
  }

  const pending: Array<Promise<void>> = [];
  for (let run = 0; run < runs; run++) {
    const order = variants.map((_, i) => variants[(i + run) % variants.length]!);
    for (const variant of order) {
      let release: () => void = () => undefined;
      const mayContinue = new Promise<void>((resolve) => (release = resolve));
      const session = measure(variant, run, exitTimeoutMs, () => {
        if (Number.isFinite(overlapAfterMs)) setTimeout(release, overlapAfterMs).unref();
      }).then((sample) => {
        variant.samples.push(sample);
        const exit = sample.exitMs === undefined ? `did not exit within ${exitTimeoutMs} ms` : `exit ${Math.round(sample.exitMs)} ms`;
        log(
          `  run ${run + 1}/${runs}  ${variant.name.padEnd(36)} first answer ${fmtMs(sample.firstAnswerMs)}  ${exit}${sample.problems.length > 0 ? `  [${sample.problems.join('; ')}]` : ''}`,
        );
      });
      pending.push(session);
      await Promise.race([session, mayContinue]);
    }
  }
  await Promise.all(pending);
  for (const variant of variants) variant.samples.sort((a, b) => a.run - b.run);
  return {
    node: process.version,
    cpus: cpus().length,
    loadAverage: [round1(loadStart), round1(loadavg()[0]!)],
    runs,
    calls,
    exitTimeoutMs,
    overlapAfterMs,
    variants,
  };
}

async function measure(variant: LifecycleVariant, run: number, exitTimeoutMs: number, onStdinClosed: () => void): Promise<LifecycleSample> {
  const collector = await startCollectorVariant(variant.collector === undefined ? 'down' : HARNESS_KIND[variant.collector]);
  let session: StdioSessionResult;
  try {
    session = await runStdioSession({
      server: SERVER_MEMORY,
      instrumented: variant.collector !== undefined,
      host: variant.host,
      listTools: variant.mode !== 'init',
      calls: variant.calls,
      // Nothing else: mcplens' defaults, as a user who adds only the flag gets them.
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint },
      exitTimeoutMs,
      onStdinClosed,
    });
  } finally {
    // The sample is taken after the close: the collector has then ingested what it was sent.
    await collector.close();
  }
  const counts = await collector.counts();
  return {
    run,
    firstAnswerMs: session.firstAnswerMs,
    exitMs: session.exitMs,
    exitCode: session.exitCode,
    exitSignal: session.exitSignal,
    requests: session.requests.length,
    spans: variant.collector === 'up' ? counts.spans : undefined,
    problems: session.problems,
  };
}

/** Median of values where undefined (no answer, no exit) counts as larger than any value. */
function censoredMedian(values: ReadonlyArray<number | undefined>): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return median;
}

/** Per run, variant minus the bare session of the same run and mode; the median of those. */
function pairedMedian(
  report: StdioLifecycleReport,
  variant: LifecycleVariant & { samples: readonly LifecycleSample[] },
  pick: (s: LifecycleSample) => number | undefined,
): number | undefined {
  const bare = report.variants.find((v) => v.collector === undefined && v.mode === variant.mode);
  if (bare === undefined) return undefined;
  const diffs: Array<number | undefined> = [];
  for (const sample of variant.samples) {
    const base = bare.samples.find((s) => s.run === sample.run);
    const a = pick(sample);
    const b = base === undefined ? undefined : pick(base);
    if (b === undefined) continue;
    diffs.push(a === undefined ? undefined : a - b);
  }
  return censoredMedian(diffs);
}

/** The figures as tables and target verdicts. */
export function formatStdioLifecycleReport(report: StdioLifecycleReport): string {
  const out: string[] = [];
  out.push(
    `stdio server start-up and exit: ${SERVER_MEMORY.label} over pipes, median of ${report.runs} interleaved runs (node ${report.node}, ${report.cpus} CPUs, load average ${report.loadAverage[0]} -> ${report.loadAverage[1]})`,
  );
  out.push(
    `first answer: spawn to the initialize response; exit: stdin closed to the process' end (killed after ${report.exitTimeoutMs} ms: "did not exit")`,
  );
  out.push('');
  const header = ['variant', 'first answer', 'vs bare', '+paired', 'exit', 'vs bare', '+paired', 'max exit', 'no exit', 'spans/requests'];
  const rows: string[][] = [];
  for (const variant of report.variants) {
    const bare = report.variants.find((v) => v.collector === undefined && v.mode === variant.mode)!;
    const first = censoredMedian(variant.samples.map((s) => s.firstAnswerMs));
    const exit = censoredMedian(variant.samples.map((s) => s.exitMs));
    const bareFirst = censoredMedian(bare.samples.map((s) => s.firstAnswerMs));
    const bareExit = censoredMedian(bare.samples.map((s) => s.exitMs));
    const isBare = variant.collector === undefined;
    const exits = variant.samples.map((s) => s.exitMs);
    const maxExit = exits.some((e) => e === undefined) ? undefined : Math.max(...(exits as number[]));
    const notExited = exits.filter((e) => e === undefined).length;
    const spans =
      variant.collector === 'up' ? `${sum(variant.samples.map((s) => s.spans ?? 0))}/${sum(variant.samples.map((s) => s.requests))}` : '-';
    rows.push([
      variant.name,
      fmtMs(first, report.exitTimeoutMs),
      isBare ? '' : ratio(first, bareFirst),
      isBare ? '' : signedMs(pairedMedian(report, variant, (s) => s.firstAnswerMs)),
      fmtMs(exit, report.exitTimeoutMs),
      isBare ? '' : ratio(exit, bareExit),
      isBare
        ? ''
        : signedMs(
            pairedMedian(report, variant, (s) => s.exitMs),
            report.exitTimeoutMs,
          ),
      fmtMs(maxExit, report.exitTimeoutMs),
      `${notExited}/${variant.samples.length}`,
      spans,
    ]);
  }
  out.push(table(header, rows));
  out.push('');
  out.push(
    '"vs bare": ratio of the medians; "+paired": median over runs of (variant - bare of the same run and mode); ">N": the median run did not exit within N ms.',
  );
  out.push('');
  out.push('targets');
  out.push('');
  for (const verdict of lifecycleVerdicts(report))
    out.push(`  ${verdict.met === undefined ? 'n/a ' : verdict.met ? 'met ' : 'MISS'}  ${verdict.text}`);
  return out.join('\n');
}

/** One target's verdict. */
export interface LifecycleVerdict {
  readonly met: boolean | undefined;
  readonly text: string;
}

/** The verdicts on those targets. */
export function lifecycleVerdicts(report: StdioLifecycleReport): LifecycleVerdict[] {
  const verdicts: LifecycleVerdict[] = [];
  const instrumented = report.variants.filter((v) => v.collector !== undefined);
  // First answer: every instrumented session against its run's bare session of the same mode, per host.
  for (const host of ['import', 'wrap'] as const) {
    const firstDiffs: Array<number | undefined> = [];
    for (const variant of instrumented.filter((v) => v.host === host)) {
      const bare = report.variants.find((v) => v.collector === undefined && v.mode === variant.mode)!;
      for (const sample of variant.samples) {
        const base = bare.samples.find((s) => s.run === sample.run)?.firstAnswerMs;
        if (base !== undefined) firstDiffs.push(sample.firstAnswerMs === undefined ? undefined : sample.firstAnswerMs - base);
      }
    }
    if (firstDiffs.length === 0) continue;
    const firstAdded = censoredMedian(firstDiffs);
    verdicts.push({
      met: firstAdded === undefined ? undefined : firstAdded <= LIFECYCLE_TARGETS.firstAnswerAddedMs,
      text: `${host === 'import' ? '--import' : 'mcplens wrap'} adds to the first answer (median of ${firstDiffs.length} paired sessions): ${signedMs(firstAdded)} (target <= ${LIFECYCLE_TARGETS.firstAnswerAddedMs} ms)`,
    });
  }
  for (const variant of instrumented) {
    const label = `${variant.name}`;
    if (variant.collector === 'up') {
      const added = pairedMedian(report, variant, (s) => s.exitMs);
      verdicts.push({
        met: added === undefined ? false : added <= LIFECYCLE_TARGETS.exitAddedLiveMs,
        text: `${label}: exit after stdin closes, paired median vs bare: ${signedMs(added, report.exitTimeoutMs)} (target <= +${LIFECYCLE_TARGETS.exitAddedLiveMs} ms)`,
      });
    } else {
      const exits = variant.samples.map((s) => s.exitMs);
      const worst = exits.some((e) => e === undefined) ? undefined : Math.max(...(exits as number[]));
      const notExited = exits.filter((e) => e === undefined).length;
      verdicts.push({
        met: worst !== undefined && worst <= LIFECYCLE_TARGETS.exitWorstDeadMs,
        text: `${label}: worst exit after stdin closes: ${worst === undefined ? `${notExited} of ${exits.length} did not exit within ${report.exitTimeoutMs} ms` : `${Math.round(worst)} ms`} (target <= ${LIFECYCLE_TARGETS.exitWorstDeadMs} ms)`,
      });
    }
  }
  return verdicts;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function fmtMs(ms: number | undefined, censorMs?: number): string {
  if (ms === undefined) return '-';
  if (!Number.isFinite(ms)) return censorMs === undefined ? 'none' : `>${censorMs}`;
  return `${Math.round(ms)} ms`;
}

function signedMs(ms: number | undefined, censorMs?: number): string {
  if (ms === undefined) return '-';
  if (!Number.isFinite(ms)) return censorMs === undefined ? 'none' : `>+${censorMs} ms`;
  const rounded = Math.round(ms);
  return `${rounded >= 0 ? '+' : ''}${rounded} ms`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b <= 0) return '-';
  if (!Number.isFinite(a)) return 'inf';
  return `${(a / b).toFixed(2)}x`;
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Parses this bench's flags; unprefixed when run alone, `--lifecycle-*` (with `=`) under bench/run. Other flags are ignored. */
export function parseStdioLifecycleArgs(argv: readonly string[]): { options: StdioLifecycleBenchOptions; json: string | undefined } {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      collectors: { type: 'string' },
      modes: { type: 'string' },
      serial: { type: 'boolean', default: false },
      json: { type: 'string' },
      'lifecycle-runs': { type: 'string' },
      'lifecycle-collectors': { type: 'string' },
      'lifecycle-modes': { type: 'string' },
      'lifecycle-serial': { type: 'boolean', default: false },
      'lifecycle-json': { type: 'string' },
    },
    strict: false,
    allowPositionals: true,
  });
  const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  const options: StdioLifecycleBenchOptions = { quick: values.quick === true };
  const runs = text(values['lifecycle-runs']) ?? text(values.runs);
  if (runs !== undefined) {
    const n = Number(runs);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--runs must be a positive integer, got ${runs}`);
    options.runs = n;
  }
  const collectors = text(values['lifecycle-collectors']) ?? text(values.collectors);
  if (collectors !== undefined) {
    const known = COLLECTOR_KINDS.filter((k): k is LifecycleCollector => k !== 'collector');
    const list = collectors.split(',');
    for (const c of list)
      if (!(known as readonly string[]).includes(c)) throw new Error(`--collectors: unknown ${c} (known: ${known.join(', ')})`);
    options.collectors = list as LifecycleCollector[];
  }
  const modes = text(values['lifecycle-modes']) ?? text(values.modes);
  if (modes !== undefined) {
    const list = modes.split(',');
    for (const m of list)
      if (!(LIFECYCLE_MODES as readonly string[]).includes(m))
        throw new Error(`--modes: unknown ${m} (known: ${LIFECYCLE_MODES.join(', ')})`);
    options.modes = list as LifecycleMode[];
  }
  if (values.serial === true || values['lifecycle-serial'] === true) options.overlapAfterMs = Number.POSITIVE_INFINITY;
  return { options, json: text(values['lifecycle-json']) ?? text(values.json) };
}

/** Runs the bench with command-line flags and prints its tables to stdout. */
export async function mainStdioLifecycle(argv: readonly string[]): Promise<StdioLifecycleReport> {
  const { options, json } = parseStdioLifecycleArgs(argv);
  process.stderr.write('stdio lifecycle bench...\n');
  const report = await runStdioLifecycleBench(options);
  process.stdout.write(`\n${formatStdioLifecycleReport(report)}\n`);
  if (json !== undefined) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainStdioLifecycle(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
