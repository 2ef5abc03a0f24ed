/**
 * Collector ingest throughput: spans per second decoded from 512-span OTLP batches of
 * realistic MCP tools/call spans (recorded by the OTel SDK, serialised by the real
 * otlp-transformer serializers), for the collector's protobuf reader, protobufjs
 * (decode + toObject, the generic alternative) and the JSON decoder; optionally followed
 * by a tally callback (decode + tally). One process, one core, a bounded time per variant.
 *
 * With `realTally: true` the "decode + tally" variants run the collector's real pipeline:
 * the receiver's decode (projected to what the tally reads) into a real {@link Tally} built as
 * collector/index.ts builds it (OpenMetrics registry, default config).
 * {@link runRssAtCapBench} measures the resident memory of a real collector (child process,
 * driven over HTTP) with every metric at the cardinality cap, scrapes included.
 *
 * Run: `npx tsc -p . && node dist/bench/collector-ingest.js [--duration-ms 1000] [--rounds 3] [--batch-size 512] [--rss]`.
 */
import { spawn } from 'node:child_process';
import { SpanKind } from '@opentelemetry/api';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { Registry, type RegistryContentType } from 'prom-client';
import { MCP_METHOD, METRICS, OUTCOMES, VIOLATION_KINDS, ATTR } from '../contract/index.js';
import { resolveConfig } from '../collector/config.js';
import { decodeTracesJson } from '../collector/decode-json.js';
import { decodeTracesProtobuf } from '../collector/decode-protobuf.js';
import { createCollectorMetrics } from '../collector/metrics.js';
import type { SpanView } from '../collector/span-view.js';
import { SummaryStore } from '../collector/summary.js';
import { Tally, TALLY_PROJECTION } from '../collector/tally.js';
import { buildToolCallSpans, PROTOBUFJS_TO_OBJECT, recordSpans } from '../harness/otlp-span-fixtures.js';
import { loadOtlpTypes } from '../harness/otlp-proto-types.js';

/** Options of {@link runIngestBench}; every field optional. */
export interface IngestBenchOptions {
  /** Spans per OTLP request. Default 512. */
  batchSize?: number;
  /** Distinct batches cycled through (different tools, callers, ids). Default 8. */
  batches?: number;
  /** Measured time per variant and round, after a warm-up of a quarter of it. Default 1000 ms. */
  durationMs?: number;
  /** Rounds; each variant reports its best round (by CPU time). Default 3. */
  rounds?: number;
  /** Tallies decoded spans; when given, "decode + tally" variants are measured too. */
  tally?: (spans: SpanView[]) => void;
  /**
   * Measure "decode + tally" with the collector's real pipeline: projected decode (as the
   * receiver does) into a real Tally built as collector/index.ts builds it. Default false;
   * ignored when `tally` is given.
   */
  realTally?: boolean;
  /**
   * With `realTally`: also measure "decode + tally" with the value checks (label value length, token count range) off
   * (label values unchecked, token counts unvalidated), so the table ends with the same-run
   * ratio checks on / checks off. Default true.
   */
  compareChecks?: boolean;
  /** Include protobufjs decode + toObject (the baseline). Default true. */
  includeProtobufjs?: boolean;
  /** Where progress lines go. Default: nowhere. */
  log?: (line: string) => void;
}

/** One measured variant. */
export interface IngestBenchResult {
  variant: string;
  spansPerSecond: number;
  /**
   * Spans per second of this process' CPU time (user + system, all threads, GC included):
   * the per-core figure, steadier than wall time when the machine is shared.
   */
  spansPerCpuSecond: number;
  /** Mean wire bytes per span of the encoding measured. */
  bytesPerSpan: number;
  /** Wire megabytes (10^6) decoded per second. */
  megabytesPerSecond: number;
  /** Batches decoded in the measured time (of the best round). */
  iterations: number;
}

