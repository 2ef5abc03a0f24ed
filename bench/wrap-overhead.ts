/**
 * What `mcplens wrap` adds to a `tools/call` over stdio. Three processes serve the same real SDK
 * server (test/fixtures/register/server-v1-static.mjs, tool `add`) and live side by side:
 *
 * - **direct**: `node server.mjs`;
 * - **relay**: `node byte-relay.mjs node server.mjs`, a Node relay that pipes bytes and parses
 *   nothing (test/fixtures/wrap/byte-relay.mjs): the floor every Node proxy pays, two pipe hops;
 * - **wrap**: `node dist/bin/mcplens.js wrap -- node server.mjs`, exporting to a live OTLP
 *   receiver on loopback (harness/otlp-receiver.ts, every span decoded), mcplens' defaults.
 *
 * A raw JSON-RPC client writes one request, waits for its answer line and repeats. After a
 * warm-up, rounds give each variant one block of sequential calls in turn (order rotated per
 * round), so the machine's drift hits all three alike; added latency is paired per round. The
 * warm-up lasts at least a few seconds: a fresh wrap spends its first seconds loading its
 * exporter and its token worker's vocabulary. Then each variant, in a fresh process warmed up
 * at the same rate, gets pipelined calls paced at a steady rate; the `tools/call` spans wrap's
 * receiver got are counted against the calls made.
 *
 * Run: `node dist/bench/wrap-overhead.js [--quick] [--rounds N] [--calls N] [--paced-seconds S]
 * [--json FILE]` (or `npm run bench`, the flags spelled `--wrap-rounds=N`, `--wrap-calls=N`,
 * `--wrap-paced-seconds=S`, `--wrap-json=FILE`; `--quick` is shared).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ATTR, MCP_METHOD } from '../contract/index.js';
import { startOtlpReceiver, type ReceivedSpan } from '../harness/otlp-receiver.js';
import { FIXTURE_V1_ENTRY, REPO_ROOT } from '../harness/stdio-session.js';
import {
  countCallSpans,
  fmt,
  paceCalls,
  processCpuSeconds,
  quantile,
  round1,
  sdkVersion,
  table,
  parseOverheadArgs,
} from './overhead-stats.js';

/** Targets (bench/README.md, "mcplens wrap overhead"). */
export const WRAP_TARGETS = {
  /** wrap's added median at most this multiple of the bare relay's. */
  maxRatioToRelay: 1.5,
  /** wrap's added median below this, in µs. */
  maxAddedMedianUs: 100,
  /** tools/call spans lost at the paced rate. */
  maxLostSpans: 0,
} as const;

const MCPLENS_BIN = join(REPO_ROOT, 'dist/bin/mcplens.js');
const BYTE_RELAY = join(REPO_ROOT, 'test/fixtures/wrap/byte-relay.mjs');

export const WRAP_VARIANTS = ['direct', 'relay', 'wrap'] as const;
export type WrapVariant = (typeof WRAP_VARIANTS)[number];

