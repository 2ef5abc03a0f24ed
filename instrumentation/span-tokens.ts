import type { Span } from '@opentelemetry/api';
import { ATTR, EVENT, MCP_METHOD } from '../contract/index.js';
import { isRecord } from './is-record.js';
import type { ObservedConnection } from './observed-connection.js';
import type { PendingRequest } from './pending-request.js';
import { argumentsText, catalogToolText, resultText } from './token-counter.js';
import type { ToolDefinition } from './tool-definition.js';

/** What a span's token counts are made of: a call's arguments and result, or a tools/list's tools. */
export type SpanTokenTexts =
  | { kind: 'call'; texts: string[] }
  /** `texts` is empty when the catalog listed as `key` (its JSON) was counted before. */
  | { kind: 'catalog'; key: string; tools: ToolDefinition[]; texts: string[] };

/** The texts to tokenize for this span; undefined for a span without token counts. */
export function spanTokenTexts(conn: ObservedConnection, pending: PendingRequest, result: unknown): SpanTokenTexts | undefined {
  if (pending.method === MCP_METHOD.TOOLS_CALL) {
    return {
      kind: 'call',
      texts: [pending.args === undefined ? '' : argumentsText(pending.args), result === undefined ? '' : resultText(result)],
    };
  }
  if (pending.method === MCP_METHOD.TOOLS_LIST && isRecord(result) && Array.isArray(result.tools)) {
    const tools = result.tools as ToolDefinition[];
    const key = JSON.stringify(tools);
    return { kind: 'catalog', key, tools, texts: conn.info.catalog.hasTokensFor(key) ? [] : tools.map(catalogToolText) };
  }
  return undefined;
}

/** Puts token counts on the span; returns the call's counts for the log line. */
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
  const catalog = conn.info.catalog.catalogTokens(texts.key, texts.tools, texts.texts.length === 0 ? undefined : counts);
  span.setAttribute(ATTR.TOKENS_CATALOG, catalog.total);
  span.setAttribute(ATTR.CATALOG_TOOL_COUNT, catalog.perTool.length);
  for (const tool of catalog.perTool) {
    span.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: tool.name, [ATTR.TOKENS_CATALOG]: tool.tokens });
  }
  return undefined;
}
