/**
 * Past one collector, with real parts on loopback: two `mcplens collector` processes (the pair)
 * and a third (the reference) fed everything; instrumented MCP servers (real SDK clients and
 * servers, real OTLP protobuf exporters) send each span to the reference and to one of the pair,
 * chosen by a hash of its session key as the OpenTelemetry Collector's load-balancing exporter
 * does; one real Prometheus scrapes the pair, another the reference, both every second with the
 * generated rules loaded (evaluated every second, range window {@link WINDOW_S} s).
 *
 * Two phases. First, rounds of calls from three services, with one collector of the pair stopped
 * with SIGTERM mid-run (it refuses ingest and waits for its last scrape; spans that end meanwhile
 * wait in the router, as in the load-balancing exporter's sending queue) and restarted. Proves:
 * raw counters (calls, violations, tokens, histogram counts and buckets) summed over the pair
 * equal the reference's exactly, across the reset; and the catalog gauge aggregated with `max`
 * over instances equals the reference, while `sum` counts a catalog once per instance.
 *
 * Then a steady phase, after the restart so that no range window spans a reset: every session
 * (the nine of the rounds, plus two instrumented agents of a guarded service: timeout, open
 * circuit breaker, idempotent replays and conflicts, denied calls, tool errors, unknown tools,
 * the client view) calls on its own timer, one call per {@link PERIOD_MS} ms, cycling its tools
 * and outcomes, the sessions' timers spread over the period. A {@link WARMUP_S} s warm-up creates
 * every label set on the reference and on the collector its session routes to; then a
 * {@link WINDOW_S} s window ends at T, the moment the calls stop. Every query of the generated
 * dashboards (Grafana's macros set to the window, label variables to "All", the drill-down's
 * single provider to the bad one), every recording rule's series and every alert's value and
 * alerting expression is evaluated at T on both Prometheus, once each target of both has been
 * scraped after T (a scrape in flight at T is stored at its start, before T) and each rule group
 * evaluated after T. Spans still in an export batch at a sample's moment are missing from it on
 * one side and not the other: the tolerance counts them, rather than a quiet tail after the calls
 * stop (rate() would extrapolate the last samples into it, differently per scrape phase).
 * Proves: no queried series began inside the window (rate() extrapolates each series from its
 * own first sample: a series born inside the window would be extrapolated differently on a
 * collector than on the reference); every query returns the same label sets, with values within
 * the tolerance that scrape phases and export batches allow (derived in test/e2e/query-parity.ts:
 * 7.9 %, 15.7 % for ratios, or for quantiles the same histogram bucket); and the queries without
 * data on both sides are exactly those reading a metric the workload leaves at zero (the
 * collector's drop counters).
 * The workload keeps every alert's value far from its threshold (0, or at least twice it;
 * latencies of milliseconds), so the alerting expressions compare exactly which series fire.
 *
 * Needs the Debian package `prometheus`; fails, never skips, without it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from '@opentelemetry/api';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { stringify } from 'yaml';
import { z } from 'zod';
import { ATTR, LABEL, METRICS, PROVIDERS } from '../../contract/index.js';
import { instrumentClient, instrumentServer } from '../../instrumentation/index.js';
import { prometheusRuleFile, resolveOptions } from '../../dashboards/index.js';
import { createGuardedShop, GUARDED_TOOL, SHOP_GUARDS } from '../support/guarded-shop.js';
import { freePort, requireBinary, waitFor } from '../support/loopback-process.js';
import { compareAnswers, differenceTable, labelKey, parityQueries, tolerance, type Difference } from './query-parity.js';

const BIN = fileURLToPath(new URL('../../bin/mcplens.js', import.meta.url));
const SERVICES = ['orders', 'billing', 'search'];
const AGENTS: Array<{ provider: string; model: string; bad: boolean }> = [
  { provider: PROVIDERS.ANTHROPIC, model: 'claude-sonnet-4', bad: false },
  { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', bad: true },
  { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', bad: false },
];
const ROUNDS = 24;
/** Tool calls per round: 1 per good agent, 4 per bad one, per service. */
const CALLS_PER_ROUND = SERVICES.length * AGENTS.reduce((n, a) => n + (a.bad ? 4 : 1), 0);
/** The whole-query comparison: its range window, the warm-up before it, the pacing of every session's calls. */
const WINDOW_S = 30;
const WARMUP_S = 6;
const PERIOD_MS = 100;
/** Longest a span waits in a BatchSpanProcessor (scheduledDelayMillis below) and its export. */
const BATCH_S = 0.3;
const SCRAPE_S = 1;
/** The rules and the queries, with the comparison's window. */
const RULE_OPTIONS = resolveOptions({ evaluationInterval: `${SCRAPE_S}s`, rateWindow: `${WINDOW_S}s` });
/** The collector's own request histogram counts HTTP requests, which differ by topology (batches, scrapes). */
const TOPOLOGY_DEPENDENT: string[] = [METRICS.COLLECTOR_REQUEST_DURATION.name];

