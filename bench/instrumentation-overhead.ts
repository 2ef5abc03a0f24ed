/**
 * Instrumentation overhead on tools/call: each variant (bare, bare-span, mcplens, sentry)
 * and transport (in-memory, Streamable HTTP on 127.0.0.1) runs in its own child process
 * (bench/variants/child.ts). In each round the children of one transport are started
 * together and measure in turns: block after block of sequential calls, one child at a
 * time, cycling through the variants (order rotated each cycle), then each child's load
 * phases. A block is paired with the baseline's block of the same cycle, seconds apart at
 * most, so the machine's drift (large on a shared VM) cancels out. "Added" figures are the
 * median over all cycles of (variant block median - bare block median).
 *
 * Run: `npx tsc -p . && node dist/bench/instrumentation-overhead.js [--quick] [--rounds N] [--json FILE] [--cpu-prof]`
 * (or `npm run bench`, which also runs the collector ingest bench).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_VARIANTS,
  RESULT_SIZES,
  TRANSPORT_NAMES,
  VARIANT_NAMES,
  type BlockFigures,
  type ChildFigures,
  type ChildMessage,
  type ParentCommand,
  type ResultSize,
  type SequentialFigures,
  type TransportName,
  type VariantName,
} from './variants/figures.js';
import { quantile } from './variants/measure.js';

/** Per-transport load of one child in one round. */
export interface ChildLoad {
  /** Warm-up iterations (one call of each size each). */
  warmup: number;
  /** Cycles: each runs one block per variant and result size. */
  cycles: number;
  /** Most sequential calls per block. */
  blockCalls: number;
  /** Time bound of one block, ms (at least 100 calls are made). */
  blockMs: number;
  burstMs: number;
  burstConcurrency: number;
  pacedRate: number;
  pacedSeconds: number;
}

