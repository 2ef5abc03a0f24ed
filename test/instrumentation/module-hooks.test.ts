import { describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { Server as ServerV2 } from '@modelcontextprotocol/server';
import { patchServerClass } from '../../instrumentation/module-hooks.js';

// The module hooks themselves are exercised in child processes (register.test.ts); this is
// the prototype patch they apply, on this test file's own copy of the SDK classes.
describe('patchServerClass', () => {
  it('runs the listener with the Server and its transport before the SDK connect; patching twice wraps once', async () => {
    const seen: Array<{ server: unknown; transport: unknown; connectedYet: boolean }> = [];
    const listener = (server: object, transport: unknown) =>
      seen.push({ server, transport, connectedYet: (server as { transport?: unknown }).transport !== undefined });
    expect(patchServerClass(Server, listener)).toBe(true);
    expect(patchServerClass(Server, listener)).toBe(true);

    const mcp = new McpServer({ name: 'patched', version: '1.0.0' });
    mcp.registerTool('ping', { description: 'pong' }, async () => ({ content: [{ type: 'text', text: 'pong' }] }));
    const [serverSide, clientSide] = InMemoryTransport.createLinkedPair();
    await mcp.connect(serverSide);
    const client = new Client({ name: 't', version: '1' });
    await client.connect(clientSide);
    expect((await client.callTool({ name: 'ping', arguments: {} })).content).toEqual([{ type: 'text', text: 'pong' }]);

    expect(seen).toEqual([{ server: mcp.server, transport: serverSide, connectedYet: false }]);
    await client.close();
  });

  it('a listener that throws does not keep the server from connecting (SDK v2)', async () => {
    expect(
      patchServerClass(ServerV2, () => {
        throw new Error('boom');
      }),
    ).toBe(true);
    const server = new ServerV2({ name: 'v2', version: '1.0.0' }, { capabilities: {} });
    const [serverSide] = InMemoryTransport.createLinkedPair();
    await expect(server.connect(serverSide as never)).resolves.toBeUndefined();
  });

  it.each([undefined, {}, class NotAServer {}, () => undefined])('leaves %p alone', (value) => {
    expect(patchServerClass(value, () => undefined)).toBe(false);
  });
});