interface Proc {
  child: ChildProcess;
  logs: string[];
}

function startProcess(bin: string, args: string[]): Proc {
  const logs: string[] = [];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b: Buffer): void => {
    logs.push(b.toString('utf8'));
    if (logs.length > 200) logs.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, logs };
}

async function stopProcess(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const child = p?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

function startCollector(port: number): Proc {
  return startProcess(process.execPath, [BIN, 'collector', '--port', String(port), '--shutdown-scrape-wait-ms', '5000']);
}

async function collectorReady(port: number): Promise<void> {
  await waitFor(`collector on ${port}`, 15_000, async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined));
}

/** Sends each ended span to the exporter its session key hashes to, as the load-balancing exporter routes. */
class SessionKeyRouter implements SpanProcessor {
  /** Spans held for a target being restarted, as the load-balancing exporter's sending queue holds them for a backend that is down. */
  private readonly held = new Map<number, ReadableSpan[]>();
  constructor(private readonly targets: SpanProcessor[]) {}
  hold(index: number): void {
    this.held.set(index, []);
  }
  /** Exports what the target's batch holds now (acknowledged before the target stops). */
  flush(index: number): Promise<void> {
    return this.targets[index]!.forceFlush();
  }
  release(index: number): void {
    const spans = this.held.get(index) ?? [];
    this.held.delete(index);
    for (const span of spans) this.targets[index]!.onEnd(span);
  }
  onStart(span: Span, parentContext: Context): void {
    for (const t of this.targets) t.onStart(span, parentContext);
  }
  onEnd(span: ReadableSpan): void {
    const key = String(span.attributes[ATTR.SESSION_KEY] ?? '');
    const index = createHash('sha256').update(key).digest()[0]! % this.targets.length;
    const held = this.held.get(index);
    if (held) held.push(span);
    else this.targets[index]!.onEnd(span);
  }
  async forceFlush(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.forceFlush()));
  }
  async shutdown(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.shutdown()));
  }
}

function batch(port: number): BatchSpanProcessor {
  return new BatchSpanProcessor(new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` }), {
    scheduledDelayMillis: 200,
    maxExportBatchSize: 512,
  });
}

function createServer(service: string): McpServer {
  const server = new McpServer({ name: service, version: '1.0.0' });
  server.registerTool('add', { description: 'Add two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('find_order', { description: 'Find an order by id', inputSchema: { id: z.string() } }, async ({ id }) => ({
    content: [{ type: 'text', text: JSON.stringify({ id, status: 'shipped' }) }],
  }));
  return server;
}

let tmp: string;
const pairPorts: number[] = [];
let refPort = 0;
const pair: Proc[] = [];
let reference: Proc | undefined;
const proms: Proc[] = [];
let pairProm = '';
let refProm = '';
const providers: BasicTracerProvider[] = [];
const routers: SessionKeyRouter[] = [];
const clients: Array<{ client: Client; agent: (typeof AGENTS)[number] }> = [];
const steadyClients: Client[] = [];
let restartLog = '';
let restartCode: number | null = null;
/** When the stopped collector of the pair was started again (ms): its counters begin from zero there. */
let restartedAt = 0;

async function round(): Promise<void> {
  await Promise.all(
    clients.map(async ({ client, agent }) => {
      // Agents list the tools as they start a task: the catalog gauge, on the restarted collector too.
      await client.listTools();
      const _meta = { baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=${agent.provider},${ATTR.GEN_AI_REQUEST_MODEL}=${agent.model}` };
      if (!agent.bad) {
        await client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta });
        return;
      }
      await client.callTool({ name: 'add', arguments: { a: 1 }, _meta }); // missing b
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta }); // its self-correction
      await client.callTool({ name: 'find_order', arguments: { id: 7 }, _meta }); // wrong type
      await client.callTool({ name: 'cancel_order', arguments: { id: 'o-1' }, _meta }); // no such tool
    }),
  );
}

