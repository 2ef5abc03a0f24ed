/**
 * An MCP server whose tools end in every guard outcome, for the end-to-end tests that need the
 * guard panels and alerts fed with real spans: a report slower than its timeout, an export whose
 * breaker opens, idempotent writes (replays, conflicts), a tool the caller's scopes do not cover,
 * and one that always fails without a breaker.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { GuardsConfig } from '../../instrumentation/guards/guard-config.js';

/** The shop's tools. */
export const GUARDED_TOOL = {
  SLOW: 'slow_report',
  FLAKY: 'flaky_export',
  ORDER: 'place_order',
  REFUND: 'refund_payment',
  DENIED: 'refund_all',
  BROKEN: 'lookup_stock',
} as const;

/** The guards that make each tool end as its name says; `refund_all` needs a scope (orders:admin) no test agent holds. */
export const SHOP_GUARDS: GuardsConfig = {
  tools: {
    // Always slower than its timeout, no breaker: every call ends in `timeout`.
    [GUARDED_TOOL.SLOW]: { timeoutMs: 30, circuitBreaker: false },
    // Always throws: two failures open the breaker for longer than any test.
    [GUARDED_TOOL.FLAKY]: { circuitBreaker: { failures: 2, windowMs: 60_000, coolDownMs: 600_000 } },
    // Always throws, no breaker: every call ends in `tool_error`.
    [GUARDED_TOOL.BROKEN]: { circuitBreaker: false },
  },
  idempotency: { tools: { [GUARDED_TOOL.ORDER]: { keyArgument: 'request_id' }, [GUARDED_TOOL.REFUND]: { keyArgument: 'request_id' } } },
  authorization: { tools: { [GUARDED_TOOL.DENIED]: ['orders:admin'] }, allowUnmapped: true },
};

/** A new shop server named `name` (not instrumented: the test does that with {@link SHOP_GUARDS}). */
export function createGuardedShop(name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool(GUARDED_TOOL.SLOW, { description: 'A report that takes too long', inputSchema: {} }, async () => {
    await new Promise((r) => setTimeout(r, 200));
    return { content: [{ type: 'text', text: 'report' }] };
  });
  server.registerTool(GUARDED_TOOL.FLAKY, { description: 'An export whose backend is down', inputSchema: {} }, async () => {
    throw new Error('export backend unavailable');
  });
  server.registerTool(
    GUARDED_TOOL.ORDER,
    { description: 'Place an order; reuse request_id when retrying', inputSchema: { sku: z.string(), request_id: z.string() } },
    async ({ sku, request_id }) => ({ content: [{ type: 'text', text: `placed ${sku} (${request_id})` }] }),
  );
  server.registerTool(
    GUARDED_TOOL.REFUND,
    { description: 'Refund a payment; reuse request_id when retrying', inputSchema: { amount: z.number(), request_id: z.string() } },
    async ({ amount, request_id }) => ({ content: [{ type: 'text', text: `refunded ${amount} (${request_id})` }] }),
  );
  server.registerTool(GUARDED_TOOL.BROKEN, { description: 'Stock levels from a broken backend', inputSchema: {} }, async () => {
    throw new Error('stock backend unavailable');
  });
  server.registerTool(GUARDED_TOOL.DENIED, { description: 'Refund every order', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: 'refunded' }],
  }));
  return server;
}
