/**
 * The status page in real headless Chromium (the Debian binary, driven by playwright-core),
 * served by the real collector, fed by the simulated agents through the real instrumented
 * server and the real OTLP/HTTP protobuf exporter. Checks: no console errors, no request
 * leaves the origin, every provider the traffic used is shown with its malformed ratio,
 * caller-controlled text is shown as text; saves a screenshot under test-artifacts/.
 */
import { flush, instrumentClient } from '../../instrumentation/index.js';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trace, context, propagation } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ATTR, META_KEYS, OUTCOMES, PROVIDERS, UNKNOWN_LABEL_VALUE } from '../../contract/index.js';
import { createCollector, type Collector } from '../../collector/index.js';
import { STATUS_PAGE_RECENT_ROWS } from '../../collector/status-page.js';
import type { Summary } from '../../collector/summary-types.js';
import { ORDER_SERVER_NAME, createOrderServer } from '../../demo/order-server.js';
import { baggageFor, planCalls, startTraffic } from '../../demo/traffic.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const SEED = 42;
const CALLS = 300;
/** A tool name a caller controls, shown on the page: it must stay text. */
const HOSTILE_TOOL = '<img src=x onerror="window.__pwned=1">';

let collector: Collector;
let url: string;
let provider: NodeTracerProvider;
let browser: Browser;
let page: Page;
let summary: Summary;
const consoleErrors: string[] = [];
const foreignRequests: string[] = [];
const failedRequests: string[] = [];

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package 'chromium' (apt-get install -y chromium)`);
  collector = createCollector({ host: '127.0.0.1', port: 0 });
  url = (await collector.listen()).url;
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: ORDER_SERVER_NAME }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${url}/v1/traces` }), { scheduledDelayMillis: 100, maxQueueSize: 4096 }),
    ],
  });
  provider.register();

  const traffic = await startTraffic({ seed: SEED, rate: 1000, maxCalls: CALLS, server: { latencyScale: 0 }, maxInFlightPerAgent: 10_000 });
  await traffic.done;
  await traffic.stop();

  // One more caller, whose hallucinated tool name is markup; its client is instrumented (the client view).
  const server = createOrderServer({ latencyScale: 0 });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(b);
  const client = instrumentClient(new Client({ name: 'hostile', version: '1.0.0' }), { provider: PROVIDERS.X_AI, model: 'grok-4' });
  await client.connect(a);
  await client.callTool({ name: HOSTILE_TOOL, arguments: {}, _meta: { [META_KEYS.BAGGAGE]: baggageFor(PROVIDERS.X_AI, 'grok-4') } });
  await client.close();
  await server.close();

  const deadline = Date.now() + 15_000;
  do {
    await new Promise((r) => setTimeout(r, 100));
    await flush(provider);
    summary = await collector.summary();
  } while ((summary.totals.calls < CALLS + 1 || summary.client.totals.calls < 1) && Date.now() < deadline);

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
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('data:')) foreignRequests.push(r.url());
  });
  page.on('requestfailed', (r) => failedRequests.push(r.url()));
  await page.goto(`${url}/`, { waitUntil: 'load', timeout: 15_000 });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await provider?.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  await collector?.close();
});

