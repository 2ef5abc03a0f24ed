import { describe, it, expect } from '@jest/globals';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import {
  argumentsText,
  catalogToolText,
  countCatalog,
  defaultTokenizer,
  resultText,
  type Tokenizer,
} from '../../instrumentation/token-counter.js';

const tokenizer = defaultTokenizer();

describe('defaultTokenizer', () => {
  it.each([
    ['plain English', 'The quick brown fox jumps over the lazy dog.'],
    ['compact JSON', '{"query":"select * from users where id = 42","limit":10,"tags":["a","b"]}'],
    ['non-Latin text and emoji', 'Grüße aus Köln, 東京から 👋🏽'],
    ['code', 'function add(a: number, b: number): number {\n  return a + b;\n}\n'],
    ['a long payload', JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ id: i, name: `user ${i}`, ok: i % 3 === 0 })))],
  ])('counts %s exactly as gpt-tokenizer o200k_base does', (_title, text) => {
    const expected = countTokens(text);
    expect(expected).toBeGreaterThan(0);
    expect(tokenizer(text)).toBe(expected);
  });

  it('counts the empty string as 0', () => {
    expect(tokenizer('')).toBe(0);
  });

  it('counts special-token markers inside a payload as plain text instead of throwing', () => {
    const text = 'the model wrote <|endoftext|> in its arguments';
    expect(() => countTokens(text)).toThrow(); // gpt-tokenizer's default refuses it
    expect(tokenizer(text)).toBe(countTokens(text, { disallowedSpecial: new Set() }));
    expect(tokenizer(text)).toBeGreaterThan(countTokens('the model wrote  in its arguments'));
  });

  it('returns the same function on every call (the table loads once)', () => {
    expect(defaultTokenizer()).toBe(tokenizer);
  });
});

describe('argumentsText', () => {
  it.each([
    ['an object as compact JSON', { a: 1, b: 'two', c: [true, null] }, '{"a":1,"b":"two","c":[true,null]}'],
    ['a JSON string as the model sent it', '{"a": 1}', '{"a": 1}'],
    ['an array as JSON', [1, 2], '[1,2]'],
    ['null as JSON', null, 'null'],
    ['absent arguments as nothing', undefined, ''],
  ])('gives %s', (_title, args, expected) => {
    expect(argumentsText(args)).toBe(expected);
  });

  it('gives nothing for a value that is no JSON (cyclic) instead of throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(argumentsText(cyclic)).toBe('');
  });

  it('counts like gpt-tokenizer on the same text', () => {
    const args = { city: 'Zürich', days: 3, units: 'metric' };
    expect(tokenizer(argumentsText(args))).toBe(countTokens(JSON.stringify(args)));
  });
});

describe('resultText', () => {
  const image = { type: 'image', data: 'iVBORw0KGgo=', mimeType: 'image/png' };
  const resource = { type: 'resource', resource: { uri: 'file:///a.txt', text: 'hello', mimeType: 'text/plain' } };
  const link = { type: 'resource_link', uri: 'file:///b.txt', name: 'b.txt' };

  it('joins text items as text and other items and structuredContent as JSON, in order', () => {
    const result = {
      content: [{ type: 'text', text: 'First line' }, image, { type: 'text', text: 'Second "quoted"' }, resource, link],
      structuredContent: { temperature: 21.5, unit: 'C' },
      isError: false,
    };
    const text = resultText(result);
    expect(text).toBe(
      [
        'First line',
        JSON.stringify(image),
        'Second "quoted"',
        JSON.stringify(resource),
        JSON.stringify(link),
        JSON.stringify({ temperature: 21.5, unit: 'C' }),
      ].join('\n'),
    );
    expect(tokenizer(text)).toBe(countTokens(text));
    // Text items are read as text, not as JSON-escaped strings.
    expect(text).not.toContain('\\"quoted\\"');
  });

  it.each([
    ['an empty content array', { content: [] }, ''],
    ['an error result with text', { content: [{ type: 'text', text: 'kaboom' }], isError: true }, 'kaboom'],
    ['a result without content (counted as its JSON)', { value: 1 }, '{"value":1}'],
    ['nothing', undefined, ''],
    ['a plain string', 'done', 'done'],
  ])('handles %s', (_title, result, expected) => {
    expect(resultText(result)).toBe(expected);
  });
});

describe('catalog tokens', () => {
  const tools = [
    {
      name: 'get_weather',
      title: 'Weather',
      description: 'Current weather for a city.',
      inputSchema: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
    },
    { name: 'ping', inputSchema: { type: 'object', properties: {} } },
    {
      name: 'search_documents',
      description: 'Full-text search over the document store. Returns at most `limit` hits, newest first.',
      inputSchema: {
        type: 'object',
        properties: {
          query: { type: 'string', minLength: 1 },
          limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
          sort: { type: 'string', enum: ['newest', 'relevance'] },
        },
        required: ['query'],
      },
    },
  ];

  it('renders name, description and schema as a function declaration, without the UI title', () => {
    const first = tools[0]!;
    expect(JSON.parse(catalogToolText(first))).toEqual({
      name: 'get_weather',
      description: 'Current weather for a city.',
      parameters: first.inputSchema,
    });
  });

  it('counts each tool as gpt-tokenizer counts its text, and the total is their sum', () => {
    const counted = countCatalog(tools, tokenizer);
    expect(counted.perTool.map((t) => t.name)).toEqual(['get_weather', 'ping', 'search_documents']);
    counted.perTool.forEach((t, i) => {
      expect(t.tokens).toBe(countTokens(catalogToolText(tools[i]!)));
      expect(t.tokens).toBeGreaterThan(0);
    });
    expect(counted.total).toBe(counted.perTool.reduce((sum, t) => sum + t.tokens, 0));
    // A longer description and schema cost more.
    expect(counted.perTool[2]!.tokens).toBeGreaterThan(counted.perTool[1]!.tokens);
  });

  it('uses the default tokenizer when none is given, and a custom one when given', () => {
    expect(countCatalog(tools)).toEqual(countCatalog(tools, tokenizer));
    const byChars: Tokenizer = (text) => text.length;
    expect(countCatalog(tools, byChars).total).toBe(tools.reduce((sum, t) => sum + catalogToolText(t).length, 0));
  });

  it('counts an empty catalog as zero', () => {
    expect(countCatalog([], tokenizer)).toEqual({ total: 0, perTool: [] });
  });
});

describe('the token-counting worker', () => {
  // Per-thread nice values are a Linux notion (read here from /proc); elsewhere the worker runs at normal priority.
  const linuxOnly = process.platform === 'linux' ? it : it.skip;
  if (process.platform !== 'linux') process.stderr.write('token-counter.test: the worker-priority test needs Linux /proc; skipped here\n');

  linuxOnly('counts in a thread of the lowest priority, so tokenizing yields to the server on a busy machine', async () => {
    const { defaultTokenService } = await import('../../instrumentation/token-service.js');
    const { readdirSync, readFileSync } = await import('node:fs');
    const niceOf = (tid: string): number => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]); // field 19: nice
    };
    const ownNice = niceOf(String(process.pid));
    const threadsBefore = new Set(readdirSync('/proc/self/task'));
    // No test in this file starts the worker earlier: this call does.
    expect(await defaultTokenService().count(['warm the worker up'])).toEqual([tokenizer('warm the worker up')]);
    const newThreads = readdirSync('/proc/self/task').filter((tid) => !threadsBefore.has(tid));
    expect(newThreads.map(niceOf)).toContain(19);
    // The server's own thread keeps its priority.
    expect(niceOf(String(process.pid))).toBe(ownNice);
  });
});
