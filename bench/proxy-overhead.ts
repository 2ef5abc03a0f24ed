/**
 * What `mcplens proxy` adds to a `tools/call` over Streamable HTTP. One real SDK v1 server
 * (test/fixtures/proxy/mcp-http-server.mjs: McpServer, tool `add`, stateful, event-stream
 * answers) runs in a child process on 127.0.0.1 port 0; the client reaches it three ways, each
 * on a session of its own:
 *
 * - **direct**: the server's own address;
 * - **pass-through**: `node http-pass-through.mjs <origin>` (test/fixtures/proxy), a node:http
 *   relay that forwards method, path, headers and body and pipes the answer back, parsing
 *   nothing: the floor every Node HTTP proxy pays (one more HTTP hop);
 * - **proxy**: `node dist/bin/mcplens.js proxy --target <url> --port 0`, exporting to a live OTLP
 *   receiver on loopback (harness/otlp-receiver.ts, every span decoded), mcplens' defaults.
 *
 * The client is raw HTTP (node:http, one keep-alive connection per variant): `initialize`,
 * `notifications/initialized`, `tools/list`, then `tools/call add` POSTs with the session
 * header, each sent when the previous answer's body has ended. No SDK client: its own per-call
 * work would sit in every variant alike and only blur the difference. After a warm-up, rounds
 * give each variant one block of sequential calls in turn (order rotated per round); added
 * latency is paired per round. Then each variant, on a fresh session, gets calls paced by a
 * timer at a steady rate over keep-alive connections (answers not awaited before the next is
 * sent); the proxy's `tools/call` spans of those calls (by request id) are counted at the
 * receiver after a bounded wait.
 *
 * Run: `node dist/bench/proxy-overhead.js [--quick] [--rounds N] [--calls N] [--paced-seconds S]
 * [--json FILE]` (or `npm run bench`, the flags spelled `--proxy-rounds=N`, `--proxy-calls=N`,
 * `--proxy-paced-seconds=S`, `--proxy-json=FILE`; `--quick` is shared).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ATTR, MCP_METHOD } from '../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../harness/otlp-receiver.js';
import { REPO_ROOT } from '../harness/stdio-session.js';
import {
  countCallSpans,
  fmt,
  paceCalls,
  processCpuSeconds,
  quantile,
  round1,
  sdkVersion,
  table,
  parseOverheadArgs,
} from './overhead-stats.js';

/** Targets (bench/README.md, "mcplens proxy overhead"). */
export const PROXY_TARGETS = {
  /** The proxy's added median at most this multiple of the pass-through's. */
  maxRatioToPassThrough: 1.5,
  /** tools/call spans lost at the paced rate. */
  maxLostSpans: 0,
} as const;

const MCPLENS_BIN = join(REPO_ROOT, 'dist/bin/mcplens.js');
const SERVER_ENTRY = join(REPO_ROOT, 'test/fixtures/proxy/mcp-http-server.mjs');
const PASS_THROUGH = join(REPO_ROOT, 'test/fixtures/proxy/http-pass-through.mjs');
const PROTOCOL_VERSION = '2025-06-18';

export const PROXY_VARIANTS = ['direct', 'pass-through', 'proxy'] as const;
export type ProxyVariant = (typeof PROXY_VARIANTS)[number];

/** Options of {@link runProxyOverheadBench}; every field optional. */
export interface ProxyOverheadOptions {
  /** Short run: 4 rounds of 300 calls, 2 s paced. Default false. */
  quick?: boolean;
  /** Rounds; each gives every variant one block. Default 12, quick 4. */
  rounds?: number;
  /** Sequential calls per block. Default 1000, quick 300. */
  calls?: number;
  /** Seconds of paced calls per variant. Default 5, quick 2. */
  pacedSeconds?: number;
  /** Paced calls per second. Default 1000. */
  pacedRate?: number;
  /** Least time of the sequential warm-up, ms (it also runs `calls` calls per variant). Default 4000. */
  warmUpMs?: number;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
}

