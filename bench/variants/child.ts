/**
 * One bench child: sets up one telemetry variant, links an MCP server and client over one
 * transport, measures, and prints one JSON line (`ChildFigures`) on stdout. This process
 * is not an MCP stdio server, so stdout is free; diagnostics go to stderr.
 *
 * Run by bench/instrumentation-overhead.ts:
 * `node --expose-gc dist/bench/variants/child.js --variant mcplens --transport memory --calls 2000 --sequential-ms 3000 ...`
 */
import { parseArgs } from 'node:util';
import { RESULT_SIZES, TRANSPORT_NAMES, VARIANT_NAMES, type ChildFigures, type ResultSize, type SequentialFigures, type TransportName, type VariantName } from './figures.js';
import { drain, measureBurst, measurePaced, measureSequential, quantile } from './measure.js';
import type { VariantRuntime } from './variant.js';

/** The child's command line, validated. */
export interface ChildOptions {
  variant: VariantName;
  transport: TransportName;
  /** Warm-up calls per result size before anything is measured. */
  warmup: number;
  /** Most measured sequential calls per result size. */
  calls: number;
  /** Time bound of the sequential calls per result size, ms (at least 100 calls are made). */
  sequentialMs: number;
  burstMs: number;
  burstConcurrency: number;
  pacedRate: number;
  pacedSeconds: number;
}

function parseChildArgs(argv: string[]): ChildOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      variant: { type: 'string' },
      transport: { type: 'string' },
      warmup: { type: 'string', default: '500' },
      calls: { type: 'string', default: '2000' },
      'sequential-ms': { type: 'string', default: '3000' },
      'burst-ms': { type: 'string', default: '1000' },
      'burst-concurrency': { type: 'string', default: '32' },
      'paced-rate': { type: 'string', default: '1000' },
      'paced-seconds': { type: 'string', default: '3' },
    },
    strict: true,
  });
  const variant = values.variant as VariantName;
  if (!VARIANT_NAMES.includes(variant)) throw new Error(`--variant must be one of ${VARIANT_NAMES.join(', ')}, got ${String(values.variant)}`);
  const transport = values.transport as TransportName;
  if (!TRANSPORT_NAMES.includes(transport)) throw new Error(`--transport must be one of ${TRANSPORT_NAMES.join(', ')}, got ${String(values.transport)}`);
  const positive = (name: string, raw: string | undefined, allowZero = false): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(raw)}`);
    return n;
  };
  return {
    variant,
    transport,
    warmup: Math.floor(positive('warmup', values.warmup, true)),
    calls: Math.floor(positive('calls', values.calls)),
    sequentialMs: positive('sequential-ms', values['sequential-ms']),
    burstMs: positive('burst-ms', values['burst-ms']),
    burstConcurrency: Math.floor(positive('burst-concurrency', values['burst-concurrency'])),
    pacedRate: positive('paced-rate', values['paced-rate']),
    pacedSeconds: positive('paced-seconds', values['paced-seconds']),
  };
}

const WARMUP_MAX_MS = 1500;

async function setUpVariant(name: VariantName): Promise<VariantRuntime> {
  switch (name) {
    case 'bare':
      return (await import('./bare.js')).setUpBare();
    case 'bare-span':
      return (await import('./bare-span.js')).setUpBareSpan();
    case 'mcplens':
      return (await import('./mcplens.js')).setUpMcplens();
    case 'sentry':
      return (await import('./sentry.js')).setUpSentry();
    case 'mcplens-lean':
      return (await import('./mcplens.js')).setUpMcplensLean();
  }
}

async function main(): Promise<void> {
  const options = parseChildArgs(process.argv.slice(2));
  // Telemetry first, the MCP SDK after: the order an application's instrument file gives.
  const runtime = await setUpVariant(options.variant);
  const { createPair } = await import('./mcp-pair.js');
  const pair = await createPair(options.transport, runtime.hooks);
  // Warm-up: JIT, connection pools, caches. Bounded in time too (HTTP calls are slow on a busy machine).
  const warmupEnd = performance.now() + WARMUP_MAX_MS;
  const spansBeforeWarmup = runtime.toolCallSpans();
  let warmups = 0;
  for (; warmups < options.warmup && (warmups < 20 || performance.now() < warmupEnd); warmups++) {
    await pair.call('100B');
    await pair.call('10KB');
  }
  // The warm-up's spans must not land in the first measured phase.
  await drain(runtime, spansBeforeWarmup + 2 * warmups);
  // Alternate the sizes in halves so a drift over the child's life hits both alike.
  const half = Math.max(1, Math.floor(options.calls / 2));
  const parts: Record<ResultSize, HalfFigures[]> = { '100B': [], '10KB': [] };
  for (const size of [...RESULT_SIZES, ...[...RESULT_SIZES].reverse()]) {
    parts[size].push(await measureSequential(pair, runtime, size, half, options.sequentialMs / 2));
  }
  const burst = await measureBurst(pair, runtime, options.burstMs, options.burstConcurrency);
  const paced = await measurePaced(pair, runtime, options.pacedRate, options.pacedSeconds);
  await pair.close();
  const figures: ChildFigures = {
    variant: options.variant,
    transport: options.transport,
    node: process.version,
    sequential: { '100B': mergeHalves(parts['100B']), '10KB': mergeHalves(parts['10KB']) },
    burst,
    paced,
    allSpans: runtime.allSpans(),
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

type HalfFigures = Awaited<ReturnType<typeof measureSequential>>;

/** The two halves of one size as one phase: quantiles over all latencies, CPU over all calls. */
function mergeHalves(halves: HalfFigures[]): SequentialFigures {
  const latencies = halves.flatMap((h) => h.latenciesMs).sort((a, b) => a - b);
  const calls = latencies.length;
  const us = (ms: number): number => Math.round(ms * 10_000) / 10;
  return {
    calls,
    medianUs: us(quantile(latencies, 0.5)),
    p99Us: us(quantile(latencies, 0.99)),
    cpuUs: Math.round((halves.reduce((s, h) => s + h.cpuTotalUs, 0) / calls) * 10) / 10,
    spans: halves.reduce((s, h) => s + h.spans, 0),
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
