/**
 * The idempotency stores behind the write-tool guard, in memory and in a real redis-server:
 * run, replay, conflict, in progress, expiry, stored errors, release, scopes, leases; Redis
 * under racing replicas and killed mid-run; the memory store's bound.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import {
  beginIdempotent,
  fingerprintArguments,
  IdempotencyStoreError,
  MAX_TEXT_IDENTITY,
  MemoryIdempotencyStore,
  RedisIdempotencyStore,
  type IdempotentBegin,
  type IdempotencyStore,
  type RedisCommandSender,
  type IdempotentRun,
} from '../../instrumentation/guards/idempotency/index.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

interface StoreOptions {
  ttlMs?: number;
  leaseMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function asRun(begin: IdempotentBegin): IdempotentRun {
  if (begin.kind !== 'run') throw new Error(`expected run, got ${begin.kind}`);
  return begin;
}

let redis: RedisServer | undefined;
const clients: { destroy(): void }[] = [];

async function connectClient(url: string): Promise<RedisCommandSender> {
  // Reconnect quickly but never wait on a connection longer than the store's command timeout.
  const client = createClient({ url, socket: { connectTimeout: 1_000, reconnectStrategy: 100 } });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  for (const client of clients) client.destroy();
  await redis?.stop();
});

const storeKinds: [string, (options: StoreOptions) => Promise<IdempotencyStore>][] = [
  ['memory', (options) => Promise.resolve(new MemoryIdempotencyStore(options))],
  [
    'redis',
    async (options) => new RedisIdempotencyStore({ client: await connectClient(redis!.url), prefix: `test:${randomUUID()}:`, ...options }),
  ],
];

describe.each(storeKinds)('%s store', (_name, makeStore) => {
  const call = { scope: 'alice', tool: 'transfer', key: 'k-1', args: { amount: 10, to: { iban: 'DE00', name: 'Bob' } } };

  it('runs the first call, then replays its stored result without running again', async () => {
    const store = await makeStore({});
    const run = asRun(await beginIdempotent(store, call));
    expect(await run.complete({ content: [{ type: 'text', text: 'sent' }] }, false)).toBe(true);
    expect(await beginIdempotent(store, call)).toEqual({
      kind: 'replay',
      result: { content: [{ type: 'text', text: 'sent' }] },
      isError: false,
    });
    // Exactly one of complete/release counts.
    expect(await run.complete({ other: true }, false)).toBe(false);
    expect(await run.release()).toBe(false);
  });

  it('treats the same arguments in another key order as the same call, different arguments as a conflict', async () => {
    const store = await makeStore({});
    asRun(await beginIdempotent(store, call));
    const reordered = { ...call, args: { to: { name: 'Bob', iban: 'DE00' }, amount: 10 } };
    expect(await beginIdempotent(store, reordered)).toEqual({ kind: 'in_progress' });
    expect(await beginIdempotent(store, { ...call, args: { amount: 11, to: { iban: 'DE00', name: 'Bob' } } })).toEqual({
      kind: 'conflict',
    });
  });

  it('refuses a duplicate while the first runs, and a bounded wait ends in the replay', async () => {
    const store = await makeStore({});
    const run = asRun(await beginIdempotent(store, call));
    expect(await beginIdempotent(store, call)).toEqual({ kind: 'in_progress' });
    const waiting = beginIdempotent(store, call, { waitMs: 2_000, pollMs: 10 });
    await sleep(60);
    await run.complete('done late', false);
    expect(await waiting).toEqual({ kind: 'replay', result: 'done late', isError: false });
    // A wait that ends before the first call does is still a refusal, after about waitMs.
    asRun(await beginIdempotent(store, { ...call, key: 'k-2' }));
    const started = Date.now();
    expect(await beginIdempotent(store, { ...call, key: 'k-2' }, { waitMs: 100, pollMs: 10 })).toEqual({ kind: 'in_progress' });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('forgets a finished record after its TTL', async () => {
    const store = await makeStore({ ttlMs: 100 });
    await asRun(await beginIdempotent(store, call)).complete(1, false);
    expect((await beginIdempotent(store, call)).kind).toBe('replay');
    await sleep(250);
    expect((await beginIdempotent(store, call)).kind).toBe('run');
  });

  it('stores and replays the handler’s error answers', async () => {
    const store = await makeStore({});
    await asRun(await beginIdempotent(store, call)).complete({ content: [{ type: 'text', text: 'insufficient funds' }] }, true);
    expect(await beginIdempotent(store, call)).toEqual({
      kind: 'replay',
      result: { content: [{ type: 'text', text: 'insufficient funds' }] },
      isError: true,
    });
  });

  it('lets the next call run after a release (nothing ran)', async () => {
    const store = await makeStore({});
    expect(await asRun(await beginIdempotent(store, call)).release()).toBe(true);
    const second = asRun(await beginIdempotent(store, call));
    await second.complete('second', false);
    expect(await beginIdempotent(store, call)).toMatchObject({ kind: 'replay', result: 'second' });
  });

  it('keeps scopes and tools apart', async () => {
    const store = await makeStore({});
    await asRun(await beginIdempotent(store, call)).complete('alice', false);
    expect((await beginIdempotent(store, { ...call, scope: 'bob' })).kind).toBe('run');
    expect((await beginIdempotent(store, { ...call, scope: undefined })).kind).toBe('run');
    expect((await beginIdempotent(store, { ...call, tool: 'refund' })).kind).toBe('run');
    expect(await beginIdempotent(store, call)).toMatchObject({ kind: 'replay', result: 'alice' });
  });

  it('lets a new owner in after a lease ends, and refuses the old owner’s late complete', async () => {
    const store = await makeStore({ leaseMs: 100 });
    const first = asRun(await beginIdempotent(store, call));
    await sleep(250);
    const second = asRun(await beginIdempotent(store, call));
    expect(await first.complete('first', false)).toBe(false);
    expect(await second.complete('second', false)).toBe(true);
    expect(await beginIdempotent(store, call)).toMatchObject({ kind: 'replay', result: 'second' });
  });

  it('stores a late completion that comes within the lease', async () => {
    const store = await makeStore({ leaseMs: 5_000 });
    const run = asRun(await beginIdempotent(store, call));
    await sleep(100); // the guard's timeout answered the client meanwhile
    expect(await run.complete('late', false)).toBe(true);
    expect(await beginIdempotent(store, call)).toMatchObject({ kind: 'replay', result: 'late' });
  });
});

describe('redis store across replicas', () => {
  it('lets exactly one of racing claims from two clients win, 100 rounds', async () => {
    const prefix = `race:${randomUUID()}:`;
    const replicas = [
      new RedisIdempotencyStore({ client: await connectClient(redis!.url), prefix }),
      new RedisIdempotencyStore({ client: await connectClient(redis!.url), prefix }),
    ];
    for (let round = 0; round < 100; round++) {
      const call = { tool: 'transfer', key: `round-${round}`, args: { round } };
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => beginIdempotent(replicas[i % 2]!, call)));
      expect(outcomes.filter((o) => o.kind === 'run')).toHaveLength(1);
      expect(outcomes.filter((o) => o.kind === 'in_progress')).toHaveLength(7);
    }
  });

  it('answers unavailable (timeout) while Redis is stalled; a claim that landed late holds its key only for the lease', async () => {
    const admin = (await connectClient(redis!.url)) as RedisCommandSender;
    const store = new RedisIdempotencyStore({
      client: await connectClient(redis!.url),
      prefix: `stall:${randomUUID()}:`,
      commandTimeoutMs: 200,
      leaseMs: 1_500,
    });
    const call = { tool: 'transfer', key: 'k', args: { amount: 1 } };
    await admin.sendCommand(['CLIENT', 'PAUSE', '700', 'ALL']);
    const started = Date.now();
    const stalled = await beginIdempotent(store, call);
    expect(Date.now() - started).toBeLessThan(600);
    expect(stalled).toMatchObject({ kind: 'unavailable', error: { kind: 'timeout' } });
    // The timed-out claim was still executed once the pause ended: nobody owns it, so it blocks until its lease ends.
    await sleep(800);
    expect((await beginIdempotent(store, call)).kind).toBe('in_progress');
    await sleep(1_600);
    expect((await beginIdempotent(store, call)).kind).toBe('run');
  });

  it('answers unavailable within the command timeout when Redis is killed mid-run, and runs nothing twice', async () => {
    const own = await startRedisServer();
    try {
      const store = new RedisIdempotencyStore({ client: await connectClient(own.url), commandTimeoutMs: 300 });
      const call = { tool: 'transfer', key: 'k', args: { amount: 1 } };
      let runs = 0;
      const run = asRun(await beginIdempotent(store, call));
      runs++;
      await own.kill();

      let started = Date.now();
      const failure = await run.complete('ok', false).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(IdempotencyStoreError);
      expect(Date.now() - started).toBeLessThan(1_000);

      started = Date.now();
      const retry = await beginIdempotent(store, call);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(retry.kind).toBe('unavailable');
      if (retry.kind === 'unavailable') expect(['timeout', 'connection']).toContain(retry.error.kind);
      if (retry.kind === 'run') runs++;
      expect(runs).toBe(1);
    } finally {
      await own.kill();
    }
  });
});

describe('memory store bound', () => {
  it('evicts the oldest finished record at the cap', async () => {
    const store = new MemoryIdempotencyStore({ maxRecords: 3 });
    for (const key of ['a', 'b', 'c']) await asRun(await beginIdempotent(store, { tool: 't', key, args: {} })).complete(key, false);
    asRun(await beginIdempotent(store, { tool: 't', key: 'd', args: {} }));
    expect(store.size).toBe(3);
    expect((await beginIdempotent(store, { tool: 't', key: 'a', args: {} })).kind).toBe('run');
    expect(await beginIdempotent(store, { tool: 't', key: 'c', args: {} })).toMatchObject({ kind: 'replay', result: 'c' });
  });

  it('evicts by completion order, not by a key’s earlier, expired record', async () => {
    const store = new MemoryIdempotencyStore({ maxRecords: 3, ttlMs: 300 });
    const finish = async (key: string): Promise<void> => {
      await asRun(await beginIdempotent(store, { tool: 't', key, args: {} })).complete(key, false);
    };
    await finish('a');
    await sleep(350); // a expires
    await finish('b');
    await finish('a'); // a again, after b
    await finish('c');
    await finish('d'); // at the cap: b is the oldest finished record
    expect((await beginIdempotent(store, { tool: 't', key: 'a', args: {} })).kind).toBe('replay');
    expect((await beginIdempotent(store, { tool: 't', key: 'b', args: {} })).kind).toBe('run');
  });

  it('never evicts a claim in progress: a store full of them is unavailable (capacity)', async () => {
    const store = new MemoryIdempotencyStore({ maxRecords: 2 });
    const first = asRun(await beginIdempotent(store, { tool: 't', key: 'a', args: {} }));
    asRun(await beginIdempotent(store, { tool: 't', key: 'b', args: {} }));
    const refused = await beginIdempotent(store, { tool: 't', key: 'c', args: {} });
    expect(refused).toMatchObject({ kind: 'unavailable', error: { kind: 'capacity' } });
    expect(await first.complete('a', false)).toBe(true);
    expect((await beginIdempotent(store, { tool: 't', key: 'c', args: {} })).kind).toBe('run');
    expect((await beginIdempotent(store, { tool: 't', key: 'b', args: {} })).kind).toBe('in_progress');
  });

  it('rejects a bad bound at construction, naming it', () => {
    expect(() => new MemoryIdempotencyStore({ maxRecords: 0 })).toThrow(/maxRecords/);
  });
});

describe('argument fingerprint', () => {
  it('ignores key order at every depth and keeps array order', () => {
    expect(fingerprintArguments({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(fingerprintArguments({ b: { d: 'x', c: [1, 2] }, a: 1 }));
    expect(fingerprintArguments({ c: [1, 2] })).not.toBe(fingerprintArguments({ c: [2, 1] }));
    expect(fingerprintArguments({ n: 1 })).not.toBe(fingerprintArguments({ n: '1' }));
  });

  it('refuses arguments with no canonical form (a lone surrogate) with a TypeError', () => {
    expect(() => fingerprintArguments({ s: '\ud800' })).toThrow(TypeError);
  });
  /** A memory store that notes what `beginIdempotent` hands it; `inProcess` as given. */
  function noting(inProcess: boolean): { store: IdempotencyStore; seen: string[] } {
    const inner = new MemoryIdempotencyStore();
    const seen: string[] = [];
    const store: IdempotencyStore = {
      inProcess,
      claim: (key, fingerprint) => (seen.push(key, fingerprint), inner.claim(key, fingerprint)),
      complete: (claim, result) => inner.complete(claim, result),
      release: (claim) => inner.release(claim),
      get: (key) => (seen.push(key), inner.get(key)),
    };
    return { store, seen };
  }

  it('hands a store outside the process only SHA-256 digests, never the arguments or the scope in clear', async () => {
    const { store, seen } = noting(false);
    await beginIdempotent(store, { scope: 'alice@example.test', tool: 'refund', key: 'k-1', args: { iban: 'DE89370400440532013000' } });
    expect(seen).toHaveLength(2);
    for (const text of seen) expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('keeps short storage keys as text in the process, long ones as digests: the same decisions either way', async () => {
    const { store, seen } = noting(true);
    const longKey = 'k'.repeat(5_000);
    const longArgs = { memo: 'm'.repeat(5_000), amount: 1 };
    const run = asRun(await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: 'k-1', args: { amount: 1 } }));
    await run.complete({ content: [] }, false);
    expect(seen.slice(0, 2)).toEqual([JSON.stringify(['alice', 'refund', 'k-1']), fingerprintArguments({ amount: 1 })]);
    await asRun(await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: longKey, args: longArgs })).complete({ n: 1 }, false);
    for (const text of seen) expect(text.length).toBeLessThanOrEqual(MAX_TEXT_IDENTITY);
    // Replay, conflict and distinct keys behave as with digests, long or short.
    expect(
      (await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: longKey, args: { amount: 1, memo: longArgs.memo } })).kind,
    ).toBe('replay');
    expect((await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: longKey, args: { ...longArgs, amount: 2 } })).kind).toBe(
      'conflict',
    );
    expect((await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: `${longKey.slice(1)}j`, args: longArgs })).kind).toBe(
      'run',
    );
    expect((await beginIdempotent(store, { scope: 'bob', tool: 'refund', key: 'k-1', args: { amount: 1 } })).kind).toBe('run');
    expect((await beginIdempotent(store, { scope: 'alice', tool: 'refund', key: 'k-1', args: { amount: 1 } })).kind).toBe('replay');
  });
});
