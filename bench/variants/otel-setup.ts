/**
 * The OpenTelemetry side shared by the bare-span floor and mcplens: a global
 * BasicTracerProvider with a BatchSpanProcessor feeding an in-process exporter that
 * only counts, and the AsyncLocalStorage context manager. Exporting then costs the
 * same in both variants, and nothing leaves the process.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

/** Counts exported spans; succeeds at once. */
export class CountingSpanExporter implements SpanExporter {
  /** tools/call spans exported. */
  toolCalls = 0;
  /** All spans exported. */
  all = 0;

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.all += spans.length;
    for (const span of spans) if (span.name.startsWith('tools/call')) this.toolCalls++;
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a variant with OTel spans hands to the measuring code. */
export interface OtelSetup {
  exporter: CountingSpanExporter;
  provider: BasicTracerProvider;
}

/** Registers the global tracer provider (BatchSpanProcessor, SDK defaults) and context manager. */
export function setUpOtel(): OtelSetup {
  const exporter = new CountingSpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  return { exporter, provider };
}
