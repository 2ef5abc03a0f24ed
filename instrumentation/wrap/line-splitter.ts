/**
 * Cuts a relayed byte stream into whole lines for wrap's gates: each line is handed on with its
 * newline, and a partial line is held until its newline arrives (or taken out at the end).
 */

const NEWLINE = 0x0a;

/** A push splitter: feed chunks in arrival order, receive whole lines (newline included). */
export class LineSplitter {
  private held: Buffer[] = [];

  constructor(private readonly onLine: (line: Buffer) => void) {}

  /** True while a partial line is held. */
  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf(NEWLINE, start);
      if (newline === -1) {
        if (start < chunk.length) this.held.push(chunk.subarray(start));
        return;
      }
      const piece = chunk.subarray(start, newline + 1);
      const line = this.held.length === 0 ? piece : Buffer.concat([...this.held, piece]);
      this.held = [];
      this.onLine(line);
      start = newline + 1;
    }
  }

  /** Takes out the partial line held (empty when none). */
  takeRest(): Buffer {
    const rest = Buffer.concat(this.held);
    this.held = [];
    return rest;
  }
}
