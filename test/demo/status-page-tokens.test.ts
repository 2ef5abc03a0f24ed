/**
 * The status page in real headless Chromium (the Debian binary, driven by playwright-core)
 * shows tokens that were not counted as "not counted" with the number of such calls and
 * their reasons, never as 0: spans sent through a real OTLP exporter into the real collector,
 * including tools/list spans whose catalog tokens are unknown.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PROVIDERS, TOKENS_NOT_COUNTED_REASONS } from '../../contract/index.js';
import {
  emitCall,
  emitCatalog,
  emitUncountedCatalog,
  makeTracer,
  startCollector,
  type Started,
  type TestTracer,
} from '../collector/collector-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const R = TOKENS_NOT_COUNTED_REASONS;

let started: Started;
const tracers: TestTracer[] = [];
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package 'chromium' (apt-get install -y chromium)`);
  started = await startCollector();
  const base = Date.now() - 10_000;
  const orders = makeTracer(started.url, 'protobuf', 'orders');
  tracers.push(orders);
  const counted = { tokensArguments: 10, tokensResult: 100, outcome: 'ok' as const };
  // openai: one counted call of 'search', one not counted; anthropic: no call of 'refund' counted.
  emitCall(orders.tracer, { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool: 'search', startMs: base, ...counted });
  emitCall(orders.tracer, {
    provider: PROVIDERS.OPENAI,
    model: 'gpt-4.1',
    tool: 'search',
    startMs: base + 1,
    outcome: 'ok',
    tokensNotCounted: R.BACKLOG,
  });
  for (let i = 0; i < 3; i++) {
    emitCall(orders.tracer, {
      provider: PROVIDERS.ANTHROPIC,
      model: 'claude-sonnet-4-5',
      tool: 'refund',
      startMs: base + 10 + i,
      outcome: 'ok',
      tokensNotCounted: R.SHUTDOWN,
    });
  }
  emitCall(orders.tracer, { provider: PROVIDERS.DEEPSEEK, model: 'deepseek-chat', tool: 'lookup', startMs: base + 20, ...counted });
  // A counted catalog, then a listing not counted: the counted one stays on the page.
  emitCatalog(orders.tracer, base + 30, { search: 100, refund: 50, lookup: 25 });
  emitUncountedCatalog(orders.tracer, base + 31, R.BACKLOG);
  await orders.flush();
  // A service whose only listing was not counted.
  const billing = makeTracer(started.url, 'json', 'billing');
  tracers.push(billing);
  emitUncountedCatalog(billing.tracer, base, R.TOO_LARGE);
  await billing.flush();

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
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  await page.goto(`${started.url}/`, { waitUntil: 'load', timeout: 15_000 });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const t of tracers) await t.shutdown();
  await started?.collector.close();
});

/** The provider card's tokens box and its not-counted note. */
async function card(
  provider: string,
): Promise<{ tokens: string | undefined; note: string | undefined; noteCount: string | null | undefined }> {
  return page.$eval(`[data-provider="${provider}"]`, (c) => {
    const note = c.querySelector('.tokens-not-counted');
    return {
      tokens: c.querySelector('.minis [data-label^="tokens"] b')?.textContent ?? undefined,
      note: note?.textContent ?? undefined,
      noteCount: note?.getAttribute('data-tokens-not-counted'),
    };
  });
}

describe('status page: tokens not counted', () => {
  it('renders without console errors', () => {
    expect(consoleErrors).toEqual([]);
  });

  it('a provider none of whose calls were counted shows "not counted", with how many calls and why', async () => {
    expect(await card(PROVIDERS.ANTHROPIC)).toEqual({
      tokens: 'not counted',
      note: `tokens not counted for 3 of 3 calls (${R.SHUTDOWN} 3)`,
      noteCount: '3',
    });
  });

  it('a provider with some calls not counted shows the counted tokens and how many were not counted', async () => {
    expect(await card(PROVIDERS.OPENAI)).toEqual({
      tokens: '10 / 100',
      note: `tokens not counted for 1 of 2 calls (${R.BACKLOG} 1)`,
      noteCount: '1',
    });
    expect(await card(PROVIDERS.DEEPSEEK)).toEqual({ tokens: '10 / 100', note: undefined, noteCount: undefined });
  });

  it('the tools table says "not counted" instead of 0 tokens', async () => {
    const rows = await page.$$eval('#tools tbody tr', (trs) =>
      trs.map((tr) => ({
        tool: tr.children[1]?.textContent,
        tokens: tr.lastElementChild?.textContent,
        title: (tr.lastElementChild as { title?: string } | null)?.title,
      })),
    );
    expect(rows.find((r) => r.tool === 'refund')).toEqual({
      tool: 'refund',
      tokens: 'not counted (3)',
      title: `not counted: ${R.SHUTDOWN} 3`,
    });
    expect(rows.find((r) => r.tool === 'search')).toEqual({
      tool: 'search',
      tokens: '110 +1 not counted',
      title: `not counted: ${R.BACKLOG} 1`,
    });
    expect(rows.find((r) => r.tool === 'lookup')).toEqual({ tool: 'lookup', tokens: '110', title: '' });
  });

  it('catalogs: the last counted one stays with a note; one never counted says "not counted", not 0', async () => {
    const orders = await page.$eval('#catalog [data-service="orders"]', (c) => ({
      total: c.querySelector('.catalog-total')?.textContent,
      note: c.querySelector('.catalog-not-counted')?.textContent,
      rows: c.querySelectorAll('tbody tr').length,
    }));
    expect(orders).toEqual({
      total: '175 tokens added to every LLM request by 3 tools',
      note: `latest tools/list not counted (${R.BACKLOG}); showing the last counted catalog`,
      rows: 3,
    });
    const billing = await page.$eval('#catalog [data-service="billing"]', (c) => ({
      total: c.querySelector('.catalog-total')?.textContent,
      rows: c.querySelectorAll('tbody tr').length,
    }));
    expect(billing).toEqual({ total: `not counted: tokens of its tools/list are unknown (${R.TOO_LARGE})`, rows: 0 });
  });
});
