import type { Span } from '@opentelemetry/api';
import { ATTR, EVENT, MCP_METHOD } from '../contract/index.js';
import type { ObservedConnection } from './observed-connection.js';
import type { PendingRequest } from './pending-request.js';
import { argumentsText, catalogToolText, resultText } from './token-counter.js';
import type { ToolDefinition } from './tool-definition.js';

/** What a span's token counts are made of: a call's arguments and result, or the tools listed so far. */
export type SpanTokenTexts =
  | { kind: 'call'; texts: string[] }
  /**
   * `tools`: every tool the client has been sent in this listing (all pages so far), `toolTexts` their
   * catalog texts (same order); `texts`: those texts not counted before, each once (empty when all were).
   */
  | { kind: 'catalog'; tools: ToolDefinition[]; toolTexts: string[]; texts: string[] };

/** The texts to tokenize for this span; undefined for a span without token counts. */
export function spanTokenTexts(conn: ObservedConnection, pending: PendingRequest, result: unknown): SpanTokenTexts | undefined {
  if (pending.method === MCP_METHOD.TOOLS_CALL) {
    return {
      kind: 'call',
      texts: [pending.args === undefined ? '' : argumentsText(pending.args), result === undefined ? '' : resultText(result)],
    };
  }
  if (pending.method === MCP_METHOD.TOOLS_LIST && pending.listed !== undefined) {
    const tools = pending.listed;
    const toolTexts = tools.map(catalogToolText);
    const catalog = conn.info.catalog;
    const texts = [...new Set(toolTexts.filter((text) => catalog.toolTokensOf(text) === undefined))];
    return { kind: 'catalog', tools, toolTexts, texts };
  }
  return undefined;
}

/**
 * Puts token counts on the span; returns the call's counts for the log line. A tools/list span gets the
 * catalog as the client holds it after this page: the total and tool count of all pages listed so far,
 * and one event per tool of those pages (the server's whole pages when a guard hid tools from the caller).
 */
export function recordTokens(
  conn: ObservedConnection,
  span: Span,
  texts: SpanTokenTexts,
  counts: number[],
): { arguments?: number; result?: number } | undefined {
  if (texts.kind === 'call') {
    const tokens = { arguments: counts[0] ?? 0, result: counts[1] ?? 0 };
    span.setAttribute(ATTR.TOKENS_ARGUMENTS, tokens.arguments);
    span.setAttribute(ATTR.TOKENS_RESULT, tokens.result);
    return tokens;
  }
  const catalog = conn.info.catalog;
  catalog.rememberToolTokens(texts.texts, counts);
  // Read from this span's own counts first: the catalog's cache is bounded.
  const fresh = new Map(texts.texts.map((text, i) => [text, counts[i] ?? 0]));
  let total = 0;
  const perTool = texts.tools.map((tool, i) => {
    const text = texts.toolTexts[i] ?? '';
    const tokens = fresh.get(text) ?? catalog.toolTokensOf(text) ?? 0;
    total += tokens;
    return { name: String(tool.name), tokens };
  });
  span.setAttribute(ATTR.TOKENS_CATALOG, total);
  span.setAttribute(ATTR.CATALOG_TOOL_COUNT, perTool.length);
  for (const tool of perTool) {
    span.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: tool.name, [ATTR.TOKENS_CATALOG]: tool.tokens });
  }
  return undefined;
}
