/**
 * Cuts a stdio byte stream into JSON-RPC messages, the way the MCP stdio transport frames
 * them: one message per line, `\n`-terminated (a `\r` before it is tolerated). Used only to
 * observe: the bytes themselves are relayed elsewhere, untouched. Blank lines are skipped; a
 * line that is not JSON, or longer than the limit, is counted and dropped from observation;
 * a JSON-RPC batch (an array) yields each of its members.
 */

/** What the framer could not observe, by reason. */
export interface FramerStats {
  /** Lines that were not JSON objects or arrays of them. */
  notJson: number;
  /** Lines longer than the limit (never buffered past it). */
  tooLong: number;
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
/** Lines above this are relayed but not observed (a 16 MiB base64 image is already 12 MB of data). */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

/** A push framer: feed chunks in arrival order, receive parsed messages. */
export class MessageFramer {
  readonly stats: FramerStats = { notJson: 0, tooLong: 0 };
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** The current line went past the limit: skip to its end. */
  private skipping = false;

  constructor(
    private readonly onMessage: (message: Record<string, unknown>) => void,
    private readonly maxLineBytes: number = DEFAULT_MAX_LINE_BYTES,
  ) {}

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        this.keep(chunk.subarray(start));
        return;
      }
      this.keep(chunk.subarray(start, end));
      this.endLine();
      start = end + 1;
    }
  }

  /** The stream ended: a last line without its newline is still a message. */
  end(): void {
    this.endLine();
  }

  private keep(part: Buffer): void {
    if (part.length === 0 || this.skipping) return;
    if (this.partBytes + part.length > this.maxLineBytes) {
      this.skipping = true;
      this.parts = [];
      this.partBytes = 0;
      return;
    }
    this.parts.push(part);
    this.partBytes += part.length;
  }

  private endLine(): void {
    if (this.skipping) {
      this.skipping = false;
      this.stats.tooLong++;
      return;
    }
    if (this.partBytes === 0) return;
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partBytes);
    this.parts = [];
    this.partBytes = 0;
    const last = line.length - 1;
    const text = line.toString('utf8', 0, line[last] === CARRIAGE_RETURN ? last : line.length);
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.stats.notJson++;
      return;
    }
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    let any = false;
    for (const message of messages) {
      if (typeof message === 'object' && message !== null && !Array.isArray(message)) {
        any = true;
        this.onMessage(message as Record<string, unknown>);
      }
    }
    if (!any) this.stats.notJson++;
  }
}
