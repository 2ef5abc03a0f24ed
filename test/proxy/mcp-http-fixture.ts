/**
 * A Streamable HTTP MCP server on SDK v1 for the proxy tests, on 127.0.0.1 port 0: stateful
 * (session ids, one transport per session) or stateless (a server per request), SSE or JSON
 * answers. Tools: `add(a, b)` and `progress_steps(steps, delayMs)`, which sends a progress
 * notification per step. Besides `/mcp` it serves an OAuth metadata document and a 401 challenge.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

/** A running fixture server. */
export interface McpHttpFixture {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  readonly url: string;
  /** Session ids the server saw deleted. */
  readonly deleted: string[];
  /** Every request on /mcp, in order: HTTP method, headers, and the JSON-RPC methods of a POST body. */
  readonly requests: Array<{ method: string; headers: IncomingMessage['headers']; rpc: string[] }>;
  close(): Promise<void>;
}

/** The well-known document the fixture serves, byte for byte. */
export const WELL_KNOWN_BODY = '{"resource":"http://fixture/mcp","authorization_servers":["http://fixture/auth"]}';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'fixture-http', version: '1.0.0' });
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool(
    'progress_steps',
    { description: 'Reports progress step by step', inputSchema: { steps: z.number(), delayMs: z.number() } },
    async ({ steps, delayMs }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= steps; i++) {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (token !== undefined)
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
      }
      return { content: [{ type: 'text', text: `done ${steps}` }] };
    },
  );
  return server;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

/** Starts the fixture server. */
export async function startMcpHttpFixture(options: { stateful: boolean; jsonResponse?: boolean }): Promise<McpHttpFixture> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const deleted: string[] = [];
  const requests: McpHttpFixture['requests'] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/.well-known/oauth-protected-resource') {
      res.writeHead(200, { 'content-type': 'application/json', 'x-fixture': 'well-known' });
      res.end(WELL_KNOWN_BODY);
      return;
    }
    if (path === '/protected') {
      res.writeHead(401, { 'www-authenticate': 'Bearer resource_metadata="http://fixture/.well-known/oauth-protected-resource"' });
      res.end('unauthorized');
      return;
    }
    if (path !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    const rpc = (Array.isArray(body) ? body : [body]).map((m) => String((m as { method?: unknown } | undefined)?.method));
    requests.push({ method: req.method ?? '', headers: req.headers, rpc });
    if (!options.stateful) {
      const server = buildServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: options.jsonResponse });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (transport === undefined) {
      if (sessionId !== undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
      const created = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: options.jsonResponse,
        onsessioninitialized: (id) => void transports.set(id, created),
        onsessionclosed: (id) => {
          deleted.push(id);
          transports.delete(id);
        },
      });
      transport = created;
      await buildServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  };
  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    deleted,
    requests,
    async close() {
      for (const transport of transports.values()) await transport.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
