/**
 * Past one collector, with real parts on loopback: two `mcplens collector` processes (the pair)
 * and a third (the reference) fed everything; three instrumented MCP servers (real SDK clients and
 * servers, real OTLP protobuf exporters) send each span to the reference and to one of the pair,
 * chosen by a hash of its session key as the OpenTelemetry Collector's load-balancing exporter
 * does; one real Prometheus scrapes the pair, another the reference, both every second with the
 * generated rules loaded.
 *
 * Proves: raw counters (calls, violations, tokens, histogram counts and buckets) summed over the
 * pair equal the reference's exactly, also across a collector stopped with SIGTERM mid-run (it
 * refuses ingest and waits for its last scrape; spans that end meanwhile wait in the router, as
 * in the load-balancing exporter's sending queue) and restarted; and the catalog gauge aggregated
 * with `max` over instances equals the reference, while `sum` counts a catalog once per instance.
 * Not proven here: that every rate()/quantile query of the dashboards agrees within scrape
 * timing (test/dashboards checks that every query aggregates across instances, gauges with max).
 *
 * Needs the Debian package `prometheus`; fails, never skips, without it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
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
import { instrumentServer } from '../../instrumentation/index.js';
import { prometheusRuleFile, resolveOptions } from '../../dashboards/index.js';

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
/** The collector's own request histogram counts HTTP requests, which differ by topology (batches, scrapes). */
const TOPOLOGY_DEPENDENT: string[] = [METRICS.COLLECTOR_REQUEST_DURATION.name];

function requireBinary(name: string, pkg: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`${name} not found on PATH: this test needs the Debian package ${pkg} (apt-get install -y ${pkg}). Not skipping.`);
}

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

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
let restartLog = '';
let restartCode: number | null = null;

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
      for (const [, v] of s.values) {
        const x = Number(v);
        if (x < prev) total += prev;
        prev = x;
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
    // Not `_sum`: a reset is seen only as a decrease (by Prometheus' increase() too), and a sum that
    // grows past its pre-restart value within one scrape interval hides it; counts never do here.
    if (m.type === 'histogram') return [`${m.name}_bucket`, `${m.name}_count`];
    return [];
  });
}

async function lastScrapeTime(prom: string): Promise<number> {
  const res = await fetch(`${prom}/api/v1/targets`);
  const body = (await res.json()) as { data: { activeTargets: Array<{ lastScrape: string; health: string }> } };
  const targets = body.data.activeTargets;
  return targets.length === 0 ? 0 : Math.min(...targets.map((t) => (t.health === 'up' ? Date.parse(t.lastScrape) : 0)));
}

beforeAll(async () => {
  const prometheusBin = requireBinary('prometheus', 'prometheus');
  tmp = await mkdtemp(join(tmpdir(), 'mcplens-multi-'));
  pairPorts.push(await freePort(), await freePort());
  refPort = await freePort();
  pair.push(startCollector(pairPorts[0]!), startCollector(pairPorts[1]!));
  reference = startCollector(refPort);
  await Promise.all([...pairPorts, refPort].map(collectorReady));

  const rules = join(tmp, 'rules.yaml');
  await writeFile(rules, stringify(prometheusRuleFile(resolveOptions({ evaluationInterval: '1s' })), { lineWidth: 0 }));
  for (const [name, ports] of [
    ['pair', pairPorts],
    ['reference', [refPort]],
  ] as const) {
    const port = await freePort();
    const config = join(tmp, `${name}.yml`);
    await writeFile(
      config,
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
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
  await Promise.allSettled(clients.map((c) => c.client.close()));
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