/** Options of {@link runOverheadBench}; every field optional. */
export interface OverheadBenchOptions {
  /** Short run (one round, small loads): under a minute. Default false. */
  quick?: boolean;
  /** Rounds (each runs every variant on every transport once). Default 5, quick 1. */
  rounds?: number;
  /** Default bare, bare-span, mcplens, sentry (add `mcplens-lean` to split mcplens' cost). */
  variants?: readonly VariantName[];
  transports?: readonly TransportName[];
  /** Overrides of the per-transport child load. */
  load?: Partial<Record<TransportName, Partial<ChildLoad>>>;
  /** Directory for `--cpu-prof` profiles of every child (figures are then inflated). */
  cpuProfDir?: string;
  /** Longest a child may take to answer one command (set-up, a block, the load phases) before it is killed, ms. Default 120 s. */
  childTimeoutMs?: number;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/** Aggregated figures of one variant on one transport and result size. */
export interface SizeRow {
  variant: VariantName;
  transport: TransportName;
  size: ResultSize;
  rounds: number;
  calls: number;
  spans: number;
  /** Medians over rounds, microseconds. */
  medianUs: number;
  p99Us: number;
  cpuUs: number;
  /** Median over rounds of (this - bare) in the same round; undefined for bare. */
  addedMedianUs?: number;
  addedP99Us?: number;
  addedCpuUs?: number;
  /** Smallest and largest per-round added median: the spread the noise gives. */
  addedMedianRange?: [number, number];
  /** Cycles paired with the baseline (the added median is over these). */
  pairedBlocks?: number;
}

/** Load phases of one variant on one transport, summed over rounds. */
export interface LoadRow {
  variant: VariantName;
  transport: TransportName;
  burstCalls: number;
  burstSpans: number;
  burstRate: number;
  burstConcurrency: number;
  pacedCalls: number;
  pacedSpans: number;
  pacedRate: number;
  pacedTargetRate: number;
  pacedSustainedRounds: number;
  /** Latency at the steady rate, medians over rounds, microseconds. */
  pacedMedianUs: number;
  pacedP99Us: number;
  rounds: number;
}

/** One target of the issue, checked on this run's figures. */
export interface TargetCheck {
  name: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

/** Everything one run produced. */
export interface OverheadReport {
  node: string;
  cpu: string;
  cores: number;
  date: string;
  rounds: number;
  quick: boolean;
  load: Record<TransportName, ChildLoad>;
  sizes: SizeRow[];
  loads: LoadRow[];
  targets: TargetCheck[];
  /** Variant/transport pairs whose children failed, with the reason. */
  failures: string[];
  raw: ChildFigures[];
  elapsedSeconds: number;
}

// Sized for about 5 minutes (full, 5 rounds) and under a minute (quick) on 2 busy cores;
// the time bounds keep a slow machine from stretching the run.
const FULL_LOAD: Record<TransportName, ChildLoad> = {
  memory: { warmup: 300, cycles: 6, blockCalls: 500, blockMs: 250, burstMs: 500, burstConcurrency: 32, pacedRate: 1000, pacedSeconds: 1.5 },
  http: { warmup: 100, cycles: 6, blockCalls: 150, blockMs: 250, burstMs: 500, burstConcurrency: 32, pacedRate: 1000, pacedSeconds: 1.5 },
};
const QUICK_LOAD: Record<TransportName, ChildLoad> = {
  memory: {
    warmup: 100,
    cycles: 3,
    blockCalls: 300,
    blockMs: 100,
    burstMs: 300,
    burstConcurrency: 32,
    pacedRate: 1000,
    pacedSeconds: 0.75,
  },
  http: { warmup: 20, cycles: 3, blockCalls: 100, blockMs: 150, burstMs: 300, burstConcurrency: 32, pacedRate: 1000, pacedSeconds: 0.75 },
};

const CHILD_SCRIPT = fileURLToPath(new URL('./variants/child.js', import.meta.url));

/** Runs the rounds and aggregates. Children measure one at a time. */
export async function runOverheadBench(options: OverheadBenchOptions = {}): Promise<OverheadReport> {
  const started = performance.now();
  const quick = options.quick ?? false;
  const rounds = options.rounds ?? (quick ? 1 : 5);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`runOverheadBench: rounds must be a positive integer, got ${rounds}`);
  const variants = options.variants ?? DEFAULT_VARIANTS;
  const transports = options.transports ?? TRANSPORT_NAMES;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = quick ? QUICK_LOAD : FULL_LOAD;
  const load = {
    memory: { ...base.memory, ...options.load?.memory },
    http: { ...base.http, ...options.load?.http },
  };
  const raw: ChildFigures[] = [];
  const byRound: Array<Map<string, ChildFigures>> = [];
  const failures: string[] = [];
  const unavailable = new Set<VariantName>();
  for (let round = 0; round < rounds; round++) {
    const results = new Map<string, ChildFigures>();
    byRound.push(results);
    for (const transport of transports) {
      log(`round ${round + 1}/${rounds}: ${transport}, ${variants.filter((v) => !unavailable.has(v)).join(', ')}...`);
      const fail = (variant: VariantName, err: unknown): void => {
        const reason = err instanceof Error ? err.message : String(err);
        failures.push(`${variant}/${transport} (round ${round + 1}): ${reason}`);
        log(`  ${variant} failed: ${reason.split('\n')[0]}`);
        // A variant that cannot load (mcplens while instrumentation/ does not build) fails every time.
        if (/Cannot find module|ERR_MODULE_NOT_FOUND|SyntaxError/.test(reason)) unavailable.add(variant);
      };
      const figures = await runRound(
        variants.filter((v) => !unavailable.has(v)),
        transport,
        load[transport],
        round,
        options.cpuProfDir,
        options.childTimeoutMs ?? 120_000,
        fail,
      );
      for (const f of figures) {
        results.set(key(f.variant, transport), f);
        raw.push(f);
      }
    }
  }
  const sizes = aggregateSizes(byRound, variants, transports);
  const loads = aggregateLoads(byRound, variants, transports);
  return {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    date: new Date().toISOString(),
    rounds,
    quick,
    load,
    sizes,
    loads,
    targets: checkTargets(sizes, loads, byRound),
    failures,
    raw,
    elapsedSeconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

function key(variant: VariantName, transport: TransportName): string {
  return `${variant}/${transport}`;
}

/**
 * One round on one transport: every variant's child started, warmed up in turn, then
 * `cycles` cycles of blocks (for each result size, one block per variant, the variant order
 * rotated every cycle and the size order every other), then each child's load phases.
 * A child that fails is reported through `fail` and left out of the rest of the round.
 */
async function runRound(
  variants: readonly VariantName[],
  transport: TransportName,
  load: ChildLoad,
  round: number,
  cpuProfDir: string | undefined,
  timeoutMs: number,
  fail: (variant: VariantName, err: unknown) => void,
): Promise<ChildFigures[]> {
  const children = new Map<VariantName, BenchChild>();
  const blocks = new Map<VariantName, Record<ResultSize, BlockFigures[]>>();
  const drop = (variant: VariantName, err: unknown): void => {
    fail(variant, err);
    children.get(variant)?.kill();
    children.delete(variant);
  };
  // Started together (set-up is not measured), then each waited for.
  const starting = variants.map((variant) => [variant, BenchChild.start(variant, transport, load, cpuProfDir, timeoutMs)] as const);
  for (const [variant, start] of starting) {
    try {
      children.set(variant, await start);
      blocks.set(variant, { '100B': [], '10KB': [] });
    } catch (err) {
      fail(variant, err);
    }
  }
  const each = async (order: readonly VariantName[], act: (child: BenchChild, variant: VariantName) => Promise<void>): Promise<void> => {
    for (const variant of order) {
      const child = children.get(variant);
      if (child === undefined) continue;
      try {
        await act(child, variant);
      } catch (err) {
        drop(variant, err);
      }
    }
  };
  await each(variants, (child) => child.ask({ type: 'warmup' }, 'warmed').then(() => undefined));
  // Cycle -1 settles each child into the turn-taking (its first block after the warm-up's
  // full collection runs two to three times slower) and is not counted.
  for (let cycle = -1; cycle < load.cycles; cycle++) {
    const shift = round + cycle + 1;
    const order = variants.map((_, i) => variants[(i + shift) % variants.length]!);
    const sizes = cycle % 2 === 0 ? RESULT_SIZES : [...RESULT_SIZES].reverse();
    for (const size of sizes) {
      await each(order, async (child, variant) => {
        const answer = await child.ask({ type: 'block', size, calls: load.blockCalls, maxMs: load.blockMs }, 'block');
        if (cycle >= 0) blocks.get(variant)![size].push(answer.figures);
      });
    }
  }
  const loads = new Map<VariantName, Extract<ChildMessage, { type: 'load' }>>();
  await each(variants, async (child, variant) => {
    loads.set(variant, await child.ask({ type: 'load' }, 'load'));
  });
  const figures: ChildFigures[] = [];
  await each(variants, async (child, variant) => {
    const done = await child.ask({ type: 'finish' }, 'done');
    await child.exited();
    const own = blocks.get(variant)!;
    const loadFigures = loads.get(variant)!;
    figures.push({
      variant,
      transport,
      node: process.version,
      sequential: { '100B': mergeBlocks(own['100B']), '10KB': mergeBlocks(own['10KB']) },
      blockMediansUs: { '100B': own['100B'].map(blockMedianUs), '10KB': own['10KB'].map(blockMedianUs) },
      burst: loadFigures.burst,
      paced: loadFigures.paced,
      allSpans: done.allSpans,
    });
  });
  for (const child of children.values()) child.kill();
  return figures;
}

function blockMedianUs(block: BlockFigures): number {
  return round1(
    quantile(
      [...block.latenciesMs].sort((a, b) => a - b),
      0.5,
    ) * 1000,
  );
}

/** A round's blocks of one size as one phase: quantiles over all latencies, CPU over all calls. */
function mergeBlocks(blocks: readonly BlockFigures[]): SequentialFigures {
  const latencies = blocks.flatMap((b) => b.latenciesMs).sort((a, b) => a - b);
  const calls = latencies.length;
  return {
    calls,
    medianUs: round1(quantile(latencies, 0.5) * 1000),
    p99Us: round1(quantile(latencies, 0.99) * 1000),
    cpuUs: calls === 0 ? NaN : round1(blocks.reduce((s, b) => s + b.cpuTotalUs, 0) / calls),
    spans: blocks.reduce((s, b) => s + b.spans, 0),
  };
}

/** One variant's child process, driven over IPC: one command at a time, each answered once. */
class BenchChild {
  private waiting: { type: ChildMessage['type']; resolve: (message: ChildMessage) => void; reject: (err: Error) => void } | undefined;
  private stderr = '';
  private exitCode: number | null | undefined;
  private readonly exitWaiters: Array<() => void> = [];

  private constructor(
    private readonly process: ChildProcess,
    private readonly timeoutMs: number,
  ) {
    process.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      // Keep the tail only: a chatty child must not fill the parent's memory.
      this.stderr = (this.stderr + chunk).slice(-8000);
    });
    process.on('message', (message: ChildMessage) => {
      const waiting = this.waiting;
      if (waiting === undefined) return;
      this.waiting = undefined;
      if (message.type === waiting.type) waiting.resolve(message);
      else waiting.reject(new Error(`expected ${waiting.type}, got ${message.type}`));
    });
    process.on('exit', (code) => {
      this.exitCode = code;
      this.waiting?.reject(new Error(`exit code ${code}: ${this.stderr.trim().split('\n').slice(0, 6).join('\n')}`));
      this.waiting = undefined;
      this.exitWaiters.splice(0).forEach((w) => w());
    });
    process.on('error', (err) => {
      this.waiting?.reject(err);
      this.waiting = undefined;
    });
  }