/** The guarded service of the steady phase: every guard outcome the dashboards and alerts read. */
const GUARDED_SERVICE = 'payments';

/** One session's calls in the steady phase, made in turn, one per period. */
type Cycle = Array<() => Promise<unknown>>;

/** The calls of the round-based phase, one at a time: the good agent's two tools; the bad agent's malformed, corrected and unknown calls. */
function agentCycle(client: Client, agent: (typeof AGENTS)[number]): Cycle {
  const _meta = { baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=${agent.provider},${ATTR.GEN_AI_REQUEST_MODEL}=${agent.model}` };
  if (!agent.bad) {
    return [
      () => client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta }),
      () => client.callTool({ name: 'find_order', arguments: { id: 'o-1' }, _meta }),
    ];
  }
  return [
    () => client.callTool({ name: 'add', arguments: { a: 1 }, _meta }),
    () => client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta }),
    () => client.callTool({ name: 'find_order', arguments: { id: 7 }, _meta }),
    () => client.callTool({ name: 'cancel_order', arguments: { id: 'o-1' }, _meta }),
  ];
}

let orderNumber = 0;

/** A guarded session: a timeout, a refused export (its breaker open), an order and its replay, a refund and a conflicting reuse of its key, a denied refund, an unknown tool (the bad agent) or a failing one (the good agent). */
function guardedCycle(client: Client, agent: (typeof AGENTS)[number]): Cycle {
  const _meta = { baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=${agent.provider},${ATTR.GEN_AI_REQUEST_MODEL}=${agent.model}` };
  let requestId = '';
  return [
    () => client.callTool({ name: GUARDED_TOOL.SLOW, arguments: {}, _meta }),
    () => client.callTool({ name: GUARDED_TOOL.FLAKY, arguments: {}, _meta }),
    () => client.callTool({ name: GUARDED_TOOL.ORDER, arguments: { sku: 'SKU-1', request_id: (requestId = `r-${++orderNumber}`) }, _meta }),
    () => client.callTool({ name: GUARDED_TOOL.ORDER, arguments: { sku: 'SKU-1', request_id: requestId }, _meta }), // replayed
    () => client.callTool({ name: GUARDED_TOOL.REFUND, arguments: { amount: 1, request_id: requestId }, _meta }),
    () => client.callTool({ name: GUARDED_TOOL.REFUND, arguments: { amount: 2, request_id: requestId }, _meta }), // conflict
    () => client.callTool({ name: GUARDED_TOOL.DENIED, arguments: {}, _meta }),
    // The bad agent names a tool that does not exist; the good one stays clear of every malformed-call alert.
    agent.bad
      ? () => client.callTool({ name: 'void_order', arguments: {}, _meta })
      : () => client.callTool({ name: GUARDED_TOOL.BROKEN, arguments: {}, _meta }),
  ];
}

let stopSteady = false;
const steadyErrors: unknown[] = [];

/**
 * Runs a cycle until stopped: call k starts at `start + offset + k·PERIOD_MS` (or as soon as the
 * previous one returns), so each session's calls are evenly spread over time, not in bursts.
 */
async function paced(cycle: Cycle, start: number, offsetMs: number): Promise<void> {
  for (let k = 0; !stopSteady; k++) {
    const wait = start + offsetMs + k * PERIOD_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopSteady) return;
    try {
      await cycle[k % cycle.length]!();
    } catch (err) {
      steadyErrors.push(err);
    }
  }
}

