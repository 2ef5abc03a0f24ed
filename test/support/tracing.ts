import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ATTR } from '../../contract/index.js';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** An in-memory tracing setup for one test file: real SDK, real context manager. */
export function createTracing(): {
  provider: BasicTracerProvider;
  exporter: InMemorySpanExporter;
  waitForSpans: (predicate: (spans: ReadableSpan[]) => boolean, timeoutMs?: number) => Promise<ReadableSpan[]>;
} {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  const waitForSpans = async (predicate: (spans: ReadableSpan[]) => boolean, timeoutMs = 5000): Promise<ReadableSpan[]> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const spans = exporter.getFinishedSpans();
      if (predicate(spans)) return spans;
      if (Date.now() > deadline) throw new Error(`spans did not arrive in ${timeoutMs} ms; have: ${spans.map((s) => s.name).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { provider, exporter, waitForSpans };
}

/** Server spans of one method, in end order. */
export function serverSpans(spans: ReadableSpan[], method: string): ReadableSpan[] {
  return spans.filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === method);
}