interface Variant {
  name: string;
  bodies: readonly (Uint8Array | string)[];
  run: (body: Uint8Array | string) => number;
}

/** Sinks results so the JIT cannot drop the work. */
let sink = 0;

function measure(variant: Variant, batchSize: number, durationMs: number): IngestBenchResult {
  const { bodies, run } = variant;
  const once = (budgetMs: number): { n: number; ms: number; cpuMs: number } => {
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(budgetMs * 1e6));
    let n = 0;
    let now = start;
    // Check the clock every 8 batches: a batch takes about a millisecond.
    while (now < deadline) {
      for (let i = 0; i < 8; i++, n++) sink += run(bodies[n % bodies.length]!);
      now = process.hrtime.bigint();
    }
    const cpu = process.cpuUsage(cpuStart);
    return { n, ms: Number(now - start) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  once(durationMs / 4);
  const { n, ms, cpuMs } = once(durationMs);
  const bytes = bodies.reduce<number>((sum, b) => sum + (typeof b === 'string' ? Buffer.byteLength(b) : b.length), 0) / bodies.length;
  const seconds = ms / 1000;
  return {
    variant: variant.name,
    spansPerSecond: Math.round((n * batchSize) / seconds),
    spansPerCpuSecond: Math.round((n * batchSize) / (cpuMs / 1000)),
    bytesPerSpan: Math.round(bytes / batchSize),
    megabytesPerSecond: Math.round(((n * bytes) / seconds / 1e6) * 10) / 10,
    iterations: n,
  };
}

/**
 * Measures decode throughput per variant and returns the figures (also usable from
 * `npm run bench`). Synchronous: it occupies the thread for about
 * 1.25 x durationMs x rounds per variant, plus a second or two to build the batches.
 */
export function runIngestBench(options: IngestBenchOptions = {}): IngestBenchResult[] {
  const batchSize = options.batchSize ?? 512;
  const batchCount = options.batches ?? 8;
  const durationMs = options.durationMs ?? 1000;
  const rounds = options.rounds ?? 3;
  for (const [name, value] of [
    ['batchSize', batchSize],
    ['batches', batchCount],
    ['durationMs', durationMs],
    ['rounds', rounds],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`runIngestBench: ${name} must be a positive integer, got ${value}`);
  }
  const log = options.log ?? (() => {});
  log(`building ${batchCount} batches of ${batchSize} tools/call spans with the OTel SDK...`);
  const protobufBodies: Uint8Array[] = [];
  const jsonBodies: string[] = [];
  for (let b = 0; b < batchCount; b++) {
    const spans = buildToolCallSpans(batchSize, 1000 + b, `mcp-server-${b % 3}`);
    const proto = ProtobufTraceSerializer.serializeRequest(spans);
    const json = JsonTraceSerializer.serializeRequest(spans);
    if (!proto || !json) throw new Error('serializer returned nothing');
    protobufBodies.push(proto);
    jsonBodies.push(Buffer.from(json).toString('utf8'));
  }
  // Same spans either way, or the comparison means nothing.
  const check = decodeTracesProtobuf(protobufBodies[0]!);
  if (check.length !== batchSize || JSON.stringify(check) !== JSON.stringify(decodeTracesJson(jsonBodies[0]!))) {
    throw new Error('protobuf and JSON decoders disagree on the benchmark batch');
  }

  const variants: Variant[] = [
    { name: 'protobuf: mcplens reader', bodies: protobufBodies, run: (b) => decodeTracesProtobuf(b as Uint8Array).length },
    // What the receiver runs: only the attributes and events the tally reads are decoded.
    {
      name: 'protobuf: mcplens reader, projected',
      bodies: protobufBodies,
      run: (b) => decodeTracesProtobuf(b as Uint8Array, undefined, TALLY_PROJECTION).length,
    },
  ];
  if (options.includeProtobufjs ?? true) {
    const { ExportTraceServiceRequest } = loadOtlpTypes();
    variants.push({
      name: 'protobuf: protobufjs decode+toObject',
      bodies: protobufBodies,
      run: (b) => {
        const o = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(b as Uint8Array), PROTOBUFJS_TO_OBJECT) as {
          resourceSpans?: unknown[];
        };
        return o.resourceSpans?.length ?? 0;
      },
    });
  }
  variants.push({ name: 'json: JSON.parse + walk', bodies: jsonBodies, run: (b) => decodeTracesJson(b).length });
  const custom = options.tally;
  if (custom) {
    variants.push({
      name: 'protobuf: mcplens reader + tally',
      bodies: protobufBodies,
      run: (b) => {
        const spans = decodeTracesProtobuf(b as Uint8Array);
        custom(spans);
        return spans.length;
      },
    });
    variants.push({
      name: 'json: decode + tally',
      bodies: jsonBodies,
      run: (b) => {
        const spans = decodeTracesJson(b);
        custom(spans);
        return spans.length;
      },
    });
  } else if (options.realTally) {
    const { tally } = createBenchTally();
    variants.push({
      name: 'protobuf: mcplens reader + tally',
      bodies: protobufBodies,
      run: (b) => {
        const spans = decodeTracesProtobuf(b as Uint8Array, undefined, TALLY_PROJECTION);
        tally.record(spans, 'protobuf');
        return spans.length;
      },
    });
    variants.push({
      name: 'json: decode + tally',
      bodies: jsonBodies,
      run: (b) => {
        const spans = decodeTracesJson(b, undefined, TALLY_PROJECTION);
        tally.record(spans, 'json');
        return spans.length;
      },
    });
    if (options.compareChecks ?? true) {
      const { tally: unchecked } = createBenchTally({ valueChecks: false });
      variants.push({
        name: `protobuf: mcplens reader + tally${CHECKS_OFF}`,
        bodies: protobufBodies,
        run: (b) => {
          const spans = decodeTracesProtobuf(b as Uint8Array, undefined, TALLY_PROJECTION);
          unchecked.record(spans, 'protobuf');
          return spans.length;
        },
      });
      variants.push({
        name: `json: decode + tally${CHECKS_OFF}`,
        bodies: jsonBodies,
        run: (b) => {
          const spans = decodeTracesJson(b, undefined, TALLY_PROJECTION);
          unchecked.record(spans, 'json');
          return spans.length;
        },
      });
    }
  }
  // Variants take turns, round after round, and each keeps its best round: on a shared
  // machine a neighbour's burst then costs one round of one variant, not the comparison.
  const best = new Map<string, IngestBenchResult>();
  for (let round = 1; round <= rounds; round++) {
    for (const variant of variants) {
      log(`round ${round}/${rounds}: ${variant.name} for ${durationMs} ms...`);
      const result = measure(variant, batchSize, durationMs);
      const previous = best.get(variant.name);
      if (!previous || result.spansPerCpuSecond > previous.spansPerCpuSecond) best.set(variant.name, result);
    }
  }
  if (sink === -1) log('');
  return variants.map((v) => best.get(v.name)!);
}

