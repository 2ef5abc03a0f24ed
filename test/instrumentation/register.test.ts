/**
 * The zero-code entry, `node --import mcplens/register server.js`, in child processes
 * (module hooks do not apply inside jest): real MCP servers that contain no mcplens code,
 * driven by a real MCP client over stdio (or in memory inside the fixture), exporting
 * OTLP/HTTP to a receiver in this test.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { ATTR, TOKENS_NOT_COUNTED_REASONS } from '../../contract/index.js';
import { defaultTokenizer } from '../../instrumentation/token-counter.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const REGISTER = join(REPO, 'dist/instrumentation/register.js');
const FIXTURES = join(REPO, 'test/fixtures/register');
const FOREIGN_SERVER = join(REPO, 'test/fixtures/foreign/node_modules/@modelcontextprotocol/server-memory/dist/index.js');
const FOREIGN_SDK = join(REPO, 'test/fixtures/foreign/node_modules/@modelcontextprotocol/sdk/package.json');
const OTLP_PROTOBUF = 'application/x-protobuf';
const OTLP_JSON = 'application/json';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function receiver(): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver();
  cleanups.push(() => r.close());
  return r;
}

function assertForeignTreeInstalled(): void {
  if (!existsSync(FOREIGN_SERVER) || !existsSync(FOREIGN_SDK)) {
    throw new Error(
      'test/fixtures/foreign is not installed: run `npm ci --prefix test/fixtures/foreign` (a published MCP server with its own SDK copy)',
    );
  }
}

/** Environment for a child: only what the test sets (StdioClientTransport adds PATH, HOME, ...). */
function otelEnv(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', ...extra };
}

interface StdioSession {
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
}

