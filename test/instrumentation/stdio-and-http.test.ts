import { afterAll, describe, expect, it } from '@jest/globals';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { ATTR, NETWORK_TRANSPORT } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';
import { startOtlpJsonReceiver } from '../support/otlp-json-receiver.js';
import { createTracing, serverSpans } from '../support/tracing.js';

const { provider, waitForSpans } = createTracing();
const fixture = fileURLToPath(new URL('../fixtures/servers/stdio-instrumented.js', import.meta.url));
const cleanup: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await provider.shutdown();
});

async function runStdio(otlpUrl: string, calls: number): Promise<{ stderr: string; durationsMs: number[] }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [fixture],
    env: { ...process.env, OTLP_URL: otlpUrl } as Record<string, string>,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'codex', version: '1.0.0' });
  await client.connect(transport);
  const durationsMs: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    const result = await client.callTool({ name: 'echo', arguments: { text: `hello ${i}` } });
    durationsMs.push(performance.now() - started);
    expect(result.content).toEqual([{ type: 'text', text: `hello ${i}` }]);
  }
  await client.callTool({ name: 'echo', arguments: { text: 42 } });
  await client.close();
  return { stderr, durationsMs };
}

describe('a stdio server instrumented in a child process', () => {
  it('keeps stdout clean, logs to stderr and exports spans over OTLP/HTTP', async () => {
    const receiver = await startOtlpJsonReceiver();
    cleanup.push(receiver.close);
    const { stderr } = await runStdio(receiver.url, 5);
    // Any stray byte on stdout would have broken the client's JSON-RPC stream above.
    const logLines = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logLines.filter((l) => l.tool === 'echo')).toHaveLength(6);
    expect(logLines.at(-1)).toMatchObject({
      provider: 'openai',
      outcome: 'rejected',
      violation_kind: 'wrong_type',
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    const deadline = Date.now() + 5000;
    while (receiver.spans.filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call').length < 6 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const calls = receiver.spans.filter((s) => s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call');
    expect(calls).toHaveLength(6);
    expect(calls[0]!.attributes[ATTR.NETWORK_TRANSPORT]).toBe(NETWORK_TRANSPORT.PIPE);
    expect(calls[0]!.resource[ATTR.SERVICE_NAME]).toBe('stdio-fixture');
    expect(new Set(calls.map((s) => s.traceId)).size).toBe(6);
    expect(logLines.map((l) => l.trace_id)).toEqual(expect.arrayContaining(calls.map((s) => s.traceId)));
  });

  it('does not fail or stall tool calls when the OTLP endpoint is dead', async () => {
    const dead = await startOtlpJsonReceiver();
    await dead.close(); // the port is now closed: connection refused
    const { durationsMs } = await runStdio(dead.url, 30);
    // Exporter retries and timeouts are seconds long; a call waiting on them would show here.
    expect(Math.max(...durationsMs)).toBeLessThan(1000);
  });
});

describe('a Streamable HTTP server on loopback', () => {
  it('records tcp transport, session id and the provider from HTTP headers', async () => {
    const transports = new Map<string, StreamableHTTPServerTransport>();
    const http: HttpServer = createHttpServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const sessionId = req.headers['mcp-session-id'] as string | undefined;
      let transport = sessionId === undefined ? undefined : transports.get(sessionId);
      if (transport === undefined) {
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => void transports.set(id, transport!),
        });
        const server = instrumentServer(new McpServer({ name: 'http-fixture', version: '1.0.0' }));
        server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
        await server.connect(transport);
        cleanup.push(() => server.close());
      }
      await transport.handleRequest(req, res, body);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => http.close(resolve)));
    const { port } = http.address() as AddressInfo;
    const client = new Client({ name: 'some-agent', version: '1.0.0' });
    const clientTransport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
      requestInit: { headers: { 'x-llm-provider': 'mistral_ai', 'x-llm-model': 'mistral-large-latest' } },
    });
    await client.connect(clientTransport);
    cleanup.push(() => client.close());
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    // A second client whose gateway sends W3C baggage on the HTTP request itself.
    const viaBaggage = new Client({ name: 'some-agent', version: '1.0.0' });
    await viaBaggage.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), {
        requestInit: { headers: { baggage: `${ATTR.GEN_AI_PROVIDER_NAME}=aws.bedrock,${ATTR.GEN_AI_REQUEST_MODEL}=nova-pro` } },
      }),
    );
    cleanup.push(() => viaBaggage.close());
    await viaBaggage.callTool({ name: 'echo', arguments: { text: 'hello' } });
    const spans = await waitForSpans((s) => serverSpans(s, 'tools/call').length === 2);
    const call = serverSpans(spans, 'tools/call').find((s) => s.attributes[ATTR.MCP_SESSION_ID] === clientTransport.sessionId)!;
    const other = serverSpans(spans, 'tools/call').find((s) => s !== call)!;
    expect(other.attributes).toMatchObject({
      [ATTR.GEN_AI_PROVIDER_NAME]: 'aws.bedrock',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'nova-pro',
      [ATTR.PROVIDER_SOURCE]: 'http_baggage',
      [ATTR.NETWORK_PROTOCOL_NAME]: 'http',
    });
    expect(call.attributes).toMatchObject({
      [ATTR.NETWORK_TRANSPORT]: NETWORK_TRANSPORT.TCP,
      [ATTR.MCP_SESSION_ID]: clientTransport.sessionId,
      [ATTR.SESSION_KEY]: clientTransport.sessionId,
      [ATTR.GEN_AI_PROVIDER_NAME]: 'mistral_ai',
      [ATTR.GEN_AI_REQUEST_MODEL]: 'mistral-large-latest',
      [ATTR.PROVIDER_SOURCE]: 'header',
      [ATTR.OUTCOME]: 'ok',
    });
  });
});
