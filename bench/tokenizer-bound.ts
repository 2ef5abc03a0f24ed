/**
 * Tokenizer bounds: how long one count takes, for pathological and ordinary payloads,
 * with plain gpt-tokenizer `countTokens` as mcplens called it before (o200k_base, default merge
 * cache: **before**) and with instrumentation/token-counter.ts `defaultTokenizer()` (pieces of at
 * most MAX_PIECE_BYTES, a small merge cache, the MAX_PAYLOAD_CHARS cap: **after**).
 *
 * Every count runs in a fresh worker thread (fresh caches; the vocabulary is loaded before the
 * clock starts) and is stopped after `--timeout-ms` (default 20 s): "before" on a long unspaced
 * piece is quadratic and would run for hours, so it is run only where it can end within that
 * time, and cases where it cannot say so instead of a figure. Wall time; the main thread idles
 * meanwhile, so the CPU column (process-wide) is the worker's.
 *
 * Run: `npx tsc -p . && node dist/bench/tokenizer-bound.js [--rounds N] [--timeout-ms MS] [--cases name,name]`
 * (N rounds: the median per cell). Table to stdout, progress to stderr.
 */
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { defaultTokenizer, MAX_PAYLOAD_CHARS, MAX_PIECE_BYTES, PayloadTooLargeError } from '../instrumentation/token-counter.js';

const MI = 1024 * 1024;

/** One payload of the bench. */
export interface TokenizerCase {
  name: string;
  /** Why "before" is not run (it would not end within the timeout), or undefined to run it. */
  skipBefore?: string;
  make: () => string;
}

/** Deterministic pseudo-random text. */
function randomText(length: number, alphabet: (r: number) => string, seed: number): string {
  // mulberry32: 32-bit integer arithmetic, so no short cycle (a float LCG repeats within 20,000 steps,
  // and a repeating text would hit the merge cache instead of measuring the merging).
  let state = seed | 0;
  const parts: string[] = [];
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    parts.push(alphabet(((t ^ (t >>> 14)) >>> 0) / 0x100000000));
  }
  return parts.join('');
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const base64 = (chars: number): string => randomText(chars, (r) => BASE64[Math.floor(r * 64)]!, 3);

/** About `chars` characters of compact JSON: an array of user records, as a tool result would hold. */
function jsonPayload(chars: number): string {
  const parts: string[] = [];
  let length = 2;
  for (let i = 0; length < chars; i++) {
    const item = JSON.stringify({
      id: i,
      name: `user ${i}`,
      email: `u${i}@example.com`,
      ok: i % 3 === 0,
      score: ((i * 7919) % 100000) / 100,
      tags: ['alpha', 'beta'],
    });
    parts.push(item);
    length += item.length + 1;
  }
  return `[${parts.join(',')}]`;
}

const QUADRATIC = 'one piece; quadratic: 100k characters took seconds, this would take hours';

/** The payloads: pathological ones (long runs, one huge word, deep JSON), the cap's edges, and the worst content per byte. */
export const TOKENIZER_CASES: readonly TokenizerCase[] = [
  { name: "'a' x 100k", make: () => 'a'.repeat(100_000) },
  { name: "'a' x 1 Mi (at the cap)", skipBefore: QUADRATIC, make: () => 'a'.repeat(MAX_PAYLOAD_CHARS) },
  { name: "'a' x 5 Mi (over the cap)", skipBefore: QUADRATIC, make: () => 'a'.repeat(5 * MI) },
  { name: 'base64 1 Mi chars (at the cap)', make: () => base64(MAX_PAYLOAD_CHARS) },
  { name: 'base64 5 MiB (over the cap)', make: () => base64(5 * MI) },
  {
    name: 'random a-z 1 Mi (one piece)',
    skipBefore: QUADRATIC,
    make: () => randomText(MI, (r) => String.fromCharCode(97 + Math.floor(r * 26)), 5),
  },
  {
    name: 'random CJK 1 Mi (one piece)',
    skipBefore: QUADRATIC,
    make: () => randomText(MI, (r) => String.fromCharCode(0x4e00 + Math.floor(r * 20000)), 7),
  },
  { name: 'JSON just under the cap', make: () => jsonPayload(MAX_PAYLOAD_CHARS - 4096) },
];

type Impl = 'before' | 'after';
interface WorkerRequest {
  bench: 'tokenizer-bound';
  impl: Impl;
  caseName: string;
}
/** What one count gave: its time, or that it was refused (over the cap), stopped or skipped. */
export interface CountFigure {
  wallMs?: number;
  cpuMs?: number;
  tokens?: number;
  refused?: boolean;
  stopped?: boolean;
  skipped?: string;
}
/** One row: a payload, counted before and after. */
export interface TokenizerBoundResult {
  name: string;
  chars: number;
  before: CountFigure;
  after: CountFigure;
}

/** Options of {@link runTokenizerBoundBench}; every field optional. */
export interface TokenizerBoundOptions {
  /** Rounds per cell (a fresh worker each); the table shows the median. Default 1. */
  rounds?: number;
  /** A count still running after this long is stopped. Default 20000 ms. */
  timeoutMs?: number;
  /** Case names to run (default all of {@link TOKENIZER_CASES}). */
  cases?: readonly string[];
  log?: (line: string) => void;
}

