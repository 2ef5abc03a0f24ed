import { afterAll, describe, expect, it } from '@jest/globals';
import { context, propagation, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  ATTR,
  BAGGAGE_KEYS,
  MCP_METHOD,
  META_KEYS,
  OPERATION_EXECUTE_TOOL,
  ERROR_TYPE_NO_RESPONSE,
  ERROR_TYPE_TOOL_ERROR,
  OTEL_METRICS,
  type ViolationKind,
} from '../../contract/index.js';
import { instrumentClient, withModel } from '../../instrumentation/index.js';
import { createTracing } from '../support/tracing.js';
import { connectPair, echoedMeta, pairOf } from './client-fixture.js';

const { provider, exporter, waitForSpans } = createTracing();
const open: Array<{ close(): Promise<void> }> = [];

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await provider.shutdown();
});

async function pair(options?: Parameters<typeof connectPair>[0]): Promise<Awaited<ReturnType<typeof connectPair>>> {
  const p = await connectPair(options);
  open.push(p);
  return p;
}

const clientSpans = (method: string): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.MCP_METHOD_NAME] === method);

/** Waits for the CLIENT span of a tools/call of `tool` and the SERVER span under it. */
async function callPair(tool: string, count = 1): Promise<Array<{ client: ReadableSpan; server: ReadableSpan }>> {
  const spans = await waitForSpans((all) => {
    const calls = all.filter((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.GEN_AI_TOOL_NAME] === tool);
    return calls.length >= count && calls.every((c) => pairOf(all, c) !== undefined);
  });
  return spans
    .filter((s) => s.kind === SpanKind.CLIENT && s.attributes[ATTR.GEN_AI_TOOL_NAME] === tool)
    .map((client) => ({ client, server: pairOf(spans, client)! }));
}

