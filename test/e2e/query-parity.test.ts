/**
 * The parity comparison's tolerance follows the form of what a query computes: a recorded ratio
 * or quantile is compared like the expression its rule records, not like a plain series.
 */
import { describe, expect, it } from '@jest/globals';
import { resolveOptions } from '../../dashboards/index.js';
import { compareAnswers, parityQueries, tolerance, type Sample } from './query-parity.js';

const queries = parityQueries(resolveOptions({ evaluationInterval: '1s', rateWindow: '30s' }), 'openai');
const tol = tolerance(30, 1, 0.3, 1.25);

function recording(suffix: string): (typeof queries)[number] {
  return queries.find((q) => q.where.startsWith('recording ') && q.expr.endsWith(suffix))!;
}

function sample(value: number): Sample[] {
  return [{ metric: { gen_ai_provider_name: 'openai' }, value: [0, String(value)] }];
}

describe('compareAnswers on recorded series', () => {
  it("gives a recorded ratio the ratios' tolerance", () => {
    const ratio = recording(':mcp_tool_schema_violations:ratio_rate30s');
    const off = 1 + 1.5 * tol.relative;
    expect(compareAnswers(ratio, sample(0.5), sample(0.5 * off), tol)).toEqual([]);
  });

  it('passes a recorded quantile whose two values fall in the same bucket', () => {
    const p95 = recording(':mcp_server_operation_duration_seconds:p95_rate30s');
    expect(compareAnswers(p95, sample(0.055), sample(0.099), tol)).toEqual([]);
  });

  it('gives quantiles and ratios no absolute floor: small values still have to agree', () => {
    const p95 = recording(':mcp_server_operation_duration_seconds:p95_rate30s');
    // 12 ms and 25 ms: both below the one-call floor of a rate, in different buckets.
    expect(compareAnswers(p95, sample(0.012), sample(0.025), tol)).toHaveLength(1);
    const ratio = recording(':mcp_tool_schema_violations:ratio_rate30s');
    expect(compareAnswers(ratio, sample(0.01), sample(0.03), tol)).toHaveLength(1);
  });
});
