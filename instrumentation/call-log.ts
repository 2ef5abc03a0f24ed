import type { Span } from '@opentelemetry/api';
import type { ResolvedProvider } from './provider-resolver.js';
import type { StructuredLogger } from './types.js';

/** What one tool-call log line says. */
export interface CallLogFields {
  tool: string | undefined;
  provider: ResolvedProvider;
  outcome: string;
  violation: string | undefined;
  latencySeconds: number;
  tokens: { arguments?: number; result?: number } | undefined;
}

/**
 * Writes one structured line per tool call, to a pino-compatible logger or as JSON to
 * stderr. Never stdout: a stdio MCP server's stdout is its protocol stream.
 */
export function writeCallLog(target: true | StructuredLogger, span: Span, fields: CallLogFields): void {
  const spanContext = span.spanContext();
  const line = {
    msg: 'mcp tool call',
    trace_id: spanContext.traceId,
    span_id: spanContext.spanId,
    tool: fields.tool,
    provider: fields.provider.provider,
    model: fields.provider.model,
    provider_source: fields.provider.source,
    outcome: fields.outcome,
    violation_kind: fields.violation,
    latency_ms: Math.round(fields.latencySeconds * 1e6) / 1e3,
    tokens_arguments: fields.tokens?.arguments,
    tokens_result: fields.tokens?.result,
  };
  if (target === true) {
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', ...line })}\n`);
  } else {
    const { msg, ...rest } = line;
    target.info(rest, msg);
  }
}