/** One variant's figures (latencies in µs). */
export interface ProxyVariantFigures {
  readonly variant: ProxyVariant;
  readonly route: string;
  readonly calls: number;
  readonly medianUs: number;
  readonly p99Us: number;
  /** Per round: this block's median minus direct's block median (absent for direct). */
  readonly addedPerRoundUs: readonly number[];
  /** Median of {@link addedPerRoundUs}. */
  readonly addedMedianUs: number | undefined;
  /**
   * CPU time (user + system, all threads) per measured call, in µs: for direct the server's
   * (over the calls of all three variants: it serves them all), for the others the relaying
   * process's own over its calls. Undefined where /proc is not readable.
   */
  readonly cpuPerCallUs: number | undefined;
}

/** The paced phase of one variant. */
export interface ProxyPacedFigures {
  readonly variant: ProxyVariant;
  readonly targetRate: number;
  readonly seconds: number;
  readonly calls: number;
  readonly answered: number;
  /** tools/call SERVER spans of the counted calls the receiver got after the bounded wait (proxy only). */
  readonly spans: number | undefined;
  readonly achievedRate: number;
  readonly medianUs: number;
  readonly p99Us: number;
  readonly maxUs: number;
  /** Connections the client opened for the paced calls. */
  readonly connections: number;
  /** ms waited after the last answer for the spans to arrive. */
  readonly waitedMs: number;
}

/** Everything a run measured. */
export interface ProxyOverheadReport {
  readonly node: string;
  readonly cpus: number;
  readonly sdk: string;
  readonly loadAverage: readonly [number, number];
  readonly rounds: number;
  readonly callsPerBlock: number;
  readonly variants: readonly ProxyVariantFigures[];
  /** tools/call spans received once the proxy exited / tools/call calls it relayed (every phase). */
  readonly allSpans: { readonly spans: number; readonly calls: number };
  readonly warmUpMs: number;
  readonly pacedWarmUpMs: number;
  readonly paced: readonly ProxyPacedFigures[];
}

/** A child process that printed the address it listens on. */
interface ListeningChild {
  readonly pid: number | undefined;
  /** The matched address (first capture group, plus the second when present). */
  readonly url: string;
  stop(): Promise<void>;
}

/** Spawns `node args...` and resolves once `pattern` matches its `stream`; rejects with its output otherwise. */
function startListening(
  label: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  stream: 'stdout' | 'stderr',
  pattern: RegExp,
): Promise<ListeningChild> {
  const child: ChildProcess = spawn(process.execPath, [...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${label} did not listen within 15 s; output:\n${output}`));
    }, 15_000);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${label} exited before listening; output:\n${output}`));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (output.length < 8192) output += chunk.toString('utf8');
    });
    let seen = '';
    let listening = false;
    child[stream]!.on('data', (chunk: Buffer) => {
      if (stream === 'stdout' && output.length < 8192) output += chunk.toString('utf8');
      if (listening) return;
      seen += chunk.toString('utf8');
      const match = pattern.exec(seen);
      if (match === null) return;
      listening = true;
      clearTimeout(timer);
      resolve({ pid: child.pid, url: `${match[1]!}${match[2] ?? ''}`, stop });
    });
  });
}

/** Request ids unique across every session of a run, so that spans can be matched by id. */
let nextRequestId = 1;

/** One MCP session over Streamable HTTP, raw POSTs on a keep-alive agent. */
class HttpMcpSession {
  private sessionId: string | undefined;

  private constructor(
    readonly label: string,
    private readonly url: URL,
    readonly agent: Agent,
  ) {}

