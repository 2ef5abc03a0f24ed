import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { VariantRuntime } from './variant.js';

type EnvelopeItem = [{ type?: string }, unknown];
type Envelope = [unknown, EnvelopeItem[]];

/** A span as it appears in a transaction payload (`spans[]`) or a span item. */
interface SentrySpanJson {
  description?: string;
  name?: string;
  op?: string;
}

/**
 * Sentry's MCP wrapper as a peer: `@sentry/node` 11 initialised with tracesSampleRate 1
 * and a transport that counts spans in the envelopes it receives and never touches the
 * network (nor serialises, like the OTel variants' counting exporter), then
 * `Sentry.wrapMcpServerWithSentry(server)`. Default integrations stay on (a user's set-up).
 */
export async function setUpSentry(): Promise<VariantRuntime> {
  const Sentry = await import('@sentry/node');
  let toolCalls = 0;
  let all = 0;
  const countSpan = (span: SentrySpanJson | undefined): void => {
    if (span === undefined) return;
    all++;
    const name = span.description ?? span.name ?? '';
    if (name.startsWith('tools/call')) toolCalls++;
  };
  const transport = {
    send(envelope: Envelope) {
      for (const [header, payload] of envelope[1]) {
        if (header.type === 'transaction') {
          const tx = payload as { transaction?: string; contexts?: { trace?: { op?: string } }; spans?: SentrySpanJson[] };
          countSpan({ description: tx.transaction ?? '', op: tx.contexts?.trace?.op });
          for (const child of tx.spans ?? []) countSpan(child);
        } else if (header.type === 'span') {
          // Span streaming (v11's default): one item holds `{version: 2, items: [span, ...]}`.
          const items = (payload as { items?: SentrySpanJson[] }).items;
          if (Array.isArray(items)) for (const span of items) countSpan(span);
          else countSpan(payload as SentrySpanJson);
        }
      }
      return Promise.resolve({ statusCode: 200 });
    },
    flush: () => Promise.resolve(true),
  };
  Sentry.init({ dsn: 'http://public@127.0.0.1:9/1', tracesSampleRate: 1, transport: () => transport as never });
  return {
    exportsSpans: true,
    hooks: { instrument: (server: McpServer) => Sentry.wrapMcpServerWithSentry(server) },
    toolCallSpans: () => toolCalls,
    allSpans: () => all,
    flush: async () => {
      await Sentry.flush(2000);
    },
  };
}
