/**
 * One real MCP server (SDK v1 McpServer, two tools) and one real client, linked over
 * InMemoryTransport or Streamable HTTP on 127.0.0.1. Each variant hooks its telemetry
 * in through `instrument` (called on the server before `connect`) and `wrapHandler`.
 */
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { ResultSize, TransportName } from './figures.js';

/** A tool handler as McpServer calls it (arguments, then the request's extra). */
export type ToolHandler = (args: { text: string; n: number }, extra: unknown) => Promise<CallToolResult>;

/** How a variant plugs into the pair. */
export interface PairHooks {
  /** Called with the McpServer before tools are registered and before connect. Returns the server to use. */
  instrument?: (server: McpServer) => McpServer;
  /** Wraps each tool handler (the bare-span floor puts its span here). */
  wrapHandler?: (toolName: string, handler: ToolHandler) => ToolHandler;
  /** Called with the client before it connects (the agent's side: `instrumentClient`). */
  instrumentClient?: (client: Client) => Client;
}

/** A connected server + client. */
export interface McpPair {
  /** One tools/call with the given result size; resolves with the result. */
  call(size: ResultSize): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** Tool names by result size. */
export const TOOL_BY_SIZE: Record<ResultSize, string> = { '100B': 'echo', '10KB': 'echo_10k' };

/** Sent by the client on every call in every variant, so the wire payload is the same; mcplens reads it as the provider. */
const CALL_META = { baggage: 'gen_ai.provider.name=anthropic,gen_ai.request.model=claude-sonnet-4-5' };
const CALL_ARGUMENTS = { text: 'hello from the bench', n: 42 };

/** Text of `bytes` ASCII characters that tokenizes like prose, not like one repeated character. */
export function resultText(bytes: number): string {
  const words = 'the quick brown fox jumps over a lazy dog while seven wizards quietly box jaded frogs near misty lakes';
  let text = '';
  while (text.length < bytes) text += `${words} ${text.length} `;
  return text.slice(0, bytes);
}

/** Builds the server, connects a client over `transport`, lists tools once (the catalog), and returns the pair. */
export async function createPair(transport: TransportName, hooks: PairHooks = {}): Promise<McpPair> {
  const made = new McpServer({ name: 'bench-server', version: '1.0.0' });
  const server = hooks.instrument?.(made) ?? made;
  const wrap = hooks.wrapHandler ?? ((_name: string, h: ToolHandler) => h);
  const small: CallToolResult = { content: [{ type: 'text', text: resultText(100) }] };
  const large: CallToolResult = { content: [{ type: 'text', text: resultText(10 * 1024) }] };
  const inputSchema = { text: z.string(), n: z.number().int() };
  server.registerTool(
    TOOL_BY_SIZE['100B'],
    { description: 'Echoes a 100-byte text.', inputSchema },
    wrap(TOOL_BY_SIZE['100B'], async () => small) as never,
  );
  server.registerTool(
    TOOL_BY_SIZE['10KB'],
    { description: 'Echoes a 10 KB text.', inputSchema },
    wrap(TOOL_BY_SIZE['10KB'], async () => large) as never,
  );

  const bareClient = new Client({ name: 'claude-code', version: '1.0.0' });
  const client = hooks.instrumentClient?.(bareClient) ?? bareClient;
  let closeTransport: () => Promise<void>;
  if (transport === 'memory') {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    await client.connect(clientSide);
    closeTransport = async () => {
      await client.close();
      await server.close();
    };
  } else {
    const serverTransport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
    await server.connect(serverTransport);
    const http = createServer((req: IncomingMessage, res: ServerResponse) => {
      serverTransport.handleRequest(req, res).catch((err: unknown) => {
        process.stderr.write(`bench: http handler failed: ${String(err)}\n`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    http.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const clientTransport = new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`));
    await client.connect(clientTransport);
    // The SDK's HTTP client hangs every POST's fetch on one AbortSignal; Node warns
    // (on stderr) past 10 listeners' worth of history. Lift the limit on that signal.
    const signal = (clientTransport as unknown as { _abortController?: AbortController })._abortController?.signal;
    if (signal !== undefined) setMaxListeners(0, signal);
    closeTransport = async () => {
      await client.close();
      await server.close();
      await closeHttp(http);
    };
  }
  await client.listTools();
  return {
    call: (size) => client.callTool({ name: TOOL_BY_SIZE[size], arguments: CALL_ARGUMENTS, _meta: CALL_META }) as Promise<CallToolResult>,
    close: closeTransport,
  };
}

function closeHttp(http: HttpServer): Promise<void> {
  http.closeAllConnections();
  return new Promise((resolve) => http.close(() => resolve()));
}
