/**
 * What a guard answers instead of the handler: an MCP tool error (`isError: true`) whose text
 * tells the model what happened and what to do, since the model reads it and decides whether
 * and when to retry.
 */
import { MCP_METHOD } from '../../contract/index.js';

/** A tools/call result as both SDK lines accept it. */
export interface ToolErrorResult {
  content: Array<{ type: 'text'; text: string }>;
  isError: true;
}

/** A tool error whose text the model reads. */
export function toolError(text: string): ToolErrorResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/** An `isError: true` tools/call result (a tool error, on purpose or not). */
export function isToolError(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { isError?: unknown }).isError === true;
}

/** Seconds, rounded up, for "retry in about N s". */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The handler ran past its timeout; it may still finish (and its answer is kept for the idempotency key). */
export function timedOut(timeoutMs: number, idempotent: boolean): ToolErrorResult {
  const retry = idempotent ? 'retry with the same idempotency key to get its result' : 'retry later';
  return toolError(`Tool call timed out after ${timeoutMs / 1000} s; it may still complete; ${retry}.`);
}

/** The tool's circuit breaker is open. */
export function circuitOpen(tool: string, retryInMs: number): ToolErrorResult {
  return toolError(`Tool "${tool}" is temporarily unavailable after repeated failures; retry in about ${seconds(retryInMs)} s.`);
}

/**
 * The `notifications/cancelled` a host outside the server's process sends at a guard's timeout,
 * so that the server's handler aborts (JSON text, one message).
 */
export function timeoutCancellation(requestId: string | number, reason: unknown): string {
  const text = reason instanceof Error ? reason.message : 'timed out';
  return JSON.stringify({ jsonrpc: '2.0', method: MCP_METHOD.CANCELLED, params: { requestId, reason: text } });
}
