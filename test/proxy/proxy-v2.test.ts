/**
 * `mcplens proxy` in front of an SDK v2 server (`@modelcontextprotocol/server`'s `createMcpHandler`)
 * called by the v2 client pinned to protocol 2026-07-28: no initialize, no session, every request
 * on its own. A malformed call before any list is graded from the proxy's own tools/list, which
 * carries the client's `_meta` and protocol headers.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpClientTransportV2 } from '@modelcontextprotocol/client';
import { ATTR, NETWORK_TRANSPORT } from '../../contract/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../harness/otlp-receiver.js';
import { sdkV2, type LineHttpEndpoint } from '../support/sdk-lines.js';
import { startProxy, type ProxyProcess } from './proxy-process.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('mcplens proxy: SDK v2, protocol 2026-07-28', () => {
  it('grades every call, the first one before any list, provider from headers', async () => {
    const otlp: OtlpReceiver = await startOtlpReceiver();
    cleanups.push(() => otlp.close());
    const line = sdkV2(() => {});
    const endpoint: LineHttpEndpoint = await line.serveHttp((server) => server.sdk);
    cleanups.push(() => endpoint.close());
    const running: ProxyProcess = await startProxy(endpoint.url.href, [], { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint });
    cleanups.push(() => running.stop('SIGKILL'));

    const transport = new HttpClientTransportV2(new URL(running.url), {
      requestInit: { headers: { 'x-llm-provider': 'openai', 'x-llm-model': 'gpt-4.1' } },
    });
    const client = new ClientV2({ name: 'codex', version: '1.0.0' }, { versionNegotiation: { mode: { pin: line.httpProtocolVersion } } });
    await client.connect(transport);
    cleanups.push(() => client.close());
    await client.callTool({ name: 'add', arguments: { a: 'one', b: 2 } }); // before any tools/list
    expect((await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })).content).toEqual([{ type: 'text', text: '5' }]);
    await client.listTools();
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow('no_such_tool');

    const isTool = (s: ReceivedSpan): boolean => s.kind === 2 && s.name.startsWith('tools/');
    const spans = (await otlp.waitFor((s) => s.filter(isTool).length >= 4, 15_000)).filter(isTool);
    const byName = spans.map((s) => [s.name, s.attributes[ATTR.OUTCOME], s.attributes[ATTR.VIOLATION_KIND]]);
    expect(byName).toEqual([
      ['tools/call add', 'rejected', 'wrong_type'],
      ['tools/call add', 'ok', undefined],
      ['tools/list', 'ok', undefined],
      ['tools/call no_such_tool', 'rejected', 'unknown_tool'],
    ]);
    for (const span of spans) {
      expect(span.attributes).toMatchObject({
        [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'gpt-4.1',
        [ATTR.MCP_PROTOCOL_VERSION]: '2026-07-28',
        [ATTR.CLIENT_NAME]: 'codex',
        [ATTR.NETWORK_TRANSPORT]: NETWORK_TRANSPORT.TCP,
      });
    }
  });
});
