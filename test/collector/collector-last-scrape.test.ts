/**
 * Shutdown's last scrape (`Collector.drain`, what SIGTERM does first): ingest is refused with
 * 503 and Retry-After at once; the wait ends with the first scrape rendered after the last
 * acknowledged ingest, and that scrape holds every span answered 200; a scrape that already
 * covers it ends the wait at once; a collector never scraped does not wait; the wait is bounded.
 * Real collector on loopback, real OTLP exporter.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { METRICS } from '../../contract/index.js';
import { emitScenario, makeTracer, scrape, SCENARIO, startCollector, sumOf, type Started } from './collector-harness.js';

const started: Started[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.collector.close()));
});

async function start(shutdownScrapeWaitMs: number): Promise<Started> {
  const s = await startCollector({ shutdownScrapeWaitMs });
  started.push(s);
  return s;
}

/** Sends the harness scenario (SCENARIO.calls tool calls) and waits for the 200. */
async function sendScenario(url: string): Promise<void> {
  const t = makeTracer(url, 'protobuf', 'last-scrape');
  emitScenario(t.tracer, Date.now() - 10_000);
  await t.flush();
  await t.shutdown();
}

async function postEmpty(url: string): Promise<Response> {
  return fetch(`${url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"resourceSpans":[]}' });
}

describe('drain: refuse ingest, wait for a last scrape', () => {
  it('waits for a scrape after the last acknowledged ingest; that scrape holds it all; new ingest gets 503 with Retry-After', async () => {
    const { collector, url } = await start(10_000);
    await scrape(url);
    await sendScenario(url);
    const t0 = Date.now();
    let outcome: string | undefined;
    const drained = collector.drain().then((o) => (outcome = o));
    const refused = await postEmpty(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    await new Promise((r) => setTimeout(r, 300));
    expect(outcome).toBeUndefined(); // the scrape before the ingest does not cover it
    const last = await scrape(url);
    await drained;
    expect(outcome).toBe('scraped');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(sumOf(last.samples, METRICS.TOOL_CALLS.name)).toBe(SCENARIO.calls);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
  });

  it('a scrape that already covers the last ingest ends the wait at once', async () => {
    const { collector, url } = await start(10_000);
    await sendScenario(url);
    await scrape(url);
    const t0 = Date.now();
    expect(await collector.drain()).toBe('scraped');
    expect(Date.now() - t0).toBeLessThan(100);
  });

  it('never scraped, or the wait disabled: no wait', async () => {
    const never = await start(10_000);
    await sendScenario(never.url);
    expect(await never.collector.drain()).toBe('not-needed');
    const off = await start(0);
    await scrape(off.url);
    await sendScenario(off.url);
    expect(await off.collector.drain()).toBe('not-needed');
  });

  it('is bounded by shutdownScrapeWaitMs when no scrape comes', async () => {
    const { collector, url } = await start(400);
    await scrape(url);
    await sendScenario(url);
    const t0 = Date.now();
    expect(await collector.drain()).toBe('timed-out');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
