import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { z } from 'zod';
import { ATTR, EVENT, MCP_METHOD, SPAN_NAME } from '../../contract/index.js';
import { ConfigError } from '../../contract/config-error.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import { CircuitBreaker } from '../../instrumentation/guards/circuit-breaker.js';
import type { GuardsConfig } from '../../instrumentation/guards/guard-config.js';
import { sdkV1, sdkV2, type LineClient, type LineServer, type SdkLine } from '../support/sdk-lines.js';
import { createTracing, serverSpans } from '../support/tracing.js';

const { provider, exporter, waitForSpans } = createTracing();
const LINES: SdkLine[] = [sdkV1(() => undefined), sdkV2(() => undefined)];

const GUARDS: GuardsConfig = {
  timeoutMs: 150,
  circuitBreaker: { failures: 2, windowMs: 60_000, coolDownMs: 400 },
  tools: { slow_but_allowed: { timeoutMs: 2000 }, unguarded: { timeoutMs: 0, circuitBreaker: false } },
};

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
  await flush(provider);
  exporter.reset();
});
afterAll(async () => {
  await provider.shutdown();
});

function text(result: { content: Array<{ text: string }> }): string {
  return result.content[0]!.text;
}

function callSpans(spans: ReadableSpan[], tool: string): ReadableSpan[] {
  return serverSpans(spans, MCP_METHOD.TOOLS_CALL).filter((s) => s.attributes[ATTR.GEN_AI_TOOL_NAME] === tool);
}

function transitions(span: ReadableSpan): string[] {
  return span.events
    .filter((e) => e.name === EVENT.BREAKER_TRANSITION)
    .map((e) => `${String(e.attributes?.[ATTR.BREAKER_PREVIOUS_STATE])}->${String(e.attributes?.[ATTR.BREAKER_STATE])}`);
}

