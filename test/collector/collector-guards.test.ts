/**
 * The guards' decisions as the collector counts them, with real parts: real SDK v1 servers
 * instrumented with guards (timeouts, a breaker with a short cool-down, idempotency in memory,
 * scoped authorization with real JWTs over Streamable HTTP on loopback), exporting through the
 * real OTLP protobuf exporter to the real collector. Every guard outcome is driven; `/metrics`
 * must count each exactly, show the breaker open then closed again after a good trial call, and
 * count refused calls per client. A breaker series with no transition for the ttl leaves `/metrics`
 * and the summary (the collector's clock moved on), and comes back with the next transition. Then
 * the tally alone: transitions arriving out of order, one breaker series per replica, the cap, and
 * the expiry by age (its slot under the cap freed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { accessToken } from '../support/access-token.js';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry, type RegistryContentType } from 'prom-client';
import { z } from 'zod';
import {
  ATTR,
  BREAKER_STATES,
  EVENT,
  GUARD_OUTCOMES,
  LABEL,
  MCP_METHOD,
  METRICS,
  OVERFLOW_LABEL_VALUE,
  UNKNOWN_LABEL_VALUE,
  type BreakerState,
  type GuardOutcome,
} from '../../contract/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import type { GuardsConfig } from '../../instrumentation/guards/guard-config.js';
import { createCollectorMetrics } from '../../collector/metrics.js';
import { OTLP_SPAN_KIND, type SpanEventView, type SpanView } from '../../collector/span-view.js';
import { SummaryStore } from '../../collector/summary.js';
import { Tally } from '../../collector/tally.js';
import type { Summary } from '../../collector/summary-types.js';
import { sdkV1, type LineClient, type LineServer, type ToolResult } from '../support/sdk-lines.js';
import { countOf, parseExposition, scrape, startCollector, sumOf, type Sample, type Started } from './collector-harness.js';

const APP = 'gc-app';
const INSTANCE = 'replica-1';
const CALLS = METRICS.TOOL_CALLS.name;
const BREAKER = METRICS.TOOL_CIRCUIT_BREAKER_STATE.name;
const UNAUTHORIZED = METRICS.TOOL_UNAUTHORIZED_CALLS.name;
const GUARD_OUTCOME_LIST: readonly GuardOutcome[] = [
  ...GUARD_OUTCOMES.ERRORS,
  ...GUARD_OUTCOMES.CALLER_FAULTS,
  ...GUARD_OUTCOMES.SUCCESSES,
];

const state = (s: BreakerState): number => BREAKER_STATES.indexOf(s);
const text = (r: ToolResult): string => r.content[0]!.text;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('guard outcomes counted by the collector (real guarded servers, real exporter, real collector)', () => {
  const line = sdkV1(() => undefined);
  const issuer = 'https://auth.example.test';
  const audience = 'https://mcp.example.test/mcp';
  let started: Started;
  let provider: BasicTracerProvider;
  const open: Array<{ close(): Promise<void> }> = [];
  /** Breaker gauge of `flaky` after the breaker opened, and at the end. */
  let openSamples: Sample[];
  let samples: Sample[];
  let summaryWhileOpen: Summary;
  let summary: Summary;
  const expected: Record<GuardOutcome, number> = {
    timeout: 0,
    circuit_open: 0,
    unauthorized: 0,
    idempotency_conflict: 0,
    in_progress: 0,
    replayed: 0,
  };

  /** Scrapes until `done` holds (bounded), after flushing the provider. */
  async function scrapeWhen(done: (s: Sample[]) => boolean): Promise<Sample[]> {
    await flush(provider);
    const deadline = Date.now() + 10_000;
    let s: Sample[];
    do {
      s = (await scrape(started.url)).samples;
      if (done(s)) return s;
      await sleep(50);
    } while (Date.now() < deadline);
    return s;
  }

  const guardCalls = (s: Sample[]): number => GUARD_OUTCOME_LIST.reduce((n, o) => n + sumOf(s, CALLS, { [LABEL.OUTCOME]: o }), 0);

  beforeAll(async () => {
    started = await startCollector();
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: APP, [ATTR.SERVICE_INSTANCE_ID]: INSTANCE }),
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: `${started.url}/v1/traces`, compression: CompressionAlgorithm.GZIP }), {
          scheduledDelayMillis: 50,
        }),
      ],
    });

    // Timeouts, the breaker and idempotency keys on one server over the SDK's in-memory transport.
    const guards: GuardsConfig = {
      timeoutMs: 150,
      circuitBreaker: { failures: 2, windowMs: 60_000, coolDownMs: 300 },
      tools: { hang: { circuitBreaker: false }, refund: { timeoutMs: 2000 } },
      idempotency: { tools: { refund: { keyArgument: 'idempotency_key' } } },
    };
    const server: LineServer = line.createMcpServer();
    const healthy = { value: false };
    server.registerTool('hang', {
      description: 'Never answers until aborted.',
      handler: (_args, { signal }) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    });
    server.registerTool('flaky', {
      description: 'Throws until healthy.',
      handler: async () => {
        if (!healthy.value) throw new Error('backend down');
        return { content: [{ type: 'text', text: 'fine' }] };
      },
    });
    server.registerTool('refund', {
      description: 'Refunds an order; reuse the idempotency_key when you retry.',
      inputSchema: { order: z.string(), idempotency_key: z.string() },
      handler: async (args) => {
        await sleep(80);
        return { content: [{ type: 'text', text: `refunded ${String(args.order)}` }] };
      },
    });
    instrumentServer(server.sdk, { guards, tracerProvider: provider });
    const client: LineClient = await line.connect(server, 'agent-local');
    open.push(client, server);

    expect(text(await client.callTool({ name: 'hang', arguments: {} }))).toMatch(/timed out/);
    expected.timeout++;
    for (let i = 0; i < 2; i++) expect((await client.callTool({ name: 'flaky', arguments: {} })).isError).toBe(true);
    expect(text(await client.callTool({ name: 'flaky', arguments: {} }))).toMatch(/temporarily unavailable/);
    expected.circuit_open++;
    openSamples = await scrapeWhen((s) => sumOf(s, BREAKER) === state('open') && sumOf(s, CALLS) === 4);
    summaryWhileOpen = await started.collector.summary();

    healthy.value = true;
    await sleep(400);
    expect(text(await client.callTool({ name: 'flaky', arguments: {} }))).toBe('fine');

    const args = { order: 'A-1', idempotency_key: 'k1' };
    const first = await Promise.all([0, 1].map(() => client.callTool({ name: 'refund', arguments: args })));
    expect(first.map(text).filter((t) => t.includes('still in progress'))).toHaveLength(1);
    expected.in_progress++;
    expect(text(await client.callTool({ name: 'refund', arguments: args }))).toBe('refunded A-1');
    expected.replayed++;
    expect(text(await client.callTool({ name: 'refund', arguments: { order: 'A-2', idempotency_key: 'k1' } }))).toMatch(
      /different arguments/,
    );
    expected.idempotency_conflict++;

    // Scoped authorization over Streamable HTTP with JWTs: two clients refused, one let through.
    const pair = await generateKeyPair('ES256');
    const publicJwk = await exportJWK(pair.publicKey);
    const token = (scope: string): Promise<string> => accessToken(pair.privateKey, { issuer, audience, scope });
    const authGuards: GuardsConfig = {
      authorization: {
        tools: { add: ['orders:read'], void_order: ['orders:admin'] },
        token: { issuer, audience, algorithms: ['ES256'], key: publicJwk },
      },
    };
    const endpoint = await line.serveHttp((s) => {
      s.registerTool('void_order', {
        description: 'Voids an order.',
        handler: async () => ({ content: [{ type: 'text', text: 'voided' }] }),
      });
      return instrumentServer(s.sdk, { guards: authGuards, tracerProvider: provider });
    });
    open.push(endpoint);
    const reader = await endpoint.connect('agent-reader', { authorization: `Bearer ${await token('orders:read')}` });
    const anonymous = await endpoint.connect('agent-anonymous', {});
    open.push(reader, anonymous);
    expect(text(await reader.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');
    for (let i = 0; i < 2; i++) expect((await reader.callTool({ name: 'void_order', arguments: {} })).isError).toBe(true);
    expect(text(await anonymous.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toMatch(/^Unauthorized: /);
    expected.unauthorized += 3;

    const total = Object.values(expected).reduce((a, b) => a + b, 0);
    samples = await scrapeWhen((s) => guardCalls(s) === total && sumOf(s, UNAUTHORIZED) === expected.unauthorized);
    // One more export interval: anything counted twice would have arrived by now.
    await sleep(300);
    samples = (await scrape(started.url)).samples;
    summary = await started.collector.summary();
  }, 30_000);

  afterAll(async () => {
    for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
    await provider.shutdown();
    await started.collector.close();
  });

  it('counts every guard outcome exactly in mcp_tool_calls_total', () => {
    for (const outcome of GUARD_OUTCOME_LIST) {
      expect([outcome, sumOf(samples, CALLS, { [LABEL.OUTCOME]: outcome })]).toEqual([outcome, expected[outcome]]);
    }
    expect(sumOf(samples, CALLS, { [LABEL.GEN_AI_TOOL_NAME]: 'flaky', [LABEL.OUTCOME]: 'circuit_open' })).toBe(1);
    expect(sumOf(samples, CALLS, { [LABEL.GEN_AI_TOOL_NAME]: 'refund', [LABEL.OUTCOME]: 'replayed' })).toBe(1);
    // The summary reads the very same counts.
    for (const outcome of GUARD_OUTCOME_LIST) expect(summary.totals.outcomes[outcome]).toBe(expected[outcome]);
  });

  it('shows the breaker open (2) after repeated failures, then closed (0) after a good trial call, per replica', () => {
    const series = { [LABEL.SERVICE_NAME]: APP, [LABEL.SERVICE_INSTANCE_ID]: INSTANCE, [LABEL.GEN_AI_TOOL_NAME]: 'flaky' };
    expect(openSamples.filter((s) => s.name === BREAKER)).toEqual([
      { name: BREAKER, labels: series, value: state('open'), exemplar: undefined },
    ]);
    expect(samples.filter((s) => s.name === BREAKER)).toEqual([
      { name: BREAKER, labels: series, value: state('closed'), exemplar: undefined },
    ]);
    expect(summaryWhileOpen.openBreakers).toEqual([
      { service: APP, instance: INSTANCE, tool: 'flaky', state: 'open', since: expect.any(String) },
    ]);
    expect(summary.openBreakers).toEqual([]);
  });

  it('counts refused calls per tool and calling client', () => {
    const refused = samples
      .filter((s) => s.name === UNAUTHORIZED)
      .sort((a, b) => a.labels[LABEL.CLIENT_NAME]!.localeCompare(b.labels[LABEL.CLIENT_NAME]!))
      .map((s): Record<string, unknown> => ({ ...s.labels, value: s.value }));
    expect(refused).toEqual([
      { [LABEL.SERVICE_NAME]: APP, [LABEL.GEN_AI_TOOL_NAME]: 'add', [LABEL.CLIENT_NAME]: 'agent-anonymous', value: 1 },
      { [LABEL.SERVICE_NAME]: APP, [LABEL.GEN_AI_TOOL_NAME]: 'void_order', [LABEL.CLIENT_NAME]: 'agent-reader', value: 2 },
    ]);
  });
});

