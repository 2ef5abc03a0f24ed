import {
  context as otelContext,
  diag,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Histogram,
  type Tracer,
} from '@opentelemetry/api';
import { ATTR, MCP_METHOD, OPERATION_EXECUTE_TOOL } from '../../contract/index.js';
import { gradeOnArrival } from '../argument-grading.js';
import { isRecord } from '../is-record.js';
import type { JsonRpcId, Message, PendingRequest } from '../pending-request.js';
import { gradeAnswer, recordContent, recordGrading, startAttributes } from '../span-attributes.js';
import { clockAnchor, hrTimeOf } from '../span-clock.js';
import type { ToolCatalog } from '../tool-catalog.js';
import { currentModel } from './model-scope.js';
import { withTraceMeta } from './request-injection.js';
import { serverNameOf, type ServerInfoSource } from './server-identity.js';
import type { ClientInstrumentOptions } from './types.js';

// What SDK v1 and v2 put in the `reason` of the cancellation they send when a request times out.
const TIMEOUT_REASON = 'Request timed out';

/** What a client connection shares with the others of its client. */
export interface ClientShared {
  readonly options: ClientInstrumentOptions;
  readonly tracer: () => Tracer;
  readonly duration: Histogram;
  /** The tools this client has listed (and, for a call of a tool it has not, loads through the client). */
  readonly catalog: ToolCatalog;
  /** The client's `getServerVersion`, when it has one. */
  readonly serverInfo: ServerInfoSource | undefined;
}

/**
 * One client transport's requests out and answers in: a CLIENT span per request, started when it
 * is sent (in the caller's context) and ended when its answer arrives, it is cancelled, times out,
 * or the connection closes.
 */
export class ClientConnection {
  private readonly pending = new Map<JsonRpcId, PendingRequest>();
  /** The server's self-reported name, once known (it does not change within a connection). */
  private serverName: string | undefined;

  constructor(private readonly shared: ClientShared) {}

  /** A message the client sends: returns what to send instead (a request with trace context in `_meta`). */
  outbound(message: unknown): unknown {
    if (!isRecord(message) || typeof message.method !== 'string') return message;
    if (message.id === undefined || message.id === null) {
      if (message.method === MCP_METHOD.CANCELLED && isRecord(message.params)) this.cancelled(message.params);
      return message;
    }
    return this.startRequest(message, message.method);
  }

  /** A message the client received: ends the span of the request it answers. */
  inbound(message: unknown): void {
    if (!isRecord(message)) return;
    if (message.method === MCP_METHOD.TOOLS_LIST_CHANGED) {
      this.shared.catalog.markStale();
      return;
    }
    if (typeof message.method === 'string' || !('result' in message || 'error' in message)) return;
    const id = message.id as JsonRpcId;
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    if (pending.method === MCP_METHOD.TOOLS_LIST && isRecord(message.result)) this.shared.catalog.update(message.result, pending.cursor);
    this.finish(pending, message, false);
  }

  /** The request could not be sent: its span ends without an answer. */
  sendFailed(message: unknown): void {
    if (!isRecord(message) || typeof message.method !== 'string' || message.id === undefined) return;
    const pending = this.pending.get(message.id as JsonRpcId);
    if (pending === undefined) return;
    this.pending.delete(pending.id);
    this.finish(pending, undefined, false);
  }

  /** The connection closed: requests still waiting never get an answer. */
  close(): void {
    const left = [...this.pending.values()];
    this.pending.clear();
    for (const pending of left) this.finish(pending, undefined, false);
  }