/** The results as a fixed-width text table. */
export function formatIngestTable(results: readonly IngestBenchResult[], batchSize = 512): string {
  const header = ['variant', 'spans/s (wall)', 'spans/cpu-s', 'bytes/span', 'MB/s', 'batches'];
  const rows = results.map((r) => [
    r.variant,
    r.spansPerSecond.toLocaleString('en-US'),
    r.spansPerCpuSecond.toLocaleString('en-US'),
    String(r.bytesPerSpan),
    r.megabytesPerSecond.toFixed(1),
    String(r.iterations),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  // Same-run ratios of the issue-10 value checks: each "checks off" variant against its twin.
  const ratios = results
    .filter((r) => r.variant.endsWith(CHECKS_OFF))
    .flatMap((off) => {
      const on = results.find((r) => r.variant === off.variant.slice(0, -CHECKS_OFF.length));
      return on ? [`${on.variant}: ${(on.spansPerCpuSecond / off.spansPerCpuSecond).toFixed(3)}`] : [];
    });
  const ratioLines =
    ratios.length > 0 ? [`value checks on / off (spans per CPU-second, same run; target >= 0.9): ${ratios.join('; ')}`] : [];
  return [
    `collector ingest, ${batchSize}-span batches, one process, best round per variant (node ${process.version})`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    ...ratioLines,
  ].join('\n');
}

/** Suffix of the variants measured with the value checks (label value length, token count range) off. */
const CHECKS_OFF = ', checks off';

/** A registry, metrics, summary and Tally built as collector/index.ts builds them (default config). */
export function createBenchTally(options: { valueChecks?: boolean } = {}): { registry: Registry<RegistryContentType>; tally: Tally } {
  const config = resolveConfig({});
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const metrics = createCollectorMetrics(registry);
  const summary = new SummaryStore({
    recentViolations: config.recentViolations,
    trendBucketSeconds: config.trendBucketSeconds,
    trendBuckets: config.trendBuckets,
  });
  const tally = new Tally({
    metrics,
    summary,
    cardinalityLimit: config.cardinalityLimit,
    maxLabelValueBytes: config.maxLabelValueBytes,
    valueChecks: options.valueChecks,
    selfCorrectionWindowMs: config.selfCorrectionWindowSeconds * 1000,
    selfCorrectionMaxKeys: config.selfCorrectionMaxKeys,
  });
  return { registry, tally };
}

/** Resident memory of a real collector with the metrics at the cardinality cap (megabytes, 2^20 bytes). */
export interface RssAtCapResult {
  /** Series per metric allowed (the default cap). */
  cardinalityLimit: number;
  /** Series per metric after ingest (counted in the OpenMetrics scrape), by metric name. */
  series: Record<string, number>;
  /** RSS of the collector before any span (express, prom-client and the collector loaded). */
  rssIdleMb: number;
  /** RSS after ingest, after a GC and a short idle (steady state between scrapes). */
  rssAfterIngestMb: number;
  /** JS heap in use after ingest, after a GC. */
  heapAfterIngestMb: number;
  /** Highest RSS before the first scrape (ingest only). */
  peakIngestRssMb: number;
  /** RSS after two rounds of an OpenMetrics and a classic scrape, after a GC and a short idle. */
  rssAfterScrapeMb: number;
  /** Highest RSS of the collector process over its life (ingest and both scrapes included). */
  peakRssMb: number;
  /** Size of the OpenMetrics and classic scrape bodies. */
  openMetricsMb: number;
  classicMb: number;
  /** Spans posted (protobuf, 512 per request). */
  spans: number;
}

const MB = 1024 * 1024;
const RSS_DISTINCT_SPANS = 60_000;

/**
 * Spans with label values that fill every per-call metric and the duration histogram past
 * the cap: about 2,600 tools x 4 providers x 5 outcomes (error types), so the duration
 * histogram passes 10,000 label sets and the call label sets pass the ~1,000 the
 * violations metric (10 kinds each) admits.
 */
function capBatch(offset: number, count: number): Uint8Array {
  const spans = recordSpans({ [ATTR.SERVICE_NAME]: 'rss-bench' }, offset + 1, (tracer) => {
    for (let i = offset; i < offset + count; i++) {
      const outcome = OUTCOMES[i % OUTCOMES.length]!;
      const attributes: Record<string, string | number> = {
        [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
        [ATTR.GEN_AI_TOOL_NAME]: `tool_${Math.floor(i / 20) % 2600}`,
        [ATTR.GEN_AI_PROVIDER_NAME]: `provider_${Math.floor(i / 5) % 4}`,
        [ATTR.GEN_AI_REQUEST_MODEL]: `model_${Math.floor(i / 5) % 4}`,
        [ATTR.OUTCOME]: outcome,
        [ATTR.SESSION_KEY]: `s-${i % 500}`,
        [ATTR.TOKENS_ARGUMENTS]: 10 + (i % 90),
        [ATTR.TOKENS_RESULT]: 100 + (i % 900),
      };
      if (outcome !== 'ok') attributes[ATTR.ERROR_TYPE] = outcome;
      if (i % 3 === 0) attributes[ATTR.VIOLATION_KIND] = VIOLATION_KINDS[1 + (i % (VIOLATION_KINDS.length - 1))]!;
      const startMs = 1_767_000_000_000 + i;
      tracer.startSpan('tools/call', { kind: SpanKind.SERVER, attributes, startTime: startMs }).end(startMs + (i % 1000));
    }
  });
  const body = ProtobufTraceSerializer.serializeRequest(spans);
  if (!body) throw new Error('serializer returned nothing');
  return body;
}

/** Options of {@link runRssAtCapBench}; every field optional. */
export interface RssAtCapOptions {
  /** Where progress lines go. Default: nowhere. */
  log?: (line: string) => void;
  /** The collector module the child loads (exporting `createCollector`), e.g. another build to compare. Default: this build's collector/index.js. */
  collectorModule?: string;
  /** Extra node flags for the child (e.g. `--max-semi-space-size=8`). Default none. */
  execArgv?: string[];
}

/** What the child reports about its memory. */
interface ChildMemory {
  rss: number;
  heapUsed: number;
  maxRss: number;
}

/** The collector child: a real `createCollector()` on 127.0.0.1:0, answering memory questions over IPC. */
const RSS_CHILD_SOURCE = `
const { createCollector } = await import(process.argv[1]);
const collector = createCollector({ host: '127.0.0.1', port: 0 });
const { url } = await collector.listen();
const settle = async () => { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 500)); globalThis.gc?.(); };
process.on('message', async (m) => {
  if (m === 'memory') {
    const maxRss = process.resourceUsage().maxRSS * 1024;
    await settle();
    const u = process.memoryUsage();
    process.send({ rss: u.rss, heapUsed: u.heapUsed, maxRss });
  } else if (m === 'close') {
    await collector.close();
    process.disconnect();
  }
});
process.send({ url });
`;

/**
 * RSS of a real collector (`createCollector()` with the default config, in a fresh
 * `node --expose-gc` child, so this process' heap does not count) driven over HTTP: 120,000
 * protobuf spans in 512-span requests whose label values take every metric to the
 * cardinality cap, then two rounds of an OpenMetrics and a classic `GET /metrics`. Takes about 20 s.
 */
export async function runRssAtCapBench(options: RssAtCapOptions = {}): Promise<RssAtCapResult> {
  const log = options.log ?? (() => {});
  log('rss at cap: building protobuf batches...');
  const bodies: Uint8Array[] = [];
  for (let offset = 0; offset < RSS_DISTINCT_SPANS; offset += 512)
    bodies.push(capBatch(offset, Math.min(512, RSS_DISTINCT_SPANS - offset)));
  const entry = options.collectorModule ?? fileURLToPath(new URL('../collector/index.js', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--expose-gc', ...(options.execArgv ?? []), '--input-type=module', '-e', RSS_CHILD_SOURCE, entry],
    {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const messages: unknown[] = [];
  const waiters: Array<(m: unknown) => void> = [];
  child.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else messages.push(m);
  });
  const next = <T>(): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (messages.length > 0) {
        resolve(messages.shift() as T);
        return;
      }
      const timer = setTimeout(() => reject(new Error('rss child did not answer within 60 s')), 60_000);
      waiters.push((m) => {
        clearTimeout(timer);
        resolve(m as T);
      });
    });
  const memory = async (): Promise<ChildMemory> => {
    child.send('memory');
    return next<ChildMemory>();
  };
  try {
    const { url } = await next<{ url: string }>();
    const idle = await memory();
    log(`rss at cap: posting ${(bodies.length * 2).toLocaleString('en-US')} requests...`);
    let spans = 0;
    for (let round = 0; round < 2; round++) {
      for (const body of bodies) {
        const res = await fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body });
        if (res.status !== 200) throw new Error(`POST /v1/traces answered ${res.status}`);
        await res.arrayBuffer();
      }
      spans += RSS_DISTINCT_SPANS;
    }
    const afterIngest = await memory();
    log('rss at cap: scraping...');
    const open = await (await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).text();
    const openBytes = Buffer.byteLength(open);
    const series: Record<string, number> = {};
    for (const def of Object.values(METRICS)) {
      const prefix = def.type === 'histogram' ? `${def.name}_count{` : `${def.name}{`;
      let n = 0;
      for (let i = open.indexOf(prefix); i >= 0; i = open.indexOf(prefix, i + 1)) n++;
      series[def.name] = n;
    }
    let classicBytes = (await (await fetch(`${url}/metrics`)).arrayBuffer()).byteLength;
    // Prometheus scrapes again and again: a second pair of scrapes shows the steady state.
    await (await fetch(`${url}/metrics`, { headers: { accept: 'application/openmetrics-text; version=1.0.0' } })).arrayBuffer();
    classicBytes = (await (await fetch(`${url}/metrics`)).arrayBuffer()).byteLength;
    const afterScrape = await memory();
    child.send('close');
    const mb = (n: number): number => Math.round((n / MB) * 10) / 10;
    return {
      cardinalityLimit: resolveConfig({}).cardinalityLimit,
      series,
      rssIdleMb: mb(idle.rss),
      rssAfterIngestMb: mb(afterIngest.rss),
      heapAfterIngestMb: mb(afterIngest.heapUsed),
      peakIngestRssMb: mb(afterIngest.maxRss),
      rssAfterScrapeMb: mb(afterScrape.rss),
      peakRssMb: mb(afterScrape.maxRss),
      openMetricsMb: mb(openBytes),
      classicMb: mb(classicBytes),
      spans,
    };
  } finally {
    setTimeout(() => child.kill(), 2000).unref();
  }
}

