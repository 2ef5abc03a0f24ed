/**
 * The line splitter behind wrap's gates: whole lines with their newline, whatever the chunking;
 * a partial line held until its newline, and taken out at the end.
 */
import { describe, expect, it } from '@jest/globals';
import { LineSplitter } from '../../instrumentation/wrap/line-splitter.js';

describe('LineSplitter', () => {
  it('hands on the same whole lines, newline included, for every chunking', () => {
    const stream = Buffer.from('{"a":1}\n\n{"b":"héllo 世界"}\r\n{"c":3}\n');
    for (let size = 1; size <= stream.length; size++) {
      const lines: string[] = [];
      const splitter = new LineSplitter((line) => lines.push(line.toString('utf8')));
      for (let at = 0; at < stream.length; at += size) splitter.push(stream.subarray(at, at + size));
      expect(lines).toEqual(['{"a":1}\n', '\n', '{"b":"héllo 世界"}\r\n', '{"c":3}\n']);
      expect(splitter.holding).toBe(false);
      expect(splitter.takeRest().length).toBe(0);
    }
  });

  it('holds a partial line until its newline, or until it is taken out', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line.toString('utf8')));
    splitter.push(Buffer.from('{"half":'));
    expect(lines).toEqual([]);
    expect(splitter.holding).toBe(true);
    splitter.push(Buffer.from('1}\n{"last":'));
    expect(lines).toEqual(['{"half":1}\n']);
    splitter.push(Buffer.from('2}'));
    expect(splitter.takeRest().toString('utf8')).toBe('{"last":2}');
    expect(splitter.holding).toBe(false);
    expect(lines).toEqual(['{"half":1}\n']);
  });
});
