/**
 * What `mcplens wrap` observes, with real processes: the SDK's stdio client talks to a server
 * through wrap, spans go to an OTLP receiver on loopback. The spans equal those of in-process
 * instrumentation (`--import mcplens/register`) for the same calls; a Python server (standard
 * library only) is observed the same way; the bytes a client receives are the same with and
 * without wrap, also when wrap asks the server for its catalog itself.
 */
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { ATTR, ERROR_TYPE_NO_RESPONSE } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { runLockstep } from '../support/lockstep-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');
const REGISTER = join(ROOT, 'dist/instrumentation/register.js');
const NODE_SERVER = join(ROOT, 'test/fixtures/register/server-v1-static.mjs');
const PYTHON_SERVER = join(ROOT, 'test/fixtures/python/stdio_server.py');
const SERVER_KIND = 2;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
const receivers: OtlpReceiver[] = [];
afterAll(async () => {
  for (const r of receivers) await r.close();
});

async function receiver(): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver();
  receivers.push(r);
  return r;
}

function otelEnv(endpoint: string): Record<string, string> {
  return { ...(process.env as Record<string, string>), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
}

async function connect(command: string, args: string[], env: Record<string, string>): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({ command, args, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'claude-code', version: '1.0.0' });
  cleanups.push(() => client.close());
  await client.connect(transport, { timeout: 15_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nstderr:\n${stderr}`);
  });
  return { client, stderr: () => stderr };
}

/** Attributes that differ between any two sessions (random keys, timing-dependent token counts). */
const VOLATILE = new Set<string>([ATTR.SESSION_KEY, ATTR.TOKENS_NOT_COUNTED]);
function comparable(span: ReceivedSpan): { name: string; attributes: Record<string, unknown> } {
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    if (!VOLATILE.has(key) && !key.startsWith('mcplens.tokens.')) attributes[key] = value;
  }
  return { name: span.name, attributes };
}

function serverSpans(spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  return spans
    .filter((s) => s.kind === SERVER_KIND)
    .sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
}

/** The same calls, in the same order, on every run. */
async function workload(client: Client): Promise<void> {
  await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }); // before any tools/list
  await client.listTools();
  await client.callTool({ name: 'add', arguments: { a: 'one', b: 2 } });
  await client.callTool({ name: 'add', arguments: { a: 1 } });
  await client.callTool({ name: 'no_such_tool', arguments: {} });
}

describe('mcplens wrap: telemetry', () => {
  it('gives the same spans as --import instrumentation for the same calls', async () => {
    const inProcess = await receiver();
    const a = await connect(process.execPath, ['--import', REGISTER, NODE_SERVER], otelEnv(inProcess.endpoint));
    await workload(a.client);
    await a.client.close();
    const expected = serverSpans(await inProcess.waitFor((s) => serverSpans(s).length >= 6, 15_000));

    const wrapped = await receiver();
    const b = await connect(process.execPath, [MCPLENS, 'wrap', '--', process.execPath, NODE_SERVER], otelEnv(wrapped.endpoint));
    await workload(b.client);
    await b.client.close();
    const actual = serverSpans(await wrapped.waitFor((s) => serverSpans(s).length >= 6, 15_000));

    expect(actual.map(comparable)).toEqual(expected.map(comparable));
    // Not trivially equal: the calls were graded, the catalog was known before any list.
    expect(actual.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'ok', 'ok', 'rejected', 'rejected', 'rejected']);
    expect(actual[3]!.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type');
    expect(actual[5]!.attributes[ATTR.VIOLATION_KIND]).toBe('unknown_tool');
    expect(actual[0]!.resource[ATTR.SERVICE_NAME]).toBe('fixture-v1-static');
    // Wrap's own tools/list has no span and never reached the client (the client saw no stray answer).
    expect(actual.filter((s) => s.name === 'tools/list')).toHaveLength(1);
  });

  it('observes a Python server (standard library only) and names the service after it', async () => {
    const otlp = await receiver();
    const { client } = await connect(
      process.execPath,
      [MCPLENS, 'wrap', '--provider', 'openai', '--model', 'gpt-4.1', '--', 'python3', PYTHON_SERVER],
      otelEnv(otlp.endpoint),
    );
    expect((await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content).toEqual([{ type: 'text', text: '5' }]);
    await client.callTool({ name: 'add', arguments: { a: 2 } });
    await client.close();
    const spans = serverSpans(await otlp.waitFor((s) => serverSpans(s).filter((x) => x.name.startsWith('tools/call')).length >= 2, 15_000));
    const calls = spans.filter((s) => s.name === 'tools/call add');
    expect(calls.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'rejected']);
    expect(calls[1]!.attributes[ATTR.VIOLATION_KIND]).toBe('missing_required');
    expect(calls[0]!.attributes).toMatchObject({
      [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
      [ATTR.NETWORK_TRANSPORT]: 'pipe',
    });
    expect(calls[0]!.resource[ATTR.SERVICE_NAME]).toBe('python-stdlib-server');
  });
});

/** Runs `command` with `input` on stdin (then EOF) and returns what it wrote to stdout. */
function runRaw(
  command: string,
  args: string[],
  input: string,
  env: Record<string, string>,
  /** Pause before the last line (a line that ends the server must come after wrap's own catalog requests). */
  lastLineDelayMs = 150,
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((done) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      done({ stdout: Buffer.concat(out), stderr, code });
    });
    // Paced like a client: one request at a time would need reading; lines with pauses are enough here.
    const lines = input.split('\n').filter((l) => l !== '');
    let i = 0;
    const next = (): void => {
      if (i === lines.length) return void child.stdin.end();
      child.stdin.write(`${lines[i++]}\n`);
      setTimeout(next, i === lines.length - 1 ? lastLineDelayMs : 150);
    };
    next();
  });
}

describe('mcplens wrap: bytes the client receives', () => {
  it('are identical with and without wrap, also when wrap lists the tools itself', async () => {
    const otlp = await receiver();
    const input = [
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"héllo\\nworld 世界"}}}',
      'this line is not JSON',
      '',
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":"2"}}}',
      '[{"jsonrpc":"2.0","id":4,"method":"tools/list"},{"jsonrpc":"2.0","id":5,"method":"ping"}]',
      '{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{"cursor":"page-2"}}',
    ].join('\n');
    const bare = await runRaw('python3', [PYTHON_SERVER], input, process.env as Record<string, string>);
    const wrapped = await runRaw(process.execPath, [MCPLENS, 'wrap', '--', 'python3', PYTHON_SERVER], input, otelEnv(otlp.endpoint));
    expect(wrapped.code).toBe(bare.code);
    expect(wrapped.stdout.toString('utf8')).toBe(bare.stdout.toString('utf8'));
    expect(wrapped.stdout.equals(bare.stdout)).toBe(true);
    // The call before any list was graded, so wrap did send its own tools/list (not forwarded: the bytes are equal).
    const spans = await otlp.waitFor((s) => serverSpans(s).some((x) => x.attributes[ATTR.JSONRPC_REQUEST_ID] === '3'), 15_000);
    const three = serverSpans(spans).find((x) => x.attributes[ATTR.JSONRPC_REQUEST_ID] === '3')!;
    expect(three.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type');
  });

  it('are identical for a TypeScript SDK server, whose answers wrap reads and the client gets unchanged', async () => {
    const otlp = await receiver();
    const input = [
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":"2"}}}',
      '{"jsonrpc":"2.0","id":3,"method":"tools/list"}',
      '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}',
      '{"jsonrpc":"2.0","id":5,"method":"no/such/method"}',
    ];
    const bare = await runLockstep(process.execPath, [NODE_SERVER], input, process.env as Record<string, string>);
    const wrapped = await runLockstep(
      process.execPath,
      [MCPLENS, 'wrap', '--', process.execPath, NODE_SERVER],
      input,
      otelEnv(otlp.endpoint),
    );
    expect(
      bare.stdout
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    ).toHaveLength(5);
    expect(wrapped.code).toBe(bare.code);
    expect(wrapped.stdout.toString('utf8')).toBe(bare.stdout.toString('utf8'));
    expect(wrapped.stdout.equals(bare.stdout)).toBe(true);
    const spans = serverSpans(await otlp.waitFor((s) => serverSpans(s).length >= 5, 15_000));
    expect(spans.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'rejected', 'ok', 'ok', 'error']);
  });
});

describe('mcplens wrap: framing and failures', () => {
  it('observes batches, long lines and CRLF, relays garbage unchanged, and ends calls of a crashed server as no_response', async () => {
    const otlp = await receiver();
    const big = 'x'.repeat(5 * 1024 * 1024);
    const input = [
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/list"}\r',
      'garbage that is not JSON',
      '[{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}},{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope"}}]',
      `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${big}"}}}`,
      '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"crash","arguments":{}}}',
    ].join('\n');
    const bare = await runRaw('python3', [PYTHON_SERVER], input, process.env as Record<string, string>, 1000);
    const wrapped = await runRaw(process.execPath, [MCPLENS, 'wrap', '--', 'python3', PYTHON_SERVER], input, otelEnv(otlp.endpoint), 1000);
    expect(bare.code).toBe(3);
    expect(wrapped.code).toBe(3);
    expect(wrapped.stdout.length).toBeGreaterThan(big.length);
    expect(wrapped.stdout.equals(bare.stdout)).toBe(true);
    // The garbage line was counted: one line from the client; the server's parse-error answer is JSON-RPC.
    expect(wrapped.stderr).toContain('1 line(s) from the client and 0 from the server were not JSON-RPC');

    const spans = serverSpans(await otlp.waitFor((s) => serverSpans(s).length >= 6, 15_000));
    const byId = new Map(spans.map((s) => [s.attributes[ATTR.JSONRPC_REQUEST_ID], s]));
    expect(byId.get('2')!.name).toBe('tools/list');
    expect(byId.get('3')!.attributes[ATTR.OUTCOME]).toBe('ok');
    expect(byId.get('4')!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.VIOLATION_KIND]: 'unknown_tool' });
    expect(byId.get('5')!.attributes[ATTR.OUTCOME]).toBe('ok');
    expect(byId.get('6')!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'error', [ATTR.ERROR_TYPE]: ERROR_TYPE_NO_RESPONSE });
  });
});

