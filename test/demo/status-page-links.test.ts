/**
 * What the status page explains and links, in real headless Chromium (the Debian binary,
 * driven by playwright-core), for two real collectors fed by a real OTLP exporter: one with
 * the defaults and one with a trace viewer template and other trend and self-correction
 * windows. Checks the sparkline's label (its axis and time window, from the configuration),
 * the explanation of "fixed", and trace ids linked to the viewer only when one is configured.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROVIDERS } from '../../contract/index.js';
import { emitCall, makeTracer, startCollector, type Started, type TestTracer } from '../collector/collector-harness.js';

const CHROMIUM = '/usr/bin/chromium';
/** The placeholder twice: every occurrence gets the id. */
const TEMPLATE = 'http://viewer.invalid/trace/{traceId}?from=mcplens&id={traceId}';

interface Opened {
  started: Started;
  tracer: TestTracer;
  page: Page;
}

let browser: Browser;
let plain: Opened;
let linked: Opened;
const consoleErrors: string[] = [];

/** A malformed call corrected by the same LLM, one never corrected, and a well-formed one. */
async function feed(tracer: TestTracer): Promise<void> {
  const base = Date.now() - 5000;
  const anthropic = { provider: PROVIDERS.ANTHROPIC, model: 'claude-sonnet-4-5', tool: 'refund', session: 's1' };
  emitCall(tracer.tracer, { ...anthropic, startMs: base, outcome: 'rejected', violationKind: 'missing_required', paths: ['/amount'] });
  emitCall(tracer.tracer, { ...anthropic, startMs: base + 500, outcome: 'ok' });
  const openai = { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', session: 's2' };
  emitCall(tracer.tracer, { ...openai, tool: 'search', startMs: base + 10, outcome: 'rejected', violationKind: 'wrong_type' });
  emitCall(tracer.tracer, { ...openai, tool: 'lookup', startMs: base + 20, outcome: 'ok' });
  await tracer.flush();
}

async function open(options: Parameters<typeof startCollector>[0]): Promise<Opened> {
  const started = await startCollector(options);
  const tracer = makeTracer(started.url, 'json', 'orders');
  await feed(tracer);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await page.goto(`${started.url}/`, { waitUntil: 'load', timeout: 15_000 });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
  return { started, tracer, page };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package 'chromium' (apt-get install -y chromium)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  plain = await open({});
  linked = await open({ traceUrlTemplate: TEMPLATE, trendBucketSeconds: 10, trendBuckets: 6, selfCorrectionWindowSeconds: 30 });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const o of [plain, linked]) {
    await o?.tracer.shutdown();
    await o?.started.collector.close();
  }
});

/** Per provider card: the sparkline's visible label and its SVG title. */
async function sparkLabels(page: Page): Promise<Array<{ label: string | null | undefined; title: string | null | undefined }>> {
  return page.$$eval('[data-provider]', (cards) =>
    cards.map((c) => ({ label: c.querySelector('.spark-label')?.textContent, title: c.querySelector('svg.spark title')?.textContent })),
  );
}

describe('status page explanations and trace links, in headless Chromium', () => {
  it('labels each sparkline with what it plots and the window it covers, from the configuration', async () => {
    const defaults = await sparkLabels(plain.page);
    expect(defaults).toHaveLength(2);
    for (const s of defaults) {
      expect(s.label).toBe('malformed ratio per 1 min, last 30 min');
      expect(s.title).toMatch(/^malformed ratio per 1 min, last 30 min \(oldest left\); scale 0 to \d+\.\d%$/);
    }
    const configured = await sparkLabels(linked.page);
    expect(configured.map((s) => s.label)).toEqual(['malformed ratio per 10 s, last 1 min', 'malformed ratio per 10 s, last 1 min']);
  });

  it('explains "fixed" (self-corrections) in a legend and on the figure, with the configured window', async () => {
    const expected = (window: string): string =>
      `fixed (self-corrected): malformed calls followed within ${window} by a well-formed call ` +
      'of the same tool from the same provider and model in the same session';
    for (const [o, window] of [
      [plain, '1 min'],
      [linked, '30 s'],
    ] as const) {
      expect(await o.page.$eval('#providers .fixed-legend', (el) => el.textContent)).toBe(expected(window));
      const fixed = await o.page.$$eval('[data-provider] [data-label="fixed"]', (els) =>
        els.map((el) => ({
          provider: el.closest('[data-provider]')?.getAttribute('data-provider'),
          title: el.getAttribute('title'),
          value: el.querySelector('b')?.textContent,
        })),
      );
      expect(fixed.sort((a, b) => String(a.provider).localeCompare(String(b.provider)))).toEqual([
        { provider: PROVIDERS.ANTHROPIC, title: expected(window), value: '1' },
        { provider: PROVIDERS.OPENAI, title: expected(window), value: '0' },
      ]);
    }
  });

  it('links each trace id to the configured viewer (every placeholder filled, noopener noreferrer)', async () => {
    const links = await linked.page.$$eval('#recent tbody tr', (rows) =>
      rows.map((r) => {
        const a = r.children[6]?.querySelector('a');
        const attr = (name: string): string | null | undefined => a?.getAttribute(name);
        return { text: r.children[6]?.textContent, href: attr('href'), rel: attr('rel'), target: attr('target') };
      }),
    );
    expect(links).toHaveLength(2);
    const ids = new Set(linked.tracer.traceIds());
    for (const l of links) {
      expect(l.text).toMatch(/^[0-9a-f]{32}$/);
      expect(ids.has(String(l.text))).toBe(true);
      const id = encodeURIComponent(String(l.text));
      const href = `http://viewer.invalid/trace/${id}?from=mcplens&id=${id}`;
      expect(l).toEqual({ text: l.text, href, rel: 'noopener noreferrer', target: '_blank' });
    }
  });

  it('shows trace ids as plain text when no viewer is configured', async () => {
    const cells = await plain.page.$$eval('#recent tbody tr', (rows) =>
      rows.map((r) => ({ text: r.children[6]?.textContent, links: r.children[6]?.querySelectorAll('a').length })),
    );
    expect(cells).toHaveLength(2);
    for (const c of cells) expect(c).toEqual({ text: expect.stringMatching(/^[0-9a-f]{32}$/), links: 0 });
    expect(await plain.page.$$('#recent a, a.trace-link')).toHaveLength(0);
  });

  it('says plainly that no client spans arrived when only servers reported', async () => {
    const view = await plain.page.$eval('#client [data-client-view]', (el) => ({
      state: el.getAttribute('data-client-view'),
      text: el.textContent,
    }));
    expect(view).toEqual({ state: 'none', text: expect.stringContaining('No client spans received') });
  });

  it('logs no console errors or warnings on either page', async () => {
    // One more poll cycle, so a render error on refresh would show too.
    await plain.page.waitForTimeout(2500);
    expect(consoleErrors).toEqual([]);
  });
});
