/**
 * The idempotency guard's own cost: `beginIdempotent` then `complete` per call (canonical JSON
 * of the arguments, SHA-256, storage key, claim, store) with the in-memory store, a replay, and
 * the parts alone; then the Redis store's round trips on loopback against a real redis-server
 * child (no persistence), next to a bare PING through the same client as the floor.
 *
 * Every call uses a new key (a first call: claim + complete), so the memory store reaches its
 * cap (default 10,000) and evicts from then on, as in a long-running server. Sequential awaits; median of rounds.
 * In-memory figures are CPU time per call (`process.cpuUsage()`, one process, no other thread
 * busy); Redis figures are wall-clock round trips per call (p50, p99), the median over rounds.
 *
 * Run: `npx tsc -p . && node dist/bench/idempotency-store.js [--rounds 5] [--calls 200000] [--redis-calls 5000]`.
 * Table to stdout, progress to stderr.
 */
import { hash } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import {
  beginIdempotent,
  fingerprintArguments,
  idempotencyStorageKey,
  textIdentity,
  MemoryIdempotencyStore,
  RedisIdempotencyStore,
  type IdempotencyStore,
} from '../instrumentation/guards/idempotency/index.js';
import { startRedisServer } from '../test/support/redis-server.js';

/** Small write-tool arguments, as an agent sends them. */
const ARGS = { amount: 125.5, currency: 'EUR', to: { iban: 'DE89370400440532013000', name: 'Bob Example' }, memo: 'rent december' };

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** CPU ns (user + system) per iteration of `body`: on a shared machine, wall time also counts waiting for a core. */
async function timePerCall(calls: number, body: (i: number) => Promise<unknown> | unknown): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) await body(i);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / calls;
}

async function beginComplete(store: IdempotencyStore, key: string): Promise<void> {
  const begin = await beginIdempotent(store, { scope: 'alice', tool: 'transfer', key, args: ARGS });
  if (begin.kind !== 'run') throw new Error(`expected run, got ${begin.kind}`);
  await begin.complete({ content: [{ type: 'text', text: 'transfer 42 accepted' }] }, false);
}

async function replay(store: IdempotencyStore, key: string): Promise<void> {
  const begin = await beginIdempotent(store, { scope: 'alice', tool: 'transfer', key, args: ARGS });
  if (begin.kind !== 'replay') throw new Error(`expected replay, got ${begin.kind}`);
}

interface Row {
  what: string;
  figure: string;
}

async function memoryRows(rounds: number, calls: number): Promise<Row[]> {
  const figures: Record<string, number[]> = { beginComplete: [], smallCap: [], replay: [], fingerprint: [], storageKey: [], floor: [] };
  for (let round = 0; round < rounds; round++) {
    process.stderr.write(`memory round ${round + 1}/${rounds}\n`);
    const store = new MemoryIdempotencyStore();
    // Warm-up (JIT), also fills the store to its cap.
    await timePerCall(20_000, (i) => beginComplete(store, `warm-${round}-${i}`));
    figures.beginComplete!.push(await timePerCall(calls, (i) => beginComplete(store, `k-${round}-${i}`)));
    // A small cap: records die young (scavenges) instead of in the old generation.
    const small = new MemoryIdempotencyStore({ maxRecords: 100 });
    await timePerCall(20_000, (i) => beginComplete(small, `warm-${round}-${i}`));
    figures.smallCap!.push(await timePerCall(calls, (i) => beginComplete(small, `k-${round}-${i}`)));
    const last = `k-${round}-${calls - 1}`;
    figures.replay!.push(await timePerCall(calls, () => replay(store, last)));
    figures.fingerprint!.push(await timePerCall(calls, () => fingerprintArguments(ARGS)));
    figures.floor!.push(await timePerCall(calls, () => hash('sha256', JSON.stringify(ARGS), 'base64url')));
    figures.storageKey!.push(await timePerCall(calls, (i) => idempotencyStorageKey('alice', 'transfer', `k-${i}`, textIdentity)));
  }
  const us = (ns: number[]): string =>
    `${(median(ns) / 1000).toFixed(2)} µs CPU (rounds ${ns.map((n) => (n / 1000).toFixed(2)).join(', ')})`;
  return [
    { what: 'memory: begin + complete (first call)', figure: us(figures.beginComplete!) },
    { what: 'memory, cap 100: begin + complete', figure: us(figures.smallCap!) },
    { what: 'memory: begin → replay', figure: us(figures.replay!) },
    { what: '  of which fingerprint (JCS + SHA-256)', figure: us(figures.fingerprint!) },
    { what: '  floor: JSON.stringify + SHA-256 (not canonical)', figure: us(figures.floor!) },
    { what: '  storage key, memory store (text)', figure: us(figures.storageKey!) },
  ];
}

/** Per-call latencies in µs, sorted. */
async function latencies(calls: number, body: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < calls; i++) {
    const start = performance.now();
    await body(i);
    out.push((performance.now() - start) * 1000);
  }
  return out.sort((a, b) => a - b);
}

async function redisRows(rounds: number, calls: number): Promise<Row[]> {
  const server = await startRedisServer();
  const client = createClient({ url: server.url });
  client.on('error', (error: Error) => process.stderr.write(`redis: ${error.message}\n`));
  await client.connect();
  try {
    const store = new RedisIdempotencyStore({ client, prefix: 'bench:' });
    const results: Record<string, { p50: number[]; p99: number[] }> = {
      ping: { p50: [], p99: [] },
      beginComplete: { p50: [], p99: [] },
      replay: { p50: [], p99: [] },
    };
    const record = (name: string, sorted: number[]): void => {
      results[name]!.p50.push(quantile(sorted, 0.5));
      results[name]!.p99.push(quantile(sorted, 0.99));
    };
    for (let round = 0; round < rounds; round++) {
      process.stderr.write(`redis round ${round + 1}/${rounds}\n`);
      await latencies(500, (i) => beginComplete(store, `warm-${round}-${i}`));
      record('ping', await latencies(calls, () => client.sendCommand(['PING'])));
      record('beginComplete', await latencies(calls, (i) => beginComplete(store, `k-${round}-${i}`)));
      record('replay', await latencies(calls, () => replay(store, `k-${round}-0`)));
    }
    const row = (what: string, name: string): Row => ({
      what,
      figure: `p50 ${median(results[name]!.p50).toFixed(0)} µs, p99 ${median(results[name]!.p99).toFixed(0)} µs`,
    });
    return [
      row('redis: PING through the client (floor)', 'ping'),
      row('redis: begin + complete (2 round trips)', 'beginComplete'),
      row('redis: begin → replay (1 round trip)', 'replay'),
    ];
  } finally {
    client.destroy();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      calls: { type: 'string', default: '200000' },
      'redis-calls': { type: 'string', default: '5000' },
    },
  });
  const rounds = Number(values.rounds);
  const load = loadavg()[0]!.toFixed(2);
  const rows = [...(await memoryRows(rounds, Number(values.calls))), ...(await redisRows(rounds, Number(values['redis-calls'])))];
  const out: string[] = [];
  out.push(`Node ${process.version}, ${cpus().length} CPUs, load average ${load} → ${loadavg()[0]!.toFixed(2)}, ${rounds} rounds (median)`);
  const width = Math.max(...rows.map((r) => r.what.length));
  for (const r of rows) out.push(`${r.what.padEnd(width)}  ${r.figure}`);
  out.push('');
  process.stdout.write(out.join('\n'));
}

await main();