describe('mcplens wrap: options', () => {
  it('--log writes one JSON line per tool call on stderr, with the span ids; --record-content with --redact redacts', async () => {
    const otlp = await receiver();
    const { client, stderr } = await connect(
      process.execPath,
      [MCPLENS, 'wrap', '--log', '--record-content', '--redact', 'secret-\\d+', '--', 'python3', PYTHON_SERVER],
      otelEnv(otlp.endpoint),
    );
    await client.callTool({ name: 'echo', arguments: { text: 'the code is secret-1234' } });
    await client.close();
    const spans = await otlp.waitFor((s) => serverSpans(s).some((x) => x.name === 'tools/call echo'), 15_000);
    const echo = serverSpans(spans).find((x) => x.name === 'tools/call echo')!;
    const recorded = JSON.stringify([echo.attributes[ATTR.GEN_AI_TOOL_CALL_ARGUMENTS], echo.attributes[ATTR.GEN_AI_TOOL_CALL_RESULT]]);
    expect(recorded).toContain('[REDACTED]');
    expect(recorded).not.toContain('secret-1234');
    const lines = stderr()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'mcp tool call', tool: 'echo', outcome: 'ok', trace_id: echo.traceId, span_id: echo.spanId }),
    ]);
  });

  it('a bad option: one line and the usage on stderr, exit 2, the server never started', async () => {
    const run = await runRaw(
      process.execPath,
      [MCPLENS, 'wrap', '--redact', '(', '--', 'python3', PYTHON_SERVER],
      '',
      process.env as Record<string, string>,
    );
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(/^mcplens wrap: --redact needs --record-content$/);
    expect(run.stdout.length).toBe(0);
  });
});
