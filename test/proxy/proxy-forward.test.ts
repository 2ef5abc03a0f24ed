/**
 * What `mcplens proxy` forwards, with real processes: the SDK's Streamable HTTP client talks
 * to the SDK's Streamable HTTP server through the proxy (a child process on port 0). Sessions,
 * event streams as they come, session DELETE, other paths untouched, 401 challenges, 502 when
 * the server is down, and the command's own exits.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startOtlpReceiver, type OtlpReceiver } from '../../harness/otlp-receiver.js';
import { startMcpHttpFixture, WELL_KNOWN_BODY, type McpHttpFixture } from './mcp-http-fixture.js';
import { startProxy, type ProxyProcess } from './proxy-process.js';

const MCPLENS = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'dist/bin/mcplens.js');

let otlp: OtlpReceiver;
beforeAll(async () => {
  otlp = await startOtlpReceiver();
});
afterAll(async () => {
  await otlp.close();
});
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function fixture(options: { stateful: boolean; jsonResponse?: boolean }): Promise<McpHttpFixture> {
  const server = await startMcpHttpFixture(options);
  cleanups.push(() => server.close());
  return server;
}

async function proxy(target: string): Promise<ProxyProcess> {
  const running = await startProxy(target, [], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint });
  cleanups.push(() => running.stop('SIGKILL'));
  return running;
}

async function connect(url: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'claude-code', version: '1.0.0' });
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

describe('mcplens proxy: forwarding', () => {
  it('carries a stateful session: the same session id, progress event by event, DELETE reaching the server', async () => {
    const server = await fixture({ stateful: true });
    const running = await proxy(server.url);
    const { client, transport } = await connect(running.url);
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['add', 'progress_steps']);
    expect((await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } })).content).toEqual([{ type: 'text', text: '3' }]);

    const started = Date.now();
    const progressAt: number[] = [];
    const result = await client.callTool({ name: 'progress_steps', arguments: { steps: 6, delayMs: 250 } }, undefined, {
      onprogress: () => progressAt.push(Date.now() - started),
    });
    const resultAt = Date.now() - started;
    expect(result.content).toEqual([{ type: 'text', text: 'done 6' }]);
    expect(progressAt).toHaveLength(6);
    // Each event reached the client when the server sent it, not all at the end.
    expect(progressAt[5]! - progressAt[0]!).toBeGreaterThanOrEqual(1000);
    expect(resultAt - progressAt[0]!).toBeGreaterThanOrEqual(1000);

    // Headers the client sent reached the server (session id, protocol version), hop-by-hop ones did not.
    const last = server.requests.at(-1)!;
    expect(last.headers['mcp-session-id']).toBe(transport.sessionId);
    expect(last.headers['mcp-protocol-version']).toBeDefined();
    expect(last.headers.host).toBe(new URL(server.url).host);

    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    expect(server.deleted).toEqual([sessionId]);
    expect(await running.stop('SIGTERM')).toBe(0);
    expect(running.stdout()).toBe('');
  });

  it('carries a stateless server with JSON answers', async () => {
    const server = await fixture({ stateful: false, jsonResponse: true });
    const running = await proxy(server.url);
    const { client, transport } = await connect(running.url);
    expect(transport.sessionId).toBeUndefined();
    expect((await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } })).content).toEqual([{ type: 'text', text: '42' }]);
    expect((await client.listTools()).tools).toHaveLength(2);
  });

  it('passes other paths untouched, and 401 challenges and 404s as they are', async () => {
    const server = await fixture({ stateful: true });
    const running = await proxy(server.url);
    const wellKnown = await fetch(`${running.origin}/.well-known/oauth-protected-resource`);
    expect(wellKnown.status).toBe(200);
    expect(wellKnown.headers.get('x-fixture')).toBe('well-known');
    expect(await wellKnown.text()).toBe(WELL_KNOWN_BODY);

    const denied = await fetch(`${running.origin}/protected`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toBe('Bearer resource_metadata="http://fixture/.well-known/oauth-protected-resource"');

    const unknownSession = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'no-such-session' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(unknownSession.status).toBe(404);
    expect(await unknownSession.json()).toMatchObject({ error: { message: 'Session not found' } });
  });

  it('answers 502 naming the target when the server is down', async () => {
    const closed = createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((done) => closed.close(() => done()));
    const target = `http://127.0.0.1:${port}/mcp`;
    const running = await proxy(target);
    const answer = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(answer.status).toBe(502);
    const body = (await answer.json()) as { error: { message: string } };
    expect(body.error.message).toContain(target);
    expect(body.error.message).toContain('ECONNREFUSED');
    expect(await running.stop('SIGINT')).toBe(0);
  });

  it('answers 504 when the server does not begin answering within --timeout-ms', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    cleanups.push(() => {
      silent.closeAllConnections();
      return new Promise((done) => silent.close(done));
    });
    const target = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/mcp`;
    const running = await startProxy(target, ['--timeout-ms', '300'], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint });
    cleanups.push(() => running.stop('SIGKILL'));
    const started = Date.now();
    const answer = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(answer.status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toContain(`${target} did not answer within 300 ms`);
  });

  it('refuses a bad command line with one line and the usage on stderr, exit 2', () => {
    const missing = spawnSync(process.execPath, [MCPLENS, 'proxy'], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr.split('\n')[0]).toBe('mcplens proxy: --target URL is required');
    expect(missing.stderr).toContain('usage: mcplens proxy --target URL');
    const badPort = spawnSync(process.execPath, [MCPLENS, 'proxy', '--target', 'http://127.0.0.1:1/mcp', '--port', 'x'], {
      encoding: 'utf8',
    });
    expect(badPort.status).toBe(2);
    expect(badPort.stderr.split('\n')[0]).toBe('mcplens proxy: --port "x" is not an integer from 0 to 65535');
  });
});
