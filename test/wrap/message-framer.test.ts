/**
 * The stdio framer behind `mcplens wrap`: the same messages whatever the chunking, CRLF and
 * blank lines tolerated, non-JSON and over-long lines counted and skipped, batches split.
 */
import { describe, expect, it } from '@jest/globals';
import { MessageFramer } from '../../instrumentation/wrap/message-framer.js';

function frame(chunks: Buffer[], maxLineBytes?: number): { messages: unknown[]; framer: MessageFramer } {
  const messages: unknown[] = [];
  const framer = new MessageFramer((m) => messages.push(m), maxLineBytes);
  for (const c of chunks) framer.push(c);
  framer.end();
  return { messages, framer };
}

/** Splits `bytes` at pseudo-random points (deterministic seed). */
function randomChunks(bytes: Buffer, seed: number): Buffer[] {
  const chunks: Buffer[] = [];
  let state = seed;
  let at = 0;
  while (at < bytes.length) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const size = 1 + (state % 97);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

const MESSAGES = [
  { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18' } },
  { jsonrpc: '2.0', method: 'notifications/initialized' },
  { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'echo', arguments: { text: 'héllo 世界 \n inside a string' } } },
  { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: '😀'.repeat(50) }] } },
];

describe('MessageFramer', () => {
  it('yields the same messages for every chunking, with LF or CRLF', () => {
    for (const eol of ['\n', '\r\n']) {
      const stream = Buffer.from(MESSAGES.map((m) => JSON.stringify(m) + eol).join(''));
      for (let seed = 1; seed <= 50; seed++) {
        expect(frame(randomChunks(stream, seed)).messages).toEqual(MESSAGES);
      }
      // One byte at a time splits every multi-byte character.
      expect(frame([...stream].map((b) => Buffer.from([b]))).messages).toEqual(MESSAGES);
    }
  });

  it('skips blank lines, counts lines that are not JSON objects, and keeps going', () => {
    const stream = Buffer.from(
      ['', 'not json', '{"jsonrpc":"2.0","id":1,"result":{}}', '   ', '42', '"text"', '{"jsonrpc":"2.0","id":2,"result":{}}', ''].join(
        '\n',
      ),
    );
    const { messages, framer } = frame([stream]);
    expect(messages).toEqual([
      { jsonrpc: '2.0', id: 1, result: {} },
      { jsonrpc: '2.0', id: 2, result: {} },
    ]);
    expect(framer.stats).toEqual({ notJson: 3, tooLong: 0 });
  });

  it('splits a JSON-RPC batch into its members', () => {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/list' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x' } },
    ];
    expect(frame([Buffer.from(JSON.stringify(batch) + '\n')]).messages).toEqual(batch);
  });

  it('a line over the limit is counted, never buffered past it, and the next line is observed', () => {
    const long = `{"jsonrpc":"2.0","id":1,"result":{"text":"${'x'.repeat(5000)}"}}\n`;
    const next = '{"jsonrpc":"2.0","id":2,"result":{}}\n';
    const { messages, framer } = frame(randomChunks(Buffer.from(long + next), 7), 1024);
    expect(messages).toEqual([{ jsonrpc: '2.0', id: 2, result: {} }]);
    expect(framer.stats.tooLong).toBe(1);
  });

  it('a last line without a newline is a message at the end of the stream', () => {
    expect(frame([Buffer.from('{"jsonrpc":"2.0","id":9,"result":{}}')]).messages).toEqual([{ jsonrpc: '2.0', id: 9, result: {} }]);
  });

  it('several megabytes in one line arrive as one message', () => {
    const big = { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'y'.repeat(6 * 1024 * 1024) }] } };
    const { messages } = frame(randomChunks(Buffer.from(JSON.stringify(big) + '\n'), 3));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toEqual(big);
  });
});
