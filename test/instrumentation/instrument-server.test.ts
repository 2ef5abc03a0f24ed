import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { diag, DiagLogLevel, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  ATTR,
  DURATION_BUCKETS_SECONDS,
  EVENT,
  META_KEYS,
  NETWORK_TRANSPORT,
  OPERATION_EXECUTE_TOOL,
  OTEL_METRICS,
  TOKENS_NOT_COUNTED_REASONS,
} from '../../contract/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import { defaultTokenizer, MAX_PAYLOAD_CHARS } from '../../instrumentation/token-counter.js';
import {
  sdkV1,
  sdkV2,
  type LineClient,
  type LineHttpClient,
  type LineHttpEndpoint,
  type LineServer,
  type SdkLine,
} from '../support/sdk-lines.js';
import { createTracing, serverSpans } from '../support/tracing.js';
import { OBSERVED_BY_HEADER } from '../../instrumentation/observed-by.js';

const { provider, exporter, waitForSpans } = createTracing();

const makeSpan = (): void => trace.getTracer('app').startSpan('db.query').end();
const LINES: SdkLine[] = [sdkV1(makeSpan), sdkV2(makeSpan)];

const ORDER_SCHEMA = {
  type: 'object',
  properties: {
    sku: { type: 'string', pattern: '^SKU-' },
    quantity: { type: 'integer', minimum: 1, maximum: 10 },
    email: { type: 'string', format: 'email' },
    priority: { enum: ['low', 'high'] },
    address: { type: 'object', properties: { zip: { type: 'string', maxLength: 5 } }, required: ['zip'] },
  },
  required: ['sku', 'quantity'],
  additionalProperties: false,
};

/** A low-level Server that checks nothing, as some published servers do. */
function createOrdersServer(line: SdkLine): LineServer {
  return line.createLowLevelServer(
    [{ name: 'create_order', description: 'Create an order', inputSchema: ORDER_SCHEMA }],
    (_name, args) => ({
      content: [{ type: 'text', text: `created ${JSON.stringify(args ?? {})}` }],
    }),
  );
}

const open: Array<{ close(): Promise<void> }> = [];

/** Instruments the SDK object behind `server` and hands the wrapper back. */
function instrumented(server: LineServer, options?: Parameters<typeof instrumentServer>[1]): LineServer {
  expect(instrumentServer(server.sdk, options)).toBe(server.sdk);
  return server;
}