  static async start(
    variant: VariantName,
    transport: TransportName,
    load: ChildLoad,
    cpuProfDir: string | undefined,
    timeoutMs: number,
  ): Promise<BenchChild> {
    const nodeArgs = ['--expose-gc'];
    if (cpuProfDir !== undefined)
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${variant}-${transport}-${Date.now()}.cpuprofile`);
    const args = [
      ...nodeArgs,
      CHILD_SCRIPT,
      `--variant=${variant}`,
      `--transport=${transport}`,
      `--warmup=${load.warmup}`,
      `--burst-ms=${load.burstMs}`,
      `--burst-concurrency=${load.burstConcurrency}`,
      `--paced-rate=${load.pacedRate}`,
      `--paced-seconds=${load.pacedSeconds}`,
    ];
    const child = new BenchChild(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }), timeoutMs);
    await child.expect('ready');
    return child;
  }

  /** Sends a command and waits for its answer of type `answer`. */
  async ask<T extends ChildMessage['type']>(command: ParentCommand, answer: T): Promise<Extract<ChildMessage, { type: T }>> {
    const reply = this.expect(answer);
    this.process.send(command);
    return reply;
  }

  exited(): Promise<void> {
    if (this.exitCode !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  kill(): void {
    if (this.exitCode === undefined) this.process.kill('SIGKILL');
  }

  private expect<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    if (this.exitCode !== undefined) return Promise.reject(new Error(`the child has exited (code ${this.exitCode})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        this.kill();
        reject(new Error(`no ${type} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiting = {
        type,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message as Extract<ChildMessage, { type: T }>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
    });
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

function aggregateSizes(
  byRound: Array<Map<string, ChildFigures>>,
  variants: readonly VariantName[],
  transports: readonly TransportName[],
): SizeRow[] {
  const rows: SizeRow[] = [];
  for (const transport of transports) {
    for (const size of RESULT_SIZES) {
      for (const variant of variants) {
        const own = byRound.map((r) => r.get(key(variant, transport))?.sequential[size]).filter((f) => f !== undefined);
        if (own.length === 0) continue;
        const row: SizeRow = {
          variant,
          transport,
          size,
          rounds: own.length,
          calls: own.reduce((s, f) => s + f.calls, 0),
          spans: own.reduce((s, f) => s + f.spans, 0),
          medianUs: round1(median(own.map((f) => f.medianUs))),
          p99Us: round1(median(own.map((f) => f.p99Us))),
          cpuUs: round1(median(own.map((f) => f.cpuUs))),
        };
        if (variant !== 'bare') {
          // Each block against the baseline's block of the same cycle: seconds apart, same machine state.
          const perRound: number[] = [];
          const allPairs: number[] = [];
          const roundPairs = byRound
            .map((r) => [r.get(key(variant, transport)), r.get(key('bare', transport))] as const)
            .filter((p): p is readonly [ChildFigures, ChildFigures] => p[0] !== undefined && p[1] !== undefined);
          for (const [v, b] of roundPairs) {
            const own = v.blockMediansUs[size];
            const bare = b.blockMediansUs[size];
            const diffs = own.slice(0, bare.length).map((m, i) => m - bare[i]!);
            if (diffs.length === 0) continue;
            allPairs.push(...diffs);
            perRound.push(median(diffs));
          }
          if (allPairs.length > 0) {
            row.addedMedianUs = round1(median(allPairs));
            row.pairedBlocks = allPairs.length;
            row.addedMedianRange = [round1(Math.min(...perRound)), round1(Math.max(...perRound))];
            row.addedP99Us = round1(median(roundPairs.map(([v, b]) => v.sequential[size].p99Us - b.sequential[size].p99Us)));
            row.addedCpuUs = round1(median(roundPairs.map(([v, b]) => v.sequential[size].cpuUs - b.sequential[size].cpuUs)));
          }
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

function aggregateLoads(
  byRound: Array<Map<string, ChildFigures>>,
  variants: readonly VariantName[],
  transports: readonly TransportName[],
): LoadRow[] {
  const rows: LoadRow[] = [];
  for (const transport of transports) {
    for (const variant of variants) {
      const own = byRound.map((r) => r.get(key(variant, transport))).filter((f) => f !== undefined);
      if (own.length === 0) continue;
      rows.push({
        variant,
        transport,
        rounds: own.length,
        burstCalls: own.reduce((s, f) => s + f.burst.calls, 0),
        burstSpans: own.reduce((s, f) => s + f.burst.spans, 0),
        burstRate: Math.round(median(own.map((f) => f.burst.rate))),
        burstConcurrency: own[0]!.burst.concurrency,
        pacedCalls: own.reduce((s, f) => s + f.paced.calls, 0),
        pacedSpans: own.reduce((s, f) => s + f.paced.spans, 0),
        pacedRate: Math.round(median(own.map((f) => f.paced.rate))),
        pacedTargetRate: own[0]!.paced.targetRate,
        pacedSustainedRounds: own.filter((f) => f.paced.sustained).length,
        pacedMedianUs: round1(median(own.map((f) => f.paced.medianUs))),
        pacedP99Us: round1(median(own.map((f) => f.paced.p99Us))),
      });
    }
  }
  return rows;
}

/** "No more latency": 10 KB may add this much more than 100 B before it counts as more. */
const SAME_LATENCY_TOLERANCE_US = 2;

/** A median and its distribution-free 95% confidence interval (undefined below 6 values: none exists). */
export interface MedianInterval {
  median: number;
  interval: [number, number] | undefined;
  n: number;
}

/**
 * Indexes (0-based, into sorted values) of the order statistics that bound a median with at
 * least 95% confidence: the largest k with P(Binomial(n, 1/2) < k) <= 2.5%, then
 * [x(k), x(n-k+1)] in 1-based ranks. Exact, not the normal approximation.
 */
export function medianIntervalRanks(n: number): [number, number] | undefined {
  let p = 0.5 ** n; // P(X = 0)
  let below = 0; // P(X < k)
  let k = 0;
  while (k < n && below + p <= 0.025) {
    below += p;
    p = (p * (n - k)) / (k + 1);
    k++;
  }
  return k === 0 ? undefined : [k - 1, n - k];
}

/**
 * How much more a 10 KB result adds than a 100 B one, per cycle: (variant − reference at 10 KB)
 * − (variant − reference at 100 B), the four blocks of one cycle measured within a second or
 * two. The median over all cycles, with its 95% interval, so noise is stated rather than
 * guessed. Against `bare-span` as the reference, what any span brings with a larger result
 * (more garbage to collect with a bigger heap, say) cancels too.
 */
export function sizeDifference(
  byRound: Array<Map<string, ChildFigures>>,
  variant: VariantName,
  transport: TransportName,
  reference: VariantName = 'bare',
): MedianInterval | undefined {
  const diffs: number[] = [];
  for (const round of byRound) {
    const own = round.get(key(variant, transport))?.blockMediansUs;
    const bare = round.get(key(reference, transport))?.blockMediansUs;
    if (own === undefined || bare === undefined) continue;
    const cycles = Math.min(own['100B'].length, own['10KB'].length, bare['100B'].length, bare['10KB'].length);
    for (let c = 0; c < cycles; c++) diffs.push(own['10KB'][c]! - bare['10KB'][c]! - (own['100B'][c]! - bare['100B'][c]!));
  }
  const n = diffs.length;
  if (n === 0) return undefined;
  diffs.sort((a, b) => a - b);
  const ranks = medianIntervalRanks(n);
  return {
    median: round1(median(diffs)),
    interval: ranks === undefined ? undefined : [round1(diffs[ranks[0]]!), round1(diffs[ranks[1]]!)],
    n,
  };
}

function intervalText(m: MedianInterval): string {
  return m.interval === undefined ? `no 95% interval from ${m.n} cycles` : `95% CI ${m.interval[0]}..${m.interval[1]}, ${m.n} cycles`;
}

function checkTargets(sizes: readonly SizeRow[], loads: readonly LoadRow[], byRound: Array<Map<string, ChildFigures>>): TargetCheck[] {
  const find = (variant: VariantName, transport: TransportName, size: ResultSize): SizeRow | undefined =>
    sizes.find((r) => r.variant === variant && r.transport === transport && r.size === size);
  const checks: TargetCheck[] = [];
  for (const transport of TRANSPORT_NAMES) {
    for (const size of RESULT_SIZES) {
      const lens = find('mcplens', transport, size)?.addedMedianUs;
      const span = find('bare-span', transport, size)?.addedMedianUs;
      if (lens === undefined || span === undefined) continue;
      const ratio = span > 0 ? lens / span : Infinity;
      checks.push({
        name: `mcplens added median / bare-span added median (${transport}, ${size})`,
        value: `${lens} us / ${span} us = ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a (floor <= 0)'}`,
        target: '<= 1.5',
        met: span > 0 ? ratio <= 1.5 : lens <= 0,
      });
    }
  }
  // The agent's side costs at most what the server side adds (same run, same transport and size).
  for (const transport of TRANSPORT_NAMES) {
    for (const size of RESULT_SIZES) {
      const client = find('mcplens-client', transport, size)?.addedMedianUs;
      const server = find('mcplens', transport, size)?.addedMedianUs;
      if (client === undefined || server === undefined) continue;
      checks.push({
        name: `instrumentClient added median vs instrumentServer added median (${transport}, ${size})`,
        value: `${client} us vs ${server} us`,
        target: '<= the server side',
        met: client <= server,
      });
    }
  }
  for (const transport of TRANSPORT_NAMES) {
    const small = find('mcplens', transport, '100B')?.addedMedianUs;
    const large = find('mcplens', transport, '10KB')?.addedMedianUs;
    const own = sizeDifference(byRound, 'mcplens', transport);
    if (small === undefined || large === undefined || own === undefined) continue;
    // The floor does the same work for both sizes: what it shows, any span shows.
    const floor = sizeDifference(byRound, 'bare-span', transport);
    const beyond = sizeDifference(byRound, 'mcplens', transport, 'bare-span');
    const [low, high] = beyond?.interval ?? [-Infinity, Infinity];
    const verdict =
      beyond === undefined ? undefined : high <= SAME_LATENCY_TOLERANCE_US ? true : low > SAME_LATENCY_TOLERANCE_US ? false : undefined;
    const parts = [
      `${large} us vs ${small} us`,
      `paired per cycle, 10 KB adds ${signed(own.median)} us (${intervalText(own)})`,
      floor === undefined ? undefined : `the floor's own: ${signed(floor.median)} us (${intervalText(floor)})`,
      beyond === undefined ? undefined : `mcplens beyond the floor: ${signed(beyond.median)} us (${intervalText(beyond)})`,
      verdict === undefined ? 'undecided: the interval straddles the tolerance' : undefined,
    ];
    checks.push({
      name: `mcplens added median, 10 KB vs 100 B result (${transport})`,
      value: parts.filter((p) => p !== undefined).join('; '),
      target: `beyond what the floor shows, 10 KB adds at most ${SAME_LATENCY_TOLERANCE_US} us more: met when that interval lies at or below it, missed when above`,
      met: verdict,
    });
  }
  for (const size of RESULT_SIZES) {
    const lens = find('mcplens', 'http', size)?.addedMedianUs;
    const sentry = find('sentry', 'http', size)?.addedMedianUs;
    if (lens === undefined || sentry === undefined) continue;
    checks.push({
      name: `mcplens added HTTP median vs Sentry's (${size})`,
      value: `${lens} us vs ${sentry} us (${sentry > 0 ? (lens / sentry).toFixed(2) : 'n/a'})`,
      target: '<= 1/4 of Sentry',
      met: sentry > 0 ? lens <= sentry / 4 : undefined,
    });
  }
  for (const row of loads) {
    if (row.variant === 'bare') continue;
    if (row.variant === 'mcplens' || row.pacedSpans !== row.pacedCalls) {
      checks.push({
        name: `${row.variant} spans lost at a steady ${row.pacedTargetRate} calls/s (${row.transport})`,
        value: `${row.pacedCalls - row.pacedSpans} of ${row.pacedCalls}${row.pacedSustainedRounds < row.rounds ? ' (rate not sustained)' : ''}`,
        target: '0',
        met: row.pacedSpans === row.pacedCalls,
      });
    }
  }
  return checks;
}

