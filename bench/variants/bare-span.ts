import { SpanKind, trace } from '@opentelemetry/api';
import { ATTR } from '../../contract/index.js';
import { setUpOtel } from './otel-setup.js';
import type { VariantRuntime } from './variant.js';

/**
 * The floor: one OTel SERVER span per tools/call, started around the tool handler and
 * made active (AsyncLocalStorage context manager), same processor and exporter as mcplens.
 */
export async function setUpBareSpan(): Promise<VariantRuntime> {
  const { exporter, provider } = setUpOtel();
  const tracer = trace.getTracer('bench-bare-span');
  return {
    exportsSpans: true,
    hooks: {
      wrapHandler: (name, handler) => {
        const spanName = `tools/call ${name}`;
        const attributes = { [ATTR.MCP_METHOD_NAME]: 'tools/call', [ATTR.GEN_AI_TOOL_NAME]: name };
        return (args, extra) =>
          tracer.startActiveSpan(spanName, { kind: SpanKind.SERVER, attributes }, async (span) => {
            try {
              return await handler(args, extra);
            } finally {
              span.end();
            }
          });
      },
    },
    toolCallSpans: () => exporter.toolCalls,
    allSpans: () => exporter.all,
    flush: () => provider.forceFlush(),
  };
}