  /** Runs initialize (keeping the session id), notifications/initialized and tools/list. */
  static async open(label: string, url: string, maxSockets: number): Promise<HttpMcpSession> {
    const session = new HttpMcpSession(label, new URL(url), new Agent({ keepAlive: true, maxSockets }));
    const init = await session.post(
      {
        jsonrpc: '2.0',
        id: nextRequestId++,
        method: 'initialize',
        params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'claude-code', version: '1.0.0' } },
      },
      20_000,
    );
    const id = init.headers['mcp-session-id'];
    if (init.status !== 200 || typeof id !== 'string') throw new Error(`${label}: initialize answered ${init.status}: ${init.body}`);
    session.sessionId = id;
    const initialized = await session.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, 10_000);
    if (initialized.status !== 202) throw new Error(`${label}: notifications/initialized answered ${initialized.status}`);
    await session.post({ jsonrpc: '2.0', id: nextRequestId++, method: 'tools/list', params: {} }, 10_000);
    return session;
  }

  /** The id the next request of the run will carry. */
  static peekNextId(): number {
    return nextRequestId;
  }

  /** One `tools/call add`, its answer checked; resolves with the time from sending to the answer body's end, in µs. */
  async call(timeoutMs = 10_000): Promise<number> {
    const id = nextRequestId++;
    const answer = await this.post(
      { jsonrpc: '2.0', id, method: MCP_METHOD.TOOLS_CALL, params: { name: 'add', arguments: { a: id, b: 2 } } },
      timeoutMs,
    );
    if (answer.status !== 200 || !answer.body.includes(`"text":"${id + 2}"`))
      throw new Error(`${this.label}: tools/call ${id} answered ${answer.status}: ${answer.body.slice(0, 300)}`);
    return answer.us;
  }

  /** Ends the session (DELETE) and the agent's connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const req = request(this.url, { method: 'DELETE', agent: this.agent, headers: this.headers() }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => resolve());
      req.setTimeout(5000, () => req.destroy());
      req.end();
    });
    this.agent.destroy();
  }

  /** Connections the agent opened so far. */
  connections(): number {
    return this.sockets.size;
  }

  private readonly sockets = new Set<Socket>();

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL_VERSION,
    };
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    return headers;
  }

  private post(
    message: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string; us: number }> {
    const body = Buffer.from(JSON.stringify(message));
    return new Promise((resolve, reject) => {
      const headers = { ...this.headers(), 'content-length': String(body.length) };
      const req = request(this.url, { method: 'POST', agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const at = process.hrtime.bigint();
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            us: Number(at - sentAt) / 1000,
          });
        });
        res.on('error', reject);
      });
      req.on('socket', (socket) => void this.sockets.add(socket));
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`${this.label}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      const sentAt = process.hrtime.bigint();
      req.end(body);
    });
  }
}

const ROUTES: Record<ProxyVariant, string> = {
  direct: 'client -> server',
  'pass-through': 'client -> node http-pass-through.mjs -> server',
  proxy: 'client -> node dist/bin/mcplens.js proxy -> server',
};

/** The three processes: the server, the pass-through and the proxy, and each variant's URL. */
interface Processes {
  readonly server: ListeningChild;
  readonly passThrough: ListeningChild;
  readonly proxy: ListeningChild;
  readonly urls: Readonly<Record<ProxyVariant, string>>;
  stop(): Promise<void>;
}

async function startProcesses(receiver: OtlpReceiver): Promise<Processes> {
  const env = { PATH: process.env.PATH ?? '' };
  const listening = /listening on (http:\/\/\S+)/;
  const started: ListeningChild[] = [];
  const stop = async (): Promise<void> => {
    for (const child of started.reverse()) await child.stop();
  };
  try {
    const server = await startListening('the server', [SERVER_ENTRY], env, 'stdout', listening);
    started.push(server);
    const origin = new URL(server.url).origin;
    const passThrough = await startListening('the pass-through', [PASS_THROUGH, origin], env, 'stdout', listening);
    started.push(passThrough);
    const proxy = await startListening(
      'mcplens proxy',
      [MCPLENS_BIN, 'proxy', '--target', server.url, '--port', '0'],
      { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint },
      'stderr',
      /listening on (http:\/\/[^/\s]+)(\S*) ->/,
    );
    started.push(proxy);
    const path = new URL(server.url).pathname;
    return {
      server,
      passThrough,
      proxy,
      urls: { direct: server.url, 'pass-through': `${passThrough.url}${path}`, proxy: proxy.url },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs the bench. */
export async function runProxyOverheadBench(options: ProxyOverheadOptions = {}): Promise<ProxyOverheadReport> {
  const quick = options.quick === true;
  const rounds = options.rounds ?? (quick ? 4 : 12);
  const calls = options.calls ?? (quick ? 300 : 1000);
  const pacedSeconds = options.pacedSeconds ?? (quick ? 2 : 5);
  const pacedRate = options.pacedRate ?? 1000;
  const warmUpMs = options.warmUpMs ?? 4000;
  const pacedWarmUpMs = 1000;
  const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const loadStart = loadavg()[0]!;

  const receiver = await startOtlpReceiver();
  const samples = new Map<ProxyVariant, number[]>(PROXY_VARIANTS.map((v) => [v, []]));
  const blockMedians = new Map<ProxyVariant, number[]>(PROXY_VARIANTS.map((v) => [v, []]));
  const cpuPerCall = new Map<ProxyVariant, number>();
  const paced: ProxyPacedFigures[] = [];
  let proxyCalls = 0;
  let allSpans: number;
  try {
    const processes = await startProcesses(receiver);
    const pids: Record<ProxyVariant, number | undefined> = {
      direct: processes.server.pid,
      'pass-through': processes.passThrough.pid,
      proxy: processes.proxy.pid,
    };
    const sessions = new Map<ProxyVariant, HttpMcpSession>();
    try {
      for (const variant of PROXY_VARIANTS) sessions.set(variant, await HttpMcpSession.open(variant, processes.urls[variant], 1));
      const block = async (variant: ProxyVariant, count: number): Promise<number[]> => {
        const session = sessions.get(variant)!;
        const out: number[] = [];
        for (let i = 0; i < count; i++) out.push(await session.call());
        if (variant === 'proxy') proxyCalls += count;
        return out;
      };
      log(`proxy overhead: warm-up, ${calls} calls per variant and at least ${warmUpMs} ms in all (not measured)`);
      const warmStart = performance.now();
      do {
        for (const variant of PROXY_VARIANTS) await block(variant, calls);
      } while (performance.now() - warmStart < warmUpMs);
      const cpuStart = PROXY_VARIANTS.map((variant) => processCpuSeconds(pids[variant]));
      for (let round = 0; round < rounds; round++) {
        const order = PROXY_VARIANTS.map((_, i) => PROXY_VARIANTS[(i + round) % PROXY_VARIANTS.length]!);
        const medians: string[] = [];
        for (const variant of order) {
          const latencies = await block(variant, calls);
          samples.get(variant)!.push(...latencies);
          const median = quantile(latencies, 0.5);
          blockMedians.get(variant)!.push(median);
          medians.push(`${variant} ${round1(median)}`);
        }
        log(`  round ${round + 1}/${rounds}: block medians (us) ${medians.join(', ')}`);
      }
      PROXY_VARIANTS.forEach((variant, i) => {
        const before = cpuStart[i];
        const after = processCpuSeconds(pids[variant]);
        // The server serves every variant's calls.
        const served = variant === 'direct' ? PROXY_VARIANTS.length * rounds * calls : rounds * calls;
        if (before !== undefined && after !== undefined) cpuPerCall.set(variant, ((after - before) * 1e6) / served);
      });
      for (const session of sessions.values()) await session.close();
      sessions.clear();

      for (const variant of PROXY_VARIANTS) {
        log(`proxy overhead: ${variant}, new session, ${pacedRate} calls/s for ${pacedWarmUpMs} ms (warm-up), then for ${pacedSeconds} s`);
        const figures = await runPaced(variant, processes.urls[variant], receiver, pacedRate, pacedSeconds, pacedWarmUpMs);
        if (variant === 'proxy') proxyCalls += figures.calls + Math.round((pacedRate * pacedWarmUpMs) / 1000);
        paced.push(figures);
      }
    } finally {
      for (const session of sessions.values()) await session.close();
      // The proxy exports its last spans when it stops.
      await processes.stop();
    }
    allSpans = countCallSpans(receiver.spans);
  } finally {
    await receiver.close();
  }

  const direct = blockMedians.get('direct')!;
  const variants = PROXY_VARIANTS.map((variant): ProxyVariantFigures => {
    const all = samples.get(variant)!;
    const added = variant === 'direct' ? [] : blockMedians.get(variant)!.map((m, i) => m - direct[i]!);
    return {
      variant,
      route: ROUTES[variant],
      calls: all.length,
      medianUs: quantile(all, 0.5),
      p99Us: quantile(all, 0.99),
      addedPerRoundUs: added,
      addedMedianUs: added.length === 0 ? undefined : quantile(added, 0.5),
      cpuPerCallUs: cpuPerCall.get(variant),
    };
  });
  return {
    node: process.version,
    cpus: cpus().length,
    sdk: sdkVersion(),
    loadAverage: [round1(loadStart), round1(loadavg()[0]!)],
    rounds,
    callsPerBlock: calls,
    variants,
    allSpans: { spans: allSpans, calls: proxyCalls },
    warmUpMs,
    pacedWarmUpMs,
    paced,
  };
}

/**
 * Calls paced at a steady rate on a new session (keep-alive connections, as many as the calls in
 * flight need): first for `warmUpMs` (not counted), then for `seconds`; for the proxy, the spans
 * of the counted calls (by request id) are counted after a bounded wait.
 */
async function runPaced(
  variant: ProxyVariant,
  url: string,
  receiver: OtlpReceiver,
  rate: number,
  seconds: number,
  warmUpMs: number,
): Promise<ProxyPacedFigures> {
  const session = await HttpMcpSession.open(`${variant} (paced)`, url, 64);
  try {
    await paceCalls(() => session.call(15_000), rate, Math.round((rate * warmUpMs) / 1000));
    const firstId = HttpMcpSession.peekNextId();
    const total = Math.round(rate * seconds);
    const { latencies, elapsedMs } = await paceCalls(() => session.call(15_000), rate, total);
    const lastId = HttpMcpSession.peekNextId();
    const counted = (spans: readonly ReceivedSpan[]): number =>
      countCallSpans(spans, (s) => {
        const id = Number(s.attributes[ATTR.JSONRPC_REQUEST_ID]);
        return id >= firstId && id < lastId;
      });
    const waitStart = performance.now();
    // BatchSpanProcessor defaults: a batch leaves every 5 s or at 512 spans; allow two periods.
    if (variant === 'proxy') await receiver.waitFor((spans) => counted(spans) >= total, 12_000).catch(() => undefined);
    const waitedMs = performance.now() - waitStart;
    return {
      variant,
      targetRate: rate,
      seconds,
      calls: total,
      answered: latencies.length,
      spans: variant === 'proxy' ? counted(receiver.spans) : undefined,
      achievedRate: Math.round((latencies.length * 1000) / Math.max(elapsedMs, 1e-9)),
      medianUs: quantile(latencies, 0.5),
      p99Us: quantile(latencies, 0.99),
      maxUs: latencies.length === 0 ? Number.NaN : Math.max(...latencies),
      connections: session.connections(),
      waitedMs: Math.round(waitedMs),
    };
  } finally {
    await session.close();
  }
}

/** The verdicts, one line each: met or MISS. */
export function proxyTargetLines(report: ProxyOverheadReport): string[] {
  const passThrough = report.variants.find((v) => v.variant === 'pass-through')!.addedMedianUs ?? Number.NaN;
  const proxy = report.variants.find((v) => v.variant === 'proxy')!.addedMedianUs ?? Number.NaN;
  const ratio = proxy / passThrough;
  const paced = report.paced.find((p) => p.variant === 'proxy')!;
  const lost = paced.calls - (paced.spans ?? 0);
  const verdict = (ok: boolean): string => (ok ? 'met ' : 'MISS');
  return [
    `  ${verdict(passThrough > 0 && ratio <= PROXY_TARGETS.maxRatioToPassThrough)}  proxy added median / pass-through added median: ${fmt(proxy)} us / ${fmt(passThrough)} us = ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} (target <= ${PROXY_TARGETS.maxRatioToPassThrough})`,
    `  ${verdict(lost <= PROXY_TARGETS.maxLostSpans && paced.answered === paced.calls)}  tools/call spans lost at a steady ${paced.targetRate} calls/s for ${paced.seconds} s: ${lost} of ${paced.calls} (${paced.answered} answered; target ${PROXY_TARGETS.maxLostSpans})`,
  ];
}

/** The figures as tables and target verdicts. */
export function formatProxyOverheadReport(report: ProxyOverheadReport): string {
  const out: string[] = [];
  out.push(
    `mcplens proxy overhead: tools/call add of mcp-http-server.mjs (SDK ${report.sdk}, Streamable HTTP, stateful, event-stream answers), one call at a time, ${report.rounds} interleaved rounds of ${report.callsPerBlock} calls per variant (node ${report.node}, ${report.cpus} CPUs, load average ${report.loadAverage[0]} -> ${report.loadAverage[1]})`,
  );
  out.push(
    `latency in us, POST sent to answer body ended (raw node:http client, keep-alive); warm-up at least ${report.warmUpMs} ms; +median: per round, block median minus direct block median; median of rounds`,
  );
  out.push(
    'cpu/call: CPU time per measured call, in us, of the server for direct (over all three variants calls, it serves them all), of the pass-through or the proxy process for the others',
  );
  out.push('');
  const header = ['variant', 'median', 'p99', '+median', 'range', 'cpu/call', 'route'];
  const rows = report.variants.map((v) => [
    v.variant,
    fmt(v.medianUs),
    fmt(v.p99Us),
    fmt(v.addedMedianUs, true),
    v.addedPerRoundUs.length === 0 ? '' : `${fmt(Math.min(...v.addedPerRoundUs))}..${fmt(Math.max(...v.addedPerRoundUs))}`,
    fmt(v.cpuPerCallUs),
    v.route,
  ]);
  out.push(...table(header, rows));
  out.push('');
  const first = report.paced[0]!;
  out.push(
    `paced: calls at ${first.targetRate}/s for ${first.seconds} s on a new session per variant, after ${report.pacedWarmUpMs} ms at that rate; spans: tools/call spans of those calls received after a bounded wait`,
  );
  out.push('');
  out.push(
    ...table(
      ['variant', 'calls/s', 'answered', 'median', 'p99', 'max', 'conns', 'spans/calls'],
      report.paced.map((p) => [
        p.variant,
        String(p.achievedRate),
        `${p.answered}/${p.calls}`,
        fmt(p.medianUs),
        fmt(p.p99Us),
        fmt(p.maxUs),
        String(p.connections),
        p.spans === undefined ? '-' : `${p.spans}/${p.calls}`,
      ]),
    ),
  );
  out.push(
    `all phases: ${report.allSpans.spans} tools/call spans received for ${report.allSpans.calls} tools/call calls through the proxy (after its exit)`,
  );
  out.push('');
  out.push('targets');
  out.push('');
  out.push(...proxyTargetLines(report));
  return out.join('\n');
}

/** Command-line flags, alone or prefixed `--proxy-` as bench/run.ts passes them. */
export function parseProxyOverheadArgs(argv: readonly string[]): { options: ProxyOverheadOptions; json: string | undefined } {
  return parseOverheadArgs(argv, 'proxy');
}

/** Runs the bench with command-line flags and prints its tables to stdout. */
export async function mainProxyOverhead(argv: readonly string[]): Promise<ProxyOverheadReport> {
  const { options, json } = parseProxyOverheadArgs(argv);
  process.stderr.write('proxy overhead bench...\n');
  const report = await runProxyOverheadBench(options);
  process.stdout.write(`\n${formatProxyOverheadReport(report)}\n`);
  if (json !== undefined) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainProxyOverhead(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