async function query(
  prom: string,
  expr: string,
  time: number,
): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}&time=${time}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? body.status}`);
  if (body.data.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
  return body.data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
}

/** Label set without the target's own labels, as a key. */
function seriesKey(metric: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(metric)
      .filter(([k]) => k !== 'instance' && k !== 'job')
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}

/**
 * Everything every counter series counted since its collector started, from the raw samples
 * (no extrapolation): the last value plus the value before each reset, summed over instances.
 */
async function exactTotals(prom: string, names: string[], time: number): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const name of names) {
    const res = await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(`${name}[10m]`)}&time=${time}`);
    const body = (await res.json()) as { data: { result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> } };
    for (const s of body.data.result) {
      let total = 0;
      let prev = 0;
      let prevTime = 0;
      const restarted = s.metric.instance === `127.0.0.1:${pairPorts[0]}`;
      for (const [t, v] of s.values) {
        const x = Number(v);
        // Prometheus sees a reset only as a decrease; a bucket that had few calls before the restart
        // can be past that count again at the first scrape after it. The test knows when it restarted.
        if (x < prev || (restarted && prevTime < restartedAt / 1000 && t >= restartedAt / 1000)) total += prev;
        prev = x;
        prevTime = t;
      }
      total += prev;
      const key = seriesKey(s.metric);
      out.set(key, (out.get(key) ?? 0) + total);
    }
  }
  return out;
}

/** Names of the counter series (histograms' included) the workload makes, from the contract. */
function counterSeriesNames(): string[] {
  return Object.values(METRICS).flatMap((m) => {
    if (TOPOLOGY_DEPENDENT.includes(m.name)) return [];
    if (m.type === 'counter') return [m.name];
    // Not `_sum`: float sums added in another order (per collector, then over the pair) differ in the last bits.
    if (m.type === 'histogram') return [`${m.name}_bucket`, `${m.name}_count`];
    return [];
  });
}

/** The earliest last evaluation of the rule groups of a Prometheus (ms), 0 before every group was evaluated. */
async function lastEvaluationTime(prom: string): Promise<number> {
  const res = await fetch(`${prom}/api/v1/rules`);
  const body = (await res.json()) as { data: { groups: Array<{ lastEvaluation: string }> } };
  const groups = body.data.groups;
  return groups.length === 0 ? 0 : Math.min(...groups.map((g) => Date.parse(g.lastEvaluation) || 0));
}

async function lastScrapeTime(prom: string): Promise<number> {
  const res = await fetch(`${prom}/api/v1/targets`);
  const body = (await res.json()) as { data: { activeTargets: Array<{ lastScrape: string; health: string }> } };
  const targets = body.data.activeTargets;
  return targets.length === 0 ? 0 : Math.min(...targets.map((t) => (t.health === 'up' ? Date.parse(t.lastScrape) : 0)));
}

