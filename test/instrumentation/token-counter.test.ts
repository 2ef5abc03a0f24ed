import { describe, it, expect } from '@jest/globals';
import { countTokens, setMergeCacheSize } from 'gpt-tokenizer/encoding/o200k_base';
import {
  argumentsText,
  catalogToolText,
  defaultTokenizer,
  MAX_PAYLOAD_CHARS,
  MAX_PIECE_BYTES,
  PayloadTooLargeError,
  resultText,
} from '../../instrumentation/token-counter.js';

const tokenizer = defaultTokenizer();
// The reference instance (this ESM import is not the CommonJS instance defaultTokenizer() uses): a
// cache size never changes a count, and the default (100,000 entries) is slow once full.
setMergeCacheSize(2000);
/** gpt-tokenizer as mcplens calls it: special-token markers are plain text. */
const plainCount = (text: string): number => countTokens(text, { disallowedSpecial: new Set() });

/** Deterministic pseudo-random text, so failures reproduce. */
function randomText(length: number, alphabet: (r: number) => string, seed = 42): string {
  // mulberry32: 32-bit integer arithmetic, so no short cycle (a float LCG repeats within 20,000 steps,
  // and a repeating text would hit the merge cache instead of measuring the merging).
  let state = seed | 0;
  const parts: string[] = [];
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    parts.push(alphabet(((t ^ (t >>> 14)) >>> 0) / 0x100000000));
  }
  return parts.join('');
}
const lowercase = (r: number): string => String.fromCharCode(97 + Math.floor(r * 26));
const base64Digit = (r: number): string => 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[Math.floor(r * 64)]!;
const cjk = (r: number): string => String.fromCharCode(0x4e00 + Math.floor(r * 20000));

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

/**
 * Counting is linear, with a bound per piece (MAX_PIECE_BYTES) and per payload
 * (MAX_PAYLOAD_CHARS). No timing here (benchmarks time: bench/tokenizer-bound.ts); the
 * pathological inputs are sized so that the quadratic code before took minutes to hours on
 * them, which jest's timeout turns into a failure.
 */
describe('defaultTokenizer on ordinary text: exactly gpt-tokenizer', () => {
  const prose =
    "It's the quick brown fox's third jump; they'll say it's done. Don't they? Mr. O'Neill won't.\n\n" +
    'Observability for MCP servers: OpenTelemetry spans per request, schema-violation classification per LLM provider.';
  const code = [
    'export async function fetchAll<T>(urls: readonly string[], init?: RequestInit): Promise<T[]> {',
    '\tconst results: T[] = [];',
    '        for (const url of urls) {',
    "            const res = await fetch(url, { ...init, headers: { 'x-trace': `${Date.now()}` } });",
    '            if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);',
    '            results.push((await res.json()) as T); // snake_case_identifier, camelCaseIdentifier, SCREAMING_CASE',
    '        }',
    '    return results;',
    '}',
  ].join('\n');
  const ordinary: Array<[string, string]> = [
    ['prose with contractions', prose],
    ['code with tabs and deep indentation', code],
    [
      'JSON with a long array of objects',
      JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `user ${i}`, ok: i % 3 === 0, score: i / 7 }))),
    ],
    ['pretty-printed JSON', JSON.stringify({ a: [1, 2, { b: 'c', d: [null, true, 1.5e-7] }], e: 'Zürich' }, null, 2).repeat(200)],
    [
      'numbers',
      '3.14159265358979323846 -42 1e308 0x1F 1,234,567.89 12345678901234567890123456789012345678901234567890 ' +
        Array.from({ length: 2000 }, (_, i) => i * 7919).join(','),
    ],
    [
      'unicode: CJK, Cyrillic, Arabic, Thai, Devanagari',
      '東京から大阪まで新幹線で行きます。Привет, как дела? مرحبا بالعالم สวัสดีครับ ยินดีต้อนรับ नमस्ते दुनिया 한국어 텍스트',
    ],
    ['emoji, ZWJ sequences, combining marks and astral letters', '👋🏽 👨‍👩‍👧‍👦 🇨🇭 e\u0301 a\u0308\u0301 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁 ' + '🙂'.repeat(50)],
    ['whitespace runs', `a${' '.repeat(600)}b\t\t\tc${'\n'.repeat(300)}d\r\n\r\n  \u00a0\u3000 e    1  2\t\t3 x  `],
    [
      'a wide Markdown table (padding pieces of 900 characters)',
      `| name${' '.repeat(900)}| value |\n|${'-'.repeat(905)}|-------|\n| a${' '.repeat(903)}| 1     |\n`,
    ],
    ['special-token markers', 'before <|endoftext|> middle <|im_start|>user<|im_sep|> after'],
    ['base64 (256 KiB): many pieces that are no tokens', randomText(256 * 1024, base64Digit)],
  ];

  it.each(ordinary)('counts %s exactly as countTokens does', (_title, text) => {
    expect(tokenizer(text)).toBe(plainCount(text));
  });

  // Runs of one character class longer than a piece may be: the tokenizer splits these texts
  // itself (the segment path), and its pieces are short, so the count is still exact.
  it.each([
    ['mixed-case words without spaces', 'AbCd'.repeat(3000)],
    ['a long run of closing braces and newlines', '}\n'.repeat(3000)],
    ['such runs inside JSON and prose', `${prose} ${'CamelCaseRun'.repeat(400)} ${JSON.stringify({ k: '}\n'.repeat(800) })} ${prose}`],
  ])('counts %s exactly, although one run of a character class is long', (_title, text) => {
    expect(tokenizer(text)).toBe(plainCount(text));
  });
});