/** Options of {@link runWrapOverheadBench}; every field optional. */
export interface WrapOverheadOptions {
  /** Short run: 4 rounds of 300 calls, 2 s paced. Default false. */
  quick?: boolean;
  /** Rounds; each gives every variant one block. Default 12, quick 4. */
  rounds?: number;
  /** Sequential calls per block. Default 1000, quick 300. */
  calls?: number;
  /** Seconds of paced calls through wrap. Default 5, quick 2. */
  pacedSeconds?: number;
  /** Paced calls per second. Default 1000. */
  pacedRate?: number;
  /** Least time of the warm-up, ms (it also runs `calls` calls per variant). Default 4000 (also with quick: a fresh wrap needs it). */
  warmUpMs?: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

/** One variant's figures (latencies in µs). */
export interface WrapVariantFigures {
  readonly variant: WrapVariant;
  readonly command: string;
  readonly calls: number;
  readonly medianUs: number;
  readonly p99Us: number;
  /** Per round: this block's median minus direct's block median (absent for direct). */
  readonly addedPerRoundUs: readonly number[];
  /** Median of {@link addedPerRoundUs}. */
  readonly addedMedianUs: number | undefined;
  /**
   * CPU time (user + system, all threads) of the process the client spawned, per measured call,
   * in µs: the server itself for direct, the relay or wrap (not its server) for the others.
   * Undefined where /proc is not readable.
   */
  readonly cpuPerCallUs: number | undefined;
}

/** The paced phase of one variant, in a fresh process. */
export interface PacedFigures {
  readonly variant: WrapVariant;
  readonly targetRate: number;
  readonly seconds: number;
  readonly calls: number;
  readonly answered: number;
  /** tools/call SERVER spans the receiver got after the bounded wait (wrap only). */
  readonly spans: number | undefined;
  readonly achievedRate: number;
  readonly medianUs: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** ms waited after the last answer for the spans to arrive. */
  readonly waitedMs: number;
}

/** Everything a run measured. */
export interface WrapOverheadReport {
  readonly node: string;
  readonly cpus: number;
  readonly sdk: string;
  readonly loadAverage: readonly [number, number];
  readonly rounds: number;
  readonly callsPerBlock: number;
  readonly variants: readonly WrapVariantFigures[];
  /** tools/call spans of the sequential phase received / calls wrap relayed (warm-up included). */
  readonly sequentialSpans: { readonly spans: number; readonly calls: number };
  readonly warmUpMs: number;
  readonly paced: readonly PacedFigures[];
}

/** A stdio MCP session held open: raw newline-delimited JSON-RPC, one answer awaited per id. */
class RawStdioSession {
  private nextId = 1;
  private buffered = '';
  private readonly waiting = new Map<number, (at: bigint) => void>();
  private readonly exited: Promise<void>;
  private stderr = '';