function baggage(provider: string, model: string): Record<string, string> {
  return { baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=${provider},${ATTR.GEN_AI_REQUEST_MODEL}=${model}` };
}

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await provider.shutdown();
});

// Spans end after the answer (deferred drain, then token counts from a worker that runs at the
// lowest priority): on a loaded machine a test that timed out leaves spans that would end inside
// the next test. End them (without counts past the bound) before the next test starts.
beforeEach(async () => {
  await flush(provider);
  exporter.reset();
});

describe.each(LINES)('SDK $name', (line) => {
  async function connect(server: LineServer, clientName = 'test-client'): Promise<LineClient> {
    const client = await line.connect(server, clientName);
    open.push(client, server);
    return client;
  }

  describe('McpServer', () => {
    it('records one SERVER span per request with the semantic-convention attributes', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta: baggage('deepseek', 'deepseek-chat') });
      expect(result.content).toEqual([{ type: 'text', text: '3' }]);
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      const call = serverSpans(spans, 'tools/call')[0]!;
      expect(call.name).toBe('tools/call add');
      expect(call.kind).toBe(SpanKind.SERVER);
      expect(call.attributes).toMatchObject({
        [ATTR.MCP_METHOD_NAME]: 'tools/call',
        [ATTR.GEN_AI_TOOL_NAME]: 'add',
        [ATTR.GEN_AI_OPERATION_NAME]: OPERATION_EXECUTE_TOOL,
        [ATTR.GEN_AI_PROVIDER_NAME]: 'deepseek',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'deepseek-chat',
        [ATTR.PROVIDER_SOURCE]: 'baggage',
        [ATTR.OUTCOME]: 'ok',
        [ATTR.MCP_PROTOCOL_VERSION]: expect.any(String),
        [ATTR.JSONRPC_REQUEST_ID]: expect.any(String),
        [ATTR.SESSION_KEY]: expect.any(String),
      });
      expect(call.attributes[ATTR.ERROR_TYPE]).toBeUndefined();
      expect(call.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
      expect(call.status.code).toBe(SpanStatusCode.UNSET);
      expect(call.attributes[ATTR.TOKENS_ARGUMENTS]).toBeGreaterThan(0);
      expect(call.attributes[ATTR.TOKENS_RESULT]).toBeGreaterThan(0);
      // initialize was seen too, and every request of the connection shares the session key
      const init = serverSpans(exporter.getFinishedSpans(), 'initialize');
      expect(init).toHaveLength(1);
      expect(init[0]!.attributes[ATTR.SESSION_KEY]).toBe(call.attributes[ATTR.SESSION_KEY]);
    });

    it('grades each outcome the way the SDK answers it', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      // missing b: isError, text 'MCP error -32602: ...' on v1, 'Input validation error: ...' on v2
      await client.callTool({ name: 'add', arguments: { a: 1 } });
      await client.callTool({ name: 'add', arguments: { a: '1', b: 2 } }); // wrong type
      await client.callTool({ name: 'fail', arguments: {} }); // handler throws
      // unknown tool: an isError result on v1, a JSON-RPC -32602 error on v2
      if (line.name === 'v1') expect((await client.callTool({ name: 'nope', arguments: {} })).isError).toBe(true);
      else await expect(client.callTool({ name: 'nope', arguments: {} })).rejects.toThrow(/nope/);
      await expect(client.request('prompts/list', {})).rejects.toThrow(); // no prompts capability
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 4 && serverSpans(s, 'prompts/list').length === 1);
      const calls = serverSpans(spans, 'tools/call').sort(
        (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
      );
      const byTool = (name: string, i = 0) => calls.filter((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === name)[i]!;
      expect(byTool('add', 0).attributes).toMatchObject({
        [ATTR.OUTCOME]: 'rejected',
        [ATTR.ERROR_TYPE]: 'tool_error',
        [ATTR.VIOLATION_KIND]: 'missing_required',
      });
      expect(byTool('add', 0).attributes[ATTR.VIOLATION_PATHS]).toEqual(['/b']);
      expect(byTool('add', 1).attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.VIOLATION_KIND]: 'wrong_type' });
      expect(byTool('fail').attributes).toMatchObject({ [ATTR.OUTCOME]: 'tool_error', [ATTR.ERROR_TYPE]: 'tool_error' });
      expect(byTool('fail').status.code).toBe(SpanStatusCode.ERROR);
      expect(byTool('fail').attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
      expect(byTool('nope').attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.VIOLATION_KIND]: 'unknown_tool' });
      expect(byTool('nope').attributes[ATTR.ERROR_TYPE]).toBe(line.name === 'v1' ? 'tool_error' : '-32602');
      expect(byTool('nope').status.code).toBe(SpanStatusCode.UNSET); // a caller fault, not the server's
      const prompts = serverSpans(spans, 'prompts/list')[0]!;
      expect(prompts.attributes).toMatchObject({
        [ATTR.OUTCOME]: 'error',
        [ATTR.ERROR_TYPE]: '-32601',
        [ATTR.RPC_RESPONSE_STATUS_CODE]: '-32601',
      });
    });

    it('sees arguments sent as a JSON string, refused by request parsing before any handler', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      await expect(client.request('tools/call', { name: 'add', arguments: '{"a":1,"b":2}' })).rejects.toThrow();
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      expect(serverSpans(spans, 'tools/call')[0]!.attributes).toMatchObject({
        [ATTR.OUTCOME]: 'rejected',
        // v1 answers the parse failure as an internal error, v2 as invalid params
        [ATTR.ERROR_TYPE]: line.name === 'v1' ? '-32603' : '-32602',
        [ATTR.VIOLATION_KIND]: 'not_an_object',
      });
    });

    it('ends a cancelled request as cancelled, without error.type', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      const controller = new AbortController();
      const call = client.callTool({ name: 'slow', arguments: {} }, { signal: controller.signal });
      setTimeout(() => controller.abort('user gave up'), 50);
      await expect(call).rejects.toThrow();
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      const span = serverSpans(spans, 'tools/call')[0]!;
      expect(span.attributes[ATTR.OUTCOME]).toBe('cancelled');
      expect(span.attributes[ATTR.ERROR_TYPE]).toBeUndefined();
    });

    it('ends a request never answered as an error when the transport closes', async () => {
      const server = instrumented(line.createMcpServer());
      const client = await connect(server);
      const call = client.callTool({ name: 'slow', arguments: {} });
      await new Promise((resolve) => setTimeout(resolve, 50));
      await server.close();
      await expect(call).rejects.toThrow();
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      expect(serverSpans(spans, 'tools/call')[0]!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'error', [ATTR.ERROR_TYPE]: 'no_response' });
    });

    it('continues the trace from params._meta.traceparent and makes the handler span a child', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const parentId = 'b7ad6b7169203331';
      await client.callTool({ name: 'traced', arguments: {}, _meta: { traceparent: `00-${traceId}-${parentId}-01` } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1 && s.some((x) => x.name === 'db.query'));
      const call = serverSpans(spans, 'tools/call')[0]!;
      const child = spans.find((s) => s.name === 'db.query')!;
      expect(call.spanContext().traceId).toBe(traceId);
      expect(call.parentSpanContext?.spanId).toBe(parentId);
      expect(child.spanContext().traceId).toBe(traceId);
      expect(child.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    });

    it('works when instrumented after connect, and twice is harmless', async () => {
      const server = line.createMcpServer();
      const client = await connect(server);
      instrumentServer(server.sdk);
      expect(instrumentServer(server.sdk)).toBe(server.sdk);
      await client.callTool({ name: 'add', arguments: { a: 2, b: 2 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length >= 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(serverSpans(exporter.getFinishedSpans(), 'tools/call')).toHaveLength(1);
      // the catalog was loaded from the server's own tools/list handler: a valid call has no violation
      expect(serverSpans(spans, 'tools/call')[0]!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    });

    it('attributes the provider from a resolver first, then from clientInfo', async () => {
      const resolved = await connect(
        instrumented(line.createMcpServer(), {
          providerResolver: ({ method }) => (method === 'tools/call' ? { provider: 'x_ai', model: 'grok-4' } : undefined),
        }),
      );
      await resolved.callTool({ name: 'add', arguments: { a: 1, b: 1 }, _meta: baggage('openai', 'gpt-4.1') });
      const byClient = await connect(instrumented(line.createMcpServer()), 'claude-code');
      await byClient.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const [first, second] = serverSpans(spans, 'tools/call');
      expect(first!.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'x_ai',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'grok-4',
        [ATTR.PROVIDER_SOURCE]: 'resolver',
      });
      expect(second!.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'anthropic',
        [ATTR.PROVIDER_SOURCE]: 'client_info',
        [ATTR.CLIENT_NAME]: 'claude-code',
      });
    });

    it('reads per-request client info from _meta (protocol 2026-07-28)', async () => {
      const client = await connect(instrumented(line.createMcpServer()), 'some-unknown-client');
      await client.callTool({
        name: 'add',
        arguments: { a: 1, b: 1 },
        _meta: { [META_KEYS.CLIENT_INFO]: { name: 'gemini-cli', version: '0.9.0' } },
      });
      await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const [first, second] = serverSpans(spans, 'tools/call').sort(
        (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
      );
      expect(first!.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'gcp.gemini',
        [ATTR.PROVIDER_SOURCE]: 'client_info',
        [ATTR.CLIENT_NAME]: 'gemini-cli',
      });
      expect(second!.attributes).toMatchObject({ [ATTR.GEN_AI_PROVIDER_NAME]: 'unknown', [ATTR.PROVIDER_SOURCE]: 'unknown' });
    });

    it('records catalog tokens per tool and in total on tools/list', async () => {
      const client = await connect(instrumented(line.createMcpServer()));
      const { tools } = await client.listTools();
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/list').length === 1);
      const list = serverSpans(spans, 'tools/list')[0]!;
      const perTool = list.events.filter((e) => e.name === EVENT.CATALOG_TOOL);
      expect(perTool.map((e) => e.attributes?.[ATTR.GEN_AI_TOOL_NAME]).sort()).toEqual(tools.map((t) => t.name).sort());
      const sum = perTool.reduce((n, e) => n + Number(e.attributes?.[ATTR.TOKENS_CATALOG]), 0);
      expect(list.attributes[ATTR.TOKENS_CATALOG]).toBe(sum);
      expect(list.attributes[ATTR.CATALOG_TOOL_COUNT]).toBe(tools.length);
    });
  });

  describe('options', () => {
    it('records content only when asked, through the redact hook, and logs one line per call to a logger', async () => {
      const lines: Array<{ obj: Record<string, unknown>; msg?: string; activeSpan: unknown }> = [];
      const logger = { info: (obj: Record<string, unknown>, msg?: string) => lines.push({ obj, msg, activeSpan: trace.getActiveSpan() }) };
      const plain = await connect(instrumented(line.createMcpServer()));
      await plain.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      const recorded = await connect(
        instrumented(line.createMcpServer(), {
          recordContent: true,
          redact: (text) => text.replace(/"a":\d+/, '"a":"[redacted]"'),
          log: logger,
        }),
      );
      await recorded.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta: baggage('groq', 'llama-4') });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const [first, second] = serverSpans(spans, 'tools/call');
      expect(first!.attributes[ATTR.GEN_AI_TOOL_CALL_ARGUMENTS]).toBeUndefined();
      expect(first!.attributes[ATTR.GEN_AI_TOOL_CALL_RESULT]).toBeUndefined();
      expect(second!.attributes[ATTR.GEN_AI_TOOL_CALL_ARGUMENTS]).toBe('{"a":"[redacted]","b":2}');
      expect(JSON.parse(String(second!.attributes[ATTR.GEN_AI_TOOL_CALL_RESULT]))).toEqual({ content: [{ type: 'text', text: '3' }] });
      expect(lines).toHaveLength(1);
      expect(lines[0]!.obj).toMatchObject({
        trace_id: second!.spanContext().traceId,
        span_id: second!.spanContext().spanId,
        tool: 'add',
        provider: 'groq',
        model: 'llama-4',
        outcome: 'ok',
        tokens_arguments: second!.attributes[ATTR.TOKENS_ARGUMENTS],
      });
      expect(lines[0]!.obj.latency_ms).toEqual(expect.any(Number));
      // Deferred work runs outside any request: a logger that reads the active span (pino's
      // OTel mixins do) must not stamp the line with another call's trace.
      expect(lines[0]!.activeSpan).toBeUndefined();
    });

    it('runs deferred work at once, still outside any request, when more calls wait than maxDeferredQueue', async () => {
      const lines: Array<{ activeSpan: unknown }> = [];
      const logger = { info: () => void lines.push({ activeSpan: trace.getActiveSpan() }) };
      const client = await connect(instrumented(line.createMcpServer(), { maxDeferredQueue: 1, countTokens: false, log: logger }));
      // In memory five concurrent answers leave before any timer fires: four find the queue full.
      await Promise.all(Array.from({ length: 5 }, (_, i) => client.callTool({ name: 'add', arguments: { a: i, b: 1 } })));
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 5);
      expect(serverSpans(spans, 'tools/call').map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
      expect(lines).toHaveLength(5);
      expect(lines.every((l) => l.activeSpan === undefined)).toBe(true);
    });

    it('gives a sampler the method, tool, provider and model at span start; the rest is on the span when it ends', async () => {
      const seen: Array<{ name: string; attributes: Attributes }> = [];
      const sampler: Sampler = {
        shouldSample: (_ctx, _traceId, name, _kind, attributes) => {
          seen.push({ name, attributes: { ...attributes } });
          return { decision: SamplingDecision.RECORD_AND_SAMPLED };
        },
        toString: () => 'recording',
      };
      const own = new InMemorySpanExporter();
      const tracerProvider = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(own)] });
      const client = await connect(instrumented(line.createMcpServer(), { tracerProvider, countTokens: false }));
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2 }, _meta: baggage('mistral_ai', 'mistral-large') });
      await tracerProvider.forceFlush();
      for (let i = 0; i < 100 && serverSpans(own.getFinishedSpans(), 'tools/call').length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const atStart = seen.find((s) => s.name === 'tools/call add')!;
      expect(atStart.attributes).toEqual({
        [ATTR.MCP_METHOD_NAME]: 'tools/call',
        [ATTR.GEN_AI_TOOL_NAME]: 'add',
        [ATTR.GEN_AI_PROVIDER_NAME]: 'mistral_ai',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'mistral-large',
      });
      const [ended] = serverSpans(own.getFinishedSpans(), 'tools/call');
      expect(ended!.attributes).toMatchObject({
        [ATTR.JSONRPC_REQUEST_ID]: expect.any(String),
        [ATTR.GEN_AI_OPERATION_NAME]: OPERATION_EXECUTE_TOOL,
        [ATTR.PROVIDER_SOURCE]: 'baggage',
        [ATTR.SESSION_KEY]: expect.any(String),
        [ATTR.CLIENT_NAME]: 'test-client',
        [ATTR.OUTCOME]: 'ok',
      });
      await tracerProvider.shutdown();
    });

    it('counts large payloads in the worker thread exactly as the tokenizer does', async () => {
      const server = line.createMcpServer();
      server.registerTool('echo', {
        description: 'Echo',
        inputSchema: { text: z.string() },
        handler: async ({ text }) => ({ content: [{ type: 'text', text: String(text) }] }),
      });
      const client = await connect(instrumented(server));
      const text = Array.from({ length: 400 }, (_, i) => `word${i} ünïcödé`).join(' ');
      await client.callTool({ name: 'echo', arguments: { text } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1, 15_000);
      const span = serverSpans(spans, 'tools/call')[0]!;
      const count = defaultTokenizer();
      expect(span.attributes[ATTR.TOKENS_ARGUMENTS]).toBe(count(JSON.stringify({ text })));
      expect(span.attributes[ATTR.TOKENS_RESULT]).toBe(count(text));
    });

    it('does not send one payload larger than the tokenizer bound to the worker, and says so', async () => {
      const warnings: string[] = [];
      diag.setLogger(
        { error: () => {}, warn: (m: string) => void warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} },
        DiagLogLevel.WARN,
      );
      try {
        const server = line.createMcpServer();
        // One character over the per-payload cap (1 Mi characters).
        const huge = 'x'.repeat(MAX_PAYLOAD_CHARS + 1);
        server.registerTool('dump', { description: 'A huge result', handler: async () => ({ content: [{ type: 'text', text: huge }] }) });
        const client = await connect(instrumented(server));
        const result = await client.callTool({ name: 'dump', arguments: {} });
        expect((result.content as Array<{ text: string }>)[0]!.text).toHaveLength(MAX_PAYLOAD_CHARS + 1);
        await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
        const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2, 15_000);
        const dump = serverSpans(spans, 'tools/call').find((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'dump')!;
        const add = serverSpans(spans, 'tools/call').find((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'add')!;
        expect(dump.attributes[ATTR.OUTCOME]).toBe('ok');
        expect(dump.attributes[ATTR.TOKENS_RESULT]).toBeUndefined();
        expect(dump.attributes[ATTR.TOKENS_NOT_COUNTED]).toBe(TOKENS_NOT_COUNTED_REASONS.TOO_LARGE);
        expect(warnings.some((w) => /larger than the tokenizer's bound/.test(w))).toBe(true);
        expect(add.attributes[ATTR.TOKENS_ARGUMENTS]).toBe(defaultTokenizer()('{"a":1,"b":1}'));
      } finally {
        diag.disable();
      }
    });

    it('ends spans without token counts while more text waits for the tokenizer than its bound, then counts again', async () => {
      const warnings: string[] = [];
      diag.setLogger(
        { error: () => {}, warn: (m: string) => void warnings.push(m), info: () => {}, debug: () => {}, verbose: () => {} },
        DiagLogLevel.WARN,
      );
      try {
        const server = line.createMcpServer();
        // Prose just under the per-payload cap: five answers within one drain put 5 Mi characters
        // in line, one more than the 4 Mi that may wait for the tokenizer.
        const words = 'the quick brown fox jumps over a lazy dog near misty lakes ';
        const text = words.repeat(Math.ceil(MAX_PAYLOAD_CHARS / words.length)).slice(0, MAX_PAYLOAD_CHARS - 100);
        server.registerTool('read', { description: 'A large document', handler: async () => ({ content: [{ type: 'text', text }] }) });
        const client = await connect(instrumented(server));
        await Promise.all(Array.from({ length: 5 }, () => client.callTool({ name: 'read', arguments: {} })));
        const first = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 5, 30_000);
        const counted = serverSpans(first, 'tools/call').filter((s) => s.attributes[ATTR.TOKENS_RESULT] !== undefined);
        expect(counted).toHaveLength(4);
        const behind = serverSpans(first, 'tools/call').find((s) => s.attributes[ATTR.TOKENS_RESULT] === undefined)!;
        expect(behind.attributes[ATTR.TOKENS_NOT_COUNTED]).toBe(TOKENS_NOT_COUNTED_REASONS.BACKLOG);
        expect(warnings.filter((w) => /token counting is behind/.test(w))).toHaveLength(1);
        // Once those counts are back, nothing is waiting: a fourth answer is counted again.
        await client.callTool({ name: 'read', arguments: {} });
        const all = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 6, 30_000);
        const fourth = serverSpans(all, 'tools/call')[5]!;
        expect(fourth.attributes[ATTR.TOKENS_RESULT]).toBe(counted[0]!.attributes[ATTR.TOKENS_RESULT]);
      } finally {
        diag.disable();
      }
    }, 60_000);

    it('survives a throwing tokenizer, resolver and redact hook: the call and its span go on', async () => {
      const client = await connect(
        instrumented(line.createMcpServer(), {
          tokenizer: () => {
            throw new Error('tokenizer down');
          },
          providerResolver: () => {
            throw new Error('resolver down');
          },
          recordContent: true,
          redact: () => {
            throw new Error('redact down');
          },
        }),
      );
      const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 }, _meta: baggage('openai', 'gpt-4.1') });
      expect(result.content).toEqual([{ type: 'text', text: '5' }]);
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      const span = serverSpans(spans, 'tools/call')[0]!;
      expect(span.attributes).toMatchObject({
        [ATTR.OUTCOME]: 'ok',
        [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
        [ATTR.PROVIDER_SOURCE]: 'baggage',
      });
      expect(span.attributes[ATTR.TOKENS_ARGUMENTS]).toBeUndefined();
      expect(span.attributes[ATTR.GEN_AI_TOOL_CALL_ARGUMENTS]).toBeUndefined();
    });

    it('grades undeclared arguments only under strictArguments, recording them either way', async () => {
      const lenient = await connect(instrumented(line.createMcpServer()));
      await lenient.callTool({ name: 'add', arguments: { a: 1, b: 2, c: 3 } });
      const strict = await connect(instrumented(line.createMcpServer(), { strictArguments: true }));
      await strict.callTool({ name: 'add', arguments: { a: 1, b: 2, c: 3 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const [first, second] = serverSpans(spans, 'tools/call');
      expect(first!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
      expect(first!.attributes[ATTR.ARGUMENTS_UNDECLARED]).toEqual(['/c']);
      expect(second!.attributes[ATTR.VIOLATION_KIND]).toBe('unknown_argument');
      expect(second!.attributes[ATTR.ARGUMENTS_UNDECLARED]).toEqual(['/c']);
    });
  });

  describe('catalog refresh and metrics', () => {
    it('refreshes the catalog on notifications/tools/list_changed', async () => {
      const server = instrumented(line.createMcpServer());
      const client = await connect(server);
      await client.listTools();
      server.registerTool('late', {
        description: 'Registered after connect',
        inputSchema: { n: z.number() },
        handler: async ({ n }) => ({ content: [{ type: 'text', text: String(n) }] }),
      }); // McpServer sends notifications/tools/list_changed
      await new Promise((resolve) => setTimeout(resolve, 20));
      await client.callTool({ name: 'late', arguments: { n: 1 } });
      await client.callTool({ name: 'late', arguments: { n: 'one' } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const calls = serverSpans(spans, 'tools/call').sort(
        (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
      );
      expect(calls[0]!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
      expect(calls[1]!.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type');
    });

    it('records mcp.server.operation.duration when a MeterProvider is given', async () => {
      const exporterM = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
      const reader = new PeriodicExportingMetricReader({ exporter: exporterM, exportIntervalMillis: 60_000 });
      const meterProvider = new MeterProvider({ readers: [reader] });
      const client = await connect(instrumented(line.createMcpServer(), { meterProvider }));
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      await reader.forceFlush();
      const metric = exporterM
        .getMetrics()
        .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
        .find((m) => m.descriptor.name === OTEL_METRICS.SERVER_OPERATION_DURATION.name)!;
      expect(metric.descriptor.unit).toBe('s');
      const point = metric.dataPoints.find((p) => p.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call')!;
      expect(point.attributes[ATTR.GEN_AI_TOOL_NAME]).toBe('add');
      expect((point.value as { count: number; buckets: { boundaries: number[] } }).count).toBe(1);
      expect((point.value as { buckets: { boundaries: number[] } }).buckets.boundaries).toEqual([...DURATION_BUCKETS_SECONDS]);
      await meterProvider.shutdown();
    });
  });

  describe('low-level Server (validates nothing)', () => {
    it('grades the arguments as the model sent them, even when the handler changes them in place', async () => {
      const server = line.createLowLevelServer(
        [{ name: 'create_order', description: 'Create an order', inputSchema: ORDER_SCHEMA }],
        (_name, args) => {
          // A handler normalising its input: the nested object is the request's own.
          const address = (args as { address?: { zip: string } }).address;
          if (address !== undefined) address.zip = `${address.zip}-0000-extended`;
          return { content: [{ type: 'text', text: 'created' }] };
        },
      );
      const client = await connect(instrumented(server));
      await client.listTools();
      await client.callTool({ name: 'create_order', arguments: { sku: 'SKU-1', quantity: 1, address: { zip: '12345' } } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      const span = serverSpans(spans, 'tools/call')[0]!;
      expect(span.attributes[ATTR.OUTCOME]).toBe('ok');
      expect(span.attributes[ATTR.VIOLATION_KIND]).toBeUndefined(); // the model's zip was valid
    });

    it('classifies every violation of an ok call, with one event per violation', async () => {
      const client = await connect(instrumented(createOrdersServer(line)));
      const cases: Array<[Record<string, unknown>, string, string[]]> = [
        [{ quantity: 1 }, 'missing_required', ['/sku']],
        [{ sku: null, quantity: 1 }, 'null_value', ['/sku']],
        [{ sku: 'SKU-1', quantity: '2' }, 'wrong_type', ['/quantity']],
        [{ sku: 'SKU-1', quantity: 1, priority: 'urgent' }, 'enum_violation', ['/priority']],
        [{ sku: 'SKU-1', quantity: 11 }, 'out_of_range', ['/quantity']],
        [{ sku: 'SKU-1', quantity: 1, email: 'not-an-email' }, 'format_violation', ['/email']],
        [{ sku: 'X-1', quantity: 1 }, 'constraint', ['/sku']],
        [{ sku: 'SKU-1', quantity: 1, gift: true }, 'unknown_argument', ['/gift']],
        [{ sku: 'SKU-1', quantity: 1, address: {} }, 'missing_required', ['/address/zip']],
      ];
      for (const [args] of cases) {
        const result = await client.callTool({ name: 'create_order', arguments: args });
        expect(result.isError).toBeFalsy(); // the server itself checked nothing
      }
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === cases.length);
      const calls = serverSpans(spans, 'tools/call').sort(
        (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
      );
      cases.forEach(([, kind, paths], i) => {
        const span = calls[i]!;
        expect(span.attributes[ATTR.OUTCOME]).toBe('ok');
        expect(span.attributes[ATTR.VIOLATION_KIND]).toBe(kind);
        expect(span.attributes[ATTR.VIOLATION_PATHS]).toEqual(paths);
        const events = span.events.filter((e) => e.name === EVENT.SCHEMA_VIOLATION);
        expect(events).toHaveLength(paths.length);
        expect(events[0]!.attributes?.[ATTR.VIOLATION_KIND]).toBe(kind);
        expect(span.attributes[ATTR.VIOLATION_COUNT]).toBe(paths.length);
      });
    });
  });

  describe('over Streamable HTTP on loopback', () => {
    const opened: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      for (const o of opened.reverse()) await o.close().catch(() => undefined);
      opened.length = 0;
    });

    async function serve(options?: Parameters<typeof instrumentServer>[1]): Promise<LineHttpEndpoint> {
      const endpoint = await line.serveHttp((server) => instrumentServer(server.sdk, options));
      opened.push(endpoint);
      return endpoint;
    }

    async function connectHttp(endpoint: LineHttpEndpoint, headers: Record<string, string>): Promise<LineHttpClient> {
      const client = await endpoint.connect('some-agent', headers);
      opened.push(client);
      return client;
    }

    it('attributes the provider from the HTTP headers of the request, with the session as the line has it', async () => {
      const endpoint = await serve();
      const client = await connectHttp(endpoint, { 'x-llm-provider': 'mistral_ai', 'x-llm-model': 'mistral-large-latest' });
      expect((await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content).toEqual([{ type: 'text', text: '3' }]);
      // A second client whose gateway sends W3C baggage on the HTTP request itself.
      const viaBaggage = await connectHttp(endpoint, {
        baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=aws.bedrock,${ATTR.GEN_AI_REQUEST_MODEL}=nova-pro`,
      });
      await viaBaggage.callTool({ name: 'add', arguments: { a: 2, b: 2 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const other = serverSpans(spans, 'tools/call').find((s) => s.attributes[ATTR.PROVIDER_SOURCE] === 'http_baggage');
      const call = serverSpans(spans, 'tools/call').find((s) => s !== other);
      expect(call!.attributes).toMatchObject({
        [ATTR.NETWORK_TRANSPORT]: NETWORK_TRANSPORT.TCP,
        [ATTR.NETWORK_PROTOCOL_NAME]: 'http',
        [ATTR.GEN_AI_PROVIDER_NAME]: 'mistral_ai',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'mistral-large-latest',
        [ATTR.PROVIDER_SOURCE]: 'header',
        [ATTR.CLIENT_NAME]: 'some-agent',
        [ATTR.OUTCOME]: 'ok',
      });
      expect(other!.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'aws.bedrock',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'nova-pro',
        [ATTR.PROVIDER_SOURCE]: 'http_baggage',
      });
      if (line.name === 'v1') {
        // 2025-11-25: initialize opens a session; every span of it carries the Mcp-Session-Id.
        expect(client.sessionId).toEqual(expect.any(String));
        expect(call!.attributes).toMatchObject({
          [ATTR.MCP_SESSION_ID]: client.sessionId,
          [ATTR.SESSION_KEY]: client.sessionId,
          [ATTR.MCP_PROTOCOL_VERSION]: line.httpProtocolVersion,
        });
        expect(serverSpans(spans, 'initialize')).toHaveLength(2);
      } else {
        // 2026-07-28: no initialize and no session (semconv: no mcp.session.id); client info came in the request's _meta.
        expect(client.sessionId).toBeUndefined();
        expect(call!.attributes[ATTR.MCP_SESSION_ID]).toBeUndefined();
        expect(call!.attributes[ATTR.SESSION_KEY]).toEqual(expect.any(String));
        expect(serverSpans(spans, 'initialize')).toHaveLength(0);
        expect(serverSpans(spans, 'server/discover')).toHaveLength(2);
      }
    });

    it("grades a tools/call that comes before any tools/list, from the server's own catalog", async () => {
      const endpoint = await serve();
      const client = await connectHttp(endpoint, {});
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2, c: 3 } }); // the SDK strips c: only the catalog knows
      await client.callTool({ name: 'add', arguments: { a: '1', b: 2 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
      const [lenient, wrong] = serverSpans(spans, 'tools/call').sort(
        (a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]),
      );
      expect(serverSpans(spans, 'tools/list')).toHaveLength(0);
      expect(lenient!.attributes[ATTR.OUTCOME]).toBe('ok');
      expect(lenient!.attributes[ATTR.ARGUMENTS_UNDECLARED]).toEqual(['/c']);
      expect(wrong!.attributes).toMatchObject({ [ATTR.OUTCOME]: 'rejected', [ATTR.VIOLATION_KIND]: 'wrong_type' });
      expect(wrong!.attributes[ATTR.VIOLATION_PATHS]).toEqual(['/a']);
    });

    // On v2 (2026-07-28) the client cancels by dropping the request's HTTP stream (no
    // notifications/cancelled); the request's aborted signal tells it from a lost answer.
    it('ends a cancelled request as cancelled, without error.type', async () => {
      const endpoint = await serve();
      const client = await connectHttp(endpoint, {});
      const controller = new AbortController();
      const call = client.callTool({ name: 'slow', arguments: {} }, { signal: controller.signal });
      setTimeout(() => controller.abort('user gave up'), 100);
      await expect(call).rejects.toThrow();
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      const span = serverSpans(spans, 'tools/call')[0]!;
      expect(span.attributes[ATTR.OUTCOME]).toBe('cancelled');
      expect(span.attributes[ATTR.ERROR_TYPE]).toBeUndefined();
    });

    // On v2 (2026-07-28) there is no initialize: the version comes with every request
    // (`_meta["io.modelcontextprotocol/protocolVersion"]`, `MCP-Protocol-Version` header).
    // Behind `mcplens proxy` (which adds the header and records the span itself) a request is counted once.
    it('gives a request forwarded by mcplens proxy no span of its own', async () => {
      const endpoint = await serve();
      const proxied = await connectHttp(endpoint, { [OBSERVED_BY_HEADER]: 'proxy' });
      await proxied.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      const direct = await connectHttp(endpoint, {});
      await direct.callTool({ name: 'add', arguments: { a: 2, b: 2 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      // Only the direct call; the proxied one (answered first) left no span, ended or not.
      await new Promise((r) => setTimeout(r, 200));
      const calls = serverSpans(exporter.getFinishedSpans(), 'tools/call');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.attributes[ATTR.JSONRPC_REQUEST_ID]).toBe(serverSpans(spans, 'tools/call')[0]!.attributes[ATTR.JSONRPC_REQUEST_ID]);
      expect(serverSpans(exporter.getFinishedSpans(), 'tools/list')).toHaveLength(0);
    });

    it('records mcp.protocol.version on every request', async () => {
      const endpoint = await serve();
      const client = await connectHttp(endpoint, {});
      await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
      const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 1);
      expect(serverSpans(spans, 'tools/call')[0]!.attributes[ATTR.MCP_PROTOCOL_VERSION]).toBe(line.httpProtocolVersion);
    });
  });
});
