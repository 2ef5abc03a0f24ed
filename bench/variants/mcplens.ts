import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { InstrumentOptions, StructuredLogger } from '../../instrumentation/index.js';
import { setUpOtel } from './otel-setup.js';
import type { VariantRuntime } from './variant.js';

/** A pino-like logger that drops every line (the call log is on; writing it out is not measured). */
const noopLogger: StructuredLogger = { info: () => {} };

/**
 * mcplens with every feature on: `instrumentServer(server, { log })`, token counting
 * (default on), schema grading, provider from `_meta` baggage, the duration histogram
 * (a MeterProvider with a reader is registered), the same tracer set-up as the floor.
 */
export async function setUpMcplens(): Promise<VariantRuntime> {
  return setUp(true);
}

/**
 * Diagnostic: mcplens with token counting, the call log and the MeterProvider off, to tell
 * the request path's cost from the deferred work's.
 */
export async function setUpMcplensLean(): Promise<VariantRuntime> {
  return setUp(false);
}

async function setUp(everything: boolean): Promise<VariantRuntime> {
  const { exporter, provider } = setUpOtel();
  if (everything) {
    const meterProvider = new MeterProvider({
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
          exportIntervalMillis: 60_000,
        }),
      ],
    });
    metrics.setGlobalMeterProvider(meterProvider);
  }
  const options: InstrumentOptions = everything ? { log: noopLogger } : { countTokens: false };
  // Loaded here, not statically: the parent reports mcplens as unavailable (and goes on)
  // while instrumentation/ does not build.
  const { instrumentServer } = await import('../../instrumentation/index.js');
  return {
    exportsSpans: true,
    hooks: { instrument: (server: McpServer) => instrumentServer(server, options) },
    toolCallSpans: () => exporter.toolCalls,
    allSpans: () => exporter.all,
    flush: () => provider.forceFlush(),
  };
}

/**
 * The agent's side: `instrumentClient(client)` on the bench's client (CLIENT spans, trace context
 * and baggage injected into `_meta`, the client's own grading of its calls); the server is bare.
 * Its added cost per call is compared with the server side's (`mcplens`) in the same run.
 */
export async function setUpMcplensClient(): Promise<VariantRuntime> {
  const { exporter, provider } = setUpOtel();
  const { instrumentClient } = await import('../../instrumentation/index.js');
  return {
    exportsSpans: true,
    hooks: { instrumentClient: (client) => instrumentClient(client) },
    toolCallSpans: () => exporter.toolCalls,
    allSpans: () => exporter.all,
    flush: () => provider.forceFlush(),
  };
}
