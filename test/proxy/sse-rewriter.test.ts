/**
 * The proxy's event-stream rewriter: untouched events pass byte for byte whatever the chunk
 * boundaries and line endings, the chosen event's data is replaced with its other fields kept, and
 * once nothing is left to change the rest passes unread.
 */
import { describe, expect, it } from '@jest/globals';
import { SseRewriter } from '../../instrumentation/proxy/sse-rewriter.js';

const STREAM =
  'event: message\r\ndata: {"n":1}\r\n\r\n: keep-alive\n\nid: 7\nevent: message\ndata: {"n":\ndata: 2}\n\n' + 'data: {"n":3}\r\r';

/** Feeds `chunks`; `target` is the `n` whose event is replaced by `{"x":n}`. */
function rewrite(chunks: Buffer[], target: number): { out: string; seen: string[] } {
  const seen: string[] = [];
  let done = false;
  const rewriter = new SseRewriter(
    (data) => {
      seen.push(data);
      const n = (JSON.parse(data) as { n: number }).n;
      if (n !== target) return undefined;
      done = true;
      return JSON.stringify({ x: n });
    },
    () => done,
  );
  const out: Buffer[] = [];
  for (const chunk of chunks) out.push(...rewriter.push(chunk));
  out.push(...rewriter.end());
  return { out: Buffer.concat(out).toString('utf8'), seen };
}

function byteByByte(text: string): Buffer[] {
  return [...Buffer.from(text)].map((byte) => Buffer.from([byte]));
}

describe('SseRewriter', () => {
  it('passes every byte when no event is replaced, whatever the chunks', () => {
    expect(rewrite([Buffer.from(STREAM)], 99).out).toBe(STREAM);
    expect(rewrite(byteByByte(STREAM), 99).out).toBe(STREAM);
  });

  it('replaces the data of one event, keeps its other fields and every other event', () => {
    const expected =
      'event: message\r\ndata: {"n":1}\r\n\r\n: keep-alive\n\nid: 7\nevent: message\ndata: {"x":2}\n\n' + 'data: {"n":3}\r\r';
    expect(rewrite([Buffer.from(STREAM)], 2).out).toBe(expected);
    expect(rewrite(byteByByte(STREAM), 2).out).toBe(expected);
  });

  it('stops reading once nothing is left to change', () => {
    const { out, seen } = rewrite(byteByByte(STREAM), 1);
    expect(seen).toEqual(['{"n":1}']);
    expect(out).toBe(STREAM.replace('data: {"n":1}', 'data: {"x":1}').replace('\r\ndata: {"x":1}\r\n\r\n', '\ndata: {"x":1}\n\n'));
  });

  it('rewrites an unterminated last event too', () => {
    expect(rewrite([Buffer.from('data: {"n":4}')], 4).out).toBe('data: {"x":4}\n\n');
  });
});
