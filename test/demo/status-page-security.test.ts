/**
 * The status page of a collector with a read token, in real headless Chromium (the Debian
 * binary, driven by playwright-core): opened once as `/?token=...`, it lands on `/` with an
 * HttpOnly, SameSite=Strict cookie; its polls carry the token in no URL, no Referer and no
 * Authorization header, and succeed; its Content-Security-Policy blocks nothing the page needs
 * (no console CSP violation) but does block an injected inline script.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { PROVIDERS } from '../../contract/index.js';
import { READ_TOKEN_COOKIE } from '../../collector/status-page.js';
import { emitCall, makeTracer, startCollector, type Started, type TestTracer } from '../collector/collector-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'read-token;with/odd&chars';

let started: Started;
let tracer: TestTracer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const consoleMessages: string[] = [];
interface Seen {
  url: string;
  headers: Record<string, string>;
  status?: number;
}
const requests: Seen[] = [];
/** The browser globals the page functions below touch (the tests compile without the DOM lib). */
interface BrowserGlobals {
  document: { cookie: string; body: { appendChild(n: unknown): void }; createElement(tag: string): { textContent: string } };
  __injected?: number;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install the Debian package 'chromium' (apt-get install -y chromium)`);
  started = await startCollector({ readToken: TOKEN });
  tracer = makeTracer(started.url, 'json', 'orders');
  const base = Date.now() - 5000;
  emitCall(tracer.tracer, {
    provider: PROVIDERS.OPENAI,
    model: 'gpt-4.1',
    tool: 'search',
    startMs: base,
    outcome: 'ok',
    tokensArguments: 10,
    tokensResult: 20,
  });
  emitCall(tracer.tracer, {
    provider: PROVIDERS.ANTHROPIC,
    model: 'claude-sonnet-4-5',
    tool: 'refund',
    startMs: base + 1,
    outcome: 'rejected',
    violationKind: 'missing_required',
    paths: ['/amount'],
  });
  await tracer.flush();

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
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  // Every console message: CSP violations are reported there ("Refused to ...").
  page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleMessages.push(`pageerror: ${e.message}`));
  page.on('requestfinished', (r) => {
    void Promise.all([r.allHeaders(), r.response()]).then(([headers, response]) =>
      requests.push({ url: r.url(), headers, status: response?.status() }),
    );
  });
  await page.goto(`${started.url}/?token=${encodeURIComponent(TOKEN)}`, { waitUntil: 'load', timeout: 15_000 });
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
  // Two more polls, so the refresh path runs under the policy too.
  await page.waitForTimeout(4500);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await tracer?.shutdown();
  await started?.collector.close();
});

describe('status page with a read token, in headless Chromium', () => {
  it('lands on / without the token in the address bar and shows the data', async () => {
    expect(page.url()).toBe(`${started.url}/`);
    const providers = await page.$$eval('[data-provider]', (cards) => cards.map((c) => c.getAttribute('data-provider')).sort());
    expect(providers).toEqual([PROVIDERS.ANTHROPIC, PROVIDERS.OPENAI].sort());
    expect(await page.$eval('#conn', (el) => el.className)).toBe('');
  });

  it('holds the token in an HttpOnly, SameSite=Strict cookie for path / (not Secure on plain http), invisible to the script', async () => {
    const cookies = await context.cookies(started.url);
    expect(
      cookies.map((c) => ({
        name: c.name,
        value: decodeURIComponent(c.value),
        httpOnly: c.httpOnly,
        sameSite: c.sameSite,
        secure: c.secure,
        path: c.path,
      })),
    ).toEqual([{ name: READ_TOKEN_COOKIE, value: TOKEN, httpOnly: true, sameSite: 'Strict', secure: false, path: '/' }]);
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.cookie)).toBe('');
  });

  it('polls api/summary with the cookie only: no token in any URL after the first, no Referer, no Authorization; every poll succeeds', () => {
    const encoded = encodeURIComponent(TOKEN);
    // Only the navigation that brought the token: answered 303 with the cookie.
    const withToken = requests.filter((r) => r.url.includes('token'));
    expect(withToken.map((r) => [r.url, r.status])).toEqual([[`${started.url}/?token=${encoded}`, 303]]);
    const rest = requests.filter((r) => !r.url.includes('token'));
    expect(rest.some((r) => r.url === `${started.url}/` && r.status === 200)).toBe(true);
    const polls = rest.filter((r) => r.url.endsWith('/api/summary'));
    expect(polls.length).toBeGreaterThanOrEqual(3);
    for (const r of rest) {
      expect([r.url, r.url.includes('token'), r.url.includes(encoded)]).toEqual([r.url, false, false]);
      expect([r.url, r.headers['referer']]).toEqual([r.url, undefined]);
      expect([r.url, r.headers['authorization']]).toEqual([r.url, undefined]);
    }
    for (const p of polls) {
      expect(p.headers['cookie']).toBe(`${READ_TOKEN_COOKIE}=${encoded}`);
      expect(p.status).toBe(200);
    }
  });

  it('its Content-Security-Policy blocks nothing the page needs: no console message at all', () => {
    expect(consoleMessages).toEqual([]);
  });

  it('the policy is enforced: an injected inline script does not run, and is reported', async () => {
    const before = consoleMessages.length;
    const ran = await page.evaluate(async () => {
      const g = globalThis as unknown as BrowserGlobals;
      const s = g.document.createElement('script');
      s.textContent = 'window.__injected = 1;';
      g.document.body.appendChild(s);
      await new Promise((r) => setTimeout(r, 50));
      return g.__injected;
    });
    expect(ran).toBeUndefined();
    await page.waitForTimeout(100);
    expect(consoleMessages.slice(before).join('\n')).toMatch(/Content Security Policy/);
  });

  it('a browser without the cookie gets 401, and a wrong ?token= sets no cookie', async () => {
    const other = await browser.newContext();
    try {
      const p = await other.newPage();
      expect((await p.goto(`${started.url}/`))?.status()).toBe(401);
      expect((await p.goto(`${started.url}/?token=wrong`))?.status()).toBe(401);
      expect(await other.cookies(started.url)).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
