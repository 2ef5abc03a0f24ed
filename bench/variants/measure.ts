/**
 * Measuring loops run inside a bench child: sequential calls (latency, CPU including
 * deferred work), a burst with many calls in flight, and a paced steady rate. Each
 * phase ends with a drain that waits until the variant's telemetry reached its exporter.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadFigures, ResultSize, SequentialFigures } from './figures.js';
import type { McpPair } from './mcp-pair.js';
import type { VariantRuntime } from './variant.js';

const DRAIN_TIMEOUT_MS = 10_000;
/** Fewest sequential calls per phase whatever the time bound (a p99 needs some). */
const MIN_CALLS = 100;
/**
 * A drain gives up when the span count has not moved for this long after a flush. Generous:
 * mcplens counts tokens in a worker thread that starts on first use (hundreds of ms on a busy
 * machine), and its spans end only when the counts are back.
 */
const DRAIN_IDLE_MS = 2000;

/**
 * Waits until `expected` tools/call spans were exported (deferred work done, span
 * processor flushed), or until nothing moves any more (spans were lost). Bounded.
 */
export async function drain(runtime: VariantRuntime, expected: number): Promise<void> {
  if (!runtime.exportsSpans) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    return;
  }
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let last = runtime.toolCallSpans();
  let lastMove = performance.now();
  while (performance.now() < deadline) {
    // Deferred work (mcplens' tokenizing, span end) runs on timers: let the loop turn first.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await runtime.flush();
    const now = runtime.toolCallSpans();
    if (now >= expected) return;
    if (now !== last) {
      last = now;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > DRAIN_IDLE_MS) {
      return;
    }
    await sleep(5);
  }
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A full collection, so garbage of an earlier phase is not collected during the next one. */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Sequential calls with one result size, `maxCalls` or until `maxMs` have passed
 * (whichever comes first): latency per call, CPU per call over the loop plus the drain.
 * Returns the raw latencies (ms) too, so halves can be merged exactly.
 */
export async function measureSequential(
  pair: McpPair,
  runtime: VariantRuntime,
  size: ResultSize,
  maxCalls: number,
  maxMs: number,
): Promise<SequentialFigures & { latenciesMs: number[]; cpuTotalUs: number }> {
  const latencies: number[] = [];
  const spansBefore = runtime.toolCallSpans();
  const cpuBefore = cpuMicros();
  const deadline = performance.now() + maxMs;
  let calls = 0;
  while (calls < maxCalls && (calls < MIN_CALLS || performance.now() < deadline)) {
    const t0 = performance.now();
    await pair.call(size);
    latencies.push(performance.now() - t0);
    calls++;
    // In memory a whole round trip is microtasks: without this the event loop never turns
    // and deferred work (timers) would pile up until the drain. A real transport yields
    // for I/O between requests; so do we, outside the timed window.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  await drain(runtime, spansBefore + calls);
  const cpu = cpuMicros() - cpuBefore;
  const sorted = latencies.slice().sort((a, b) => a - b);
  return {
    latenciesMs: latencies,
    cpuTotalUs: cpu,
    calls,
    medianUs: round(quantile(sorted, 0.5) * 1000),
    p99Us: round(quantile(sorted, 0.99) * 1000),
    cpuUs: round(cpu / calls),
    spans: runtime.toolCallSpans() - spansBefore,
  };
}

/**
 * Calls (100 B results) with `concurrency` in flight, as fast as they go, for `durationMs`.
 * No yielding: in memory the event loop barely turns, the harshest case for deferred work
 * and batch export queues.
 */
export async function measureBurst(
  pair: McpPair,
  runtime: VariantRuntime,
  durationMs: number,
  concurrency: number,
): Promise<LoadFigures & { concurrency: number }> {
  collectGarbage();
  const latencies: number[] = [];
  const spansBefore = runtime.toolCallSpans();
  let issued = 0;
  const t0 = performance.now();
  const deadline = t0 + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      issued++;
      const start = performance.now();
      await pair.call('100B');
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = performance.now() - t0;
  const calls = issued;
  await drain(runtime, spansBefore + calls);
  latencies.sort((a, b) => a - b);
  return {
    calls,
    concurrency,
    spans: runtime.toolCallSpans() - spansBefore,
    rate: Math.round(calls / (elapsed / 1000)),
    medianUs: round(quantile(latencies, 0.5) * 1000),
    p99Us: round(quantile(latencies, 0.99) * 1000),
  };
}

/**
 * `rate` calls per second (100 B results) for `seconds`, issued on schedule whatever the
 * answers do. When the process cannot keep up (more than half a second of calls
 * unanswered) it stops issuing and says so (`sustained: false`), so the phase stays bounded.
 */
export async function measurePaced(
  pair: McpPair,
  runtime: VariantRuntime,
  rate: number,
  seconds: number,
): Promise<LoadFigures & { targetRate: number; sustained: boolean }> {
  collectGarbage();
  const total = Math.round(rate * seconds);
  const maxUnanswered = Math.max(10, Math.round(rate / 2));
  const latencies: number[] = [];
  const inFlight: Promise<void>[] = [];
  const spansBefore = runtime.toolCallSpans();
  const t0 = performance.now();
  let issued = 0;
  let sustained = true;
  while (issued < total && sustained) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    for (; issued < due; issued++) {
      const start = performance.now();
      inFlight.push(pair.call('100B').then(() => void latencies.push(performance.now() - start)));
    }
    if (issued - latencies.length > maxUnanswered) sustained = false;
    await sleep(1);
  }
  const issueElapsed = performance.now() - t0;
  await Promise.all(inFlight);
  await drain(runtime, spansBefore + issued);
  latencies.sort((a, b) => a - b);
  return {
    calls: issued,
    targetRate: rate,
    sustained,
    spans: runtime.toolCallSpans() - spansBefore,
    rate: Math.round(issued / (issueElapsed / 1000)),
    medianUs: round(quantile(latencies, 0.5) * 1000),
    p99Us: round(quantile(latencies, 0.99) * 1000),
  };
}