describe('a breaker series with no transition for the ttl is forgotten (real guarded server, real exporter, real collector)', () => {
  const line = sdkV1(() => undefined);
  const TTL_SECONDS = 60;
  /** Added to the collector's clock: moving it on ages every transition at once. */
  let skewMs = 0;
  let started: Started;
  let provider: BasicTracerProvider;
  const open: Array<{ close(): Promise<void> }> = [];
  let client: LineClient;
  const series = { [LABEL.SERVICE_NAME]: APP, [LABEL.SERVICE_INSTANCE_ID]: 'replica-ttl', [LABEL.GEN_AI_TOOL_NAME]: 'flaky' };

  beforeAll(async () => {
    started = await startCollector({ breakerStateTtlSeconds: TTL_SECONDS, now: () => Date.now() + skewMs });
    provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: APP, [ATTR.SERVICE_INSTANCE_ID]: 'replica-ttl' }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${started.url}/v1/traces` }), { scheduledDelayMillis: 50 })],
    });
    const server: LineServer = line.createMcpServer();
    server.registerTool('flaky', {
      description: 'Always throws.',
      handler: async () => {
        throw new Error('backend down');
      },
    });
    instrumentServer(server.sdk, {
      guards: { circuitBreaker: { failures: 2, windowMs: 60_000, coolDownMs: 300 } },
      tracerProvider: provider,
    });
    client = await line.connect(server, 'agent-ttl');
    open.push(client, server);
  }, 30_000);

  afterAll(async () => {
    for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
    await provider.shutdown();
    await started.collector.close();
  });

  /** Breaker samples once `done` holds (bounded), after flushing the provider. */
  async function breakerWhen(done: (s: Sample[]) => boolean): Promise<Sample[]> {
    await flush(provider);
    const deadline = Date.now() + 10_000;
    let s: Sample[];
    do {
      s = (await scrape(started.url)).samples.filter((x) => x.name === BREAKER);
      if (done(s)) return s;
      await sleep(50);
    } while (Date.now() < deadline);
    return s;
  }

  it('keeps an open series younger than the ttl, removes it from /metrics and openBreakers once older, recreates it on a transition', async () => {
    for (let i = 0; i < 2; i++) expect((await client.callTool({ name: 'flaky', arguments: {} })).isError).toBe(true);
    const opened = await breakerWhen((s) => sumOf(s, BREAKER) === state('open'));
    expect(opened).toEqual([{ name: BREAKER, labels: series, value: state('open'), exemplar: undefined }]);

    // Well within the ttl (the transition is a few seconds old at most): still open.
    skewMs = (TTL_SECONDS - 10) * 1000;
    expect((await scrape(started.url)).samples.filter((x) => x.name === BREAKER)).toEqual(opened);
    expect((await started.collector.summary()).openBreakers).toEqual([
      { service: APP, instance: 'replica-ttl', tool: 'flaky', state: 'open', since: expect.any(String) },
    ]);

    // Past the ttl: unknown, no series (the replica may be gone), in /metrics and in the summary alike.
    skewMs = (TTL_SECONDS + 5) * 1000;
    expect(countOf((await scrape(started.url)).samples, BREAKER)).toBe(0);
    expect((await started.collector.summary()).openBreakers).toEqual([]);
    // Removed, not hidden: with the clock back, nothing returns until a new transition.
    skewMs = 0;
    expect(countOf((await scrape(started.url)).samples, BREAKER)).toBe(0);

    // After the cool-down the next call is the trial; it fails, so the breaker opens again (half_open, then open).
    await sleep(400);
    expect((await client.callTool({ name: 'flaky', arguments: {} })).isError).toBe(true);
    const reopened = await breakerWhen((s) => s.length === 1);
    expect(reopened).toEqual([{ name: BREAKER, labels: series, value: state('open'), exemplar: undefined }]);
    expect((await started.collector.summary()).openBreakers).toEqual([
      { service: APP, instance: 'replica-ttl', tool: 'flaky', state: 'open', since: expect.any(String) },
    ]);
  }, 30_000);
});

describe('breaker gauge and unauthorized counter in the tally', () => {
  const T0 = 1_767_000_000_000_000_000;
  const MS = 1_000_000;
  let n = 0;

  function transition(to: BreakerState, from: BreakerState, atNano: number): SpanEventView {
    return {
      name: EVENT.BREAKER_TRANSITION,
      timeUnixNano: atNano,
      attributes: { [ATTR.BREAKER_STATE]: to, [ATTR.BREAKER_PREVIOUS_STATE]: from },
    };
  }

  /** A tools/call SERVER span of `tool` in replica `instance` (none: no instance id). */
  function call(
    tool: string,
    instance: string | undefined,
    events: SpanEventView[],
    attributes: Record<string, string | number> = {},
  ): SpanView {
    n++;
    const start = T0 + n * MS;
    return {
      traceId: n.toString(16).padStart(32, '0'),
      spanId: n.toString(16).padStart(16, '0'),
      parentSpanId: '',
      name: `tools/call ${tool}`,
      kind: OTLP_SPAN_KIND.SERVER,
      startTimeUnixNano: start,
      endTimeUnixNano: start + MS,
      durationNano: MS,
      statusCode: 0,
      attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL, [ATTR.GEN_AI_TOOL_NAME]: tool, ...attributes },
      events,
      resource:
        instance === undefined ? { [ATTR.SERVICE_NAME]: 'svc' } : { [ATTR.SERVICE_NAME]: 'svc', [ATTR.SERVICE_INSTANCE_ID]: instance },
    };
  }

  /** The tally's clock (ms): T0 unless a test moves it. */
  const clock = { ms: T0 / MS };
  const TTL_MS = 15 * 60_000;

  function tally(cardinalityLimit = 10_000): { tally: Tally; samples: () => Promise<Sample[]>; summary: () => Summary } {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    clock.ms = T0 / MS;
    const now = (): number => clock.ms;
    const store = new SummaryStore({ recentViolations: 10, trendBucketSeconds: 60, trendBuckets: 10, now });
    const t = new Tally({
      metrics: createCollectorMetrics(registry),
      summary: store,
      cardinalityLimit,
      selfCorrectionWindowMs: 60_000,
      selfCorrectionMaxKeys: 100,
      breakerStateTtlMs: TTL_MS,
      now,
    });
    return {
      tally: t,
      samples: async () => parseExposition(await registry.metrics()),
      summary: () => store.render({ spansReceived: 0, spansRejected: 0, seriesDropped: 0 }),
    };
  }

  const gauge = (samples: Sample[], instance: string, tool = 'export'): number[] =>
    samples
      .filter((s) => s.name === BREAKER && s.labels[LABEL.SERVICE_INSTANCE_ID] === instance && s.labels[LABEL.GEN_AI_TOOL_NAME] === tool)
      .map((s) => s.value);

  it('keeps the latest transition per series whatever order the spans arrive in', async () => {
    const { tally: t, samples } = tally();
    t.record([call('export', 'a', [transition('open', 'closed', T0 + 20 * MS)])], 'protobuf');
    expect(gauge(await samples(), 'a')).toEqual([state('open')]);
    // An older span arrives later: its close is not the breaker's latest state.
    t.record([call('export', 'a', [transition('closed', 'half_open', T0 + 10 * MS)])], 'protobuf');
    expect(gauge(await samples(), 'a')).toEqual([state('open')]);
    // Within one span, the latest event wins even when listed first; in one batch, the latest span.
    t.record(
      [
        call('export', 'a', [transition('closed', 'half_open', T0 + 31 * MS), transition('half_open', 'open', T0 + 30 * MS)]),
        call('export', 'a', [transition('open', 'closed', T0 + 25 * MS)]),
      ],
      'json',
    );
    expect(gauge(await samples(), 'a')).toEqual([state('closed')]);
    // A state outside the contract is skipped.
    t.record(
      [call('export', 'a', [{ ...transition('open', 'closed', T0 + 40 * MS), attributes: { [ATTR.BREAKER_STATE]: 'ajar' } }])],
      'json',
    );
    expect(gauge(await samples(), 'a')).toEqual([state('closed')]);
  });

  it('keeps one series per replica (unknown when the resource names none) and per tool', async () => {
    const { tally: t, samples } = tally();
    t.record(
      [
        call('export', 'a', [transition('open', 'closed', T0 + 5 * MS)]),
        call('export', 'b', [transition('half_open', 'open', T0 + 5 * MS)]),
        call('export', undefined, [transition('open', 'closed', T0 + 5 * MS)]),
        call('import', 'a', [transition('open', 'closed', T0 + 1 * MS)]),
        // No transition: no series.
        call('report', 'a', []),
      ],
      'protobuf',
    );
    const s = await samples();
    expect(gauge(s, 'a')).toEqual([state('open')]);
    expect(gauge(s, 'b')).toEqual([state('half_open')]);
    expect(gauge(s, UNKNOWN_LABEL_VALUE)).toEqual([state('open')]);
    expect(gauge(s, 'a', 'import')).toEqual([state('open')]);
    expect(s.filter((x) => x.name === BREAKER)).toHaveLength(4);
  });

  it('counts unauthorized calls by weight under their client (unknown when absent), bounded by the cap', async () => {
    const { tally: t, samples } = tally(2);
    const refused = (client?: string, weight?: number): SpanView =>
      call('export', 'a', [], {
        [ATTR.OUTCOME]: 'unauthorized',
        ...(client === undefined ? {} : { [ATTR.CLIENT_NAME]: client }),
        ...(weight === undefined ? {} : { [ATTR.ADJUSTED_COUNT]: weight }),
      });
    t.record(
      [refused('cli-1'), refused('cli-1', 4), refused(), call('export', 'a', [], { [ATTR.OUTCOME]: 'ok', [ATTR.CLIENT_NAME]: 'cli-9' })],
      'json',
    );
    t.record([refused('cli-2'), refused('cli-3')], 'json');
    const s = (await samples()).filter((x) => x.name === UNAUTHORIZED);
    const by = Object.fromEntries(s.map((x) => [x.labels[LABEL.CLIENT_NAME]!, x.value]));
    expect(by).toEqual({ 'cli-1': 5, [UNKNOWN_LABEL_VALUE]: 1, [OVERFLOW_LABEL_VALUE]: 2 });
    const dropped = (await samples()).filter(
      (x) => x.name === METRICS.COLLECTOR_SERIES_DROPPED.name && x.labels[LABEL.METRIC] === UNAUTHORIZED,
    );
    expect(dropped.map((x) => x.value)).toEqual([2]);
  });

  it('sends breaker series past the cap to one overflow series', async () => {
    const { tally: t, samples, summary } = tally(1);
    t.record(
      [
        call('export', 'a', [transition('open', 'closed', T0 + 5 * MS)]),
        call('export', 'b', [transition('half_open', 'open', T0 + 6 * MS)]),
      ],
      'json',
    );
    const s = (await samples()).filter((x) => x.name === BREAKER);
    expect(s.map((x) => [x.labels[LABEL.SERVICE_INSTANCE_ID], x.value])).toEqual([
      ['a', state('open')],
      [OVERFLOW_LABEL_VALUE, state('half_open')],
    ]);
    // The summary lists admitted breakers only: the overflow series names no replica.
    expect(summary().openBreakers.map((b) => [b.instance, b.state])).toEqual([['a', 'open']]);
  });

  it('removes series older than the ttl whatever their state, keeps younger ones, and recreates one on a later transition', async () => {
    const { tally: t, samples, summary } = tally();
    t.record(
      [
        call('export', 'a', [transition('open', 'closed', T0 + 5 * MS)]),
        call('export', 'b', [transition('half_open', 'open', T0 + 10 * 60_000 * MS)]),
        call('export', 'c', [transition('closed', 'half_open', T0 + 1 * MS)]),
      ],
      'protobuf',
    );
    // Exactly the ttl after T0: none is older than now - ttl yet.
    clock.ms = T0 / MS + TTL_MS;
    t.sweepBreakers();
    let s = await samples();
    expect([gauge(s, 'a'), gauge(s, 'b'), gauge(s, 'c')]).toEqual([[state('open')], [state('half_open')], [state('closed')]]);
    expect(summary().openBreakers.map((b) => [b.instance, b.state])).toEqual([
      ['a', 'open'],
      ['b', 'half_open'],
    ]);

    clock.ms += 10;
    t.sweepBreakers();
    s = await samples();
    expect(s.filter((x) => x.name === BREAKER).map((x) => x.labels[LABEL.SERVICE_INSTANCE_ID])).toEqual(['b']);
    expect(summary().openBreakers.map((b) => [b.instance, b.state])).toEqual([['b', 'half_open']]);

    // A later transition creates the series again; one already older than the ttl creates nothing.
    t.record(
      [call('export', 'a', [transition('open', 'closed', clock.ms * MS)]), call('export', 'd', [transition('open', 'closed', T0)])],
      'json',
    );
    t.sweepBreakers();
    s = await samples();
    expect([gauge(s, 'a'), gauge(s, 'b'), gauge(s, 'd')]).toEqual([[state('open')], [state('half_open')], []]);
    expect(summary().openBreakers.map((b) => [b.instance, b.state])).toEqual([
      ['b', 'half_open'],
      ['a', 'open'],
    ]);
  });

  it('frees the slot of a removed series under the cap, and removes an expired overflow series', async () => {
    const { tally: t, samples } = tally(1);
    t.record(
      [call('export', 'a', [transition('open', 'closed', T0 + 5 * MS)]), call('export', 'b', [transition('open', 'closed', T0 + 6 * MS)])],
      'json',
    );
    const instances = async (): Promise<Array<string | undefined>> =>
      (await samples()).filter((x) => x.name === BREAKER).map((x) => x.labels[LABEL.SERVICE_INSTANCE_ID]);
    expect(await instances()).toEqual(['a', OVERFLOW_LABEL_VALUE]);
    clock.ms = T0 / MS + TTL_MS + 60_000;
    t.sweepBreakers();
    expect(await instances()).toEqual([]);
    // a's slot is free: b, overflowed before, now gets a series of its own; a, later, overflows.
    t.record([call('export', 'b', [transition('open', 'closed', clock.ms * MS)])], 'json');
    t.record([call('export', 'a', [transition('open', 'closed', clock.ms * MS + 1)])], 'json');
    expect(await instances()).toEqual(['b', OVERFLOW_LABEL_VALUE]);
  });
});
