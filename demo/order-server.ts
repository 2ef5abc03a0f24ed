/**
 * An example MCP server, modelled on an e-commerce order-management backend, instrumented
 * by mcplens with one line. It is what `npm start` (the demo) runs, and the shape a user
 * copies: build the server, register tools, call `instrumentServer(server)`.
 *
 * Three tools with realistic input schemas (required fields, enums, number ranges, patterns,
 * formats, nested objects):
 * - `inventory_lookup`: read-only stock lookup;
 * - `cancel_order`: a write tool that takes an idempotency key;
 * - `issue_refund`: a write tool described as admin-only, with a nested amount and line items.
 *
 * The data is an in-memory fixture and answers are deterministic; only the simulated
 * latency is random (and can be switched off).
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { instrumentServer } from '../instrumentation/index.js';

/** Name the demo server reports in `initialize` (and the demo's `service.name`). */
export const ORDER_SERVER_NAME = 'order-management';

/** Warehouses the inventory knows. */
export const WAREHOUSES = ['ams', 'fra', 'iad', 'sin'] as const;
/** Reasons `cancel_order` accepts. */
export const CANCEL_REASONS = ['customer_request', 'fraud_suspected', 'out_of_stock', 'duplicate_order'] as const;
/** Currencies `issue_refund` accepts. */
export const CURRENCIES = ['EUR', 'USD', 'GBP'] as const;
/** The tools the server registers, by name. */
export const ORDER_TOOLS = { INVENTORY_LOOKUP: 'inventory_lookup', CANCEL_ORDER: 'cancel_order', ISSUE_REFUND: 'issue_refund' } as const;

/** SKUs in the fixture: `SKU-100000` to `SKU-100049`. */
export const SKU_COUNT = 50;
/** Orders in the fixture: `ORD-20250000` to `ORD-20250199`; every fifth one has shipped and cannot be cancelled. */
export const ORDER_COUNT = 200;

/** Options of {@link createOrderServer}. */
export interface OrderServerOptions {
  /**
   * Multiplier of the simulated handler latency (a few ms for a lookup, tens of ms for a
   * refund, with a tail). Default 1; 0 answers at once (tests).
   */
  latencyScale?: number;
}

const sku = z
  .string()
  .regex(/^SKU-\d{6}$/)
  .describe('Stock-keeping unit, e.g. SKU-100042.');
const orderId = z
  .string()
  .regex(/^ORD-\d{8}$/)
  .describe('Order number, e.g. ORD-20250117.');
const idempotencyKey = z.uuid().describe('Client-generated UUID; repeating a call with the same key has no further effect.');

/** Stock level of a SKU in a warehouse: deterministic from the names, so answers are stable. */
function stockOf(skuValue: string, warehouse: string): { onHand: number; reserved: number } {
  let h = 2166136261;
  for (const c of skuValue + warehouse) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  const onHand = (h >>> 0) % 500;
  return { onHand, reserved: onHand % 37 };
}

