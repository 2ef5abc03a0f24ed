/**
 * The guards of `mcplens wrap --guards FILE`, with real processes: the SDK's stdio client talks
 * through wrap to a server without the SDK (test/fixtures/wrap/guarded-server.mjs), spans go to
 * an OTLP receiver on loopback. A timeout is answered in time and the server is told to cancel;
 * the breaker opens after its failures and then refuses without forwarding; a retry with the same
 * idempotency key is replayed without a second forward; every span carries the guard's outcome.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTR, EVENT, MCP_METHOD, META_KEYS, SPAN_NAME } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');
const SERVER = join(ROOT, 'test/fixtures/wrap/guarded-server.mjs');
const SERVER_KIND = 2;

const GUARDS = {
  timeoutMs: 10_000,
  tools: {
    slow: { timeoutMs: 300, circuitBreaker: false },
    fail: { circuitBreaker: { failures: 2, windowMs: 60_000, coolDownMs: 60_000 } },
  },
  idempotency: { tools: { count: { keyArgument: 'key' } } },
};

let receiver: OtlpReceiver;
let dir: string;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
beforeAll(async () => {
  receiver = await startOtlpReceiver();
  dir = mkdtempSync(join(tmpdir(), 'mcplens-wrap-guards-'));
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(guardsFlag: boolean): Promise<{ client: Client; stderr: () => string }> {
  const file = join(dir, 'guards.json');
  writeFileSync(file, JSON.stringify(GUARDS));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_SERVICE_NAME: guardsFlag ? 'wrap-guards-flag' : 'wrap-guards-env',
  };
  if (!guardsFlag) env.MCPLENS_GUARDS = file;
  const args = [MCPLENS, 'wrap', ...(guardsFlag ? ['--guards', file] : []), '--', process.execPath, SERVER];
  const transport = new StdioClientTransport({ command: process.execPath, args, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'guards-test', version: '1.0.0' });
  cleanups.push(() => client.close());
  await client.connect(transport, { timeout: 15_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nstderr:\n${stderr}`);
  });
  return { client, stderr: () => stderr };
}

function textOf(result: unknown): string {
  return (result as { content: Array<{ text: string }> }).content[0]!.text;
}

async function spansOf(service: string, count: number): Promise<ReceivedSpan[]> {
  const mine = (spans: readonly ReceivedSpan[]): ReceivedSpan[] =>
    spans.filter((s) => s.resource['service.name'] === service && s.kind === SERVER_KIND && s.name.startsWith('tools/call'));
  await receiver.waitFor((spans) => mine(spans).length >= count, 10_000);
  return mine(receiver.spans).sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
}

describe('mcplens wrap --guards', () => {
  it('refuses a batch holding a tools/call without forwarding it, answering each request in it; single calls still run', async () => {
    const file = join(dir, 'batch-guards.json');
    writeFileSync(file, JSON.stringify(GUARDS));
    const child = spawn(process.execPath, [MCPLENS, 'wrap', '--guards', file, '--', process.execPath, SERVER], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SERVICE_NAME: 'wrap-guards-batch' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cleanups.push(() => child.kill());
    const lines = createInterface({ input: child.stdout });
    const next = (): Promise<unknown> =>
      new Promise((resolveLine, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer within 10 s')), 10_000);
        lines.once('line', (line) => {
          clearTimeout(timer);
          resolveLine(JSON.parse(line));
        });
      });
    const call = (id: number, name: string): Record<string, unknown> => ({
      jsonrpc: '2.0',
      id,
      method: MCP_METHOD.TOOLS_CALL,
      params: { name, arguments: {} },
    });
    child.stdin.write(JSON.stringify([call(1, 'count'), { jsonrpc: '2.0', method: MCP_METHOD.INITIALIZED }, call(2, 'count')]) + '\n');
    const refused = (await next()) as Array<{ id: number; error: { code: number; message: string } }>;
    expect(refused.map((a) => a.id)).toEqual([1, 2]);
    for (const answer of refused) {
      expect(answer.error.code).toBe(-32600);
      expect(answer.error.message).toMatch(/must be sent alone/);
    }
    child.stdin.write(JSON.stringify(call(3, 'count')) + '\n');
    // The server never got the batch: this is the first count it sees.
    expect(await next()).toMatchObject({ id: 3, result: { content: [{ text: '1' }] } });
    child.stdin.end();
  }, 30_000);

  it('answers a timeout in time, tells the server to cancel, and records the late answer', async () => {
    const { client } = await connect(true);
    const started = performance.now();
    const timedOut = await client.callTool({ name: 'slow', arguments: { ms: 1200 } });
    const elapsed = performance.now() - started;
    expect(timedOut.isError).toBe(true);
    expect(textOf(timedOut)).toMatch(/timed out after 0.3 s/);
    expect(elapsed).toBeLessThan(1000);
    // The server saw notifications/cancelled for that request.
    const cancelled = JSON.parse(textOf(await client.callTool({ name: 'cancelled', arguments: {} }))) as unknown[];
    expect(cancelled).toHaveLength(1);
    // Its late answer is not forwarded (the SDK client would reject an answer to an unknown id
    // only in its logs; the next call still works) but becomes a late-completion span.
    await new Promise((r) => setTimeout(r, 1200));
    expect(textOf(await client.callTool({ name: 'slow', arguments: { ms: 10 } }))).toBe('slow done');

    const spans = await spansOf('wrap-guards-flag', 3);
    const slow = spans.find((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'slow')!;
    expect(slow.attributes[ATTR.OUTCOME]).toBe('timeout');
    expect(slow.attributes[ATTR.TIMEOUT_MS]).toBe(300);
    expect(cancelled[0]).toBe(Number(slow.attributes[ATTR.JSONRPC_REQUEST_ID]));
    const late = await receiver.waitFor(
      (all) => all.some((s) => s.name === SPAN_NAME.LATE_COMPLETION && s.parentSpanId === slow.spanId),
      10_000,
    );
    expect(late.find((s) => s.parentSpanId === slow.spanId)?.attributes[ATTR.OUTCOME]).toBe('ok');
    expect(spans.filter((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'slow').map((s) => s.attributes[ATTR.OUTCOME])).toEqual([
      'timeout',
      'ok',
    ]);
  }, 30_000);

  it('opens the breaker after its failures and refuses without forwarding; replays an idempotent call (MCPLENS_GUARDS)', async () => {
    const { client } = await connect(false);
    for (let i = 0; i < 2; i++) expect(textOf(await client.callTool({ name: 'fail', arguments: {} }))).toBe('it always fails');
    const refused = await client.callTool({ name: 'fail', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/temporarily unavailable/);
    const received = JSON.parse(textOf(await client.callTool({ name: 'received', arguments: {} }))) as string[];
    expect(received).toEqual(['fail', 'fail', 'received']);

    const first = await client.callTool({ name: 'count', arguments: { key: 'k-1' } });
    const again = await client.callTool({ name: 'count', arguments: { key: 'k-1' } });
    expect(textOf(first)).toBe('1');
    expect(textOf(again)).toBe('1');
    expect(again._meta?.[META_KEYS.IDEMPOTENT_REPLAY]).toBe(true);
    // Forwarded once: the server's own count of the calls it got.
    expect(textOf(await client.callTool({ name: 'count', arguments: {} }))).toBe('2');

    const spans = (await spansOf('wrap-guards-env', 7)).filter((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] !== 'received');
    const outcomes = spans.map((s) => [s.attributes[ATTR.GEN_AI_TOOL_NAME], s.attributes[ATTR.OUTCOME]]);
    expect(outcomes).toEqual([
      ['fail', 'tool_error'],
      ['fail', 'tool_error'],
      ['fail', 'circuit_open'],
      ['count', 'ok'],
      ['count', 'replayed'],
      ['count', 'ok'],
    ]);
    // The second failure opened the breaker, on its span.
    expect(spans[1]!.events.find((e) => e.name === EVENT.BREAKER_TRANSITION)?.attributes[ATTR.BREAKER_STATE]).toBe('open');
  }, 30_000);
});