beforeAll(async () => {
  const prometheusBin = requireBinary(['prometheus'], 'prometheus');
  tmp = await mkdtemp(join(tmpdir(), 'mcplens-multi-'));
  pairPorts.push(await freePort(), await freePort());
  refPort = await freePort();
  pair.push(startCollector(pairPorts[0]!), startCollector(pairPorts[1]!));
  reference = startCollector(refPort);
  await Promise.all([...pairPorts, refPort].map(collectorReady));

  const rules = join(tmp, 'rules.yaml');
  await writeFile(rules, stringify(prometheusRuleFile(RULE_OPTIONS), { lineWidth: 0 }));
  for (const [name, ports] of [
    ['pair', pairPorts],
    ['reference', [refPort]],
  ] as const) {
    const port = await freePort();
    const config = join(tmp, `${name}.yml`);
    await writeFile(
      config,
      stringify({
        global: { scrape_interval: `${SCRAPE_S}s`, evaluation_interval: `${SCRAPE_S}s` },
        rule_files: [rules],
        scrape_configs: [{ job_name: 'mcplens-collector', static_configs: [{ targets: ports.map((p) => `127.0.0.1:${p}`) }] }],
      }),
    );
    proms.push(
      startProcess(prometheusBin, [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(tmp, `${name}-data`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ]),
    );
    if (name === 'pair') pairProm = `http://127.0.0.1:${port}`;
    else refProm = `http://127.0.0.1:${port}`;
  }
  await Promise.all(
    [pairProm, refProm].map((u, i) =>
      waitFor(`Prometheus ready (${proms[i]!.logs.join('').slice(-300)})`, 20_000, async () =>
        (await fetch(`${u}/-/ready`)).ok ? true : undefined,
      ),
    ),
  );

  // Prometheus applies its targets after a few seconds: the workload starts once every collector has been scraped.
  await waitFor('every collector scraped', 20_000, async () =>
    Math.min(await lastScrapeTime(pairProm), await lastScrapeTime(refProm)) > 0 ? true : undefined,
  );

  for (const service of SERVICES) {
    const router = new SessionKeyRouter(pairPorts.map(batch));
    routers.push(router);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: service }),
      spanProcessors: [router, batch(refPort)],
    });
    providers.push(provider);
    for (const agent of AGENTS) {
      const server = instrumentServer(createServer(service), { tracerProvider: provider });
      const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
      await server.connect(serverTransport);
      const client = new Client({ name: `${agent.provider}-agent`, version: '1.0.0' });
      await client.connect(clientTransport);
      clients.push({ client, agent });
    }
  }

  // The workload, with collector 0 stopped by SIGTERM and restarted halfway while traffic goes on.
  for (let i = 0; i < ROUNDS; i++) {
    if (i === ROUNDS / 2) {
      const stopping = pair[0]!;
      // As the load-balancing exporter's sending queue: what the collector acknowledged goes out
      // before it stops; what ends while it drains and restarts waits in the router until it is back.
      for (const r of routers) r.hold(0);
      await Promise.all(routers.map((r) => r.flush(0)));
      const stopped = stopProcess(stopping, 'SIGTERM').then(async (code) => {
        restartCode = code;
        restartLog = stopping.logs.join('');
        restartedAt = Date.now();
        pair[0] = startCollector(pairPorts[0]!);
        await collectorReady(pairPorts[0]!);
        for (const r of routers) r.release(0);
      });
      // Traffic goes on during the drain (held for the stopping collector).
      await round();
      await stopped;
    }
    await round();
    await new Promise((r) => setTimeout(r, 100));
  }
  await Promise.all(providers.map((p) => p.forceFlush()));
}, 90_000);

afterAll(async () => {
  stopSteady = true;
  await Promise.allSettled([...clients.map((c) => c.client.close()), ...steadyClients.map((c) => c.close())]);
  await Promise.allSettled(providers.map((p) => p.shutdown()));
  await Promise.allSettled([...proms, ...pair, reference].map((p) => stopProcess(p, 'SIGKILL')));
  if (tmp) await rm(tmp, { recursive: true, force: true });
}, 30_000);

describe('two collectors behind session-key routing against one fed everything', () => {
  /** The rounds, and the one sent while the collector drained. */
  const expectedCalls = (ROUNDS + 1) * CALLS_PER_ROUND;

  it('the SIGTERM-ed collector refused ingest, waited for its last scrape and exited 0', () => {
    expect(restartCode).toBe(0);
    expect(restartLog).toMatch(/SIGTERM, refusing new ingest/);
    expect(restartLog).toMatch(/last scrape scraped/);
  });

  it('counters are exactly equal, the restarted collector counted across its reset', async () => {
    const names = counterSeriesNames();
    let pairTotals = new Map<string, number>();
    let refTotals = new Map<string, number>();
    // Both Prometheus have scraped everything once the reference counts every call of the workload.
    const rounded = (m: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...m].map(([k, v]) => [k, Math.round(v * 1e9) / 1e9]));
    // Both Prometheus have scraped everything once every counter agrees (spans of the last batches
    // may reach one side a scrape later); past the bound the comparison below shows what differs.
    await waitFor('both Prometheus to hold the whole workload', 20_000, async () => {
      const time = Math.min(await lastScrapeTime(pairProm), await lastScrapeTime(refProm)) / 1000;
      refTotals = await exactTotals(refProm, names, time);
      pairTotals = await exactTotals(pairProm, names, time);
      const calls = (m: Map<string, number>): number =>
        [...m].filter(([k]) => k.includes(`"${METRICS.TOOL_CALLS.name}"`)).reduce((n, [, v]) => n + v, 0);
      if (calls(refTotals) !== expectedCalls || calls(pairTotals) !== expectedCalls) return undefined;
      const same = pairTotals.size === refTotals.size && [...refTotals].every(([k, v]) => Math.abs((pairTotals.get(k) ?? NaN) - v) < 1e-9);
      return same ? true : undefined;
    }).catch(() => undefined);
    expect(pairTotals.size).toBeGreaterThan(50);
    expect(rounded(pairTotals)).toEqual(rounded(refTotals));
    // Both collectors of the pair took part.
    const byInstance = await query(pairProm, `sum by (instance) (${METRICS.TOOL_CALLS.name})`, Date.now() / 1000);
    expect(byInstance.filter((r) => Number(r.value[1]) > 0).length).toBe(2);
  }, 40_000);

  it('gauges aggregate with max across instances; sum counts a catalog once per collector holding it', async () => {
    const time = Date.now() / 1000;
    const gauge = METRICS.TOOL_CATALOG_TOKENS.name;
    const by = (rows: Array<{ metric: Record<string, string>; value: [number, string] }>): Record<string, number> =>
      Object.fromEntries(rows.map((s) => [seriesKey(s.metric), Number(s.value[1])]));
    const labels = `without (instance, pod)`;
    const ref = by(await query(refProm, `max ${labels} (${gauge})`, time));
    expect(Object.keys(ref).length).toBe(SERVICES.length);
    expect(by(await query(pairProm, `max ${labels} (${gauge})`, time))).toEqual(ref);
    const sums = by(await query(pairProm, `sum ${labels} (${gauge})`, time));
    const holders = by(await query(pairProm, `count ${labels} (${gauge})`, time));
    for (const [k, v] of Object.entries(ref)) expect(sums[k]).toBe(v * holders[k]!);
    // At least one service's sessions went to both collectors: there `sum` doubles the catalog.
    expect(Object.values(holders)).toContain(2);
    expect(Object.keys(ref).every((k) => k.includes(`"${LABEL.SERVICE_NAME}"`))).toBe(true);
  }, 20_000);
});