function orderIndex(id: string): number {
  return Number(id.slice(4)) - 20250000;
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Simulated backend latency: a base plus an exponential tail (ms). */
function latency(scale: number, baseMs: number, tailMs: number): Promise<void> {
  if (scale <= 0) return Promise.resolve();
  return sleep(scale * (baseMs + -Math.log(1 - Math.random()) * tailMs));
}

function text(value: unknown): { content: Array<{ type: 'text'; text: string }> } {
  return { content: [{ type: 'text', text: JSON.stringify(value) }] };
}

function failure(message: string): { content: Array<{ type: 'text'; text: string }>; isError: true } {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/**
 * Creates one order-management MCP server, instrumented by mcplens. A server serves one
 * connection, so create one per client session.
 */
export function createOrderServer(options: OrderServerOptions = {}): McpServer {
  const scale = options.latencyScale ?? 1;
  if (!Number.isFinite(scale) || scale < 0) throw new RangeError(`latencyScale must be a finite number >= 0, got ${String(scale)}`);
  const server = new McpServer({ name: ORDER_SERVER_NAME, version: '1.4.2' });
  const cancelled = new Set<string>();
  const refunds = new Map<string, string>();

  server.registerTool(
    ORDER_TOOLS.INVENTORY_LOOKUP,
    {
      title: 'Inventory lookup',
      description: 'Read-only. Returns on-hand and available stock of a SKU, in one warehouse or in all of them.',
      inputSchema: {
        sku,
        warehouse: z.enum(WAREHOUSES).optional().describe('Warehouse code; all warehouses when omitted.'),
        include_reserved: z.boolean().optional().describe('Also report units reserved by open orders.'),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (args) => {
      await latency(scale, 3, 6);
      const index = Number(args.sku.slice(4)) - 100000;
      if (index < 0 || index >= SKU_COUNT) return failure(`Unknown SKU ${args.sku}`);
      const warehouses = args.warehouse ? [args.warehouse] : [...WAREHOUSES];
      const levels = warehouses.map((w) => {
        const { onHand, reserved } = stockOf(args.sku, w);
        return { warehouse: w, on_hand: onHand, available: onHand - reserved, ...(args.include_reserved ? { reserved } : {}) };
      });
      return text({ sku: args.sku, levels });
    },
  );

  server.registerTool(
    ORDER_TOOLS.CANCEL_ORDER,
    {
      title: 'Cancel order',
      description: 'Cancels an order that has not shipped yet and releases its stock. Safe to retry: pass the same idempotency_key.',
      inputSchema: {
        order_id: orderId,
        reason: z.enum(CANCEL_REASONS).describe('Why the order is cancelled.'),
        idempotency_key: idempotencyKey,
        notify_customer: z.boolean().optional().describe('Email the customer (default true).'),
        note: z.string().max(500).optional().describe('Free-text note for the support team.'),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
    },
    async (args) => {
      await latency(scale, 15, 20);
      const index = orderIndex(args.order_id);
      if (index < 0 || index >= ORDER_COUNT) return failure(`Order ${args.order_id} not found`);
      if (index % 5 === 4) return failure(`Order ${args.order_id} has already shipped and can no longer be cancelled`);
      const again = cancelled.has(args.idempotency_key);
      cancelled.add(args.idempotency_key);
      return text({
        order_id: args.order_id,
        status: 'cancelled',
        reason: args.reason,
        replayed: again,
        notify_customer: args.notify_customer ?? true,
      });
    },
  );

  server.registerTool(
    ORDER_TOOLS.ISSUE_REFUND,
    {
      title: 'Issue refund',
      description: 'ADMIN ONLY: requires the support-admin role. Refunds part or all of an order to the original payment method.',
      inputSchema: {
        order_id: orderId,
        amount: z
          .object({
            value: z.number().min(0.01).max(10000).describe('Amount to refund, in major units.'),
            currency: z.enum(CURRENCIES),
          })
          .describe('Refund amount; must not exceed what was paid.'),
        line_items: z
          .array(
            z.object({
              sku,
              quantity: z.number().int().min(1).max(100),
            }),
          )
          .max(50)
          .optional()
          .describe('Items being refunded; the whole order when omitted.'),
        idempotency_key: idempotencyKey,
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
    },
    async (args) => {
      await latency(scale, 40, 60);
      const index = orderIndex(args.order_id);
      if (index < 0 || index >= ORDER_COUNT) return failure(`Order ${args.order_id} not found`);
      const paid = 20 + (index % 40) * 12.5;
      if (args.amount.value > paid)
        return failure(`Refund ${args.amount.value} ${args.amount.currency} exceeds the ${paid} paid for ${args.order_id}`);
      const refundId = refunds.get(args.idempotency_key) ?? `RF-${String(refunds.size + 1).padStart(6, '0')}`;
      refunds.set(args.idempotency_key, refundId);
      return text({ refund_id: refundId, order_id: args.order_id, amount: args.amount, status: 'pending_settlement' });
    },
  );

  // The one line that turns this server into a source of telemetry.
  instrumentServer(server);
  return server;
}