  private constructor(
    readonly label: string,
    private readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.onData(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** CPU seconds (user + system, every thread) of the spawned process so far, from /proc; undefined elsewhere. */
  cpuSeconds(): number | undefined {
    return processCpuSeconds(this.child.pid);
  }

  /** The id the next request will carry. */
  peekNextId(): number {
    return this.nextId;
  }

  /** Spawns the command and runs initialize, notifications/initialized and tools/list. */
  static async open(label: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<RawStdioSession> {
    const child = spawn(command, [...args], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const session = new RawStdioSession(label, child);
    await session.request(
      'initialize',
      { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'claude-code', version: '1.0.0' } },
      20_000,
    );
    session.write({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await session.request('tools/list', {}, 10_000);
    return session;
  }

  /** One `tools/call add`, answered; resolves with the round trip in µs. */
  async call(timeoutMs = 10_000): Promise<number> {
    const id = this.nextId++;
    const answered = this.answerOf(id, timeoutMs);
    const sentAt = process.hrtime.bigint();
    this.write({ jsonrpc: '2.0', id, method: MCP_METHOD.TOOLS_CALL, params: { name: 'add', arguments: { a: id, b: 2 } } });
    return Number((await answered) - sentAt) / 1000;
  }

  /** Closes stdin and waits for the process to end (killed after `timeoutMs`). */
  async close(timeoutMs = 5000): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  private async request(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<void> {
    const id = this.nextId++;
    const answered = this.answerOf(id, timeoutMs);
    this.write({ jsonrpc: '2.0', id, method, params });
    await answered;
  }

  private answerOf(id: number, timeoutMs: number): Promise<bigint> {
    return new Promise<bigint>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.label}: no answer to request ${id} within ${timeoutMs} ms; stderr: ${this.stderr.trim()}`));
      }, timeoutMs);
      this.waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  private write(message: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  private onData(chunk: string): void {
    const at = process.hrtime.bigint();
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) !== -1) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      let id: unknown;
      try {
        id = (JSON.parse(line) as { id?: unknown }).id;
      } catch {
        continue;
      }
      if (typeof id !== 'number') continue;
      const done = this.waiting.get(id);
      this.waiting.delete(id);
      done?.(at);
    }
  }
}

function commandOf(variant: WrapVariant): { command: string; args: string[]; text: string } {
  const node = process.execPath;
  switch (variant) {
    case 'direct':
      return { command: node, args: [FIXTURE_V1_ENTRY], text: 'node server-v1-static.mjs' };
    case 'relay':
      return { command: node, args: [BYTE_RELAY, node, FIXTURE_V1_ENTRY], text: 'node byte-relay.mjs node server-v1-static.mjs' };
    case 'wrap':
      return {
        command: node,
        args: [MCPLENS_BIN, 'wrap', '--', node, FIXTURE_V1_ENTRY],
        text: 'node dist/bin/mcplens.js wrap -- node server-v1-static.mjs',
      };
  }
}

function envOf(variant: WrapVariant, endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '' };
  if (variant === 'wrap') env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  return env;
}

/** Runs the bench. */
export async function runWrapOverheadBench(options: WrapOverheadOptions = {}): Promise<WrapOverheadReport> {
  const quick = options.quick === true;
  const rounds = options.rounds ?? (quick ? 4 : 12);
  const calls = options.calls ?? (quick ? 300 : 1000);
  const pacedSeconds = options.pacedSeconds ?? (quick ? 2 : 5);
  const pacedRate = options.pacedRate ?? 1000;
  const warmUpMs = options.warmUpMs ?? 4000;
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const loadStart = loadavg()[0]!;

  const receiver = await startOtlpReceiver();
  const sessions = new Map<WrapVariant, RawStdioSession>();
  const samples = new Map<WrapVariant, number[]>(WRAP_VARIANTS.map((v) => [v, []]));
  const blockMedians = new Map<WrapVariant, number[]>(WRAP_VARIANTS.map((v) => [v, []]));
  let wrapCalls = 0;
  const cpuStart = new Map<WrapVariant, number | undefined>();
  const cpuPerCall = new Map<WrapVariant, number>();
  try {
    for (const variant of WRAP_VARIANTS) {
      const { command, args } = commandOf(variant);
      sessions.set(variant, await RawStdioSession.open(variant, command, args, envOf(variant, receiver.endpoint)));
    }
    const block = async (variant: WrapVariant, count: number): Promise<number[]> => {
      const session = sessions.get(variant)!;
      const out: number[] = [];
      for (let i = 0; i < count; i++) out.push(await session.call());
      if (variant === 'wrap') wrapCalls += count;
      return out;
    };
    log(`wrap overhead: warm-up, ${calls} calls per variant and at least ${warmUpMs} ms in all (not measured)`);
    const warmStart = performance.now();
    do {
      for (const variant of WRAP_VARIANTS) await block(variant, calls);
    } while (performance.now() - warmStart < warmUpMs);
    for (const [variant, session] of sessions) cpuStart.set(variant, session.cpuSeconds());
    for (let round = 0; round < rounds; round++) {
      const order = WRAP_VARIANTS.map((_, i) => WRAP_VARIANTS[(i + round) % WRAP_VARIANTS.length]!);
      const medians: string[] = [];
      for (const variant of order) {
        const latencies = await block(variant, calls);
        samples.get(variant)!.push(...latencies);
        const median = quantile(latencies, 0.5);
        blockMedians.get(variant)!.push(median);
        medians.push(`${variant} ${round1(median)}`);
      }
      log(`  round ${round + 1}/${rounds}: block medians (us) ${medians.join(', ')}`);
    }
    for (const [variant, session] of sessions) {
      const before = cpuStart.get(variant);
      const after = session.cpuSeconds();
      if (before !== undefined && after !== undefined) cpuPerCall.set(variant, ((after - before) * 1e6) / (rounds * calls));
    }
  } finally {
    for (const session of sessions.values()) await session.close();
  }
  // wrap flushed its spans at exit: the sequential phase's count, for the record.
  const sequentialSpans = countCallSpans(receiver.spans);
  await receiver.close();

  const paced: PacedFigures[] = [];
  for (const variant of WRAP_VARIANTS) {
    log(`wrap overhead: ${variant}, fresh process, ${pacedRate} calls/s for ${warmUpMs} ms (warm-up), then for ${pacedSeconds} s`);
    paced.push(await runPaced(variant, pacedRate, pacedSeconds, warmUpMs));
  }

  const direct = blockMedians.get('direct')!;
  const variants = WRAP_VARIANTS.map((variant): WrapVariantFigures => {
    const all = samples.get(variant)!;
    const added = variant === 'direct' ? [] : blockMedians.get(variant)!.map((m, i) => m - direct[i]!);
    return {
      variant,
      command: commandOf(variant).text,
      calls: all.length,
      medianUs: quantile(all, 0.5),
      p99Us: quantile(all, 0.99),
      addedPerRoundUs: added,
      addedMedianUs: added.length === 0 ? undefined : quantile(added, 0.5),
      cpuPerCallUs: cpuPerCall.get(variant),
    };
  });
  return {
    node: process.version,
    cpus: cpus().length,
    sdk: sdkVersion(),
    loadAverage: [round1(loadStart), round1(loadavg()[0]!)],
    rounds,
    callsPerBlock: calls,
    variants,
    sequentialSpans: { spans: sequentialSpans, calls: wrapCalls },
    warmUpMs,
    paced,
  };
}

/**
 * Pipelined `tools/call`s at a steady rate through a fresh process: first for `warmUpMs` (not
 * counted), then for `seconds`; wrap's spans of the counted calls (by request id) are counted
 * after a bounded wait.
 */
async function runPaced(variant: WrapVariant, rate: number, seconds: number, warmUpMs: number): Promise<PacedFigures> {
  const receiver = await startOtlpReceiver();
  const { command, args } = commandOf(variant);
  const session = await RawStdioSession.open(`${variant} (paced)`, command, args, envOf(variant, receiver.endpoint));
  try {
    await paceCalls(() => session.call(15_000), rate, Math.round((rate * warmUpMs) / 1000));
    const firstId = session.peekNextId();
    const total = Math.round(rate * seconds);
    const { latencies, elapsedMs } = await paceCalls(() => session.call(15_000), rate, total);
    const counted = (spans: readonly ReceivedSpan[]): number =>
      countCallSpans(spans, (s) => Number(s.attributes[ATTR.JSONRPC_REQUEST_ID]) >= firstId);
    const waitStart = performance.now();
    // BatchSpanProcessor defaults: a batch leaves every 5 s or at 512 spans; allow two periods.
    if (variant === 'wrap') await receiver.waitFor((spans) => counted(spans) >= total, 12_000).catch(() => undefined);
    const waitedMs = performance.now() - waitStart;
    return {
      variant,
      targetRate: rate,
      seconds,
      calls: total,
      answered: latencies.length,
      spans: variant === 'wrap' ? counted(receiver.spans) : undefined,
      achievedRate: Math.round((latencies.length * 1000) / Math.max(elapsedMs, 1e-9)),
      medianUs: quantile(latencies, 0.5),
      p99Us: quantile(latencies, 0.99),
      maxUs: latencies.length === 0 ? Number.NaN : Math.max(...latencies),
      waitedMs: Math.round(waitedMs),
    };
  } finally {
    await session.close();
    await receiver.close();
  }
}

/** The verdicts, one line each: met or MISS. */
export function wrapTargetLines(report: WrapOverheadReport): string[] {
  const relay = report.variants.find((v) => v.variant === 'relay')!.addedMedianUs ?? Number.NaN;
  const wrap = report.variants.find((v) => v.variant === 'wrap')!.addedMedianUs ?? Number.NaN;
  const ratio = wrap / relay;
  const paced = report.paced.find((p) => p.variant === 'wrap')!;
  const lost = paced.calls - (paced.spans ?? 0);
  const verdict = (ok: boolean): string => (ok ? 'met ' : 'MISS');
  return [
    `  ${verdict(relay > 0 && ratio <= WRAP_TARGETS.maxRatioToRelay)}  wrap added median / bare relay added median: ${fmt(wrap)} us / ${fmt(relay)} us = ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} (target <= ${WRAP_TARGETS.maxRatioToRelay})`,
    `  ${verdict(wrap < WRAP_TARGETS.maxAddedMedianUs)}  wrap added median vs direct: ${fmt(wrap)} us (target < ${WRAP_TARGETS.maxAddedMedianUs} us)`,
    `  ${verdict(lost <= WRAP_TARGETS.maxLostSpans && paced.answered === paced.calls)}  tools/call spans lost at a steady ${paced.targetRate} calls/s for ${paced.seconds} s: ${lost} of ${paced.calls} (${paced.answered} answered; target ${WRAP_TARGETS.maxLostSpans})`,
  ];
}

/** The figures as a table and target verdicts. */
export function formatWrapOverheadReport(report: WrapOverheadReport): string {
  const out: string[] = [];
  out.push(
    `mcplens wrap overhead: tools/call add of server-v1-static.mjs (SDK ${report.sdk}) over stdio, one call at a time, ${report.rounds} interleaved rounds of ${report.callsPerBlock} calls per variant (node ${report.node}, ${report.cpus} CPUs, load average ${report.loadAverage[0]} -> ${report.loadAverage[1]})`,
  );
  out.push(
    `latency in us, client write to answer line; warm-up at least ${report.warmUpMs} ms; +median: per round, block median minus direct block median; median of rounds`,
  );
  out.push(
    'cpu/call: CPU time of the spawned process (the server for direct; the relay or wrap, without its server, for the others) per measured call, in us',
  );
  out.push('');
  const header = ['variant', 'median', 'p99', '+median', 'range', 'cpu/call', 'command'];
  const rows = report.variants.map((v) => [
    v.variant,
    fmt(v.medianUs),
    fmt(v.p99Us),
    fmt(v.addedMedianUs, true),
    v.addedPerRoundUs.length === 0 ? '' : `${fmt(Math.min(...v.addedPerRoundUs))}..${fmt(Math.max(...v.addedPerRoundUs))}`,
    fmt(v.cpuPerCallUs),
    v.command,
  ]);
  out.push(...table(header, rows));
  out.push('');
  const first = report.paced[0]!;
  out.push(
    `paced: pipelined calls at ${first.targetRate}/s for ${first.seconds} s, each variant in a fresh process after ${report.warmUpMs} ms at that rate; spans: tools/call spans of those calls received after a bounded wait`,
  );
  out.push('');
  out.push(
    ...table(
      ['variant', 'calls/s', 'answered', 'median', 'p99', 'max', 'spans/calls'],
      report.paced.map((p) => [
        p.variant,
        String(p.achievedRate),
        `${p.answered}/${p.calls}`,
        fmt(p.medianUs),
        fmt(p.p99Us),
        fmt(p.maxUs),
        p.spans === undefined ? '-' : `${p.spans}/${p.calls}`,
      ]),
    ),
  );
  out.push(
    `sequential phase: ${report.sequentialSpans.spans} tools/call spans received for ${report.sequentialSpans.calls} calls through wrap (flushed at its exit)`,
  );
  out.push('');
  out.push('targets');
  out.push('');
  out.push(...wrapTargetLines(report));
  return out.join('\n');
}

/** Command-line flags, alone or prefixed `--wrap-` as bench/run.ts passes them. */
export function parseWrapOverheadArgs(argv: readonly string[]): { options: WrapOverheadOptions; json: string | undefined } {
  return parseOverheadArgs(argv, 'wrap');
}

/** Runs the bench with command-line flags and prints its table to stdout. */
export async function mainWrapOverhead(argv: readonly string[]): Promise<WrapOverheadReport> {
  const { options, json } = parseWrapOverheadArgs(argv);
  process.stderr.write('wrap overhead bench...\n');
  const report = await runWrapOverheadBench(options);
  process.stdout.write(`\n${formatWrapOverheadReport(report)}\n`);
  if (json !== undefined) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainWrapOverhead(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
