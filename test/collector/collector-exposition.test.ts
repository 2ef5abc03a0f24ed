/**
 * Exposition on a real prom-client OpenMetrics registry: the classic format keeps `_total`
 * on counter families, drops exemplars and `# EOF` without touching label values that look
 * like exemplars, and Accept picks the format.
 */
import { describe, expect, it } from '@jest/globals';
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import {
  openMetricsToClassic,
  PROMETHEUS_TEXT_CONTENT_TYPE,
  renderClassicText,
  renderMetrics,
  wantsOpenMetrics,
} from '../../collector/exposition.js';
import { CounterCell, HistogramCell } from '../../collector/metrics.js';
import { parseExposition } from './collector-harness.js';

function registry(): Registry<RegistryContentType> {
  const r = new Registry<RegistryContentType>();
  r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const c = new Counter({ name: 'demo_calls_total', help: 'Calls.\nSecond line', labelNames: ['tool'], registers: [r] });
  c.inc({ tool: 'weird } # {trace_id="x"} "quoted" \\ ' }, 3);
  c.inc({ tool: 'plain' }, 2);
  const h = new Histogram<string>({
    name: 'demo_seconds',
    help: 'Durations.',
    labelNames: ['m'],
    buckets: [0.1, 1],
    registers: [r],
    enableExemplars: true,
  });
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
    const { contentType, body: bytes } = await renderMetrics(registry(), 'text/plain');
    const body = bytes.toString('utf8');
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
    const { contentType, body: bytes } = await renderMetrics(registry(), 'application/openmetrics-text');
    const body = bytes.toString('utf8');
    expect(contentType).toMatch(/^application\/openmetrics-text/);
    expect(body).toMatch(/^demo_calls_total\{tool="plain"\} 2$/m);
    expect(body).toMatch(/^demo_seconds_bucket\{le="1",m="a"\} 1 # \{trace_id="0af7651916cd43dd8448eb211c80319c"\} 0\.5 \d+/m);
  });

  it('renders piece by piece exactly what registry.metrics() renders, many series included', async () => {
    // More series than one piece holds (500), a gauge, label values needing escapes, exemplars.
    const r = registry();
    const c = new Counter({ name: 'many_total', help: 'Many.', labelNames: ['k', 'v'], registers: [r] });
    const h = new Histogram<string>({
      name: 'many_seconds',
      help: 'Many durations.',
      labelNames: ['k'],
      buckets: [0.01, 1, 2, 300],
      registers: [r],
      enableExemplars: true,
    });
    for (let i = 0; i < 1234; i++) {
      c.inc({ k: `key-${i}`, v: i % 7 === 0 ? 'quote " and \\ and\nnewline' : 'plain' }, i);
      h.observe({
        labels: { k: `key-${i % 1100}` },
        value: (i % 400) / 100,
        exemplarLabels: { trace_id: i.toString(16).padStart(32, '0') },
      });
    }
    const expectedOpen = await r.metrics();
    expect((await renderMetrics(r, 'application/openmetrics-text')).body.toString('utf8')).toBe(expectedOpen);
    expect((await renderMetrics(r, 'text/plain')).body.toString('utf8')).toBe(openMetricsToClassic(expectedOpen));
    expect(await renderClassicText(r)).toBe(openMetricsToClassic(await r.metrics()));
    expect(expectedOpen.match(/^many_seconds_count\{/gm)?.length).toBe(1100);
  });

  it('cells update the very series the public API would, and stay on the fast path', async () => {
    const viaApi = registry();
    const viaCells = registry();
    const make = (r: Registry<RegistryContentType>) => ({
      c: new Counter({ name: 'cell_total', help: 'Cells.', labelNames: ['k'], registers: [r] }),
      h: new Histogram<string>({
        name: 'cell_seconds',
        help: 'Cells.',
        labelNames: ['k'],
        buckets: [0.01, 1, 2, 300],
        registers: [r],
        enableExemplars: true,
      }),
    });
    const api = make(viaApi);
    const fast = make(viaCells);
    const counterCell = new CounterCell(fast.c, { k: 'a' });
    const histogramCell = new HistogramCell(fast.h, { k: 'a' });
    api.c.inc({ k: 'a' }, 0);
    const values = [0.005, 0.5, 1.5, 250, 1000, 0.5, 0.3333333, 2, 2.5];
    for (const [i, v] of values.entries()) {
      api.c.inc({ k: 'a' }, v);
      counterCell.inc(v);
      const traceId = String(i).padStart(32, '0');
      api.h.observe({ labels: { k: 'a' }, value: v, exemplarLabels: { trace_id: traceId } });
      api.h.observe({ labels: { k: 'a' }, value: v });
      histogramCell.observe(v, 2, traceId, 0);
    }
    expect(counterCell.fast).toBe(true);
    expect(histogramCell.fast).toBe(true);
    // Exemplar timestamps differ (the cell takes the batch's); everything else is identical.
    const strip = (t: string): string => t.replace(/( # \{[^}]*\} \S+) \S+$/gm, '$1');
    expect(strip(await viaApi.metrics())).not.toBe(await viaApi.metrics());
    expect(strip(await viaCells.metrics())).toBe(strip(await viaApi.metrics()));
  });
});
