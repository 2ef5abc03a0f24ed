/**
 * The label-value sanitiser against prom-client's own series key (a real Counter on a real
 * Registry): random label sets built from separators, label names, quotes and newlines must
 * give exactly one series per distinct set, with its own count. Without the sanitiser the
 * issue's pair shares one series (the reason it exists).
 */
import { describe, expect, it } from '@jest/globals';
import { Counter, Registry } from 'prom-client';
import { CALL_LABELS, LABEL, LABEL_VALUE_LIMIT } from '../../contract/index.js';
import { labelKey } from '../../collector/cardinality.js';
import { LabelValues, labelValueProblem, rewriteLabelValue } from '../../collector/label-values.js';

function setup(enabled: boolean): { counter: Counter<string>; values: LabelValues } {
  const registry = new Registry();
  const counter = new Counter({ name: 'calls_total', help: 'h', labelNames: [...CALL_LABELS], registers: [registry] });
  const rewritten = new Counter({ name: 'rewritten_total', help: 'h', labelNames: [LABEL.LABEL, LABEL.REASON], registers: [registry] });
  return { counter, values: new LabelValues({ maxBytes: LABEL_VALUE_LIMIT.DEFAULT_MAX_BYTES, rewritten, enabled }) };
}

/** A deterministic pseudo-random generator (tests must not flake). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = [',', ':', '=', '"', '\n', 'a', 'x', ...CALL_LABELS, `${CALL_LABELS[2]}:`, `,${CALL_LABELS[3]}:`, '\u2026~', '0123abcd'];

describe('label values and prom-client series keys', () => {
  it('merges the issue-10 pair without the sanitiser, and keeps it apart with it', () => {
    const pair = [
      { service_name: 's', gen_ai_tool_name: 't', gen_ai_provider_name: 'openai,gen_ai_request_model:gpt', gen_ai_request_model: 'x' },
      { service_name: 's', gen_ai_tool_name: 't', gen_ai_provider_name: 'openai', gen_ai_request_model: 'gpt,gen_ai_request_model:x' },
    ];
    for (const enabled of [false, true]) {
      const { counter, values } = setup(enabled);
      for (const labels of pair) {
        const clean = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, values.sanitize(k, v)]));
        counter.inc(clean, 1);
      }
      const series = (counter as unknown as { hashMap: Record<string, unknown> }).hashMap;
      expect([enabled, Object.keys(series).length]).toEqual([enabled, enabled ? 2 : 1]);
    }
  });

  it('gives one series per distinct label set, whatever the values hold (5,000 random sets)', async () => {
    const { counter, values } = setup(true);
    const next = random(10);
    const expected = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const raw: Record<string, string> = {};
      for (const name of CALL_LABELS) {
        let v = '';
        const n = Math.floor(next() * 4);
        for (let k = 0; k < n; k++) v += PIECES[Math.floor(next() * PIECES.length)]!;
        raw[name] = v;
      }
      const key = labelKey(CALL_LABELS, raw);
      expected.set(key, (expected.get(key) ?? 0) + 1);
      const clean: Record<string, string> = {};
      for (const name of CALL_LABELS) clean[name] = values.sanitize(name, raw[name]!);
      counter.inc(clean, 1);
    }
    const got = (await counter.get()).values;
    expect(got.length).toBe(expected.size);
    expect(got.map((v) => v.value).sort((a, b) => a - b)).toEqual([...expected.values()].sort((a, b) => a - b));
  });

  it('rewrites only what needs it, into valid, marked values within the limit', () => {
    const max = 64;
    expect(labelValueProblem('gpt-4.1', max)).toBeUndefined();
    expect(labelValueProblem('a, b: c', max)).toBeUndefined();
    expect(labelValueProblem('x'.repeat(max), max)).toBeUndefined();
    expect(labelValueProblem('x'.repeat(max + 1), max)).toBe('too_long');
    expect(labelValueProblem('\u00e9'.repeat(33), max)).toBe('too_long');
    for (const v of ['x'.repeat(1000), 'a\u0000b', 'a,b:c', 'p\udc00', `${'€'.repeat(40)}\n`]) {
      const r = rewriteLabelValue(v, max);
      expect(Buffer.byteLength(r)).toBeLessThanOrEqual(max);
      // Valid UTF-8 (no lone surrogate survives the round trip unchanged otherwise), marked, no control character.
      expect(Buffer.from(r, 'utf8').toString('utf8')).toBe(r);
      expect(r).toMatch(/\u2026~[0-9a-f]{8}$/);
      expect(/[\u0000-\u001f]/.test(r)).toBe(false);
    }
  });
});
