import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as HttpClientTransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport as InMemoryTransportV1 } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Server as ServerV1 } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport as HttpServerTransportV1 } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpClientTransportV2 } from '@modelcontextprotocol/client';
import {
  createMcpHandler,
  InMemoryTransport as InMemoryTransportV2,
  McpServer as McpServerV2,
  Server as ServerV2,
} from '@modelcontextprotocol/server';
import { z, type ZodType } from 'zod';

/** What a tool handler gets from either SDK line: the abort signal of its request. */
export interface ToolContext {
  signal: AbortSignal;
}

/** A tool result as both lines accept it. */
export interface ToolResult {
  content: Array<{ type: 'text'; text: string }>;
  isError?: boolean;
}

/** A tool definition independent of the SDK line: zod fields, the way most published servers declare them. */
export interface ToolDefinition {
  description: string;
  inputSchema?: Record<string, ZodType>;
  handler: (args: Record<string, unknown>, ctx: ToolContext) => Promise<ToolResult>;
}

/** A tool of a low-level server: a raw JSON Schema, and one handler for every call. */
export interface LowLevelTool {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** An SDK server of either line, with the few operations the tests need. */
export interface LineServer {
  /** The SDK's own object (McpServer or Server): what `instrumentServer` is given. */
  readonly sdk: object;
  /** Registers a tool; on a connected McpServer the SDK announces notifications/tools/list_changed. */
  registerTool(name: string, tool: ToolDefinition): void;
  close(): Promise<void>;
}

/** A connected SDK client of either line. */
export interface LineClient {
  callTool(
    params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> },
    options?: { signal?: AbortSignal },
  ): Promise<ToolResult>;
  /** Sends any request, unchecked, and resolves with the raw result (rejects on a JSON-RPC error). */
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
  listTools(): Promise<{ tools: Array<{ name: string }> }>;
  close(): Promise<void>;
}

/** A Streamable HTTP endpoint on 127.0.0.1 serving fresh instrumented servers of one line. */
export interface LineHttpEndpoint {
  readonly url: URL;
  /** Connects a client that sends `headers` on every HTTP request. */
  connect(clientName: string, headers: Record<string, string>): Promise<LineHttpClient>;
  close(): Promise<void>;
}

/** A client over Streamable HTTP; `sessionId` is the transport's `Mcp-Session-Id`, if the line has sessions. */
export interface LineHttpClient extends LineClient {
  readonly sessionId: string | undefined;
}

/** One SDK line: how to build servers and connect real clients to them, behind one interface. */
export interface SdkLine {
  readonly name: 'v1' | 'v2';
  /** The protocol revision the line speaks over Streamable HTTP in these tests. */
  readonly httpProtocolVersion: string;
  createMcpServer(): LineServer;
  /** A low-level Server answering tools/list with `tools` and every tools/call with `onCall`. */
  createLowLevelServer(tools: LowLevelTool[], onCall: (name: string, args: Record<string, unknown> | undefined) => ToolResult): LineServer;
  /** Connects a client over an in-memory pair. */
  connect(server: LineServer, clientName?: string): Promise<LineClient>;
  /** Serves `prepare(createMcpServer())` over Streamable HTTP on port 0 of 127.0.0.1. */
  serveHttp(prepare: (server: LineServer) => object): Promise<LineHttpEndpoint>;
}

function v1Server(sdk: McpServerV1 | ServerV1): LineServer {
  return {
    sdk,
    registerTool(name, tool) {
      if (!(sdk instanceof McpServerV1)) throw new Error('a low-level Server has no registerTool');
      const callback = (async (...args: unknown[]) => {
        const [input, extra] = args.length === 2 ? args : [{}, args[0]];
        return tool.handler(input as Record<string, unknown>, extra as ToolContext);
      }) as never;
      sdk.registerTool(
        name,
        { description: tool.description, ...(tool.inputSchema === undefined ? {} : { inputSchema: tool.inputSchema }) },
        callback,
      );
    },
    close: () => sdk.close(),
  };
}

