/**
 * What each production guard adds to one `tools/call` when it does not trip: `ToolGuards.call`
 * with exactly one guard configured (timeout; circuit breaker; idempotency with the in-memory
 * store, a fresh key per call; authorization with a verified JWT already cached) against the same
 * `ToolGuards.call` with none configured, around a handler that resolves at once. Then the Redis
 * idempotency store's begin + complete round trip on loopback, against a real redis-server child.
 *
 * Each round runs every configuration, interleaved, for the same number of sequential awaited
 * calls; a guard's cost in that round is its CPU time per call (`process.cpuUsage()`, so waiting
 * for a core on a shared machine is not counted) minus the bare configuration's in the same round.
 * Figures: the median of those differences over rounds, and their range. Redis figures are
 * wall-clock latencies per call (p50, p99), the median over rounds.
 *
 * The targets are in µs of the machine they were set on, where canonical JSON plus SHA-256 of
 * small arguments cost about 2 µs. That reference is measured here in the same rounds (the same
 * arguments, synchronous CPU work of the kind the guards do) with the `canonicalize` library, not
 * mcplens' own canonicaliser, so that a slower guard cannot excuse itself by slowing its yardstick;
 * its ratio to 2 µs is this machine's speed factor, and each verdict compares a guard with its
 * target times that factor (the unscaled comparison and the ratio to the yardstick are printed too). A handler that reads its signal gets a new AbortSignal,
 * whose construction by Node is measured alone as that row's floor.
 *
 * Run: `npx tsc -p . && node dist/bench/guards-overhead.js [--rounds 7] [--calls 100000] [--redis-calls 3000] [--quick]`.
 * Table to stdout, progress to stderr.
 */