/** Runs every case before and after, each count in a fresh worker thread. */
export async function runTokenizerBoundBench(options: TokenizerBoundOptions = {}): Promise<TokenizerBoundResult[]> {
  const rounds = options.rounds ?? 1;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const log = options.log ?? ((): void => undefined);
  const cases = TOKENIZER_CASES.filter((c) => options.cases === undefined || options.cases.includes(c.name));
  const results: TokenizerBoundResult[] = [];
  for (const benchCase of cases) {
    const chars = benchCase.make().length;
    const figures: Record<Impl, CountFigure[]> = { before: [], after: [] };
    for (let round = 0; round < rounds; round++) {
      for (const impl of ['before', 'after'] as const) {
        if (impl === 'before' && benchCase.skipBefore !== undefined) continue;
        log(`tokenizer-bound: ${benchCase.name}, ${impl}, round ${round + 1}/${rounds}...`);
        figures[impl].push(await countInWorker({ bench: 'tokenizer-bound', impl, caseName: benchCase.name }, timeoutMs));
      }
    }
    results.push({
      name: benchCase.name,
      chars,
      before: benchCase.skipBefore !== undefined ? { skipped: benchCase.skipBefore } : median(figures.before),
      after: median(figures.after),
    });
  }
  return results;
}

function countInWorker(request: WorkerRequest, timeoutMs: number): Promise<CountFigure> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: request });
    let timer: NodeJS.Timeout | undefined;
    let ready = false;
    worker.on('message', (message: { ready: true } | CountFigure) => {
      if ('ready' in message) {
        // The vocabulary is loaded and the payload built: the clock starts now.
        ready = true;
        timer = setTimeout(() => {
          void worker.terminate();
          resolve({ stopped: true });
        }, timeoutMs);
        return;
      }
      clearTimeout(timer);
      void worker.terminate();
      resolve(message);
    });
    worker.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`tokenizer-bound worker exited with code ${code} before counting`));
    });
  });
}

/** The worker's side: load the tokenizer, build the payload, say ready, count once. */
function countOnce(request: WorkerRequest): void {
  const benchCase = TOKENIZER_CASES.find((c) => c.name === request.caseName);
  if (benchCase === undefined) throw new Error(`unknown case ${request.caseName}`);
  let count: (text: string) => number;
  if (request.impl === 'before') {
    // What defaultTokenizer() was: countTokens on gpt-tokenizer's own instance, default merge cache.
    const { countTokens } = createRequire(import.meta.url)(
      'gpt-tokenizer/encoding/o200k_base',
    ) as typeof import('gpt-tokenizer/encoding/o200k_base');
    const plainText = { disallowedSpecial: new Set<string>() };
    count = (text) => countTokens(text, plainText);
  } else {
    count = defaultTokenizer();
  }
  count('warm up: the vocabulary loads on the first count');
  const text = benchCase.make();
  parentPort?.postMessage({ ready: true });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let figure: CountFigure;
  try {
    const tokens = count(text);
    figure = { tokens };
  } catch (err) {
    if (!(err instanceof PayloadTooLargeError)) throw err;
    figure = { refused: true };
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  parentPort?.postMessage({ ...figure, wallMs, cpuMs: (cpu.user + cpu.system) / 1000 });
}

function median(figures: CountFigure[]): CountFigure {
  if (figures.length === 0) return { skipped: 'not run' };
  if (figures.some((f) => f.stopped === true)) return { stopped: true };
  const sorted = [...figures].sort((a, b) => (a.wallMs ?? 0) - (b.wallMs ?? 0));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The results as a plain-text table. */
export function formatTokenizerBoundTable(results: readonly TokenizerBoundResult[], timeoutMs = 20_000): string {
  const num = (n: number): string => Math.round(n).toLocaleString('en-US');
  const cell = (f: CountFigure): string => {
    if (f.skipped !== undefined) return 'not run';
    if (f.stopped === true) return `> ${num(timeoutMs)} ms (stopped)`;
    const time = `${num(f.wallMs ?? 0)} ms (cpu ${num(f.cpuMs ?? 0)})`;
    return f.refused === true ? `refused in ${num(f.wallMs ?? 0)} ms` : time;
  };
  const tokens = (f: CountFigure): string => (f.tokens === undefined ? '-' : num(f.tokens));
  const rows = results.map((r) => [r.name, num(r.chars), cell(r.before), cell(r.after), `${tokens(r.before)} / ${tokens(r.after)}`]);
  const header = ['payload', 'chars', 'before: plain countTokens', 'after: defaultTokenizer()', 'tokens before / after'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const notes = results.filter((r) => r.before.skipped !== undefined).map((r) => `  ${r.name}: before not run (${r.before.skipped})`);
  return [
    `Tokenizer bounds: one count per cell, wall ms in a fresh worker thread; MAX_PIECE_BYTES ${MAX_PIECE_BYTES}, MAX_PAYLOAD_CHARS ${MAX_PAYLOAD_CHARS}`,
    `Node ${process.version}, ${cpus().length} cores, load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    ...notes,
  ].join('\n');
}

/** `node dist/bench/tokenizer-bound.js [--rounds N] [--timeout-ms MS] [--cases a,b]`; also callable from bench/run.ts. */
export async function mainTokenizerBound(argv: string[]): Promise<TokenizerBoundResult[]> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string' }, 'timeout-ms': { type: 'string' }, cases: { type: 'string' } },
    strict: false,
  });
  const rounds = typeof values.rounds === 'string' ? Number(values.rounds) : 1;
  const timeoutMs = typeof values['timeout-ms'] === 'string' ? Number(values['timeout-ms']) : 20_000;
  const cases = typeof values.cases === 'string' ? values.cases.split(',') : undefined;
  const results = await runTokenizerBoundBench({ rounds, timeoutMs, cases, log: (l) => void process.stderr.write(`${l}\n`) });
  process.stdout.write(`\n${formatTokenizerBoundTable(results, timeoutMs)}\n`);
  return results;
}

if (!isMainThread && (workerData as WorkerRequest | undefined)?.bench === 'tokenizer-bound') {
  countOnce(workerData as WorkerRequest);
} else if (isMainThread && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainTokenizerBound(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`tokenizer-bound bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
