import type { Span } from '@opentelemetry/api';
import type { GuardOutcome } from '../contract/index.js';
import type { ResolvedProvider } from './provider-resolver.js';
import type { ToolDefinition } from './tool-definition.js';
import type { Grading } from './tool-schemas.js';

/** A JSON-RPC request id. */
export type JsonRpcId = string | number;

/** A JSON-RPC message as seen on the stream. */
export type Message = Record<string, unknown>;

/** One request seen and not answered yet: its span and what its answer's attributes need. */
export interface PendingRequest {
  id: JsonRpcId;
  method: string;
  span: Span;
  startPerf: number;
  /** Clock anchor the span started with; its end uses the same. */
  anchor: number;
  toolName: string | undefined;
  provider: ResolvedProvider;
  /** The transport's session id when the request arrived. */
  sessionId: string | undefined;
  /** The request's own protocol version (2026-07-28), else the connection's negotiated one. */
  protocolVersion: string | undefined;
  /** The transport's signal for this request (v2 web `Request.signal`): aborted means the client gave up. */
  signal: AbortSignal | undefined;
  clientName: string | undefined;
  args: unknown;
  grading: Grading | undefined;
  gradingDone: Promise<void> | undefined;
  malformedShape: boolean;
  /** A tools/list request's `params.cursor`: undefined asks for the first page. */
  cursor: string | undefined;
  /** A tools/list answer: the tools the client has been sent in this listing, all its pages so far. */
  listed: ToolDefinition[] | undefined;
  /** A tools/list result before a guard hid tools from the caller: what the catalog records. */
  unfilteredResult?: Record<string, unknown>;
  /** The outcome a production guard decided for this call (it answered in the handler's place, or timed it out). */
  guardOutcome?: GuardOutcome;
}