function v1Client(client: ClientV1): LineClient {
  return {
    callTool: (params, options) => client.callTool(params, undefined, options) as Promise<ToolResult>,
    request: (method, params) => client.request({ method, params } as never, ResultSchema),
    listTools: () => client.listTools(),
    close: () => client.close(),
  };
}

function v2Server(sdk: McpServerV2 | ServerV2): LineServer {
  return {
    sdk,
    registerTool(name, tool) {
      if (!(sdk instanceof McpServerV2)) throw new Error('a low-level Server has no registerTool');
      const config = {
        description: tool.description,
        ...(tool.inputSchema === undefined ? {} : { inputSchema: z.object(tool.inputSchema) }),
      };
      const callback = (async (...args: unknown[]) => {
        const [input, ctx] = args.length === 2 ? args : [{}, args[0]];
        return tool.handler(input as Record<string, unknown>, { signal: (ctx as { mcpReq: { signal: AbortSignal } }).mcpReq.signal });
      }) as never;
      sdk.registerTool(name, config, callback);
    },
    close: () => sdk.close(),
  };
}

function v2Client(client: ClientV2): LineClient {
  return {
    callTool: (params, options) => client.callTool(params, options) as Promise<ToolResult>,
    request: (method, params) => client.request({ method: method as 'tools/call', params: params as never }),
    listTools: () => client.listTools(),
    close: () => client.close(),
  };
}

/** The tools every McpServer of these tests offers. */
function registerCalcTools(server: LineServer, makeSpan: () => void): void {
  server.registerTool('add', {
    description: 'Add two numbers',
    inputSchema: { a: z.number(), b: z.number() },
    handler: async ({ a, b }) => ({ content: [{ type: 'text', text: String((a as number) + (b as number)) }] }),
  });
  server.registerTool('fail', {
    description: 'Always fails',
    inputSchema: {},
    handler: async () => {
      throw new Error('kaboom');
    },
  });
  server.registerTool('traced', {
    description: 'Makes its own span',
    handler: async () => {
      makeSpan();
      return { content: [{ type: 'text', text: 'ok' }] };
    },
  });
  server.registerTool('slow', {
    description: 'Waits until cancelled',
    handler: async (_args, { signal }) => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return { content: [{ type: 'text', text: 'late' }] };
    },
  });
}

/**
 * Reads a Node request into a web `Request` (the v2 HTTP entry is fetch-shaped). Its signal
 * aborts when the client drops the connection early: on 2026-07-28 that is how a request is cancelled.
 */
async function toWebRequest(req: IncomingMessage, res: ServerResponse, origin: string): Promise<Request> {
  const dropped = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) dropped.abort();
  });
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(key, value);
    else if (Array.isArray(value)) for (const v of value) headers.append(key, v);
  }
  const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
  const init = { method: req.method ?? 'GET', headers, signal: dropped.signal, ...(body === undefined ? {} : { body }) };
  return new Request(new URL(req.url ?? '/', origin), init);
}

async function writeWebResponse(response: Response, res: ServerResponse): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body !== null) for await (const chunk of response.body) res.write(chunk);
  res.end();
}