function table(header: string[], rows: string[][], textColumns = 3): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function signed(value: number | undefined): string {
  if (value === undefined) return '';
  return value > 0 ? `+${value}` : String(value);
}

/** The report as text tables (what `npm run bench` prints). */
export function formatOverheadReport(report: OverheadReport): string {
  const out: string[] = [];
  out.push(
    `tools/call overhead: ${report.rounds} round(s)${report.quick ? ' (--quick)' : ''}, node ${report.node}, ${report.cores} x ${report.cpu}, ${report.date}, ${report.elapsedSeconds} s`,
  );
  out.push(
    "latency = client round trip per call (median / p99 over a round's blocks, then median over rounds), us; cpu = process CPU per call incl. deferred work and span export, us",
  );
  out.push(
    '+median = median over all cycles of (variant block median - bare block median of the same cycle); range = smallest..largest per-round value of it',
  );
  out.push('+p99, +cpu = median over rounds of (variant - bare) in the same round; blocks = cycles paired with the baseline\n');
  out.push(
    table(
      ['transport', 'result', 'variant', 'median', 'p99', 'cpu', '+median', 'range', 'blocks', '+p99', '+cpu', 'spans/calls'],
      report.sizes.map((r) => [
        r.transport,
        r.size,
        r.variant,
        String(r.medianUs),
        String(r.p99Us),
        String(r.cpuUs),
        signed(r.addedMedianUs),
        r.addedMedianRange === undefined ? '' : `${r.addedMedianRange[0]}..${r.addedMedianRange[1]}`,
        r.pairedBlocks === undefined ? '' : String(r.pairedBlocks),
        signed(r.addedP99Us),
        signed(r.addedCpuUs),
        r.variant === 'bare' ? '-' : `${r.spans}/${r.calls}`,
      ]),
    ),
  );
  out.push('\nspans exported vs calls made under load (100 B results; summed over rounds; rates are medians over rounds)\n');
  out.push(
    table(
      [
        'transport',
        'variant',
        'burst',
        'calls/s',
        'burst spans/calls',
        'paced calls/s',
        'paced spans/calls',
        'sustained',
        'paced median',
        'paced p99',
      ],
      report.loads.map((r) => [
        r.transport,
        r.variant,
        `${r.burstConcurrency} in flight`,
        String(r.burstRate),
        r.variant === 'bare' ? '-' : `${r.burstSpans}/${r.burstCalls}`,
        `${r.pacedRate} (target ${r.pacedTargetRate})`,
        r.variant === 'bare' ? '-' : `${r.pacedSpans}/${r.pacedCalls}`,
        `${r.pacedSustainedRounds}/${r.rounds}`,
        String(r.pacedMedianUs),
        String(r.pacedP99Us),
      ]),
      2,
    ),
  );
  out.push('\ntargets\n');
  for (const t of report.targets) {
    const verdict = t.met === undefined ? 'open' : t.met ? 'met ' : 'MISS';
    out.push(`  ${verdict}  ${t.name}: ${t.value} (target ${t.target})`);
  }
  if (report.failures.length > 0) {
    out.push('\nfailed children\n');
    for (const f of report.failures) out.push(`  ${f.split('\n')[0]}`);
  }
  return out.join('\n');
}

