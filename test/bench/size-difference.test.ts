import { describe, expect, it } from '@jest/globals';
import { sizeDifference } from '../../bench/instrumentation-overhead.js';
import type { ChildFigures, VariantName } from '../../bench/variants/figures.js';

/** One round's figures with given per-cycle block medians (µs); the rest is irrelevant here. */
function round(blocks: Record<string, { '100B': number[]; '10KB': number[] }>): Map<string, ChildFigures> {
  const map = new Map<string, ChildFigures>();
  for (const [variant, blockMediansUs] of Object.entries(blocks)) {
    map.set(`${variant}/http`, { variant: variant as VariantName, transport: 'http', blockMediansUs } as ChildFigures);
  }
  return map;
}

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
    expect(sizeDifference(figures, 'mcplens', 'http')).toEqual({ median: 5, low: 5, high: 5, n: 30 });
  });

  it('gives an interval that widens with noise and holds the true median', () => {
    // Differences -14..+15 around a median of 0.5: the interval must contain it and span several values.
    const diffs = Array.from({ length: 30 }, (_, i) => i - 14);
    const figures = [
      round({
        bare: { '100B': diffs.map(() => 1000), '10KB': diffs.map(() => 1000) },
        mcplens: { '100B': diffs.map(() => 1000), '10KB': diffs.map((d) => 1000 + d) },
      }),
    ];
    const result = sizeDifference(figures, 'mcplens', 'http')!;
    expect(result.median).toBe(0.5);
    expect(result.low).toBeLessThan(0);
    expect(result.high).toBeGreaterThan(0);
    expect(result.high - result.low).toBeGreaterThanOrEqual(8);
    expect(result.high - result.low).toBeLessThan(29);
  });

  it('is undefined without paired figures', () => {
    expect(sizeDifference([round({ mcplens: { '100B': [1], '10KB': [2] } })], 'mcplens', 'http')).toBeUndefined();
  });
});
