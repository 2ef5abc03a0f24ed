/**
 * The idempotency fingerprint's hand-written canonical JSON against the `canonicalize` library it
 * replaces on the hot path: the same text for a varied corpus (unicode, number forms, nesting, key
 * order, toJSON, undefined members) and for seeded random JSON values, and the library's own
 * errors for what has no canonical form.
 */
import { describe, expect, it } from '@jest/globals';
import canonicalize from 'canonicalize';
import { canonicalJson } from '../../instrumentation/guards/idempotency/canonical-json.js';

const CORPUS: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  0.1,
  0.1 + 0.2,
  1e21,
  1e-7,
  -1e-7,
  1e20,
  123456789012345680000,
  5e-324,
  Number.MAX_VALUE,
  Number.MIN_SAFE_INTEGER,
  2 ** 53,
  '',
  'plain',
  'quote " backslash \\ slash /',
  'controls \u0000 \u0001 \u001f \b \f \n \r \t \u007f',
  'unicode é ü 中文 \u2028 \u2029 \ufeff',
  'emoji 😀 👩‍👩‍👧 surrogate pair \ud83d\ude00',
  [],
  {},
  [1, [2, [3, [4, [5, []]]]]],
  [null, true, 'a', 1.5, { b: 1, a: 2 }],
  { b: 1, a: 2, c: { z: [3, 2, 1], y: {}, x: [] } },
  { '10': 1, '9': 2, '1': 3, a: 4, A: 5, _: 6, '': 7 },
  { é: 1, e: 2, f: 3, '\u0080': 4, '😀': 5, '\ufb33': 6, '\ud800\udc00': 7 },
  { 'key "quoted"': 'v', 'new\nline': 'w' },
  { a: undefined, b: 1, c: Symbol('s') },
  [undefined, Symbol('s'), 1],
  { when: new Date(Date.UTC(2026, 11, 5, 22, 0, 0)) },
  { custom: { toJSON: () => ({ z: 1, a: [0.5, -0] }) } },
  { deep: JSON.parse('['.repeat(150) + '1' + ']'.repeat(150)) as unknown },
  { amount: 125.5, currency: 'EUR', to: { iban: 'DE89370400440532013000', name: 'Bob Example' }, memo: 'rent december' },
];

/** Deterministic PRNG (mulberry32): the random corpus is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '\n', '\u0000', 'é', '中', '\u2028', '😀', '\ud83d\udca9', '\u00ff', '~', '\u007f'];

function randomValue(random: () => number, depth: number): unknown {
  const pick = Math.floor(random() * (depth > 4 ? 4 : 7));
  const text = (): string => Array.from({ length: Math.floor(random() * 6) }, () => CHARS[Math.floor(random() * CHARS.length)]!).join('');
  switch (pick) {
    case 0:
      return random() < 0.5 ? null : random() < 0.5;
    case 1: {
      const kind = Math.floor(random() * 4);
      if (kind === 0) return Math.floor(random() * 2000) - 1000;
      if (kind === 1) return (random() - 0.5) * 10 ** Math.floor(random() * 60 - 30);
      if (kind === 2) return Number((random() * 100).toFixed(2));
      return random() < 0.5 ? -0 : 1e21 * random();
    }
    case 2:
    case 3:
      return text();
    case 4:
      return Array.from({ length: Math.floor(random() * 5) }, () => randomValue(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 6); i > 0; i--) object[text()] = randomValue(random, depth + 1);
      return object;
    }
  }
}

describe('canonical JSON against canonicalize', () => {
  it.each(CORPUS.map((value, i) => [i, value]))('corpus %i gives the same text', (_i, value) => {
    expect(canonicalJson(value)).toBe(canonicalize(value));
  });

  it('gives the same text for 5,000 seeded random JSON values', () => {
    const random = prng(8785);
    for (let i = 0; i < 5_000; i++) {
      const value = randomValue(random, 0);
      expect(canonicalJson(value)).toBe(canonicalize(value));
    }
  });

  it('orders keys by UTF-16 code units whatever their insertion order', () => {
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: 'x', '😀': 0, '\uffff': 1 })).toBe(
      '{"a":"x","b":[1,{"c":2,"d":1}],"\ud83d\ude00":0,"\uffff":1}',
    );
  });

  it('leaves what has no plain JSON form to the library: its output, or its error', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 2];
    const withFunction = { f: () => 1, a: [() => 2] };
    for (const value of [undefined, sparse, withFunction]) expect(canonicalJson(value)).toBe(canonicalize(value));
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = { back: cycle };
    for (const bad of [Number.NaN, { n: Number.POSITIVE_INFINITY }, ['\ud800'], { '\udc00': 1 }, cycle, 10n]) {
      expect(() => canonicalize(bad)).toThrow();
      expect(() => canonicalJson(bad)).toThrow(
        (() => {
          try {
            canonicalize(bad);
          } catch (error) {
            return (error as Error).message;
          }
          return 'unreachable';
        })(),
      );
    }
  });
});
