/**
 * `hideUnauthorizedTools` in `mcplens proxy`: the server's answer to a client's `tools/list` loses
 * the tools the caller may not call before it reaches the client. A JSON body is read whole and
 * sent with its new length; an event stream goes on event by event, only the event answering the
 * tools/list changed (sse-rewriter.ts). Everything but `result.tools` (`nextCursor`, `_meta`) is kept.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { MCP_METHOD } from '../../contract/index.js';
import { isRecord } from '../is-record.js';
import { parseJson } from './forward-headers.js';
import { SseRewriter } from './sse-rewriter.js';

/** How a filtered answer's body goes to the client. */
export interface AnswerRewrite {
  /** True: the body is read whole and the head sent with it (its length is known only then). */
  readonly whole: boolean;
  /** A chunk of the server's body; returns the bytes to send now. */
  push(chunk: Buffer): Buffer[];
  /** The server's body ended; returns the bytes left to send. */
  end(): Buffer[];
}

/**
 * Decides, from the answer's status and headers, how its body is rewritten: undefined to pass it as
 * it is (an error status, a body that is neither JSON nor an event stream). Throws for a body it
 * would have to change but cannot read (compressed despite `Accept-Encoding: identity`).
 */
export type AnswerRewriteFactory = (status: number, headers: IncomingHttpHeaders) => AnswerRewrite | undefined;

/** The ids of the tools/list requests in a POST body (one message or a batch). */
export function toolsListIds(body: unknown): Set<string | number> {
  const ids = new Set<string | number>();
  for (const message of Array.isArray(body) ? body : [body]) {
    if (!isRecord(message) || message.method !== MCP_METHOD.TOOLS_LIST) continue;
    if (typeof message.id === 'string' || typeof message.id === 'number') ids.add(message.id);
  }
  return ids;
}

/**
 * The rewrite of the answers to the tools/list requests `ids`. `visible` keeps the tools the caller
 * may call (the authorization guard's `visibleTools`, with the caller's scopes).
 */
export function toolsListRewrite(
  ids: ReadonlySet<string | number>,
  visible: (tools: Array<{ name: string }>) => Array<{ name: string }>,
): AnswerRewriteFactory {
  return (status, headers) => {
    if (status < 200 || status >= 300) return undefined;
    const type = String(headers['content-type'] ?? '').toLowerCase();
    const stream = type.includes('text/event-stream');
    if (!stream && !type.includes('json')) return undefined;
    const encoding = String(headers['content-encoding'] ?? 'identity')
      .trim()
      .toLowerCase();
    // Passing it unread would show the hidden tools.
    if (encoding !== 'identity') throw new Error(`a tools/list answer to filter came encoded (${encoding})`);
    const unanswered = new Set(ids);
    const filter = (message: unknown): unknown => {
      // Only an answer settles a tools/list: a request of the server's own (e.g. roots/list, sent
      // on the same stream) may carry the same id, from the server's id space.
      if (!isRecord(message) || !('result' in message || 'error' in message)) return undefined;
      if ((typeof message.id !== 'string' && typeof message.id !== 'number') || !unanswered.has(message.id)) return undefined;
      unanswered.delete(message.id);
      const result = message.result;
      if (!isRecord(result) || !Array.isArray(result.tools)) return undefined;
      const tools = result.tools as unknown[];
      // A tool without a name cannot be authorized: it is not shown.
      const kept = visible(tools.filter((tool): tool is { name: string } => isRecord(tool) && typeof tool.name === 'string'));
      return kept.length === tools.length ? undefined : { ...message, result: { ...result, tools: kept } };
    };
    return stream ? sseRewrite(filter, () => unanswered.size === 0) : jsonRewrite(filter);
  };
}

/** `filter`: a message's replacement, or undefined to keep it. */
type MessageFilter = (message: unknown) => unknown;

/** A whole JSON body: one message or a batch; the server's own bytes when nothing was hidden. */
function jsonRewrite(filter: MessageFilter): AnswerRewrite {
  const chunks: Buffer[] = [];
  return {
    whole: true,
    push(chunk) {
      chunks.push(chunk);
      return [];
    },
    end() {
      const body = Buffer.concat(chunks);
      const parsed = parseJson(body.toString('utf8'));
      const replaced = replaceMessages(parsed, filter);
      return [replaced === undefined ? body : Buffer.from(JSON.stringify(replaced), 'utf8')];
    },
  };
}

function sseRewrite(filter: MessageFilter, finished: () => boolean): AnswerRewrite {
  const rewriter = new SseRewriter((data) => {
    const replaced = replaceMessages(parseJson(data), filter);
    return replaced === undefined ? undefined : JSON.stringify(replaced);
  }, finished);
  return { whole: false, push: (chunk) => rewriter.push(chunk), end: () => rewriter.end() };
}

/** The message (or batch) with its filtered answers; undefined when none changed. */
function replaceMessages(parsed: unknown, filter: MessageFilter): unknown {
  if (!Array.isArray(parsed)) return filter(parsed);
  let changed = false;
  const messages = parsed.map((message: unknown) => {
    const replaced = filter(message);
    if (replaced === undefined) return message;
    changed = true;
    return replaced;
  });
  return changed ? messages : undefined;
}
