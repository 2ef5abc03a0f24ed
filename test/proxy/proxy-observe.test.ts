/**
 * What `mcplens proxy` observes, with real processes: the SDK's Streamable HTTP client calls the
 * SDK's Streamable HTTP server through the proxy, and the proxy's spans arrive at an OTLP
 * receiver on loopback: outcomes and violations graded against the catalog (also for a call
 * before any list, from the proxy's own tools/list), provider and model from the HTTP headers,
 * session attributes, and the end of requests the server never answered or the client abandoned.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ATTR, BAGGAGE_KEYS, ERROR_TYPE_NO_RESPONSE, NETWORK_TRANSPORT } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { OBSERVED_BY_HEADER } from '../../instrumentation/observed-by.js';
import { startMcpHttpFixture, type McpHttpFixture } from './mcp-http-fixture.js';
import { startProxy, type ProxyProcess } from './proxy-process.js';

const SERVER_KIND = 2;
const receivers: OtlpReceiver[] = [];
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  for (const r of receivers) await r.close();
});
let otlp: OtlpReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver();
  receivers.push(otlp);
});

async function fixture(options: { stateful: boolean; jsonResponse?: boolean }): Promise<McpHttpFixture> {
  const server = await startMcpHttpFixture(options);
  cleanups.push(() => server.close());
  return server;
}

async function proxy(target: string, endpoint: string, args: string[] = []): Promise<ProxyProcess> {
  const running = await startProxy(target, args, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
  cleanups.push(() => running.stop('SIGKILL'));
  return running;
}

async function connect(
  url: string,
  headers: Record<string, string>,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

function serverSpans(spans: readonly ReceivedSpan[], session?: string): ReceivedSpan[] {
  return spans
    .filter((s) => s.kind === SERVER_KIND && (session === undefined || s.attributes[ATTR.SESSION_KEY] === session))
    .sort((a, b) => Number(a.attributes[ATTR.JSONRPC_REQUEST_ID]) - Number(b.attributes[ATTR.JSONRPC_REQUEST_ID]));
}

/** A call before any list, a list, then a malformed call and a call of an unknown tool. */
async function workload(client: Client): Promise<void> {
  await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
  await client.listTools();
  await client.callTool({ name: 'add', arguments: { a: 'one', b: 2 } });
  await client.callTool({ name: 'no_such_tool', arguments: {} });
}

