/**
 * A server observed from outside its process (`mcplens wrap` sets MCPLENS_OBSERVED_BY=wrap for its child)
 * gets no in-process instrumentation: neither the `--import` entry nor instrumentServer records a span, so
 * each call is counted once, by the outside host. The server itself works as ever.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ATTR } from '../../contract/index.js';
import { flush, instrumentServer } from '../../instrumentation/index.js';
import { OBSERVED_BY_ENV } from '../../instrumentation/observed-by.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../harness/otlp-receiver.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const REGISTER = join(REPO, 'dist/instrumentation/register.js');
const SERVER = join(REPO, 'test/fixtures/register/server-v1-static.mjs');

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

/** Runs the fixture server under `--import` register with `observedBy` in its environment; calls `add` once. */
async function callUnderRegister(otlp: OtlpReceiver, observedBy: string): Promise<unknown> {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', [OBSERVED_BY_ENV]: observedBy };
  const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', REGISTER, SERVER], env, stderr: 'pipe' });
  const client = new Client({ name: 'observed-by-client', version: '1.0.0' });
  cleanups.push(() => client.close());
  await client.connect(transport, { timeout: 15_000 });
  const result = await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }, undefined, { timeout: 10_000 });
  return result.content;
}

const isAddCall = (s: { attributes: Record<string, unknown> }): boolean =>
  s.attributes[ATTR.MCP_METHOD_NAME] === 'tools/call' && s.attributes[ATTR.GEN_AI_TOOL_NAME] === 'add';

describe(`${OBSERVED_BY_ENV} set: in-process instrumentation stands aside`, () => {
  it('the --import entry installs nothing: the server answers, no span is exported', async () => {
    // The same server with the variable empty exports its spans: the receiver and the entry work.
    const control = await startOtlpReceiver();
    cleanups.push(() => control.close());
    expect(await callUnderRegister(control, '')).toEqual([{ type: 'text', text: '3' }]);
    await control.waitFor((spans) => spans.some(isAddCall), 15_000);

    const otlp = await startOtlpReceiver();
    cleanups.push(() => otlp.close());
    expect(await callUnderRegister(otlp, 'wrap')).toEqual([{ type: 'text', text: '3' }]);
    // The control's spans arrived well within this (batch delay 100 ms).
    await new Promise((r) => setTimeout(r, 1500));
    expect(otlp.spans).toEqual([]);
  });

  it('instrumentServer returns the server unchanged and records no span', async () => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    cleanups.push(() => tracerProvider.shutdown());
    const run = async (): Promise<void> => {
      const server = new McpServer({ name: 'observed', version: '1.0.0' });
      server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
        content: [{ type: 'text', text: String(a + b) }],
      }));
      const connect = server.server.connect;
      expect(instrumentServer(server, { tracerProvider, countTokens: false })).toBe(server);
      const instrumented = server.server.connect !== connect;
      const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
      await server.connect(serverTransport);
      const client = new Client({ name: 'observed-by-client', version: '1.0.0' });
      await client.connect(clientTransport);
      const result = await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } });
      expect(result.content).toEqual([{ type: 'text', text: '5' }]);
      await client.close();
      await server.close();
      await flush(tracerProvider);
      expect(instrumented).toBe(process.env[OBSERVED_BY_ENV] === undefined);
    };

    const saved = process.env[OBSERVED_BY_ENV];
    process.env[OBSERVED_BY_ENV] = 'wrap';
    try {
      await run();
    } finally {
      if (saved === undefined) delete process.env[OBSERVED_BY_ENV];
      else process.env[OBSERVED_BY_ENV] = saved;
    }
    expect(exporter.getFinishedSpans()).toEqual([]);

    // Without the variable the same set-up records the call.
    delete process.env[OBSERVED_BY_ENV];
    try {
      await run();
    } finally {
      if (saved !== undefined) process.env[OBSERVED_BY_ENV] = saved;
    }
    expect(exporter.getFinishedSpans().filter(isAddCall)).toHaveLength(1);
  });
});