describe('status page in headless Chromium', () => {
  it('got every call of the traffic into the collector', () => {
    expect(summary.totals.calls).toBe(CALLS + 1);
  });

  it('loads with no console errors, no failed requests and no request leaving the origin', async () => {
    // One more poll cycle, so a render error on refresh would show too.
    await page.waitForTimeout(2500);
    expect(consoleErrors).toEqual([]);
    expect(failedRequests).toEqual([]);
    expect(foreignRequests).toEqual([]);
  });

  it('shows each provider the traffic used with the malformed ratio the agents produced', async () => {
    const plan = planCalls(SEED, CALLS);
    const expected = new Map<string, { calls: number; malformed: number }>();
    for (const c of plan) {
      const e = expected.get(c.provider) ?? { calls: 0, malformed: 0 };
      e.calls++;
      if (c.intended) e.malformed++;
      expected.set(c.provider, e);
    }
    expected.set(PROVIDERS.X_AI, { calls: 1, malformed: 1 });
    const shown = await page.$$eval('[data-provider]', (cards) =>
      cards.map((c) => ({
        provider: c.getAttribute('data-provider'),
        ratio: c.querySelector('.ratio-value')?.textContent,
        detail: c.querySelector('.ratio-detail')?.textContent,
        models: c.querySelector('.models')?.textContent,
      })),
    );
    expect(shown.map((s) => s.provider).sort()).toEqual([...expected.keys()].sort());
    for (const s of shown) {
      const e = expected.get(String(s.provider));
      expect({ provider: s.provider, ratio: s.ratio, detail: s.detail }).toEqual({
        provider: s.provider,
        ratio: percent((e?.malformed ?? 0) / (e?.calls ?? 1)),
        detail: `${e?.malformed} of ${e?.calls} calls malformed`,
      });
    }
    expect(shown.find((s) => s.provider === PROVIDERS.ANTHROPIC)?.ratio).toBe('0.0%');
    expect(shown.find((s) => s.provider === PROVIDERS.DEEPSEEK)?.models).toBe('deepseek-chat');
  });

  it('draws a trend sparkline and an outcome bar per provider', async () => {
    const cards = await page.$$eval('[data-provider]', (els) =>
      els.map((c) => ({ spark: c.querySelectorAll('svg.spark').length, outcomeRects: c.querySelectorAll('svg.outcomes rect').length })),
    );
    for (const c of cards) {
      expect(c.spark).toBe(1);
      expect(c.outcomeRects).toBeGreaterThanOrEqual(1);
    }
  });

  it('lists the tools, the recent malformed calls with trace ids, and the catalog token overhead', async () => {
    const tools = await page.$$eval('#tools tbody tr', (rows) => rows.map((r) => r.children[1]?.textContent));
    expect(tools).toEqual(expect.arrayContaining(['inventory_lookup', 'cancel_order', 'issue_refund']));
    const head = await page.$$eval('#tools thead th', (ths) => ths.map((th) => th.textContent));
    expect(head).toEqual(['service', 'tool', 'calls', 'malformed', 'ratio', 'top violation', ...OUTCOMES, 'p50', 'p95', 'p99', 'tokens']);
    const counts = await page.$$eval('#tools tbody tr', (rows) =>
      rows.map((r) => [r.children[1]?.textContent, r.children[2]?.textContent]),
    );
    expect(counts).toEqual(summary.tools.map((t) => [t.tool, String(t.calls)]));
    const recent = await page.$$eval('#recent tbody tr', (rows) =>
      rows.map((r) => Array.from(r.children).map((td) => (td as { textContent: string | null }).textContent)),
    );
    expect(recent.length).toBe(Math.min(summary.recentViolations.length, STATUS_PAGE_RECENT_ROWS));
    expect(recent.length).toBeGreaterThan(10);
    for (const row of recent) expect(row[6]).toMatch(/^[0-9a-f]{32}$/);
    const catalog = await page.$eval('#catalog', (el) => el.textContent ?? '');
    expect(catalog).toContain(ORDER_SERVER_NAME);
    const total = summary.catalogs.find((c) => c.service === ORDER_SERVER_NAME)?.totalTokens ?? 0;
    expect(total).toBeGreaterThan(100);
    expect(catalog).toContain(`${total} tokens added to every LLM request by 3 tools`);
  });

  it('shows the client view beside the server view: the one instrumented client, graded by itself', async () => {
    expect(summary.client.totals.calls).toBe(1);
    const view = await page.$eval('#client [data-client-view]', (el) => {
      type Node = { textContent: string | null; children: ArrayLike<Node>; getAttribute(n: string): string | null };
      type Root = Node & { querySelectorAll(s: string): ArrayLike<Node & Root>; querySelector(s: string): Node | null };
      const root = el as unknown as Root;
      return {
        state: root.getAttribute('data-client-view'),
        calls: root.getAttribute('data-client-calls'),
        malformed: root.getAttribute('data-client-malformed'),
        rows: Array.from(root.querySelectorAll('table'), (t) =>
          Array.from(t.querySelectorAll('tbody tr'), (r) => Array.from(r.children, (td) => td.textContent)),
        ),
        note: root.querySelector('.views-note')?.textContent ?? '',
      };
    });
    expect(view.state).toBe('reported');
    expect(view.calls).toBe('1');
    expect(view.malformed).toBe('1');
    // Per provider and model: x-ai, grok-4, 1 call, 1 malformed, 100.0%, unknown_tool.
    expect(view.rows[0]?.map((r) => r.slice(0, 6))).toEqual([[PROVIDERS.X_AI, 'grok-4', '1', '1', '100.0%', 'unknown_tool']]);
    // Per server and tool: the unknown tool's name is no label value.
    expect(view.rows[1]?.map((r) => r[1])).toEqual([UNKNOWN_LABEL_VALUE]);
    expect(view.note).toContain('never add the two');
    // The server view still shows the whole traffic.
    expect(await page.$eval('#t-calls', (el) => el.textContent)).toBe(String(CALLS + 1));
  });

  it('shows a caller-controlled tool name as text, never as markup', async () => {
    const cells = await page.$$eval('#recent tbody td', (tds) => tds.map((td) => td.textContent));
    expect(cells).toContain(HOSTILE_TOOL);
    expect(await page.$$('#recent img')).toHaveLength(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  });

  it('saves a screenshot as a test artifact', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'status-page.png');
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
  });
});