describe('mcplens proxy: telemetry', () => {
  it('grades a stateful session, provider and model from x-llm-* headers, its own tools/list unseen', async () => {
    const server = await fixture({ stateful: true });
    const running = await proxy(server.url, otlp.endpoint);
    const { client, transport } = await connect(running.url, { 'x-llm-provider': 'anthropic', 'x-llm-model': 'claude-sonnet-4' });
    await workload(client);
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    const spans = serverSpans(await otlp.waitFor((s) => serverSpans(s, sessionId).length >= 4, 15_000), sessionId);

    expect(spans.map((s) => s.name)).toEqual(['tools/call add', 'tools/list', 'tools/call add', 'tools/call no_such_tool']);
    expect(spans.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok', 'ok', 'rejected', 'rejected']);
    expect(spans[0]!.attributes[ATTR.VIOLATION_KIND]).toBeUndefined();
    expect(spans[2]!.attributes[ATTR.VIOLATION_KIND]).toBe('wrong_type');
    expect(spans[3]!.attributes[ATTR.VIOLATION_KIND]).toBe('unknown_tool');
    for (const span of spans) {
      expect(span.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'anthropic',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'claude-sonnet-4',
        [ATTR.PROVIDER_SOURCE]: 'header',
        [ATTR.MCP_SESSION_ID]: sessionId,
        [ATTR.NETWORK_TRANSPORT]: NETWORK_TRANSPORT.TCP,
        [ATTR.NETWORK_PROTOCOL_NAME]: 'http',
        [ATTR.CLIENT_NAME]: 'test-agent',
      });
    }
    expect(spans[0]!.resource[ATTR.SERVICE_NAME]).toBe('fixture-http');
    // The proxy listed the tools itself for the first call, in the client's session: two tools/list
    // reached the server, one span.
    const lists = server.requests.filter((r) => r.rpc.includes('tools/list'));
    expect(lists).toHaveLength(2);
    expect(lists[0]!.headers['mcp-session-id']).toBe(sessionId);
    expect(lists[0]!.headers['mcp-protocol-version']).toBeDefined();
    expect(serverSpans(otlp.spans).filter((s) => s.name === 'tools/list')).toHaveLength(1);
    // The initialize answer created the session (its span came before the id existed).
    const [initialize] = serverSpans(otlp.spans).filter((s) => s.name === 'initialize');
    expect(initialize!.attributes).toMatchObject({
      [ATTR.OUTCOME]: 'ok',
      [ATTR.GEN_AI_PROVIDER_NAME]: 'anthropic',
      [ATTR.CLIENT_NAME]: 'test-agent',
    });
  });

  it('grades a stateless server with JSON answers, provider and model from a baggage header', async () => {
    const server = await fixture({ stateful: false, jsonResponse: true });
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const running = await proxy(server.url, receiver.endpoint);
    const baggage = `${BAGGAGE_KEYS.PROVIDER}=openai,${BAGGAGE_KEYS.MODEL}=gpt-4.1`;
    const { client } = await connect(running.url, { baggage });
    await workload(client);
    const isCall = (s: ReceivedSpan): boolean => s.kind === SERVER_KIND && s.name.startsWith('tools/');
    const spans = serverSpans((await receiver.waitFor((s) => s.filter(isCall).length >= 4, 15_000)).filter(isCall));
    expect(spans.map((s) => [s.name, s.attributes[ATTR.OUTCOME], s.attributes[ATTR.VIOLATION_KIND]])).toEqual([
      ['tools/call add', 'ok', undefined],
      ['tools/list', 'ok', undefined],
      ['tools/call add', 'rejected', 'wrong_type'],
      ['tools/call no_such_tool', 'rejected', 'unknown_tool'],
    ]);
    for (const span of spans) {
      expect(span.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
        [ATTR.PROVIDER_SOURCE]: 'http_baggage',
      });
      expect(span.attributes[ATTR.MCP_SESSION_ID]).toBeUndefined();
    }
    // One connection per request: every span has a session key of its own.
    expect(new Set(spans.map((s) => s.attributes[ATTR.SESSION_KEY])).size).toBe(4);
  });

  it('ends a call whose client closed its HTTP stream, or sent notifications/cancelled in its session, as cancelled', async () => {
    const stateless = await fixture({ stateful: false });
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const direct = await proxy(stateless.url, receiver.endpoint);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const call = {
      jsonrpc: '2.0',
      id: 11,
      method: 'tools/call',
      params: { name: 'progress_steps', arguments: { steps: 4, delayMs: 250 } },
    };
    await expect(
      fetch(direct.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(call),
        signal: abort.signal,
      }).then((res) => res.text()),
    ).rejects.toThrow();

    const stateful = await fixture({ stateful: true });
    const inSession = await proxy(stateful.url, receiver.endpoint);
    const { client, transport } = await connect(inSession.url, {});
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 300);
    await expect(
      client.callTool({ name: 'progress_steps', arguments: { steps: 4, delayMs: 250 } }, undefined, { signal: cancel.signal }),
    ).rejects.toThrow();

    const isSlow = (s: ReceivedSpan): boolean => s.name === 'tools/call progress_steps';
    const spans = (await receiver.waitFor((s) => s.filter(isSlow).length >= 2, 15_000)).filter(isSlow);
    for (const span of spans) {
      expect(span.attributes[ATTR.OUTCOME]).toBe('cancelled');
      expect(span.attributes[ATTR.ERROR_TYPE]).toBeUndefined();
    }
    expect(spans.map((s) => s.attributes[ATTR.MCP_SESSION_ID]).sort()).toEqual([transport.sessionId, undefined]);
    expect(await direct.stop('SIGTERM')).toBe(0);
  });

  it('forwards a body past --max-body-bytes without observing it', async () => {
    const server = await fixture({ stateful: false, jsonResponse: true });
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const running = await proxy(server.url, receiver.endpoint, ['--max-body-bytes', '2000']);
    const { client } = await connect(running.url, {});
    const big = await client.callTool({ name: 'add', arguments: { a: 1, b: 2, padding: 'x'.repeat(5000) } });
    expect(big.content).toEqual([{ type: 'text', text: '3' }]);
    await client.callTool({ name: 'add', arguments: { a: 2, b: 2 } });
    const isCall = (s: ReceivedSpan): boolean => s.name === 'tools/call add';
    await receiver.waitFor((s) => s.some(isCall), 15_000);
    await new Promise((done) => setTimeout(done, 500));
    const calls = receiver.spans.filter(isCall);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.attributes[ATTR.OUTCOME]).toBe('ok');
  });

  it('on SIGTERM lets a call in flight finish, exports its span and exits 0 without waiting for event streams', async () => {
    const server = await fixture({ stateful: true });
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const running = await proxy(server.url, receiver.endpoint);
    const { client } = await connect(running.url, {});
    const call = client.callTool({ name: 'progress_steps', arguments: { steps: 4, delayMs: 250 } });
    await new Promise((done) => setTimeout(done, 200));
    const signalled = Date.now();
    const exited = running.stop('SIGTERM');
    expect((await call).content).toEqual([{ type: 'text', text: 'done 4' }]);
    expect(await exited).toBe(0);
    // The session's GET stream was cut at once, not after the 5 s drain budget.
    expect(Date.now() - signalled).toBeLessThan(4000);
    const slow = receiver.spans.filter((s) => s.name === 'tools/call progress_steps');
    expect(slow.map((s) => s.attributes[ATTR.OUTCOME])).toEqual(['ok']);
    expect(running.stderr()).toContain('SIGTERM: finishing 1 exchange(s) in flight');
  });

  // With the in-process side (instrument-server.test.ts: such a request gets no span) each call is counted once.
  it('marks every request it observes, and its own tools/list, with mcplens-observed-by', async () => {
    const server = await fixture({ stateful: true });
    const running = await proxy(server.url, otlp.endpoint);
    const { client } = await connect(running.url, {});
    // A call before any list: the proxy's own tools/list goes upstream too.
    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    const posts = server.requests.filter((r) => r.method === 'POST');
    expect(posts.some((r) => r.rpc.includes('tools/list'))).toBe(true);
    expect(posts.length).toBeGreaterThanOrEqual(3);
    for (const post of posts) expect(post.headers[OBSERVED_BY_HEADER]).toBe('proxy');
  });

  it('ends a call the server answered with no message as no_response', async () => {
    // A server that fails every POST with a plain-text 500: the call's answer never comes.
    const failing = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'));
    });
    await new Promise<void>((done) => failing.listen(0, '127.0.0.1', done));
    cleanups.push(() => new Promise((done) => failing.close(done)));
    const receiver = await startOtlpReceiver();
    receivers.push(receiver);
    const running = await proxy(`http://127.0.0.1:${(failing.address() as AddressInfo).port}/mcp`, receiver.endpoint);
    const answer = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-llm-provider': 'mistral_ai' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 2 } } }),
    });
    expect(answer.status).toBe(500);
    expect(await answer.text()).toBe('boom');
    const [span] = await receiver.waitFor((s) => s.some((x) => x.name === 'tools/call add'), 15_000);
    expect(span!.attributes).toMatchObject({
      [ATTR.OUTCOME]: 'error',
      [ATTR.ERROR_TYPE]: ERROR_TYPE_NO_RESPONSE,
      [ATTR.GEN_AI_PROVIDER_NAME]: 'mistral_ai',
    });
  });
});
