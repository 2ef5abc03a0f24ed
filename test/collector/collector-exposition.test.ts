/**
 * Exposition on a real prom-client OpenMetrics registry: the classic format keeps `_total`
 * on counter families, drops exemplars and `# EOF` without touching label values that look
 * like exemplars, and Accept picks the format.
 */
import { describe, expect, it } from '@jest/globals';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { PROMETHEUS_TEXT_CONTENT_TYPE, renderMetrics, wantsOpenMetrics } from '../../collector/exposition.js';
import { parseExposition } from './collector-harness.js';

function registry(): Registry<RegistryContentType> {
  const r = new Registry<RegistryContentType>();
  r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const c = new Counter({ name: 'demo_calls_total', help: 'Calls.\nSecond line', labelNames: ['tool'], registers: [r] });
  c.inc({ tool: 'weird } # {trace_id="x"} "quoted" \\ ' }, 3);
  c.inc({ tool: 'plain' }, 2);
  const h = new Histogram<string>({ name: 'demo_seconds', help: 'Durations.', labelNames: ['m'], buckets: [0.1, 1], registers: [r], enableExemplars: true });
  h.observe({ labels: { m: 'a' }, value: 0.5, exemplarLabels: { trace_id: '0af7651916cd43dd8448eb211c80319c' } });
  return r;
}

describe('exposition', () => {
  it('chooses OpenMetrics only when Accept asks for it', () => {
    expect(wantsOpenMetrics('application/openmetrics-text;version=1.0.0,text/plain;q=0.5')).toBe(true);
    expect(wantsOpenMetrics('text/plain')).toBe(false);
    expect(wantsOpenMetrics(undefined)).toBe(false);
  });

  it('classic: _total on counter HELP/TYPE/samples, no exemplars, label values intact', async () => {
    const { contentType, body } = await renderMetrics(registry(), 'text/plain');
    expect(contentType).toBe(PROMETHEUS_TEXT_CONTENT_TYPE);
    expect(body).toContain('# HELP demo_calls_total Calls.\\nSecond line\n# TYPE demo_calls_total counter\n');
    expect(body).not.toContain('# EOF');
    expect(body).not.toContain('0af7651916cd43dd8448eb211c80319c');
    const samples = parseExposition(body);
    expect(samples.find((s) => s.labels['tool'] === 'weird } # {trace_id="x"} "quoted" \\ ')!.value).toBe(3);
    expect(samples.find((s) => s.name === 'demo_seconds_bucket' && s.labels['le'] === '1')!.value).toBe(1);
    expect(samples.every((s) => s.exemplar === undefined)).toBe(true);
  });

  it('OpenMetrics: counter samples keep _total, exemplar on the bucket', async () => {
    const { contentType, body } = await renderMetrics(registry(), 'application/openmetrics-text');
    expect(contentType).toMatch(/^application\/openmetrics-text/);
    expect(body).toMatch(/^demo_calls_total\{tool="plain"\} 2$/m);
    expect(body).toMatch(/^demo_seconds_bucket\{le="1",m="a"\} 1 # \{trace_id="0af7651916cd43dd8448eb211c80319c"\} 0\.5 \d+/m);
  });
});
