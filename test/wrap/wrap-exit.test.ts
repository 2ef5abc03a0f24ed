/**
 * `mcplens wrap` adds no more than its exit budget to the server's exit: a session of a few
 * calls, then stdin closes; the server (an SDK fixture that writes a line to stderr as it exits)
 * ends, and wrap must follow within MCPLENS_EXIT_TIMEOUT_MS plus a margin, even when the
 * collector accepts the connection and never answers. With a live receiver, every span of the
 * session has arrived by the time wrap has exited.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTR, MCP_METHOD } from '../../contract/index.js';
import { startCollectorVariant, type CollectorVariant } from '../../harness/collector-variants.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');
const SERVER = join(ROOT, 'test/fixtures/wrap/server-exit-marker.mjs');
const EXIT_MARKER = 'fixture-server-exit';
const EXIT_BUDGET_MS = 500;
/** Budget plus a margin for a loaded 2-core machine (process teardown, a late timer). */
const MAX_ADDED_MS = 1500;
const CALLS = 3;
const SERVER_KIND = 2;

const collectors: CollectorVariant[] = [];
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.close();
});

interface ExitTiming {
  code: number | null;
  /** ms from stdin closed to the server's exit line on stderr; undefined when none came. */
  serverExitMs: number | undefined;
  /** ms from stdin closed to wrap's own exit. */
  wrapExitMs: number;
  answers: number;
  stderr: string;
}

/** initialize, tools/list and CALLS calls through wrap, one at a time; then stdin closes. */
async function wrappedSession(endpoint: string): Promise<ExitTiming> {
  const child = spawn(process.execPath, [MCPLENS, 'wrap', '--', process.execPath, SERVER], {
    env: { PATH: process.env.PATH ?? '', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, MCPLENS_EXIT_TIMEOUT_MS: String(EXIT_BUDGET_MS) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let stderr = '';

  let serverExitAt: number | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    if (serverExitAt === undefined && stderr.includes(EXIT_MARKER)) serverExitAt = performance.now();
  });
  const exited = new Promise<{ code: number | null; at: number }>((done) =>
    child.once('exit', (code) => done({ code, at: performance.now() })),
  );
  let buffered = '';
  const waiting = new Map<number, () => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const message = JSON.parse(buffered.slice(0, newline)) as { id?: unknown };
      buffered = buffered.slice(newline + 1);
      if (typeof message.id === 'number') waiting.get(message.id)?.();
    }
  });
  let answers = 0;
  let nextId = 1;
  const request = (method: string, params: Record<string, unknown>): Promise<void> => {
    const id = nextId++;
    const answered = new Promise<void>((done) => waiting.set(id, done));
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    return answered.then(() => void answers++);
  };
  await request(MCP_METHOD.INITIALIZE, {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'claude-code', version: '1.0.0' },
  });
  child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  await request(MCP_METHOD.TOOLS_LIST, {});
  for (let i = 0; i < CALLS; i++) await request(MCP_METHOD.TOOLS_CALL, { name: 'add', arguments: { a: i, b: 1 } });
  const stdinClosedAt = performance.now();
  child.stdin.end();
  const exit = await exited;
  clearTimeout(killer);
  // The exit line may still be in the pipe when 'exit' fires: wait for stderr's end.
  if (!child.stderr.readableEnded) await new Promise((done) => child.stderr.once('end', done));
  return {
    code: exit.code,
    serverExitMs: serverExitAt === undefined ? undefined : serverExitAt - stdinClosedAt,
    wrapExitMs: exit.at - stdinClosedAt,
    answers,
    stderr,
  };
}

describe('mcplens wrap: exit', () => {
  it('adds at most the exit budget (plus a margin) to the server exit when the collector never answers', async () => {
    const silent = await startCollectorVariant('silent');
    collectors.push(silent);
    const timing = await wrappedSession(silent.endpoint);
    expect(timing.answers).toBe(2 + CALLS);
    expect(timing.code).toBe(0);
    expect(timing.serverExitMs).toBeDefined();
    const added = timing.wrapExitMs - timing.serverExitMs!;
    expect(added).toBeLessThan(MAX_ADDED_MS);
    // The spans were sent (a connection was made and left unanswered): the budget, not an idle exporter, bounded the wait.
    expect((await silent.counts()).connections).toBeGreaterThanOrEqual(1);
    expect(timing.wrapExitMs).toBeLessThan(MAX_ADDED_MS + 2000);
  });

  it('has delivered every span of the session by the time it exits, with a live receiver', async () => {
    const up = await startCollectorVariant('up');
    collectors.push(up);
    const timing = await wrappedSession(up.endpoint);
    expect(timing.code).toBe(0);
    expect(timing.serverExitMs).toBeDefined();
    expect(timing.wrapExitMs - timing.serverExitMs!).toBeLessThan(MAX_ADDED_MS);
    // The receiver decodes in this process: allow its handler to finish, nothing more.
    const spans = await up.waitForSpans((s) => s.filter((x) => x.kind === SERVER_KIND).length >= 2 + CALLS, 2000);
    const server = spans.filter((x) => x.kind === SERVER_KIND);
    expect(server.map((s) => s.attributes[ATTR.MCP_METHOD_NAME]).sort()).toEqual(
      [MCP_METHOD.INITIALIZE, MCP_METHOD.TOOLS_LIST, ...Array<string>(CALLS).fill(MCP_METHOD.TOOLS_CALL)].sort(),
    );
    expect(server.every((s) => s.attributes[ATTR.OUTCOME] === 'ok')).toBe(true);
  });
});