  private startRequest(message: Message, method: string): unknown {
    try {
      const active = otelContext.active();
      const appBaggage = propagation.getBaggage(active);
      const { options } = this.shared;
      const model = currentModel(appBaggage, options);
      const params = isRecord(message.params) ? message.params : undefined;
      const { attributes, target, toolName } = startAttributes(method, params, model);
      const startPerf = performance.now();
      const anchor = clockAnchor(startPerf);
      const span = this.shared
        .tracer()
        .startSpan(
          target === undefined ? method : `${method} ${target}`,
          { kind: SpanKind.CLIENT, attributes, startTime: hrTimeOf(startPerf, anchor) },
          active,
        );
      const pending: PendingRequest = {
        id: message.id as JsonRpcId,
        method,
        span,
        startPerf,
        anchor,
        toolName,
        provider: model,
        sessionId: undefined,
        protocolVersion: undefined,
        signal: undefined,
        clientName: undefined,
        args: params?.arguments,
        grading: undefined,
        gradingDone: undefined,
        malformedShape: false,
        cursor: method === MCP_METHOD.TOOLS_LIST && typeof params?.cursor === 'string' ? params.cursor : undefined,
        listed: undefined,
      };
      this.track(pending);
      const sent = withTraceMeta(message, span, model, appBaggage, options.propagateAllBaggage === true);
      // Graded as the client sends it, with the server-side classifier and the client's own tools/list answers.
      if (method === MCP_METHOD.TOOLS_CALL) gradeOnArrival(this.shared.catalog, pending, params, () => trace.setSpan(active, span));
      return sent;
    } catch (err) {
      diag.error('mcplens: tracing a client request failed; it is sent untraced', err);
      return message;
    }
  }

  private track(pending: PendingRequest): void {
    const max = this.shared.options.maxPendingRequests ?? 1000;
    if (this.pending.size >= max) {
      const oldest = this.pending.values().next().value as PendingRequest;
      this.pending.delete(oldest.id);
      this.finish(oldest, undefined, false);
    }
    this.pending.set(pending.id, pending);
  }

  private cancelled(params: Record<string, unknown>): void {
    const id = params.requestId as JsonRpcId;
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    // A timeout is no answer (an error); an abort is the caller's choice.
    const timedOut = typeof params.reason === 'string' && params.reason.includes(TIMEOUT_REASON);
    this.finish(pending, undefined, !timedOut);
  }

  private finish(pending: PendingRequest, message: Message | undefined, cancelled: boolean): void {
    const endPerf = performance.now();
    const end = (): void => this.complete(pending, message, cancelled, endPerf);
    if (pending.gradingDone !== undefined && pending.grading === undefined) pending.gradingDone.then(end, end);
    else end();
  }

  private complete(pending: PendingRequest, message: Message | undefined, cancelled: boolean, endPerf: number): void {
    const { span } = pending;
    try {
      span.setAttribute(ATTR.JSONRPC_REQUEST_ID, String(pending.id));
      span.setAttribute(ATTR.PROVIDER_SOURCE, pending.provider.source);
      if (pending.method === MCP_METHOD.TOOLS_CALL) span.setAttribute(ATTR.GEN_AI_OPERATION_NAME, OPERATION_EXECUTE_TOOL);
      this.serverName ??= serverNameOf(this.shared.serverInfo, pending.method, message);
      if (this.serverName !== undefined) span.setAttribute(ATTR.SERVER_NAME, this.serverName);
      const { errorType } = gradeAnswer(span, pending, message, cancelled);
      // A CLIENT span is an error whatever the fault, the caller's own included (HTTP client convention).
      if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR });
      if (pending.grading !== undefined) recordGrading(span, pending.grading);
      if (this.shared.options.recordContent === true && pending.method === MCP_METHOD.TOOLS_CALL)
        recordContent(span, pending.args, message?.result, this.shared.options.redact);
      const metric: Record<string, string> = { [ATTR.MCP_METHOD_NAME]: pending.method };
      if (pending.toolName !== undefined) metric[ATTR.GEN_AI_TOOL_NAME] = pending.toolName;
      if (errorType !== undefined) metric[ATTR.ERROR_TYPE] = errorType;
      this.shared.duration.record((endPerf - pending.startPerf) / 1000, metric);
    } catch (err) {
      diag.error('mcplens: recording client span details failed', err);
    } finally {
      span.end(hrTimeOf(endPerf, pending.anchor));
    }
  }
}