/** The RSS figures as text. */
export function formatRssAtCap(r: RssAtCapResult): string {
  const series = Object.entries(r.series)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `  ${name}: ${n.toLocaleString('en-US')} series`)
    .join('\n');
  return [
    `collector RSS at the cardinality cap (real collector over HTTP, limit ${r.cardinalityLimit.toLocaleString('en-US')} series per metric, ${r.spans.toLocaleString('en-US')} spans, node ${process.version})`,
    series,
    `  RSS idle: ${r.rssIdleMb} MB`,
    `  RSS after ingest (after GC): ${r.rssAfterIngestMb} MB (JS heap in use ${r.heapAfterIngestMb} MB); peak while ingesting: ${r.peakIngestRssMb} MB`,
    `  after 2 x (OpenMetrics ${r.openMetricsMb} MB + classic ${r.classicMb} MB) scrapes: ${r.rssAfterScrapeMb} MB; peak over the run: ${r.peakRssMb} MB`,
  ].join('\n');
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const durationMs = Number(argValue('--duration-ms') ?? 1000);
  const batchSize = Number(argValue('--batch-size') ?? 512);
  const rounds = Number(argValue('--rounds') ?? 3);
  const results = runIngestBench({ durationMs, batchSize, rounds, realTally: true, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${formatIngestTable(results, batchSize)}\n`);
  if (process.argv.includes('--rss')) {
    runRssAtCapBench({ log: (l) => process.stderr.write(`${l}\n`) }).then(
      (r) => process.stdout.write(`${formatRssAtCap(r)}\n`),
      (err: unknown) => process.stderr.write(`rss bench failed: ${(err as Error).message}\n`),
    );
  }
}
