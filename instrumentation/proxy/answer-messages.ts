/**
 * Reads an HTTP answer's body as the JSON-RPC messages it carries, as Streamable HTTP sends them:
 * an event stream event by event (one message per event), a JSON body (one message or a batch)
 * once complete. Only reads: the bytes themselves are forwarded elsewhere.
 */
import { parseJson } from './forward-headers.js';
import { SseReader } from './sse-reader.js';

/** A push reader of one answer's body. */
export interface MessageReader {
  push(chunk: Buffer): void;
  end(): void;
}

/**
 * The reader for a body of `contentType`; undefined when it is neither an event stream nor JSON.
 * Past `maxBytes` (one event, or the whole JSON body), what does not fit is not read.
 */
export function answerMessageReader(
  contentType: string | undefined,
  onMessage: (message: unknown) => void,
  maxBytes: number,
): MessageReader | undefined {
  const type = (contentType ?? '').toLowerCase();
  if (type.includes('text/event-stream')) {
    return new SseReader((data) => {
      const message = parseJson(data);
      if (message !== undefined) onMessage(message);
    }, maxBytes);
  }
  if (!type.includes('json')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else chunks.length = 0;
    },
    end() {
      if (size > maxBytes) return;
      const parsed = parseJson(Buffer.concat(chunks).toString('utf8'));
      for (const message of Array.isArray(parsed) ? parsed : [parsed]) if (message !== undefined) onMessage(message);
    },
  };
}

/** The messages of a body read whole. */
export function answerMessages(contentType: string | undefined, body: Buffer): unknown[] {
  const messages: unknown[] = [];
  const reader = answerMessageReader(contentType, (message) => messages.push(message), body.length + 1);
  reader?.push(body);
  reader?.end();
  return messages;
}
