/**
 * A published MCP server bundled into one file (esbuild, as many are shipped): the SDK is
 * inside the bundle, so `--import mcplens/register`, which hooks the SDK's files as they load,
 * sees nothing and no span leaves the process. `mcplens wrap` observes the same bundle from
 * outside: spans with the right outcomes and violation kind, named after the server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { build } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTR, MCP_METHOD } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { SERVER_MEMORY_ENTRY } from '../../harness/stdio-session.js';
import { runLockstep } from '../support/lockstep-client.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');
const REGISTER = join(ROOT, 'dist/instrumentation/register.js');
const SERVER_KIND = 2;
/** server-memory's serverInfo.name. */
const MEMORY_SERVER_NAME = 'memory-server';

let dir: string;
let bundle: string;
beforeAll(async () => {
  if (!existsSync(SERVER_MEMORY_ENTRY)) throw new Error(`${SERVER_MEMORY_ENTRY} is missing: run \`npm run fixtures\``);
  dir = mkdtempSync(join(tmpdir(), 'mcplens-bundled-'));
  bundle = join(dir, 'server-memory.bundle.mjs');
  await build({
    entryPoints: [SERVER_MEMORY_ENTRY],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
    // Bundled CommonJS dependencies call require() for Node's built-ins: an ESM bundle needs one.
    banner: {
      js: "import { createRequire as __mcplensCreateRequire } from 'node:module'; const require = __mcplensCreateRequire(import.meta.url);",
    },
  });
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receiver(): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver();
  cleanups.push(() => r.close());
  return r;
}

async function connect(args: string[], endpoint: string, memoryFile: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: {
      PATH: process.env.PATH ?? '',
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      MEMORY_FILE_PATH: memoryFile,
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'claude-code', version: '1.0.0' });
  await client.connect(transport, { timeout: 15_000 }).catch((err: Error) => {
    throw new Error(`${err.message}\nstderr:\n${stderr}`);
  });
  cleanups.push(() => client.close());
  return client;
}

/** tools/list, a good create_entities and one without its required `entities`. */
async function workload(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name)).toContain('create_entities');
  const good = await client.callTool({
    name: 'create_entities',
    arguments: { entities: [{ name: 'order-42', entityType: 'order', observations: ['three items'] }] },
  });
  expect(good.isError).not.toBe(true);
  // The server answers a malformed call with an error result or a JSON-RPC error: either is fine here.
  const bad = await client.callTool({ name: 'create_entities', arguments: {} }).catch((err: Error) => ({ isError: true, err }));
  expect(bad.isError).toBe(true);
}

function serverSpans(spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  return spans.filter((s) => s.kind === SERVER_KIND);
}

describe('a published server bundled into one file', () => {
  it('is a single file without the SDK on disk beside it', () => {
    const source = readFileSync(bundle, 'utf8');
    // The SDK's code is inside (its stdio transport class), no import of it is left.
    expect(source).toMatch(/var StdioServerTransport = class\b/);
    expect(source).not.toMatch(/^import\b[^\n]*["']@modelcontextprotocol\/sdk/m);
    expect(source).not.toMatch(/(import|require)\(\s*["']@modelcontextprotocol\/sdk/);
  });

  it('under --import mcplens/register yields no span (the unbundled server does: the gap)', async () => {
    const control = await receiver();
    const unbundled = await connect(['--import', REGISTER, SERVER_MEMORY_ENTRY], control.endpoint, join(dir, 'control.jsonl'));
    await workload(unbundled);
    await unbundled.close();
    await control.waitFor(
      (s) => serverSpans(s).filter((x) => x.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL).length >= 2,
      15_000,
    );

    const gap = await receiver();
    const bundled = await connect(['--import', REGISTER, bundle], gap.endpoint, join(dir, 'gap.jsonl'));
    await workload(bundled);
    await bundled.close();
    // The process has exited after its exit flush (1 s budget); give stragglers as long again.
    await new Promise((done) => setTimeout(done, 1500));
    expect(gap.spans).toHaveLength(0);
  });

  it('under mcplens wrap yields spans with outcomes, the violation kind and the server as service.name', async () => {
    const otlp = await receiver();
    const client = await connect([MCPLENS, 'wrap', '--', process.execPath, bundle], otlp.endpoint, join(dir, 'wrap.jsonl'));
    await workload(client);
    await client.close();
    const calls = (s: readonly ReceivedSpan[]): ReceivedSpan[] =>
      serverSpans(s)
        .filter((x) => x.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL)
        .sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
    const spans = await otlp.waitFor((s) => calls(s).length >= 2, 15_000);
    const list = serverSpans(spans).filter((x) => x.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_LIST);
    expect(list).toHaveLength(1);
    expect(list[0]!.attributes[ATTR.OUTCOME]).toBe('ok');
    const [good, bad] = calls(spans);
    expect(good!.attributes).toMatchObject({ [ATTR.GEN_AI_TOOL_NAME]: 'create_entities', [ATTR.OUTCOME]: 'ok' });
    expect(good!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    expect(bad!.attributes).toMatchObject({
      [ATTR.GEN_AI_TOOL_NAME]: 'create_entities',
      [ATTR.OUTCOME]: 'rejected',
      [ATTR.VIOLATION_KIND]: 'missing_required',
    });
    for (const span of serverSpans(spans)) expect(span.resource[ATTR.SERVICE_NAME]).toBe(MEMORY_SERVER_NAME);
  });

  it('answers the client the same bytes with and without wrap', async () => {
    const otlp = await receiver();
    const lines = [
      '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}',
      '{"jsonrpc":"2.0","method":"notifications/initialized"}',
      '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_entities","arguments":{}}}',
      '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
      '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_entities","arguments":{"entities":[{"name":"a","entityType":"t","observations":["x"]}]}}}',
    ];
    const env = (name: string): Record<string, string> => ({
      PATH: process.env.PATH ?? '',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      MEMORY_FILE_PATH: join(dir, `${name}.jsonl`),
    });
    const bare = await runLockstep(process.execPath, [bundle], lines, env('bytes-bare'));
    const wrapped = await runLockstep(process.execPath, [MCPLENS, 'wrap', '--', process.execPath, bundle], lines, env('bytes-wrap'));
    expect(
      bare.stdout
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    ).toHaveLength(4);
    expect(wrapped.code).toBe(bare.code);
    expect(wrapped.stdout.toString('utf8')).toBe(bare.stdout.toString('utf8'));
    expect(wrapped.stdout.equals(bare.stdout)).toBe(true);
  });
});