async function connectStdio(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = ['--import', REGISTER],
): Promise<StdioSession> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [...nodeArgs, script], env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'claude-code', version: '1.0.0' });
  // A line on stdout that is not JSON-RPC would surface here.
  const protocolErrors: Error[] = [];
  client.onerror = (err) => protocolErrors.push(err);
  cleanups.push(() => client.close());
  await client.connect(transport, { timeout: 15_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nchild stderr:\n${stderr}`);
  });
  return {
    client,
    transport,
    stderr: () => `${stderr}${protocolErrors.map((e) => `\n[client error] ${e.message}`).join('')}`,
  };
}

/** tools/call with `arguments` as a JSON string: the SDK refuses it before any tool code runs. */
async function callWithJsonStringArguments(client: Client, name: string): Promise<{ code: number }> {
  try {
    await client.request(
      { method: 'tools/call', params: { name, arguments: '{"a":1,"b":2}' as unknown as Record<string, unknown> } },
      CallToolResultSchema,
      {
        timeout: 10_000,
      },
    );
  } catch (err) {
    return { code: (err as { code: number }).code };
  }
  throw new Error('a tools/call with string arguments was answered with a result');
}

const toolSpan = (tool: string, pick?: (s: ReceivedSpan) => boolean) => (s: ReceivedSpan) =>
  s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call' && s.attributes[ATTR.GEN_AI_TOOL_NAME] === tool && (pick === undefined || pick(s));
const isOk = (s: ReceivedSpan) => s.attributes[ATTR.OUTCOME] === 'ok';
const isNotAnObject = (s: ReceivedSpan) => s.attributes[ATTR.VIOLATION_KIND] === 'not_an_object';

describe('node --import mcplens/register: the SDK is hooked however it is loaded', () => {
  const cases = [
    {
      label: 'SDK v1, ESM static import',
      script: 'server-v1-static.mjs',
      service: 'fixture-v1-static',
      protocol: 'http/protobuf',
      contentType: OTLP_PROTOBUF,
      refusedCode: -32603,
    },
    {
      label: 'SDK v1, ESM dynamic import()',
      script: 'server-v1-dynamic.mjs',
      service: 'fixture-v1-dynamic',
      protocol: 'http/json',
      contentType: OTLP_JSON,
      refusedCode: -32603,
    },
    {
      label: 'SDK v1, CommonJS require',
      script: 'server-v1.cjs',
      service: 'fixture-v1-cjs',
      protocol: 'http/json',
      contentType: OTLP_JSON,
      refusedCode: -32603,
    },
    {
      label: 'SDK v2 (@modelcontextprotocol/server)',
      script: 'server-v2.mjs',
      service: 'fixture-v2',
      protocol: 'http/protobuf',
      contentType: OTLP_PROTOBUF,
      refusedCode: -32602,
    },
  ] as const;

  for (const c of cases) {
    it(`${c.label}: a span per request, exported over OTLP ${c.protocol}, stdout clean`, async () => {
      const otlp = await receiver();
      const { client, stderr } = await connectStdio(
        join(FIXTURES, c.script),
        otelEnv(otlp.endpoint, { OTEL_EXPORTER_OTLP_PROTOCOL: c.protocol }),
      );

      const tools = await client.listTools(undefined, { timeout: 10_000 });
      expect(tools.tools.map((t) => t.name)).toEqual(['add']);
      const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }, undefined, { timeout: 10_000 });
      expect(result.content).toEqual([{ type: 'text', text: '3' }]);
      expect(await callWithJsonStringArguments(client, 'add')).toEqual({ code: c.refusedCode });

      const spans = await otlp
        .waitFor((all) => all.some(toolSpan('add', isOk)) && all.some(toolSpan('add', isNotAnObject)), 15_000)
        .catch((err: Error) => {
          throw new Error(`${err.message}\nchild stderr:\n${stderr()}`);
        });
      const ok = spans.find(toolSpan('add', isOk))!;
      expect(ok.name).toBe('tools/call add');
      expect(ok.kind).toBe(2); // SERVER
      expect(ok.contentType).toBe(c.contentType);
      // No OTEL_SERVICE_NAME: the service is named after the MCP server.
      expect(ok.resource[ATTR.SERVICE_NAME]).toBe(c.service);
      const refused = spans.find(toolSpan('add', isNotAnObject))!;
      expect(refused.attributes[ATTR.RPC_RESPONSE_STATUS_CODE]).toBe(String(c.refusedCode));
      expect(spans.some((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/list')).toBe(true);
      // Every stdout line was JSON-RPC: the client saw no parse error.
      expect(stderr()).not.toContain('[client error]');
    });
  }

  it('`--require` works too (Node >= 20.19 can require the ES module entry)', async () => {
    const otlp = await receiver();
    const { client, stderr } = await connectStdio(
      join(FIXTURES, 'server-v1.cjs'),
      otelEnv(otlp.endpoint, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      ['--require', REGISTER],
    );
    const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 2 } }, undefined, { timeout: 10_000 });
    expect(result.content).toEqual([{ type: 'text', text: '4' }]);
    await otlp
      .waitFor((all) => all.some(toolSpan('add', isOk)), 15_000)
      .catch((err: Error) => {
        throw new Error(`${err.message}\nchild stderr:\n${stderr()}`);
      });
    // Node 20 also runs --require modules in its loader thread: the entry must not register twice there.
    expect(stderr()).not.toContain('already been initialized');
  });
});

describe('node --import mcplens/register: servers it did not write', () => {
  it('a published server in a foreign node_modules tree, with its own SDK copy', async () => {
    assertForeignTreeInstalled();
    const otlp = await receiver();
    const dir = mkdtempSync(join(tmpdir(), 'mcplens-foreign-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const { client, stderr } = await connectStdio(FOREIGN_SERVER, otelEnv(otlp.endpoint, { MEMORY_FILE_PATH: join(dir, 'memory.jsonl') }));

    const graph = await client.callTool({ name: 'read_graph', arguments: {} }, undefined, { timeout: 10_000 });
    expect(graph.isError).toBeFalsy();
    const refused = await callWithJsonStringArguments(client, 'create_entities');
    expect(refused.code).toBe(-32603);

    const spans = await otlp
      .waitFor((all) => all.some(toolSpan('read_graph', isOk)) && all.some(toolSpan('create_entities', isNotAnObject)), 15_000)
      .catch((err: Error) => {
        throw new Error(`${err.message}\nchild stderr:\n${stderr()}`);
      });
    expect(spans.find(toolSpan('read_graph'))!.resource[ATTR.SERVICE_NAME]).toBe('memory-server');
  });

  it('two SDK copies in one process: both are hooked', async () => {
    assertForeignTreeInstalled();
    const otlp = await receiver();
    // A long batch delay: only the flush on beforeExit can deliver the spans.
    // The foreign copy is loaded by URL, outside the entry's node_modules lookup: only the loader hook reaches it.
    const run = await runToExit(
      join(FIXTURES, 'two-copies.mjs'),
      otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '600000', MCPLENS_MODULE_HOOKS: 'loader' }),
      20_000,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('two-copies: done') });
    await otlp.waitFor((all) => all.some(toolSpan('ping_main', isOk)) && all.some(toolSpan('ping_foreign', isOk)), 5_000);
  });

  it('by default no loader hook: the copy the entry resolves is hooked, a copy loaded by URL from elsewhere is not', async () => {
    assertForeignTreeInstalled();
    const otlp = await receiver();
    const run = await runToExit(join(FIXTURES, 'two-copies.mjs'), otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '600000' }), 20_000);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('two-copies: done') });
    await otlp.waitFor((all) => all.some(toolSpan('ping_main')), 5_000);
    // Had import-in-the-middle's loader been installed, it would have hooked the foreign copy too.
    expect(otlp.spans.some(toolSpan('ping_foreign'))).toBe(false);
  });

  it('an application that started its own NodeSDK: its provider is used, mcplens starts none', async () => {
    const appOtlp = await receiver();
    const mcplensOtlp = await receiver();
    const run = await runToExit(
      join(FIXTURES, 'own-sdk.mjs'),
      otelEnv(mcplensOtlp.endpoint, { APP_OTLP_URL: `${appOtlp.endpoint}/v1/traces` }),
      20_000,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('own-sdk: done') });

    const spans = await appOtlp.waitFor((all) => all.some(toolSpan('lookup')) && all.some((s) => s.name === 'app.db.query'), 5_000);
    const call = spans.find(toolSpan('lookup'))!;
    expect(call.resource).toMatchObject({ [ATTR.SERVICE_NAME]: 'app-with-own-sdk', 'app.sdk.owner': 'application' });
    // The handler ran inside the request's span.
    expect(spans.find((s) => s.name === 'app.db.query')!.parentSpanId).toBe(call.spanId);
    expect(mcplensOtlp.spans).toEqual([]);
  });
});

describe('node --import mcplens/register: configuration and failure', () => {
  it('OTEL_SDK_DISABLED=true: no spans, the server works', async () => {
    const otlp = await receiver();
    const { client } = await connectStdio(join(FIXTURES, 'server-v1-static.mjs'), otelEnv(otlp.endpoint, { OTEL_SDK_DISABLED: 'true' }));
    const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }, undefined, { timeout: 10_000 });
    expect(result.content).toEqual([{ type: 'text', text: '3' }]);
    await client.close();
    await new Promise((r) => setTimeout(r, 1000));
    expect(otlp.spans).toEqual([]);
  });

  it('MCPLENS_GUARDS: a hanging tool is answered "timed out" at the configured timeout, and its span says so', async () => {
    const otlp = await receiver();
    const dir = mkdtempSync(join(tmpdir(), 'mcplens-guards-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'guards.json');
    writeFileSync(file, JSON.stringify({ tools: { hang: { timeoutMs: 300 } } }));
    const { client, stderr } = await connectStdio(
      join(FIXTURES, 'server-v1-guarded.mjs'),
      otelEnv(otlp.endpoint, { MCPLENS_GUARDS: file }),
    );
    const started = Date.now();
    const result = await client.callTool({ name: 'hang', arguments: {} }, undefined, { timeout: 10_000 });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.isError).toBe(true);
    expect((result.content as Array<{ text: string }>)[0]!.text).toMatch(/^Tool call timed out after 0\.3 s/);
    const spans = await otlp
      .waitFor((all) => all.some((s) => s.attributes[ATTR.OUTCOME] === 'timeout'), 15_000)
      .catch((err: Error) => {
        throw new Error(`${err.message}\nchild stderr:\n${stderr()}`);
      });
    expect(spans.find((s) => s.attributes[ATTR.OUTCOME] === 'timeout')!.attributes[ATTR.GEN_AI_TOOL_NAME]).toBe('hang');
  });

  it('MCPLENS_GUARDS with a mistake stops the process at start-up, naming the file and the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcplens-guards-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'guards.json');
    writeFileSync(file, JSON.stringify({ tools: { hang: { timeoutMS: 300 } } }));
    const run = await runToExit(join(FIXTURES, 'server-v1-guarded.mjs'), { MCPLENS_GUARDS: file }, 10_000);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      `mcplens: MCPLENS_GUARDS (${file}): tools.hang.timeoutMS: unknown key (known: timeoutMs, circuitBreaker)`,
    ]);
    expect(run.stdout).toBe('');
  });

  it('a bad variable stops the process at start-up, naming it', async () => {
    const run = await runToExit(join(FIXTURES, 'server-v1-static.mjs'), { OTEL_TRACES_SAMPLER: 'traceidratoi' }, 10_000);
    expect(run.code).toBe(2);
    // One line naming the variable, no stack trace.
    expect(run.stderr.trim().split('\n')).toEqual([expect.stringContaining('OTEL_TRACES_SAMPLER="traceidratoi"')]);
    expect(run.stdout).toBe('');
  });

  it('a dead OTLP endpoint neither fails nor slows tool calls, and exit stays bounded', async () => {
    // Accepts connections and never answers: every export hangs until the exporter's timeout.
    const blackhole = await startBlackhole();
    const { client, transport } = await connectStdio(
      join(FIXTURES, 'server-v1-static.mjs'),
      otelEnv(blackhole.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '10', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1' }),
    );
    const latencies: number[] = [];
    for (let i = 0; i < 40; i++) {
      const started = performance.now();
      const result = await client.callTool({ name: 'add', arguments: { a: i, b: 1 } }, undefined, { timeout: 10_000 });
      latencies.push(performance.now() - started);
      expect(result.content).toEqual([{ type: 'text', text: String(i + 1) }]);
    }
    latencies.sort((a, b) => a - b);
    // Spans end once their token counts are back (the worker loads its vocabulary first): the
    // exporter reaches the black hole shortly after the calls.
    for (const deadline = Date.now() + 5000; blackhole.connections() === 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(blackhole.connections()).toBeGreaterThan(0);
    // A stdio round trip takes about a millisecond here; an export on the request path would take 10 s.
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(50);
    expect(latencies[latencies.length - 1]).toBeLessThan(1000);

    const pid = transport.pid!;
    const started = performance.now();
    // stdin end -> flush hangs; the client sends SIGTERM after 2 s; mcplens waits at most 2 s more.
    await client.close();
    expect(performance.now() - started).toBeLessThan(6000);
    expect(isAlive(pid)).toBe(false);
  });
});

describe('node --import mcplens/register: stdout and exit', () => {
  const requests = [
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'claude-code', version: '1.0.0' } },
    },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
    { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 2 } } },
    { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'add', arguments: '{"a":1,"b":2}' } },
    { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'nope', arguments: {} } },
  ];

  it('pathological payloads: the tokenizer stays linear, later spans keep flowing, the process exits within its budget', async () => {
    const otlp = await receiver();
    const child = spawnServer(join(FIXTURES, 'server-v1-static.mjs'), otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '50' }));
    // One unspaced piece of a million letters (quadratic for the plain BPE: hours), 700 KB of
    // base64 (the plain BPE with a full merge cache: tens of seconds), 5 MiB (over the per-payload cap).
    const base64 = Buffer.from(Array.from({ length: 520_000 }, (_, i) => (i * 2654435761) >>> 24)).toString('base64');
    const calls = [
      { name: 'add', arguments: { a: 'a'.repeat(1_000_000), b: 1 } },
      { name: 'add', arguments: { a: base64, b: 1 } },
      { name: 'add', arguments: { a: 'b'.repeat(5 << 20), b: 1 } },
      { name: 'add', arguments: { a: 1, b: 2 } },
    ].map((params, i) => ({ jsonrpc: '2.0', id: 10 + i, method: 'tools/call', params }));
    await converse(child, [...requests.slice(0, 3), ...calls], { keepOpen: true });
    const spans = await otlp.waitFor((all) => all.filter((s) => s.name === 'tools/call add').length === 4, 30_000);
    const byId = (id: number) => spans.find((s) => s.attributes[ATTR.JSONRPC_REQUEST_ID] === String(id))!;
    expect(byId(10).attributes[ATTR.TOKENS_ARGUMENTS]).toBeGreaterThan(1_000_000 / 1024);
    expect(byId(11).attributes[ATTR.TOKENS_ARGUMENTS]).toBeGreaterThan(base64.length / 8);
    expect(byId(12).attributes[ATTR.TOKENS_NOT_COUNTED]).toBe(TOKENS_NOT_COUNTED_REASONS.TOO_LARGE);
    expect(byId(13).attributes[ATTR.TOKENS_ARGUMENTS]).toBe(defaultTokenizer()('{"a":1,"b":2}'));
    const started = performance.now();
    child.stdin.end();
    expect(await exited(child, 10_000)).toEqual({ code: 0, signal: null });
    // The default budget (1 s) and a loaded machine's margin; nothing was left to count.
    expect(performance.now() - started).toBeLessThan(2500);
  });

  it('stdout is byte for byte what the server writes without mcplens (diag at debug goes to stderr)', async () => {
    const otlp = await receiver();
    const script = join(FIXTURES, 'server-v1-static.mjs');
    const bare = await converse(spawnServer(script, {}, []), requests);
    const instrumented = await converse(spawnServer(script, otelEnv(otlp.endpoint, { OTEL_LOG_LEVEL: 'debug' })), requests);
    expect(bare.stdout.split('\n').filter(Boolean)).toHaveLength(5);
    expect(instrumented.stdout).toBe(bare.stdout);
    // diag did speak at debug level, on stderr.
    expect(instrumented.stderr).toContain('mcplens debug:');
    await otlp.waitFor((all) => all.some(toolSpan('add', isOk)), 10_000);
  });

  it('SIGTERM flushes the spans within the bounded wait, then the process dies of the signal', async () => {
    const otlp = await receiver();
    const child = spawnServer(
      join(FIXTURES, 'server-v1-static.mjs'),
      otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '600000', FIXTURE_KEEPALIVE: '1' }),
    );
    await converse(child, requests.slice(0, 4), { keepOpen: true });
    expect(otlp.spans).toEqual([]);
    const started = performance.now();
    child.kill('SIGTERM');
    const exit = await exited(child, 5000);
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(performance.now() - started).toBeLessThan(2500);
    expect(otlp.spans.some(toolSpan('add', isOk))).toBe(true);
  });

  it("SIGTERM with the application's own handler: spans flushed, the application decides how to exit", async () => {
    const otlp = await receiver();
    const child = spawnServer(
      join(FIXTURES, 'server-v1-static.mjs'),
      otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '600000', FIXTURE_KEEPALIVE: '1', FIXTURE_OWN_SIGTERM: '1' }),
    );
    await converse(child, requests.slice(0, 4), { keepOpen: true });
    child.kill('SIGTERM');
    expect(await exited(child, 5000)).toEqual({ code: 7, signal: null });
    expect(otlp.spans.some(toolSpan('add', isOk))).toBe(true);
  });

  it('stdin closing flushes the spans while the process lives on', async () => {
    const otlp = await receiver();
    const child = spawnServer(
      join(FIXTURES, 'server-v1-static.mjs'),
      otelEnv(otlp.endpoint, { OTEL_BSP_SCHEDULE_DELAY: '600000', FIXTURE_KEEPALIVE: '1' }),
    );
    await converse(child, requests.slice(0, 4), { keepOpen: true });
    expect(otlp.spans).toEqual([]);
    child.stdin.end();
    await otlp.waitFor((all) => all.some(toolSpan('add', isOk)), 5000);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------

function spawnServer(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = ['--import', REGISTER],
): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [...nodeArgs, script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/**
 * Sends requests one at a time, each after the previous answer (so the output order is
 * deterministic), then ends stdin unless `keepOpen`; resolves with all of stdout and stderr.
 */
async function converse(
  child: ChildProcessWithoutNullStreams,
  messages: ReadonlyArray<Record<string, unknown>>,
  options: { keepOpen?: boolean } = {},
): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const answered = new Map<unknown, () => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    for (const line of stdout.split('\n').filter(Boolean)) {
      try {
        answered.get((JSON.parse(line) as { id?: unknown }).id)?.();
      } catch {
        // Not JSON: the byte-for-byte comparison reports it.
      }
    }
  });
  for (const message of messages) {
    const reply = 'id' in message ? new Promise<void>((resolve) => answered.set(message.id, resolve)) : Promise.resolve();
    child.stdin.write(`${JSON.stringify(message)}\n`);
    await withTimeout(reply, 10_000, () => `no answer to ${JSON.stringify(message)}; stderr: ${stderr}`);
  }
  if (options.keepOpen !== true) {
    child.stdin.end();
    await exited(child, 10_000);
  }
  return { stdout, stderr };
}

async function runToExit(
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnServer(script, env);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const { code } = await exited(child, timeoutMs);
  return { code, stdout, stderr };
}

function exited(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const done =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve({ code: child.exitCode, signal: child.signalCode })
      : new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          child.once('exit', (code, signal) => resolve({ code, signal })),
        );
  return withTimeout(done, timeoutMs, () => `child ${child.pid} did not exit within ${timeoutMs} ms`);
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startBlackhole(): Promise<{ endpoint: string; connections: () => number }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server = createTcpServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => count };
}
