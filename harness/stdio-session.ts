/**
 * One stdio MCP session the way a host runs it, timed: spawn `node [--import
 * <dist/instrumentation/register.js>] <server>` with pipes, send `initialize` at once, then
 * `notifications/initialized`, `tools/list` and the given `tools/call`s (each after the
 * previous answer), close stdin and wait for the process to exit by itself. Raw newline-
 * delimited JSON-RPC, no MCP client: what is timed is the server, and every byte of stdout is
 * checked. Every wait is bounded; a server that does not exit is killed and reported so.
 *
 * Shared by test/e2e/stdio-lifecycle.test.ts and bench/stdio-lifecycle.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/support). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The `mcplens` command as built. */
export const MCPLENS_BIN = join(REPO_ROOT, 'dist/bin/mcplens.js');
/** The zero-code entry as built: what `--import mcplens/register` loads. */
export const REGISTER_ENTRY = join(REPO_ROOT, 'dist/instrumentation/register.js');
/** The published server installed by `npm run fixtures`. */
export const SERVER_MEMORY_ENTRY = join(REPO_ROOT, 'test/fixtures/foreign/node_modules/@modelcontextprotocol/server-memory/dist/index.js');
/** Our own SDK v1 fixture (one tool, `add`). */
export const FIXTURE_V1_ENTRY = join(REPO_ROOT, 'test/fixtures/register/server-v1-static.mjs');

/** The protocol version the session's `initialize` asks for. */
const PROTOCOL_VERSION = '2025-06-18';

/** One `tools/call`. */
export interface ToolCall {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** A server the harness can run: its entry, its environment and the calls of a session. */
export interface StdioServerSpec {
  readonly label: string;
  readonly entry: string;
  /** Extra environment, given a fresh temporary directory of the session (removed afterwards). */
  readonly env?: (dir: string) => Record<string, string>;
  /** Tools its `tools/list` answer includes (checked by the callers). */
  readonly tools: readonly string[];
  /** `count` calls of real tools of this server, all expected to succeed. */
  readonly calls: (count: number) => readonly ToolCall[];
}

/** `@modelcontextprotocol/server-memory` (2026.8.31), its knowledge graph in the session's directory. */
export const SERVER_MEMORY: StdioServerSpec = {
  label: 'server-memory',
  entry: SERVER_MEMORY_ENTRY,
  env: (dir) => ({ MEMORY_FILE_PATH: join(dir, 'memory.jsonl') }),
  tools: ['create_entities', 'create_relations', 'add_observations', 'read_graph', 'search_nodes', 'open_nodes'],
  calls: (count) => {
    const cycle: ToolCall[] = [
      {
        name: 'create_entities',
        arguments: { entities: [{ name: 'order-42', entityType: 'order', observations: ['placed on 2026-12-05', 'three items'] }] },
      },
      { name: 'add_observations', arguments: { observations: [{ entityName: 'order-42', contents: ['shipped'] }] } },
      { name: 'search_nodes', arguments: { query: 'order' } },
      { name: 'read_graph', arguments: {} },
    ];
    return Array.from({ length: count }, (_, i) => cycle[i % cycle.length]!);
  },
};

/** test/fixtures/register/server-v1-static.mjs: SDK v1 `McpServer`, tool `add`. */
export const FIXTURE_V1: StdioServerSpec = {
  label: 'fixture-v1-static',
  entry: FIXTURE_V1_ENTRY,
  tools: ['add'],
  calls: (count) => Array.from({ length: count }, (_, i) => ({ name: 'add', arguments: { a: i, b: 2 } })),
};

/** Options of {@link runStdioSession}. */
export interface StdioSessionOptions {
  readonly server: StdioServerSpec;
  /** Run under `--import <dist/instrumentation/register.js>` (or behind `mcplens wrap`, see `host`). */
  readonly instrumented: boolean;
  /** How an instrumented session is observed: `import` (default) or `wrap` (`mcplens wrap -- node <server>`). */
  readonly host?: 'import' | 'wrap';
  /** `tools/call`s after `tools/list` (0: an idle session). */
  readonly calls: number;
  /** Send `tools/list` after `initialize` (default true). False: initialize only, then stdin closes (`calls` ignored). */
  readonly listTools?: boolean;
  /** Environment of the child beyond PATH (e.g. OTEL_EXPORTER_OTLP_ENDPOINT). Nothing else is inherited. */
  readonly env?: Readonly<Record<string, string>>;
  /** Longest wait for the `initialize` answer, ms. Default 20,000. */
  readonly firstAnswerTimeoutMs?: number;
  /** Longest wait for any later answer, ms. Default 10,000. */
  readonly answerTimeoutMs?: number;
  /** Longest wait for the exit after stdin closed; then SIGKILL, reported as not exited. Default 15,000. */
  readonly exitTimeoutMs?: number;
  /** Called once stdin is closed, when the exit wait begins (a scheduler may start the next session). */
  readonly onStdinClosed?: () => void;
}

/** A JSON-RPC message as read from stdout. */
export interface JsonRpcMessage {
  readonly jsonrpc: '2.0';
  readonly id?: string | number | null;
  readonly method?: string;
  readonly result?: unknown;
  readonly error?: { code: number; message: string };
}

/** One request the session sent, with its answer. */
export interface SentRequest {
  readonly id: number;
  readonly method: string;
  /** Tool name of a `tools/call`. */
  readonly tool?: string;
  readonly answer?: JsonRpcMessage;
  /** ms from spawn to the answer's arrival. */
  readonly answeredAtMs?: number;
}

/** What one session measured and saw. */
export interface StdioSessionResult {
  readonly label: string;
  readonly instrumented: boolean;
  /** ms from spawn to the `initialize` answer; undefined when none came. */
  readonly firstAnswerMs: number | undefined;
  /** Every request sent, in order (ids 1, 2, ...), with its answer. */
  readonly requests: readonly SentRequest[];
  /** Tool names in the `tools/list` answer. */
  readonly tools: readonly string[];
  /** True when the process ended by itself after stdin closed (not killed by the harness). */
  readonly exited: boolean;
  /** ms from closing stdin to the process' exit; undefined when it did not exit by itself. */
  readonly exitMs: number | undefined;
  readonly exitCode: number | null;
  readonly exitSignal: NodeJS.Signals | null;
  /** Lines of stdout (complete or not) that are not JSON-RPC 2.0 messages. */
  readonly nonJsonRpcLines: readonly string[];
  /** Count of stdout lines. */
  readonly stdoutLines: number;
  readonly stderr: string;
  /** What went wrong on the way (timeouts, early exit), empty when the session ran as planned. */
  readonly problems: readonly string[];
}

/**
 * Runs one session. Never throws for a misbehaving server: what happened is in the result
 * (`problems`, `exited`, `nonJsonRpcLines`); the child never outlives the call.
 */
export async function runStdioSession(options: StdioSessionOptions): Promise<StdioSessionResult> {
  const { server } = options;
  const firstAnswerTimeoutMs = options.firstAnswerTimeoutMs ?? 20_000;
  const answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
  const exitTimeoutMs = options.exitTimeoutMs ?? 15_000;
  if (!existsSync(server.entry))
    throw new Error(`${server.label}: ${server.entry} is missing (run \`npm run fixtures\` for the published server)`);
  if (options.instrumented && !existsSync(REGISTER_ENTRY))
    throw new Error(`${REGISTER_ENTRY} is missing: build first (npx tsc -p tsconfig.json)`);

  const dir = mkdtempSync(join(tmpdir(), 'mcplens-stdio-'));
  const problems: string[] = [];
  const requests: Array<{ id: number; method: string; tool?: string; answer?: JsonRpcMessage; answeredAtMs?: number }> = [];
  const waiting = new Map<number, () => void>();
  let stdout = '';
  let stdoutLines = 0;
  let stderr = '';
  const nonJsonRpcLines: string[] = [];

  const args = !options.instrumented
    ? [server.entry]
    : options.host === 'wrap'
      ? [MCPLENS_BIN, 'wrap', '--', process.execPath, server.entry]
      : ['--import', REGISTER_ENTRY, server.entry];
  const env = { PATH: process.env.PATH ?? '', ...server.env?.(dir), ...options.env };
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { env, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });

  let exit: { code: number | null; signal: NodeJS.Signals | null; atMs: number } | undefined;
  const exitListeners: Array<() => void> = [];
  child.once('exit', (code, signal) => {
    exit = { code, signal, atMs: performance.now() };
    for (const listener of exitListeners.splice(0)) listener();
  });
  const exitedPromise = new Promise<void>((resolveExit) => (exit !== undefined ? resolveExit() : exitListeners.push(resolveExit)));
  // stdout and stderr may still hold data when 'exit' fires; 'close' comes after both ended.
  const closed = new Promise<void>((resolveClose) => child.once('close', () => resolveClose()));
  child.on('error', (err) => problems.push(`spawn failed: ${err.message}`));
  child.stdin.on('error', (err) => problems.push(`stdin: ${err.message}`));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout.on('data', (chunk: Buffer) => {
    const now = performance.now();
    stdout += chunk.toString('utf8');
    let newline: number;
    while ((newline = stdout.indexOf('\n')) !== -1) {
      const line = stdout.slice(0, newline);
      stdout = stdout.slice(newline + 1);
      stdoutLines++;
      const message = parseJsonRpc(line);
      if (message === undefined) {
        nonJsonRpcLines.push(line);
        continue;
      }
      if (typeof message.id === 'number' && message.method === undefined) {
        const request = requests.find((r) => r.id === message.id);
        if (request !== undefined && request.answer === undefined) {
          request.answer = message;
          request.answeredAtMs = now - spawnedAt;
          waiting.get(message.id)?.();
        }
      }
    }
  });