import { execFileSync } from 'node:child_process';
import { hash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { trace } from '@opentelemetry/api';
import canonicalize from 'canonicalize';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { createClient } from 'redis';
import type { GuardsConfig } from '../instrumentation/guards/guard-config.js';
import { beginIdempotent, RedisIdempotencyStore } from '../instrumentation/guards/idempotency/index.js';
import { ToolGuards, type GuardedCall, type Run } from '../instrumentation/guards/tool-guards.js';
import { startRedisServer } from '../test/support/redis-server.js';

const TOOL = 'transfer';
const ISSUER = 'https://auth.example.test';
const AUDIENCE = 'https://mcp.example.test/mcp';
/** The handler's answer: resolved at once, so only the guards' own work is timed. */
const ANSWER = { content: [{ type: 'text', text: 'transfer 42 accepted' }] };
const run = (): Promise<typeof ANSWER> => Promise.resolve(ANSWER);
/** A handler that reads its abort signal (as one that passes it to fetch does). */
const runReadingSignal = (signal: AbortSignal | (() => AbortSignal) | undefined): Promise<typeof ANSWER> =>
  Promise.resolve(typeof signal === 'function' && signal().aborted ? { content: [] } : ANSWER);
const failed = (settled: { ok: boolean }): boolean => !settled.ok;

/** Small write-tool arguments, as an agent sends them; `key` is fresh on every call. */
const argsFor = (i: number): Record<string, unknown> => ({
  key: `k-${i}`,
  amount: 125.5,
  currency: 'EUR',
  to: { iban: 'DE89370400440532013000', name: 'Bob Example' },
  memo: 'rent december',
});

/** One guard alone, its target, and the guards built for it. */
interface Variant {
  name: string;
  /** Target of the added CPU time per call, in µs (undefined: the bare reference). */
  targetUs: number | undefined;
  guards: ToolGuards;
  run?: Run<typeof ANSWER>;
  credentials: GuardedCall['credentials'];
}

/** What canonical JSON + SHA-256 of small arguments cost where the targets were set, in µs. */
const REFERENCE_THERE_US = 2;

/** This machine against the one the targets were set on. */
export interface Calibration {
  /** Median CPU µs of canonical JSON (`canonicalize`) + SHA-256 of the bench's arguments. */
  fingerprintUs: number;
  /** `fingerprintUs` / {@link REFERENCE_THERE_US}: above 1, this machine is slower. */
  factor: number;
  /** CPU µs of one `new AbortController().signal` (what a handler reading its signal costs at least). */
  abortSignalUs: number;
}

/** One row of the result. */
export interface GuardFigure {
  name: string;
  targetUs: number | undefined;
  /** Part of `us` that is Node's, not the guard's (the AbortSignal a handler reads). */
  floorUs?: number;
  /** Median over rounds of the CPU µs per call (for the bare row) or added over bare (for a guard). */
  us: number;
  minUs: number;
  maxUs: number;
}

export interface GuardsBenchResult {
  rounds: number;
  calls: number;
  /** CPU µs per call of `ToolGuards.call` with no guard: the reference. */
  bare: GuardFigure;
  guards: GuardFigure[];
  calibration: Calibration;
  redis: { p50Us: number; p99Us: number; pingP50Us: number; calls: number } | undefined;
  uptimeBefore: string;
  uptimeAfter: string;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`;
  }
}

/** CPU µs per call of `body`, called `calls` times. */
async function cpuUsPer(calls: number, body: (i: number) => unknown): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await body(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

/** One round of the reference and of the AbortSignal floor, CPU µs each. */
async function calibrationRound(calls: number): Promise<[number, number]> {
  let sink = 0;
  const fingerprint = await cpuUsPer(calls, (i) => (sink += hash('sha256', canonicalize(argsFor(i)) ?? 'null', 'base64url').length));
  const signal = await cpuUsPer(calls, () => (sink += new AbortController().signal.aborted ? 1 : 0));
  if (sink < 0) throw new Error('unreachable');
  return [fingerprint, signal];
}

async function signedToken(): Promise<{ token: string; spki: string }> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const token = await new SignJWT({ scope: 'orders:read orders:write', client_id: 'agent-7' })
    .setProtectedHeader({ alg: 'RS256', kid: 'rs256-1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('user-1')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { token, spki: await exportSPKI(publicKey) };
}

async function variants(token: string, spki: string): Promise<Variant[]> {
  const options = { tracer: () => trace.getTracer('bench') };
  const none: GuardsConfig = { timeoutMs: 0, circuitBreaker: false };
  const auth = new ToolGuards(
    {
      ...none,
      authorization: {
        tools: { [TOOL]: ['orders:write'] },
        token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], key: spki },
      },
    },
    options,
  );
  const credentials = { authorization: `Bearer ${token}` };
  // Verified once here: every timed call is a cache hit.
  await auth.authorization!.resolveCaller(credentials);
  return [
    { name: 'no guards (reference)', targetUs: undefined, guards: new ToolGuards(none, options), credentials: {} },
    {
      name: 'timeout only (30 s, not reached)',
      targetUs: 2,
      guards: new ToolGuards({ ...none, timeoutMs: 30_000 }, options),
      credentials: {},
    },
    {
      name: 'timeout only, handler reads the signal',
      targetUs: 2,
      guards: new ToolGuards({ ...none, timeoutMs: 30_000 }, options),
      run: runReadingSignal,
      credentials: {},
    },
    { name: 'circuit breaker only (closed)', targetUs: 2, guards: new ToolGuards({ timeoutMs: 0 }, options), credentials: {} },
    {
      name: 'idempotency only (memory, new key)',
      targetUs: 5,
      guards: new ToolGuards({ ...none, idempotency: { tools: { [TOOL]: { keyArgument: 'key' } } } }, options),
      credentials: {},
    },
    { name: 'authorization only (cached JWT)', targetUs: 2, guards: auth, credentials },
  ];
}

/** CPU ns per call of `calls` sequential awaited `ToolGuards.call`s; `offset` keeps idempotency keys fresh. */
async function cpuPerCall(variant: Variant, calls: number, offset: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    const call: GuardedCall = {
      tool: TOOL,
      args: argsFor(offset + i),
      credentials: variant.credentials,
      signal: undefined,
      recorder: undefined,
    };
    const answer = await variant.guards.call(call, variant.run ?? run, failed);
    if (answer !== ANSWER) throw new Error(`${variant.name}: a guard answered in the handler's place`);
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

async function redisRoundTrip(rounds: number, calls: number, log: (line: string) => void): Promise<GuardsBenchResult['redis']> {
  const server = await startRedisServer();
  const client = createClient({ url: server.url });
  client.on('error', (error: Error) => log(`redis: ${error.message}`));
  await client.connect();
  const store = new RedisIdempotencyStore({ client, prefix: 'bench:' });
  const beginComplete = async (i: number): Promise<void> => {
    const begun = await beginIdempotent(store, { scope: 'user-1', tool: TOOL, key: `r-${i}`, args: argsFor(i) });
    if (begun.kind !== 'run') throw new Error(`expected run, got ${begun.kind}`);
    await begun.complete(ANSWER, false);
  };
  const latencies = async (n: number, offset: number, body: (i: number) => Promise<unknown>): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await body(offset + i);
      out.push((performance.now() - start) * 1000);
    }
    return out.sort((a, b) => a - b);
  };
  try {
    const p50: number[] = [];
    const p99: number[] = [];
    const ping: number[] = [];
    await latencies(300, -1000, beginComplete);
    for (let round = 0; round < rounds; round++) {
      log(`redis round ${round + 1}/${rounds}`);
      ping.push(quantile(await latencies(calls, 0, () => client.sendCommand(['PING'])), 0.5));
      const sorted = await latencies(calls, round * calls, beginComplete);
      p50.push(quantile(sorted, 0.5));
      p99.push(quantile(sorted, 0.99));
    }
    return { p50Us: median(p50), p99Us: median(p99), pingP50Us: median(ping), calls };
  } finally {
    client.destroy();
    await server.stop();
  }
}

