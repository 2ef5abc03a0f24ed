/**
 * Reads a `text/event-stream` body as it arrives, chunk by chunk, and hands the `data` of each
 * complete event on: in MCP's Streamable HTTP, one JSON-RPC message per event. It only reads
 * (the bytes are forwarded elsewhere, unchanged); an event larger than its limit is skipped.
 */
import { StringDecoder } from 'node:string_decoder';

/** Incremental event-stream reader (the WHATWG `EventSource` parsing rules, data field only). */
export class SseReader {
  private readonly decoder = new StringDecoder('utf8');
  /** The current line, not yet terminated. */
  private line = '';
  private data: string[] = [];
  private size = 0;
  private oversized = false;
  /** A chunk ended with CR: a LF opening the next one belongs to the same line break. */
  private afterCr = false;

  constructor(
    private readonly onData: (data: string) => void,
    private readonly maxEventChars: number,
  ) {}

  /** The next chunk of the body. */
  push(chunk: Buffer): void {
    let text = this.decoder.write(chunk);
    if (this.afterCr && text.startsWith('\n')) text = text.slice(1);
    this.afterCr = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.endLine(this.line + text.slice(start, i));
      this.line = '';
      if (c === 13) {
        if (i + 1 === text.length) this.afterCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    const rest = text.slice(start);
    if (this.line.length + rest.length > this.maxEventChars) {
      // A line that never ends within the limit: the event it belongs to is skipped.
      this.oversized = true;
      this.line = '';
    } else {
      this.line += rest;
    }
  }

  /** The body ended: an unterminated event is discarded, as `EventSource` does. */
  end(): void {
    this.line = '';
    this.reset();
  }

  private endLine(line: string): void {
    if (line === '') {
      const data = this.data.join('\n');
      const skip = this.oversized || this.data.length === 0;
      this.reset();
      if (!skip) this.onData(data);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    this.size += value.length;
    if (this.size > this.maxEventChars) this.oversized = true;
    else this.data.push(value);
  }

  private reset(): void {
    this.data = [];
    this.size = 0;
    this.oversized = false;
  }
}