  const send = (message: Record<string, unknown>): void => {
    if (child.stdin.writable) child.stdin.write(`${JSON.stringify(message)}\n`);
  };
  const request = async (
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
    tool?: string,
  ): Promise<JsonRpcMessage | undefined> => {
    const id = requests.length + 1;
    requests.push(tool === undefined ? { id, method } : { id, method, tool });
    const answered = new Promise<'answered'>((resolveAnswer) => waiting.set(id, () => resolveAnswer('answered')));
    send({ jsonrpc: '2.0', id, method, params });
    const outcome = await Promise.race([
      answered,
      exitedPromise.then(() => 'exited' as const),
      delay(timeoutMs).then(() => 'timeout' as const),
    ]);
    waiting.delete(id);
    if (outcome === 'exited')
      problems.push(`the process exited (code ${exit?.code}, signal ${exit?.signal}) before answering ${method} (id ${id})`);
    if (outcome === 'timeout') problems.push(`no answer to ${method} (id ${id}) within ${timeoutMs} ms`);
    return requests[id - 1]!.answer;
  };

  let tools: string[] = [];
  let stdinClosedAt: number | undefined;
  try {
    // A host writes initialize as soon as it has spawned the server.
    const init = await request(
      'initialize',
      { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'claude-code', version: '1.0.0' } },
      firstAnswerTimeoutMs,
    );
    if (init !== undefined) send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    if (init !== undefined && options.listTools !== false) {
      const list = await request('tools/list', {}, answerTimeoutMs);
      const listed = (list?.result as { tools?: Array<{ name?: unknown }> } | undefined)?.tools;
      tools = Array.isArray(listed) ? listed.map((t) => String(t.name)) : [];
      if (list !== undefined) {
        for (const call of server.calls(options.calls)) {
          if ((await request('tools/call', { name: call.name, arguments: call.arguments }, answerTimeoutMs, call.name)) === undefined)
            break;
        }
      }
    }
  } finally {
    stdinClosedAt = performance.now();
    if (exit === undefined) child.stdin.end();
    options.onStdinClosed?.();
    const outcome = await Promise.race([exitedPromise.then(() => 'exited' as const), delay(exitTimeoutMs).then(() => 'timeout' as const)]);
    if (outcome === 'timeout') {
      problems.push(`did not exit within ${exitTimeoutMs} ms of stdin closing (killed)`);
      child.kill('SIGKILL');
      await Promise.race([exitedPromise, delay(5000)]);
    }
    await Promise.race([closed, delay(2000)]);
    rmSync(dir, { recursive: true, force: true });
  }

  if (stdout !== '') {
    // A last line without its newline: still a line, and a framing error when it is not JSON-RPC.
    stdoutLines++;
    if (parseJsonRpc(stdout) === undefined) nonJsonRpcLines.push(stdout);
  }
  const exitedByItself = exit !== undefined && !problems.some((p) => p.startsWith('did not exit'));
  const exitedBeforeStdinClosed = exit !== undefined && exit.atMs < stdinClosedAt;
  if (exitedBeforeStdinClosed) problems.push(`exited before stdin was closed (code ${exit?.code}, signal ${exit?.signal})`);
  return {
    label: server.label,
    instrumented: options.instrumented,
    firstAnswerMs: requests[0]?.answeredAtMs,
    requests,
    tools,
    exited: exitedByItself && !exitedBeforeStdinClosed,
    exitMs: exitedByItself && !exitedBeforeStdinClosed ? exit!.atMs - stdinClosedAt : undefined,
    exitCode: exit?.code ?? null,
    exitSignal: exit?.signal ?? null,
    nonJsonRpcLines,
    stdoutLines,
    stderr,
    problems,
  };
}

/** A JSON-RPC 2.0 message (request, notification or response), or undefined. */
export function parseJsonRpc(line: string): JsonRpcMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const message = value as Record<string, unknown>;
  if (message.jsonrpc !== '2.0') return undefined;
  const isRequestOrNotification = typeof message.method === 'string';
  const isResponse = 'id' in message && ('result' in message || 'error' in message);
  return isRequestOrNotification || isResponse ? (message as unknown as JsonRpcMessage) : undefined;
}

/**
 * Runs `jobs` with at most `concurrency` at a time; resolves in the jobs' order. A job's
 * rejection becomes its result's rejection only (the others run on).
 */
export function runLimited<T>(jobs: ReadonlyArray<() => Promise<T>>, concurrency: number): Array<Promise<T>> {
  let active = 0;
  const queue: Array<() => void> = [];
  const next = (): void => {
    if (active >= concurrency) return;
    const start = queue.shift();
    if (start === undefined) return;
    active++;
    start();
  };
  return jobs.map(
    (job) =>
      new Promise<T>((resolveJob, rejectJob) => {
        queue.push(() => {
          job()
            .then(resolveJob, rejectJob)
            .finally(() => {
              active--;
              next();
            });
        });
        next();
      }),
  );
}

function delay(ms: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms).unref());
}
