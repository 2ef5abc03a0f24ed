/**
 * The proxy's event-stream reader: events cut wherever the chunks end, every line ending, multi-line
 * data, comments and other fields ignored, oversized events skipped, an unterminated event dropped.
 */
import { describe, expect, it } from '@jest/globals';
import { SseReader } from '../../instrumentation/proxy/sse-reader.js';

function read(chunks: Array<string | Buffer>, max = 1000): string[] {
  const out: string[] = [];
  const reader = new SseReader((data) => out.push(data), max);
  for (const chunk of chunks) reader.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  reader.end();
  return out;
}

describe('SseReader', () => {
  it('reads events whatever the chunk boundaries and line endings', () => {
    const stream = 'event: message\nid: 1\ndata: {"a":1}\n\n: keep-alive\n\ndata:{"b":2}\r\n\r\ndata: {"c":\rdata: 3}\r\r';
    const whole = read([stream]);
    expect(whole).toEqual(['{"a":1}', '{"b":2}', '{"c":\n3}']);
    // Cut at every byte, including between CR and LF.
    expect(read([...Buffer.from(stream)].map((byte) => Buffer.from([byte])))).toEqual(whole);
  });

  it('keeps a multi-byte character cut between chunks whole', () => {
    const bytes = Buffer.from('data: "é€"\n\n');
    expect(read([bytes.subarray(0, 8), bytes.subarray(8, 10), bytes.subarray(10)])).toEqual(['"é€"']);
  });

  it('skips an event larger than its limit and reads the next one', () => {
    expect(read([`data: ${'x'.repeat(50)}\n`, `data: ${'y'.repeat(50)}\n\n`, 'data: small\n\n'], 80)).toEqual(['small']);
    expect(read([`data: ${'x'.repeat(200)}`, 'x\n\ndata: next\n\n'], 80)).toEqual(['next']);
  });

  it('drops an event the stream ended in the middle of', () => {
    expect(read(['data: one\n\ndata: two\n'])).toEqual(['one']);
  });
});