/** Command-line flags shared by this file and bench/run.ts. */
export function parseOverheadArgs(argv: string[]): { options: OverheadBenchOptions; json: string | undefined } {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      variants: { type: 'string' },
      transports: { type: 'string' },
      json: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const options: OverheadBenchOptions = { quick: values.quick };
  if (values.rounds !== undefined) {
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${values.rounds}`);
    options.rounds = rounds;
  }
  if (values.variants !== undefined) {
    const list = values.variants.split(',');
    for (const v of list)
      if (!(VARIANT_NAMES as readonly string[]).includes(v))
        throw new Error(`--variants: unknown variant ${v} (known: ${VARIANT_NAMES.join(', ')})`);
    if (!list.includes('bare')) list.unshift('bare'); // every "added" figure needs the baseline
    options.variants = list as VariantName[];
  }
  if (values.transports !== undefined) {
    const list = values.transports.split(',');
    for (const t of list)
      if (!(TRANSPORT_NAMES as readonly string[]).includes(t))
        throw new Error(`--transports: unknown transport ${t} (known: ${TRANSPORT_NAMES.join(', ')})`);
    options.transports = list as TransportName[];
  }
  if (values['cpu-prof']) options.cpuProfDir = mkdtempSync(join(tmpdir(), 'mcplens-bench-prof-'));
  return { options, json: values.json };
}

/** Runs the bench as a command: tables on stdout, progress on stderr. */
export async function mainOverhead(argv: string[]): Promise<OverheadReport> {
  const { options, json } = parseOverheadArgs(argv);
  if (options.cpuProfDir !== undefined)
    process.stderr.write(`CPU profiles of every child go to ${options.cpuProfDir} (figures are inflated by profiling)\n`);
  const report = await runOverheadBench(options);
  process.stdout.write(`${formatOverheadReport(report)}\n`);
  if (json !== undefined) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainOverhead(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