describe('every dashboard, recording-rule and alert query answers the same on the pair as on the reference', () => {
  const queries = parityQueries(RULE_OPTIONS, PROVIDERS.OPENAI);
  /** End of the range windows: the steady phase's last moment. */
  let T = 0;
  let tol: ReturnType<typeof tolerance>;

  beforeAll(
    async () => {
      // The guarded service, instrumented clients included (the client view), behind the same routing.
      const router = new SessionKeyRouter(pairPorts.map(batch));
      routers.push(router);
      const provider = new BasicTracerProvider({
        resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: GUARDED_SERVICE }),
        spanProcessors: [router, batch(refPort)],
      });
      providers.push(provider);
      const cycles = clients.map(({ client, agent }) => agentCycle(client, agent));
      for (const agent of AGENTS.slice(0, 2)) {
        const server = instrumentServer(createGuardedShop(GUARDED_SERVICE), { tracerProvider: provider, guards: SHOP_GUARDS });
        const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
        const name = `${agent.provider}-ops-agent`;
        // What an HTTP transport behind the SDK's bearer auth hands the server: the caller's authInfo on every message.
        const authInfo = { token: 'in-memory', clientId: name, scopes: ['orders:write'] };
        const send = clientTransport.send.bind(clientTransport);
        clientTransport.send = (message, options) => send(message, { ...options, authInfo });
        await server.connect(serverTransport);
        const client = instrumentClient(new Client({ name, version: '1.0.0' }), {
          tracerProvider: provider,
          provider: agent.provider,
          model: agent.model,
        });
        await client.connect(clientTransport);
        await client.listTools();
        steadyClients.push(client);
        cycles.push(guardedCycle(client, agent));
      }
      // The slowest series gets one call per longest cycle.
      tol = tolerance(WINDOW_S, SCRAPE_S, BATCH_S, 1000 / (PERIOD_MS * Math.max(...cycles.map((c) => c.length))));

      // Every session calls on its own timer, the sessions' timers spread over the period.
      const start = Date.now();
      const loops = cycles.map((c, i) => paced(c, start, (i * PERIOD_MS) / cycles.length));
      await new Promise((r) => setTimeout(r, start + (WARMUP_S + WINDOW_S) * 1000 - Date.now()));
      T = Date.now() / 1000;
      stopSteady = true;
      await Promise.all(loops);
      await Promise.all(providers.map((p) => p.forceFlush()));
      // Everything sampled up to T is in both Prometheus once every target was scraped after T
      // (a scrape in flight at T is stored with its start time, before T); every rule group evaluated after T.
      await waitFor('every target of both Prometheus scraped and every rule group evaluated after T', 15_000, async () => {
        const scraped = Math.min(await lastScrapeTime(pairProm), await lastScrapeTime(refProm));
        const evaluated = Math.min(await lastEvaluationTime(pairProm), await lastEvaluationTime(refProm));
        return Math.min(scraped, evaluated) > T * 1000 + 500 ? true : undefined;
      });
    },
    (WARMUP_S + WINDOW_S) * 1000 + 40_000,
  );

  it('no series a query reads began inside the window: the warm-up created every label set on both sides', async () => {
    const names = [...new Set(queries.flatMap((q) => q.metrics))].sort();
    const counts = async (prom: string, time: number): Promise<Record<string, number>> =>
      Object.fromEntries(
        (await query(prom, `count by (__name__) ({__name__=~"${names.join('|')}"})`, time)).map((r) => [
          r.metric.__name__ ?? '',
          Number(r.value[1]),
        ]),
      );
    for (const prom of [pairProm, refProm]) expect(await counts(prom, T - WINDOW_S)).toEqual(await counts(prom, T));
  }, 20_000);

  it('every query returns the same label sets, values within the scrape-timing tolerance', async () => {
    expect(steadyErrors).toEqual([]);
    const diffs: Difference[] = [];
    let nonEmpty = 0;
    const allZero: string[] = [];
    let worst = 0;
    const nearThreshold: string[] = [];
    for (const q of queries) {
      const ref = await query(refProm, q.expr, T);
      const pair = await query(pairProm, q.expr, T);
      if (ref.length > 0) nonEmpty++;
      if (ref.length > 0 && ref.every((r) => Number(r.value[1]) === 0)) allZero.push(q.where);
      // An alert's value within a factor of two of its threshold could fire on one side only.
      const th = q.threshold;
      for (const r of th === undefined ? [] : ref) {
        const v = Number(r.value[1]);
        if (v > th! / 2 && v < th! * 2) nearThreshold.push(`${q.where} ${labelKey(r.metric)} ${v}`);
      }
      diffs.push(...compareAnswers(q, ref, pair, tol));
      const p = new Map(pair.map((r) => [labelKey(r.metric), Number(r.value[1])]));
      for (const r of ref) {
        const a = Number(r.value[1]);
        const b = p.get(labelKey(r.metric)) ?? NaN;
        if (Number.isFinite(a) && Number.isFinite(b) && a !== b)
          worst = Math.max(worst, Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));
      }
    }
    console.error(
      `${queries.length} queries, ${nonEmpty} with data (${allZero.length} of them all zeros); largest relative difference ${(100 * worst).toFixed(2)}% ` +
        `(tolerance ${(100 * tol.relative).toFixed(1)}%, ratios ${(100 * tol.ratioRelative).toFixed(1)}%, floor ${tol.floor.toFixed(3)})`,
    );
    console.error(`queries whose every value is 0 on the reference (they compare little):\n  ${allZero.join('\n  ')}`);
    if (diffs.length > 0) console.error(`queries that differ, pair against reference at T=${T}:\n${differenceTable(diffs)}`);
    expect(differenceTable(diffs)).toBe('');
    expect(nearThreshold).toEqual([]);
  }, 60_000);

  it('the queries without data on both sides are exactly those reading a metric the workload leaves at zero', async () => {
    const nonZero = new Set((await query(refProm, `count by (__name__) ({__name__=~".+"} != 0)`, T)).map((r) => r.metric.__name__ ?? ''));
    const empty: string[] = [];
    const unproduced: string[] = [];
    for (const q of queries.filter((x) => x.kind === 'value')) {
      const [ref, pair] = [await query(refProm, q.expr, T), await query(pairProm, q.expr, T)];
      if (ref.length === 0 && pair.length === 0) empty.push(q.where);
      if (q.metrics.some((m) => !nonZero.has(m))) unproduced.push(q.where);
    }
    console.error(`${empty.length} queries without data on both sides:\n  ${empty.join('\n  ')}`);
    expect(empty).toEqual(unproduced);
  }, 60_000);
});