describe('defaultTokenizer on over-long pieces: linear, bounded per piece', () => {
  it('counts everything around an over-long piece exactly, and the piece in chunks', () => {
    const long = 'a'.repeat(10 * MAX_PIECE_BYTES + 17);
    const before = 'The total was 42';
    const after = '7 units, said the report.\n';
    // Digits end a word piece on both sides, so the three parts are separate pieces.
    expect(tokenizer(before + long + after)).toBe(plainCount(before) + tokenizer(long) + plainCount(after));
    // A run of `a` has exact multiples: 8 characters a token, chunks or not.
    expect(tokenizer(long)).toBe(plainCount(long));
  });

  it('keeps the whitespace pieces before an over-long piece as the whole text splits them', () => {
    // The whole text splits into `x`, `\t`, `\t`, `!!!...`; `x\t\t` alone would be `x`, `\t\t`.
    expect(plainCount('x\t\t')).not.toBe(plainCount('x') + 2 * plainCount('\t'));
    const long = '!'.repeat(3 * MAX_PIECE_BYTES);
    expect(tokenizer(`x\t\t${long}`)).toBe(plainCount('x') + 2 * plainCount('\t') + tokenizer(long));
    expect(tokenizer(`x\t\t${long}`)).toBe(plainCount(`x\t\t${long}`));
  });

  it('estimates an over-long piece within a token per chunk of the exact count', () => {
    const cases = [
      ['random lowercase letters', randomText(16 * 1024, lowercase)],
      ['random CJK', randomText(3000, cjk)],
      ['emoji (no surrogate pair is cut)', '😀🙃'.repeat(1500)],
    ] as const;
    for (const [, text] of cases) {
      const chunks = Math.ceil(Buffer.byteLength(text) / MAX_PIECE_BYTES);
      expect(chunks).toBeGreaterThan(1);
      expect(Math.abs(tokenizer(text) - plainCount(text))).toBeLessThanOrEqual(chunks);
    }
  });

  it('counts 1 Mi of one letter, the per-payload cap (one piece; the quadratic merging took hours)', () => {
    const text = 'a'.repeat(MAX_PAYLOAD_CHARS);
    expect(tokenizer(text)).toBe((MAX_PAYLOAD_CHARS / 8192) * plainCount('a'.repeat(8192)));
  });

  it('counts 512 Ki random letters (one piece of distinct chunks) at the exact rate of a sample', () => {
    const sample = randomText(16 * 1024, lowercase, 7);
    const exactRate = plainCount(sample) / sample.length;
    const text = randomText(512 * 1024, lowercase, 8);
    const rate = tokenizer(text) / text.length;
    expect(rate).toBeGreaterThan(exactRate * 0.98);
    expect(rate).toBeLessThan(exactRate * 1.02);
  });

  it('counts 1 Mi characters of base64, the per-payload cap (no long piece: exact, at the rate of its first 256 KiB)', () => {
    const text = randomText(MAX_PAYLOAD_CHARS, base64Digit, 9);
    const head = text.slice(0, 256 * 1024);
    const count = tokenizer(text);
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThanOrEqual(text.length);
    expect(tokenizer(head)).toBe(plainCount(head));
    expect(count / text.length).toBeCloseTo(plainCount(head) / head.length, 2);
  });
});

describe('defaultTokenizer: the per-payload cap', () => {
  it(`counts a payload of MAX_PAYLOAD_CHARS (${MAX_PAYLOAD_CHARS}) characters`, () => {
    expect(tokenizer('a'.repeat(MAX_PAYLOAD_CHARS))).toBe(MAX_PAYLOAD_CHARS / 8);
  });

  it('refuses a longer payload with a PayloadTooLargeError instead of counting it', () => {
    let thrown: unknown;
    try {
      tokenizer('a'.repeat(MAX_PAYLOAD_CHARS + 1));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PayloadTooLargeError);
    expect(thrown).toMatchObject({ name: 'PayloadTooLargeError', code: 'MCPLENS_PAYLOAD_TOO_LARGE', chars: MAX_PAYLOAD_CHARS + 1 });
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
    const counted = defaultTokenService().count(['warm the worker up']);
    expect('later' in counted && (await counted.later)).toEqual([tokenizer('warm the worker up')]);
    const newThreads = readdirSync('/proc/self/task').filter((tid) => !threadsBefore.has(tid));
    expect(newThreads.map(niceOf)).toContain(19);
    // The server's own thread keeps its priority.
    expect(niceOf(String(process.pid))).toBe(ownNice);
  });
});