async function listen(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<{ url: URL; close(): Promise<void> }> {
  const http = createHttpServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

/** Calls `makeSpan` from inside the `traced` tool, so tests can check parentage. */
export type SpanMaker = () => void;

/** `@modelcontextprotocol/sdk` 1.x: one session per connection, initialize first. */
export function sdkV1(makeSpan: SpanMaker): SdkLine {
  const line: SdkLine = {
    name: 'v1',
    httpProtocolVersion: '2025-11-25',
    createMcpServer() {
      const server = v1Server(new McpServerV1({ name: 'calc', version: '1.0.0' }));
      registerCalcTools(server, makeSpan);
      return server;
    },
    createLowLevelServer(tools, onCall) {
      const server = new ServerV1({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools as never }));
      server.setRequestHandler(CallToolRequestSchema, async (request) => onCall(request.params.name, request.params.arguments) as never);
      return v1Server(server);
    },
    async connect(server, clientName = 'test-client') {
      const [clientTransport, serverTransport] = InMemoryTransportV1.createLinkedPair();
      await (server.sdk as McpServerV1).connect(serverTransport);
      const client = new ClientV1({ name: clientName, version: '1.0.0' });
      await client.connect(clientTransport);
      return v1Client(client);
    },
    async serveHttp(prepare) {
      // Sessionful, as most v1 deployments: one server and transport per Mcp-Session-Id.
      const transports = new Map<string, HttpServerTransportV1>();
      const servers: LineServer[] = [];
      const endpoint = await listen(async (req, res) => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
        const sessionId = req.headers['mcp-session-id'] as string | undefined;
        let transport = sessionId === undefined ? undefined : transports.get(sessionId);
        if (transport === undefined) {
          const created = new HttpServerTransportV1({
            sessionIdGenerator: () => randomUUID(),
            onsessioninitialized: (id) => void transports.set(id, created),
          });
          transport = created;
          const server = line.createMcpServer();
          servers.push(server);
          await (prepare(server) as McpServerV1).connect(transport);
        }
        await transport.handleRequest(req, res, body);
      });
      return {
        url: endpoint.url,
        async connect(clientName, headers) {
          const transport = new HttpClientTransportV1(endpoint.url, { requestInit: { headers } });
          const client = new ClientV1({ name: clientName, version: '1.0.0' });
          await client.connect(transport);
          return {
            ...v1Client(client),
            get sessionId() {
              return transport.sessionId;
            },
          };
        },
        async close() {
          for (const s of servers) await s.close().catch(() => undefined);
          await endpoint.close();
        },
      };
    },
  };
  return line;
}

/**
 * `@modelcontextprotocol/server` + `/client` 2.x. Connected directly (`server.connect`) the
 * SDK serves only the 2025 era (initialize, then requests); the 2026-07-28 era is served by
 * its entries, so over HTTP this line uses `createMcpHandler` and a client pinned to
 * 2026-07-28: no initialize, no session, a fresh server per HTTP request, client info in
 * each request's `_meta`, `Mcp-Method`/`Mcp-Name` headers.
 */
export function sdkV2(makeSpan: SpanMaker): SdkLine {
  const line: SdkLine = {
    name: 'v2',
    httpProtocolVersion: '2026-07-28',
    createMcpServer() {
      const server = v2Server(new McpServerV2({ name: 'calc-v2', version: '2.0.0' }));
      registerCalcTools(server, makeSpan);
      return server;
    },
    createLowLevelServer(tools, onCall) {
      const server = new ServerV2({ name: 'orders', version: '1.0.0' }, { capabilities: { tools: {} } });
      server.setRequestHandler('tools/list', async () => ({ tools: tools as never }));
      server.setRequestHandler('tools/call', async (request) => onCall(request.params.name, request.params.arguments) as never);
      return v2Server(server);
    },
    async connect(server, clientName = 'test-client') {
      const [clientTransport, serverTransport] = InMemoryTransportV2.createLinkedPair();
      await (server.sdk as McpServerV2).connect(serverTransport);
      const client = new ClientV2({ name: clientName, version: '1.0.0' });
      await client.connect(clientTransport);
      return v2Client(client);
    },
    async serveHttp(prepare) {
      const handler = createMcpHandler(() => prepare(line.createMcpServer()) as McpServerV2, { legacy: 'reject' });
      const endpoint = await listen(async (req, res) =>
        writeWebResponse(await handler.fetch(await toWebRequest(req, res, endpoint.url.origin)), res),
      );
      return {
        url: endpoint.url,
        async connect(clientName, headers) {
          const transport = new HttpClientTransportV2(endpoint.url, { requestInit: { headers } });
          const client = new ClientV2(
            { name: clientName, version: '1.0.0' },
            { versionNegotiation: { mode: { pin: line.httpProtocolVersion } } },
          );
          await client.connect(transport);
          return {
            ...v2Client(client),
            get sessionId() {
              return transport.sessionId;
            },
          };
        },
        async close() {
          await handler.close();
          await endpoint.close();
        },
      };
    },
  };
  return line;
}
