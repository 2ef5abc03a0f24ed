import { ERROR_TYPE_EXCEPTION, ERROR_TYPE_TOOL_ERROR, type Outcome } from '../contract/index.js';

/** JSON-RPC error codes that matter for grading. */
export const JSONRPC_INVALID_PARAMS = -32602;
export const JSONRPC_INTERNAL_ERROR = -32603;

/**
 * JSON-RPC codes that say the caller was at fault: parse error, invalid request, method not
 * found, invalid params, and MCP's resource not found. The MCP semantic conventions say a
 * SERVER span SHOULD NOT be marked as an error for them (`error.type` is still set).
 */
export const CALLER_FAULT_CODES: ReadonlySet<number> = new Set([-32700, -32600, -32601, JSONRPC_INVALID_PARAMS, -32002]);

/** Outcome and `error.type` of one answered request. */
export interface AnswerOutcome {
  outcome: Outcome;
  /** `error.type`: stringified JSON-RPC code, `tool_error`, or undefined for a success. */
  errorType: string | undefined;
  /** JSON-RPC error code, when the answer was an error. */
  code: number | undefined;
}

// Texts the SDKs put in an isError result when they refused the arguments or the tool
// (v1 1.2x-1.3x: 'MCP error -32602: ...'; v2: 'Input validation error: ...').
const REJECTION_PREFIXES = ['MCP error -32602:', 'Input validation error:'];

/** What mcplens knew of a request's call when its answer came. */
export interface CallShape {
  /** A tools/call whose arguments were not an object or whose `name` was missing or not a string. */
  malformedShape: boolean;
  /** A tools/call mcplens graded malformed: at least one violation, `unknown_tool` included. */
  gradedMalformed: boolean;
}

/**
 * Grades a JSON-RPC response (cancellation is decided by the caller, before this).
 * A call is `rejected` when the server refused it as the caller's fault: JSON-RPC -32602; -32603
 * for a malformed shape (SDK 1.3x refuses those during request parsing); an isError result with an
 * SDK's rejection text; or any error answer (isError or JSON-RPC error, whatever its text) to a
 * call mcplens graded malformed: servers in other languages word their refusals their own way
 * (FastMCP: `Unknown tool: NAME`, `Error executing tool NAME: 1 validation error ...`).
 */
export function gradeResponse(message: Record<string, unknown>, call: CallShape): AnswerOutcome {
  const error = message.error;
  if (error !== undefined && error !== null) {
    const rawCode = (error as { code?: unknown }).code;
    const code = typeof rawCode === 'number' ? rawCode : undefined;
    const errorType = code === undefined ? ERROR_TYPE_EXCEPTION : String(code);
    const rejected = call.gradedMalformed || code === JSONRPC_INVALID_PARAMS || (code === JSONRPC_INTERNAL_ERROR && call.malformedShape);
    return { outcome: rejected ? 'rejected' : 'error', errorType, code };
  }
  const result = message.result as { isError?: unknown; content?: unknown } | undefined;
  if (result !== undefined && result !== null && result.isError === true) {
    const text = firstText(result.content);
    const rejected = call.gradedMalformed || (text !== undefined && REJECTION_PREFIXES.some((prefix) => text.startsWith(prefix)));
    return { outcome: rejected ? 'rejected' : 'tool_error', errorType: ERROR_TYPE_TOOL_ERROR, code: undefined };
  }
  return { outcome: 'ok', errorType: undefined, code: undefined };
}

function firstText(content: unknown): string | undefined {
  if (!Array.isArray(content)) return undefined;
  for (const item of content) {
    if (item !== null && typeof item === 'object' && (item as { type?: unknown }).type === 'text') {
      const text = (item as { text?: unknown }).text;
      if (typeof text === 'string') return text;
    }
  }
  return undefined;
}

/**
 * Whether a SERVER span whose request ended so is an error of the server (span status ERROR):
 * a tool error, an internal error or no answer at all. A caller's fault is not: a rejected call
 * (however the SDK answered it), a cancelled one, or a caller-fault JSON-RPC code.
 */
export function isServerError(outcome: Outcome, code: number | undefined): boolean {
  if (outcome === 'timeout' || outcome === 'circuit_open') return true;
  if (outcome !== 'error' && outcome !== 'tool_error') return false;
  return code === undefined || !CALLER_FAULT_CODES.has(code);
}
