/**
 * Rewrites chosen events of a `text/event-stream` body on its way through: the body is cut into
 * events as it arrives (the WHATWG `EventSource` line rules: LF, CR or CRLF, an empty line ends an
 * event), and each complete event goes on at once, byte for byte, unless `rewrite` replaces its
 * `data`. Once `rewrite` says nothing is left to change, the rest of the stream passes unread.
 */

const LF = 0x0a;
const CR = 0x0d;

/**
 * What to do with one event's `data`: a replacement (one line of text, e.g. JSON), or undefined
 * to pass the event unchanged.
 */
export type EventDataRewrite = (data: string) => string | undefined;

/** Incremental event-stream rewriter: bytes in, the bytes to send out. */
export class SseRewriter {
  /** Bytes of the event not yet complete (it starts at offset 0). */
  private pending: Buffer = Buffer.alloc(0);
  /** Where the scan of `pending` resumes, and where its current line starts. */
  private scanned = 0;
  private lineStart = 0;

  constructor(
    private readonly rewrite: EventDataRewrite,
    /** True once no later event can need rewriting: the rest passes unread. */
    private readonly finished: () => boolean,
  ) {}

  /** The next chunk of the body; returns what to send now (possibly nothing). */
  push(chunk: Buffer): Buffer[] {
    if (this.finished() && this.pending.length === 0) return [chunk];
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    let eventStart = 0;
    let i = this.scanned;
    let lineStart = this.lineStart;
    while (i < buf.length) {
      const c = buf[i]!;
      if (c !== LF && c !== CR) {
        i++;
        continue;
      }
      // A CR last in the buffer may be the first half of a CRLF: decided with the next chunk.
      if (c === CR && i + 1 === buf.length) break;
      const next = c === CR && buf[i + 1] === LF ? i + 2 : i + 1;
      if (i === lineStart) {
        out.push(this.event(buf.subarray(eventStart, next)));
        eventStart = next;
        if (this.finished()) {
          if (next < buf.length) out.push(buf.subarray(next));
          eventStart = i = buf.length;
          lineStart = i;
          break;
        }
      }
      i = lineStart = next;
    }
    this.pending = buf.subarray(eventStart);
    this.scanned = i - eventStart;
    this.lineStart = lineStart - eventStart;
    return out;
  }

  /** The body ended: an unterminated last event goes out too (rewritten when it must be). */
  end(): Buffer[] {
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    this.scanned = this.lineStart = 0;
    return rest.length === 0 ? [] : [this.event(rest)];
  }

  /** One event's bytes, or its rewrite: the other fields kept in place, the data on one line. */
  private event(raw: Buffer): Buffer {
    const lines = raw.toString('utf8').split(/\r\n|\r|\n/);
    const data: string[] = [];
    for (const line of lines) {
      const field = fieldOf(line);
      if (field !== undefined && field.name === 'data') data.push(field.value);
    }
    if (data.length === 0) return raw;
    const replacement = this.rewrite(data.join('\n'));
    if (replacement === undefined) return raw;
    const kept: string[] = [];
    let placed = false;
    for (const line of lines) {
      if (line === '') continue;
      if (fieldOf(line)?.name !== 'data') kept.push(line);
      else if (!placed) {
        kept.push(`data: ${replacement}`);
        placed = true;
      }
    }
    return Buffer.from(`${kept.join('\n')}\n\n`, 'utf8');
  }
}

/** A line's field name and value; undefined for a comment. */
function fieldOf(line: string): { name: string; value: string } | undefined {
  if (line.startsWith(':')) return undefined;
  const colon = line.indexOf(':');
  if (colon === -1) return { name: line, value: '' };
  const value = line.slice(colon + 1);
  return { name: line.slice(0, colon), value: value.startsWith(' ') ? value.slice(1) : value };
}