/** Runs the bench; `log` gets progress lines. */
export async function runGuardsBench(
  options: { rounds?: number; calls?: number; redisCalls?: number; redis?: boolean; log?: (line: string) => void } = {},
): Promise<GuardsBenchResult> {
  const rounds = options.rounds ?? 7;
  const calls = options.calls ?? 100_000;
  const log = options.log ?? (() => {});
  const uptimeBefore = uptime();
  const { token, spki } = await signedToken();
  const all = await variants(token, spki);
  const references: Array<[number, number]> = [];
  await calibrationRound(2_000);
  // Warm-up: JIT of every path, and the memory store filled to its cap so that it evicts as in a long-running server.
  for (const variant of all) await cpuPerCall(variant, 20_000, -100_000);
  const perRound = all.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    log(`guards round ${round + 1}/${rounds}`);
    // Interleaved, in a rotating order, so that a slow moment does not land on one guard only.
    for (let k = 0; k < all.length; k++) {
      const index = (k + round) % all.length;
      perRound[index]!.push(await cpuPerCall(all[index]!, calls, round * calls));
    }
    references.push(await calibrationRound(Math.min(calls, 20_000)));
  }
  const fingerprintUs = median(references.map((r) => r[0]));
  const calibration: Calibration = {
    fingerprintUs,
    factor: fingerprintUs / REFERENCE_THERE_US,
    abortSignalUs: median(references.map((r) => r[1])),
  };
  const bareNs = perRound[0]!;
  const figure = (index: number): GuardFigure => {
    const values = index === 0 ? bareNs : perRound[index]!.map((ns, round) => ns - bareNs[round]!);
    const us = values.map((ns) => ns / 1000);
    const floor = all[index]!.run === runReadingSignal ? { floorUs: calibration.abortSignalUs } : {};
    return {
      name: all[index]!.name,
      targetUs: all[index]!.targetUs,
      us: median(us),
      minUs: Math.min(...us),
      maxUs: Math.max(...us),
      ...floor,
    };
  };
  const redis = options.redis === false ? undefined : await redisRoundTrip(Math.min(rounds, 5), options.redisCalls ?? 3_000, log);
  const guards = all.slice(1).map((_, i) => figure(i + 1));
  return { rounds, calls, bare: figure(0), guards, calibration, redis, uptimeBefore, uptimeAfter: uptime() };
}

