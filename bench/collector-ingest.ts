/**
 * Collector ingest throughput: spans per second decoded from 512-span OTLP batches of
 * realistic MCP tools/call spans (recorded by the OTel SDK, serialised by the real
 * otlp-transformer serializers), for the collector's protobuf reader, protobufjs
 * (decode + toObject, the generic alternative) and the JSON decoder; optionally followed
 * by a tally callback (decode + tally). One process, one core, a bounded time per variant.
 *
 * Run: `npx tsc -p . && node dist/bench/collector-ingest.js [--duration-ms 1000] [--rounds 3] [--batch-size 512]`.
 */
import { pathToFileURL } from 'node:url';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { decodeTracesJson } from '../collector/decode-json.js';
import { decodeTracesProtobuf } from '../collector/decode-protobuf.js';
import type { SpanView } from '../collector/span-view.js';
import { buildToolCallSpans, PROTOBUFJS_TO_OBJECT } from '../test/collector/decode-fixtures.js';
import { loadOtlpTypes } from '../test/collector/decode-otlp-proto.js';

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
  for (const [name, value] of [['batchSize', batchSize], ['batches', batchCount], ['durationMs', durationMs], ['rounds', rounds]] as const) {
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
  ];
  if (options.includeProtobufjs ?? true) {
    const { ExportTraceServiceRequest } = loadOtlpTypes();
    variants.push({
      name: 'protobuf: protobufjs decode+toObject',
      bodies: protobufBodies,
      run: (b) => {
        const o = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(b as Uint8Array), PROTOBUFJS_TO_OBJECT) as { resourceSpans?: unknown[] };
        return o.resourceSpans?.length ?? 0;
      },
    });
  }
  variants.push({ name: 'json: JSON.parse + walk', bodies: jsonBodies, run: (b) => decodeTracesJson(b).length });
  const tally = options.tally;
  if (tally) {
    variants.push({
      name: 'protobuf: mcplens reader + tally',
      bodies: protobufBodies,
      run: (b) => {
        const spans = decodeTracesProtobuf(b as Uint8Array);
        tally(spans);
        return spans.length;
      },
    });
    variants.push({
      name: 'json: decode + tally',
      bodies: jsonBodies,
      run: (b) => {
        const spans = decodeTracesJson(b);
        tally(spans);
        return spans.length;
      },
    });
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
  const rows = results.map((r) => [r.variant, r.spansPerSecond.toLocaleString('en-US'), r.spansPerCpuSecond.toLocaleString('en-US'), String(r.bytesPerSpan), r.megabytesPerSecond.toFixed(1), String(r.iterations)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`collector ingest, ${batchSize}-span batches, one process, best round per variant (node ${process.version})`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const durationMs = Number(argValue('--duration-ms') ?? 1000);
  const batchSize = Number(argValue('--batch-size') ?? 512);
  const rounds = Number(argValue('--rounds') ?? 3);
  const results = runIngestBench({ durationMs, batchSize, rounds, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${formatIngestTable(results, batchSize)}\n`);
}