describe.each(LINES)('guards on SDK $name', (line) => {
  /** An McpServer with tools that hang, fail, fail on purpose and succeed, and counters of their runs. */
  function guardedServer(): { server: LineServer; runs: Record<string, number>; aborted: string[]; healthy: { value: boolean } } {
    const server = line.createMcpServer();
    const runs: Record<string, number> = {};
    const aborted: string[] = [];
    const healthy = { value: false };
    const count = (name: string): void => {
      runs[name] = (runs[name] ?? 0) + 1;
    };
    server.registerTool('hang', {
      description: 'Never answers; notes its abort.',
      handler: (_args, { signal }) => {
        count('hang');
        return new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted.push(String((signal.reason as Error | undefined)?.name));
            reject(new Error('aborted'));
          });
        });
      },
    });
    server.registerTool('late', {
      description: 'Answers after 300 ms whatever happens.',
      handler: async () => {
        count('late');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return { content: [{ type: 'text', text: 'late answer' }] };
      },
    });
    server.registerTool('flaky', {
      description: 'Throws until healthy.',
      handler: async () => {
        count('flaky');
        if (!healthy.value) throw new Error('backend down');
        return { content: [{ type: 'text', text: 'fine' }] };
      },
    });
    server.registerTool('refuses', {
      description: 'Returns a tool error on purpose.',
      handler: async () => {
        count('refuses');
        return { content: [{ type: 'text', text: 'no such order' }], isError: true };
      },
    });
    server.registerTool('typed', {
      description: 'Needs a number.',
      inputSchema: { n: z.number() },
      handler: async () => {
        count('typed');
        return { content: [{ type: 'text', text: 'ok' }] };
      },
    });
    instrumentServer(server.sdk, { guards: GUARDS });
    return { server, runs, aborted, healthy };
  }

  async function connect(server: LineServer): Promise<LineClient> {
    const client = await line.connect(server);
    open.push(client, server);
    return client;
  }

  it('answers a hanging call with a timeout tool error, fires its abort signal, and marks the span', async () => {
    const { server, aborted } = guardedServer();
    const client = await connect(server);
    const result = await client.callTool({ name: 'hang', arguments: {} });
    expect(result.isError).toBe(true);
    expect(text(result)).toMatch(/^Tool call timed out after 0\.15 s; it may still complete/);
    expect(aborted).toEqual(['TimeoutError']);
    const [span] = callSpans(await waitForSpans((s) => callSpans(s, 'hang').length === 1), 'hang');
    expect(span!.attributes[ATTR.OUTCOME]).toBe('timeout');
    expect(span!.attributes[ATTR.ERROR_TYPE]).toBe('timeout');
    expect(span!.attributes[ATTR.TIMEOUT_MS]).toBe(150);
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('records a completion after the timeout as a child span of the call', async () => {
    const { server } = guardedServer();
    const client = await connect(server);
    const result = await client.callTool({ name: 'late', arguments: {} });
    expect(text(result)).toMatch(/timed out/);
    const spans = await waitForSpans((s) => s.some((x) => x.name === SPAN_NAME.LATE_COMPLETION) && callSpans(s, 'late').length === 1);
    const [call] = callSpans(spans, 'late');
    const late = spans.find((x) => x.name === SPAN_NAME.LATE_COMPLETION)!;
    expect(late.parentSpanContext?.spanId).toBe(call!.spanContext().spanId);
    expect(late.attributes[ATTR.OUTCOME]).toBe('ok');
    expect(late.attributes[ATTR.GEN_AI_TOOL_NAME]).toBe('late');
  });

  it('opens the breaker after repeated thrown errors, refuses without running, then closes after a good trial', async () => {
    const { server, runs, healthy } = guardedServer();
    const client = await connect(server);
    for (let i = 0; i < 2; i++) expect((await client.callTool({ name: 'flaky', arguments: {} })).isError).toBe(true);
    const refused = await client.callTool({ name: 'flaky', arguments: {} });
    expect(text(refused)).toMatch(/^Tool "flaky" is temporarily unavailable after repeated failures; retry in about 1 s\.$/);
    expect(runs.flaky).toBe(2);
    healthy.value = true;
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(text(await client.callTool({ name: 'flaky', arguments: {} }))).toBe('fine');
    expect(text(await client.callTool({ name: 'flaky', arguments: {} }))).toBe('fine');
    expect(runs.flaky).toBe(4);
    const spans = callSpans(await waitForSpans((s) => callSpans(s, 'flaky').length === 5), 'flaky');
    expect(spans.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['tool_error', 'tool_error', 'circuit_open', 'ok', 'ok']);
    expect(spans.map(transitions)).toEqual([[], ['closed->open'], [], ['open->half_open', 'half_open->closed'], []]);
    expect(spans[2]!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('does not count tool errors returned on purpose or rejected arguments as failures', async () => {
    const { server, runs } = guardedServer();
    const client = await connect(server);
    for (let i = 0; i < 4; i++) await client.callTool({ name: 'refuses', arguments: {} });
    for (let i = 0; i < 4; i++) await client.callTool({ name: 'typed', arguments: { n: 'not a number' } }).catch(() => undefined);
    expect(runs.refuses).toBe(4);
    const spans = await waitForSpans((s) => callSpans(s, 'typed').length === 4 && callSpans(s, 'refuses').length === 4);
    expect(callSpans(spans, 'refuses').map((s) => s.attributes[ATTR.OUTCOME])).toEqual(Array(4).fill('tool_error'));
    expect(callSpans(spans, 'typed').map((s) => s.attributes[ATTR.OUTCOME])).toEqual(Array(4).fill('rejected'));
  });
});

describe('guards configuration', () => {
  it.each([
    [{ timeoutMs: -1 }, /^guards: timeoutMs: must be >= 0$/],
    [{ timeuotMs: 100 }, /^guards: timeuotMs: unknown key \(known: timeoutMs, circuitBreaker, tools, authorization, idempotency\)$/],
    [{ tools: { export: { circuitBreaker: { failurs: 2 } } } }, /^guards: tools\.export\.circuitBreaker\.failurs: unknown key/],
    [{ circuitBreaker: true }, /^guards: circuitBreaker: must be false or an object/],
    [{ tools: { export: { timeoutMs: 1.5 } } }, /^guards: tools\.export\.timeoutMs: must be integer$/],
  ])('refuses %j naming the bad key', (guards, message) => {
    const server = sdkV1(() => undefined).createMcpServer();
    expect(() => instrumentServer(server.sdk, { guards: guards as GuardsConfig })).toThrow(ConfigError);
    expect(() => instrumentServer(server.sdk, { guards: guards as GuardsConfig })).toThrow(message);
  });
});

describe('CircuitBreaker with a controllable clock', () => {
  function breaker(): { b: CircuitBreaker; clock: { t: number } } {
    const clock = { t: 1_000_000 };
    return { b: new CircuitBreaker({ failures: 3, windowMs: 60_000, coolDownMs: 30_000 }, () => clock.t), clock };
  }

  it('opens on N failures within the window only', () => {
    const { b, clock } = breaker();
    b.failed(false);
    clock.t += 59_000;
    b.failed(false);
    clock.t += 2_000; // the first failure has left the window
    expect(b.failed(false)).toBeUndefined();
    expect(b.state).toBe('closed');
    expect(b.failed(false)).toEqual({ from: 'closed', to: 'open' });
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 30_000 });
  });

  it('half-opens after the cool-down for one trial at a time; a failed trial opens it again', () => {
    const { b, clock } = breaker();
    for (let i = 0; i < 3; i++) b.failed(false);
    clock.t += 30_000;
    const trial = b.admit();
    expect(trial).toEqual({ admitted: true, trial: true, transition: { from: 'open', to: 'half_open' } });
    expect(b.admit().admitted).toBe(false);
    expect(b.failed(true)).toEqual({ from: 'half_open', to: 'open' });
    expect(b.admit()).toEqual({ admitted: false, retryInMs: 30_000 });
    clock.t += 30_000;
    expect(b.admit().admitted).toBe(true);
    expect(b.succeeded(true)).toEqual({ from: 'half_open', to: 'closed' });
    expect(b.admit()).toEqual({ admitted: true, trial: false, transition: undefined });
  });
});
