import { describe, expect, it } from '@jest/globals';
import { medianIntervalRanks, sizeDifference } from '../../bench/instrumentation-overhead.js';
import type { ChildFigures, VariantName } from '../../bench/variants/figures.js';

/** One round's figures with given per-cycle block medians (µs); the rest is irrelevant here. */
function round(blocks: Record<string, { '100B': number[]; '10KB': number[] }>): Map<string, ChildFigures> {
  const map = new Map<string, ChildFigures>();
  for (const [variant, blockMediansUs] of Object.entries(blocks)) {
    map.set(`${variant}/http`, { variant: variant as VariantName, transport: 'http', blockMediansUs } as ChildFigures);
  }
  return map;
}

/** P(X = i) for X ~ Binomial(n, 1/2), by exact integer arithmetic. */
function binomialHalf(n: number, i: number): number {
  let c = 1n;
  for (let j = 0; j < i; j++) c = (c * BigInt(n - j)) / BigInt(j + 1);
  return Number(c) / 2 ** n;
}

describe('medianIntervalRanks', () => {
  it.each([6, 10, 30, 36, 50, 120])(
    'bounds the median of %i values with at least 95%% confidence, as tightly as order statistics allow',
    (n) => {
      const [lo, hi] = medianIntervalRanks(n)!;
      expect(hi).toBe(n - 1 - lo); // symmetric
      // Coverage of [x(lo+1), x(hi+1)] (1-based) is 1 - 2 P(X <= lo).
      let tail = 0;
      for (let i = 0; i <= lo; i++) tail += binomialHalf(n, i);
      expect(1 - 2 * tail).toBeGreaterThanOrEqual(0.95);
      // One rank tighter would fall below 95%.
      expect(1 - 2 * (tail + binomialHalf(n, lo + 1))).toBeLessThan(0.95);
    },
  );

  it('gives no interval below 6 values (min..max of 5 covers only 93.75%)', () => {
    expect(medianIntervalRanks(5)).toBeUndefined();
    expect(medianIntervalRanks(3)).toBeUndefined();
    expect(medianIntervalRanks(6)).toEqual([0, 5]);
  });
});

describe('sizeDifference (10 KB vs 100 B, paired per cycle)', () => {
  it('takes (variant - bare at 10 KB) - (variant - bare at 100 B) per cycle, so drift common to a cycle cancels', () => {
    // The machine drifts by +100 µs per cycle; mcplens adds 10 µs at 100 B and 15 µs at 10 KB.
    const cycles = Array.from({ length: 30 }, (_, c) => c * 100);
    const figures = [
      round({
        bare: { '100B': cycles.map((d) => 1000 + d), '10KB': cycles.map((d) => 1100 + d) },
        mcplens: { '100B': cycles.map((d) => 1010 + d), '10KB': cycles.map((d) => 1115 + d) },
      }),
    ];
    expect(sizeDifference(figures, 'mcplens', 'http')).toEqual({ median: 5, interval: [5, 5], n: 30 });
  });

  it('gives an interval that widens with noise and holds the true median', () => {
    // Differences -14..+15 around a median of 0.5: for 30 values the 95% ranks are the 10th and 21st.
    const diffs = Array.from({ length: 30 }, (_, i) => i - 14);
    const figures = [
      round({
        bare: { '100B': diffs.map(() => 1000), '10KB': diffs.map(() => 1000) },
        mcplens: { '100B': diffs.map(() => 1000), '10KB': diffs.map((d) => 1000 + d) },
      }),
    ];
    expect(sizeDifference(figures, 'mcplens', 'http')).toEqual({ median: 0.5, interval: [-5, 6], n: 30 });
  });

  it('measured against the floor, cancels what any span adds with a larger result', () => {
    // A bare span costs 40 µs more at 10 KB (a bigger heap to collect); mcplens the same 40 plus 3 of its own.
    const n = Array.from({ length: 12 }, (_, c) => c * 50);
    const figures = [
      round({
        bare: { '100B': n.map((d) => 1000 + d), '10KB': n.map((d) => 1000 + d) },
        'bare-span': { '100B': n.map((d) => 1100 + d), '10KB': n.map((d) => 1140 + d) },
        mcplens: { '100B': n.map((d) => 1120 + d), '10KB': n.map((d) => 1163 + d) },
      }),
    ];
    expect(sizeDifference(figures, 'mcplens', 'http')?.median).toBe(43);
    expect(sizeDifference(figures, 'mcplens', 'http', 'bare-span')).toEqual({ median: 3, interval: [3, 3], n: 12 });
  });

  it('is undefined without paired figures, and has no interval from too few cycles', () => {
    expect(sizeDifference([round({ mcplens: { '100B': [1], '10KB': [2] } })], 'mcplens', 'http')).toBeUndefined();
    const few = [round({ bare: { '100B': [1, 1, 1], '10KB': [1, 1, 1] }, mcplens: { '100B': [2, 2, 2], '10KB': [3, 4, 5] } })];
    expect(sizeDifference(few, 'mcplens', 'http')).toEqual({ median: 2, interval: undefined, n: 3 });
  });
});