describe('instrumentClient (SDK v1 client and server over InMemoryTransport)', () => {
  it('makes a CLIENT span per request, parent of the server span', async () => {
    exporter.reset();
    const { client } = await pair({ provider: 'openai', model: 'gpt-4.1' });
    await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 2 } });
    const [{ client: span, server }] = (await callPair('create_order')) as [{ client: ReadableSpan; server: ReadableSpan }];
    expect(span.name).toBe('tools/call create_order');
    expect(span.attributes).toMatchObject({
      [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
      [ATTR.GEN_AI_TOOL_NAME]: 'create_order',
      [ATTR.GEN_AI_OPERATION_NAME]: OPERATION_EXECUTE_TOOL,
      [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
      [ATTR.OUTCOME]: 'ok',
    });
    expect(span.attributes[ATTR.JSONRPC_REQUEST_ID]).toBe(server.attributes[ATTR.JSONRPC_REQUEST_ID]);
    expect(server.spanContext().traceId).toBe(span.spanContext().traceId);
    expect(server.parentSpanContext?.spanId).toBe(span.spanContext().spanId);
    // The fixed provider and model reached the server through `_meta.baggage`.
    expect(server.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe('gpt-4.1');
    expect(clientSpans(MCP_METHOD.INITIALIZE)).toHaveLength(1);
  });

  it("names the called server on its spans: serverInfo.name from initialize's answer on", async () => {
    exporter.reset();
    const { client } = await pair();
    await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 2 } });
    await client.listTools();
    const [{ client: call }] = (await callPair('create_order')) as [{ client: ReadableSpan; server: ReadableSpan }];
    expect(client.getServerVersion()?.name).toBe('orders');
    expect(call.attributes[ATTR.SERVER_NAME]).toBe('orders');
    // initialize's own span too: its answer is where the name comes from.
    const [init] = clientSpans(MCP_METHOD.INITIALIZE);
    expect(init?.attributes[ATTR.SERVER_NAME]).toBe('orders');
    await waitForSpans(() => clientSpans(MCP_METHOD.TOOLS_LIST).length > 0);
    expect(clientSpans(MCP_METHOD.TOOLS_LIST)[0]?.attributes[ATTR.SERVER_NAME]).toBe('orders');
  });

  it('tags each call of two concurrent withModel scopes with its own model, client and server side', async () => {
    exporter.reset();
    const { client } = await pair();
    const [a, b] = await Promise.all([
      withModel({ provider: 'openai', model: 'gpt-4.1' }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return client.callTool({ name: 'echo_meta', arguments: { delayMs: 30 } });
      }),
      withModel({ provider: 'anthropic', model: 'claude-sonnet-4' }, () =>
        client.callTool({ name: 'echo_meta', arguments: { delayMs: 30 } }),
      ),
    ]);
    expect(echoedMeta(a)[META_KEYS.BAGGAGE]).toContain('gpt-4.1');
    expect(echoedMeta(b)[META_KEYS.BAGGAGE]).toContain('claude-sonnet-4');
    const pairs = await callPair('echo_meta', 2);
    expect(pairs.map((p) => p.client.attributes[ATTR.GEN_AI_REQUEST_MODEL]).sort()).toEqual(['claude-sonnet-4', 'gpt-4.1']);
    for (const { client: c, server } of pairs) {
      expect(server.attributes[ATTR.GEN_AI_REQUEST_MODEL]).toBe(c.attributes[ATTR.GEN_AI_REQUEST_MODEL]);
      expect(server.attributes[ATTR.GEN_AI_PROVIDER_NAME]).toBe(c.attributes[ATTR.GEN_AI_PROVIDER_NAME]);
      expect(c.attributes[ATTR.PROVIDER_SOURCE]).toBe('baggage');
    }
  });

  it("keeps the application's other baggage in the process unless propagateAllBaggage", async () => {
    const appBaggage = propagation.createBaggage({ 'app.user': { value: 'alice' } });
    const call = (client: Awaited<ReturnType<typeof connectPair>>['client']): Promise<unknown> =>
      context.with(propagation.setBaggage(context.active(), appBaggage), () =>
        withModel({ provider: 'openai', model: 'gpt-4.1' }, () => client.callTool({ name: 'echo_meta', arguments: {} })),
      );
    const plain = echoedMeta(await call((await pair()).client))[META_KEYS.BAGGAGE] as string;
    expect(plain).toContain(`${BAGGAGE_KEYS.MODEL}=gpt-4.1`);
    expect(plain).not.toContain('app.user');
    const all = echoedMeta(await call((await pair({ propagateAllBaggage: true })).client))[META_KEYS.BAGGAGE] as string;
    expect(all).toContain('app.user=alice');
    expect(all).toContain(`${BAGGAGE_KEYS.PROVIDER}=openai`);
  });

  it("merges trace context into the caller's _meta without clobbering its keys", async () => {
    const { client } = await pair({ provider: 'openai' });
    const meta = { 'com.example/request': 'r-1', [META_KEYS.BAGGAGE]: 'mine=1' };
    const echoed = echoedMeta(await client.callTool({ name: 'echo_meta', arguments: {}, _meta: meta }));
    expect(echoed['com.example/request']).toBe('r-1');
    expect(echoed[META_KEYS.BAGGAGE]).toBe('mine=1');
    expect(echoed[META_KEYS.TRACEPARENT]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    // The caller's own object is left as it was.
    expect(Object.keys(meta)).toEqual(['com.example/request', META_KEYS.BAGGAGE]);
  });

  it('grades a malformed call and an unknown tool on the client span as the server does', async () => {
    exporter.reset();
    // No tools/list before the calls: the client loads the catalog itself (never a guessed unknown_tool).
    const { client } = await pair();
    await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 'three' } });
    await client.callTool({ name: 'no_such_tool', arguments: {} });
    const [malformed] = await callPair('create_order');
    const [unknown] = await callPair('no_such_tool');
    expect(malformed!.client.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type' satisfies ViolationKind);
    expect(unknown!.client.attributes[ATTR.VIOLATION_KIND]).toBe('unknown_tool' satisfies ViolationKind);
    for (const { client: c, server } of [malformed!, unknown!]) {
      expect(c.attributes[ATTR.VIOLATION_KIND]).toBe(server.attributes[ATTR.VIOLATION_KIND]);
      expect(c.attributes[ATTR.VIOLATION_PATHS]).toEqual(server.attributes[ATTR.VIOLATION_PATHS]);
      expect(c.attributes[ATTR.OUTCOME]).toBe(server.attributes[ATTR.OUTCOME]);
    }
    expect(unknown!.client.attributes[ATTR.OUTCOME]).toBe('rejected');
    expect(unknown!.client.status.code).toBe(SpanStatusCode.ERROR);
    // The client's own tools/list, sent to grade, is a span under the first call.
    const list = clientSpans(MCP_METHOD.TOOLS_LIST);
    expect(list).toHaveLength(1);
    expect(list[0]!.parentSpanContext?.spanId).toBe(malformed!.client.spanContext().spanId);
  });

  it('ends the span of an aborted call as cancelled and of a timed-out one as no response', async () => {
    exporter.reset();
    const { client } = await pair();
    const controller = new AbortController();
    const aborted = client.callTool({ name: 'echo_meta', arguments: { delayMs: 200 } }, undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(aborted).rejects.toThrow();
    await expect(client.callTool({ name: 'echo_meta', arguments: { delayMs: 200 } }, undefined, { timeout: 20 })).rejects.toThrow();
    const calls = clientSpans(MCP_METHOD.TOOLS_CALL);
    expect(calls.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['cancelled', 'error']);
    expect(calls[0]!.attributes[ATTR.ERROR_TYPE]).toBeUndefined();
    expect(calls[1]!.attributes[ATTR.ERROR_TYPE]).toBe(ERROR_TYPE_NO_RESPONSE);
  });

  it('records mcp.client.operation.duration when a MeterProvider is given', async () => {
    const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 60_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const { client } = await pair({ meterProvider });
    exporter.reset();
    await client.callTool({ name: 'no_such_tool', arguments: {} });
    // The span (and the metric) ends once the catalog the call is graded against is loaded.
    await callPair('no_such_tool');
    await reader.forceFlush();
    const metric = metricExporter
      .getMetrics()
      .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
      .find((m) => m.descriptor.name === OTEL_METRICS.CLIENT_OPERATION_DURATION.name)!;
    const point = metric.dataPoints.find((p) => p.attributes[ATTR.MCP_METHOD_NAME] === MCP_METHOD.TOOLS_CALL)!;
    expect(point.attributes).toEqual({
      [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
      [ATTR.GEN_AI_TOOL_NAME]: 'no_such_tool',
      [ATTR.ERROR_TYPE]: ERROR_TYPE_TOOL_ERROR,
    });
    expect((point.value as { count: number }).count).toBe(1);
    await meterProvider.shutdown();
  });

  it('is harmless twice, before and after connect', async () => {
    exporter.reset();
    const { client } = await pair();
    expect(instrumentClient(client)).toBe(client);
    expect(instrumentClient(client, { provider: 'other' })).toBe(client);
    await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-2', quantity: 1 } });
    await callPair('create_order');
    expect(clientSpans(MCP_METHOD.TOOLS_CALL)).toHaveLength(1);
    expect(instrumentClient({} as object)).toEqual({});
  });
});