/** The table, with each guard's verdict against its target. */
export function formatGuardsTable(result: GuardsBenchResult): string {
  const fmt = (us: number): string => us.toFixed(2);
  const rows = [result.bare, ...result.guards];
  const width = Math.max(...rows.map((r) => r.name.length));
  const c = result.calibration;
  const verdict = (r: GuardFigure): string => {
    if (r.targetUs === undefined) return '';
    const own = r.us - (r.floorUs ?? 0);
    const scaled = r.targetUs * c.factor;
    // The floor is measured apart from the call; within noise of it, mcplens' part reads as about zero.
    const mcplens = r.floorUs === undefined ? '' : ` (mcplens' part ${fmt(Math.max(0, own))} µs + Node's AbortSignal ${fmt(r.floorUs)} µs)`;
    // The ratio to the yardstick is what to compare across machines and builds.
    const ratio = ` ×${fmt(r.us / c.fingerprintUs)} of the yardstick`;
    return `  target < ${r.targetUs} µs, ${fmt(scaled)} µs here: ${own < scaled ? 'met' : 'MISSED'}${mcplens}${r.us < r.targetUs ? '' : ` [unscaled: ${fmt(r.us)} ≥ ${r.targetUs}]`};${ratio}`;
  };
  const line = (r: GuardFigure): string => {
    const label = r.targetUs === undefined ? 'µs CPU/call' : 'µs added   ';
    return `${r.name.padEnd(width)}  ${fmt(r.us).padStart(6)} ${label} (rounds ${fmt(r.minUs)}..${fmt(r.maxUs)})${verdict(r)}`;
  };
  const out = [
    `guards on tools/call, not tripping: CPU time per call, median of ${result.rounds} rounds of ${result.calls} calls (node ${process.version}, ${cpus().length} CPUs)`,
    `  before: ${result.uptimeBefore}`,
    `  after:  ${result.uptimeAfter}`,
    `this machine vs the targets' (same rounds): canonical JSON (canonicalize) + SHA-256 of the arguments ${fmt(c.fingerprintUs)} µs here, about ${REFERENCE_THERE_US} µs there: speed factor ×${fmt(c.factor)}`,
    '',
    ...rows.map(line),
  ];
  if (result.redis !== undefined) {
    const r = result.redis;
    out.push(
      `redis store, loopback: begin + complete p50 ${r.p50Us.toFixed(0)} µs, p99 ${r.p99Us.toFixed(0)} µs wall (PING p50 ${r.pingP50Us.toFixed(0)} µs; ${r.calls} calls/round)`,
    );
  }
  return out.join('\n');
}

/** `node dist/bench/guards-overhead.js [--rounds N] [--calls N] [--redis-calls N] [--no-redis] [--quick]`; also run by bench/run.ts. */
export async function mainGuardsBench(argv: string[]): Promise<GuardsBenchResult> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string' },
      calls: { type: 'string' },
      'redis-calls': { type: 'string' },
      'no-redis': { type: 'boolean' },
      quick: { type: 'boolean' },
    },
    strict: false,
  });
  const quick = values.quick === true;
  const number = (value: unknown, fallback: number): number => (typeof value === 'string' ? Number(value) : fallback);
  const result = await runGuardsBench({
    rounds: number(values.rounds, quick ? 3 : 7),
    calls: number(values.calls, quick ? 20_000 : 100_000),
    redisCalls: number(values['redis-calls'], quick ? 1_000 : 3_000),
    redis: values['no-redis'] !== true,
    log: (l) => void process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`\n${formatGuardsTable(result)}\n`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainGuardsBench(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`guards bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
