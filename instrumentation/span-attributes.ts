/**
 * Which attributes a request's span gets, and when. Two moments:
 * - at span start ({@link StartAttributes}, {@link START_ATTRIBUTE_KEYS}): what a sampler may decide
 *   on. Each one is validated and copied on the request's path, so the set stays small;
 * - after the answer has left ({@link AnswerAttributes}, then outcome, violations and token counts),
 *   off the request's path, before the span ends.
 * docs/telemetry.md ("Sampling and adjusted counts") lists both, in step with this module.
 */
import { diag, SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR, EVENT, MCP_METHOD, OPERATION_EXECUTE_TOOL, ERROR_TYPE_NO_RESPONSE, type Outcome } from '../contract/index.js';
import { isRecord } from './is-record.js';
import type { ObservedConnection } from './observed-connection.js';
import { gradeResponse, isServerError } from './outcome.js';
import type { Message, PendingRequest } from './pending-request.js';
import type { ResolvedProvider } from './provider-resolver.js';
import type { Grading } from './tool-schemas.js';

const JSONRPC_VERSION = '2.0';
const RESOURCES_PREFIX = 'resources/';

/** The attributes given at span start, where samplers see them. */
export const START_ATTRIBUTE_KEYS = [
  ATTR.MCP_METHOD_NAME,
  ATTR.GEN_AI_PROVIDER_NAME,
  ATTR.GEN_AI_REQUEST_MODEL,
  ATTR.GEN_AI_TOOL_NAME,
  ATTR.GEN_AI_PROMPT_NAME,
  ATTR.MCP_RESOURCE_URI,
] as const;

/** Always present at start; the target (tool, prompt or resource) only when the request names one. */
type AlwaysAtStart = typeof ATTR.MCP_METHOD_NAME | typeof ATTR.GEN_AI_PROVIDER_NAME | typeof ATTR.GEN_AI_REQUEST_MODEL;

/** The span's attributes at start: method, provider, model and the request's target. */
export type StartAttributes = Record<AlwaysAtStart, string> & Partial<Record<(typeof START_ATTRIBUTE_KEYS)[number], string>>;

/** What a request's span starts with. */
export interface SpanStart {
  attributes: StartAttributes;
  /** The span name's suffix: the tool or prompt name. */
  target: string | undefined;
  /** The tool of a tools/call. */
  toolName: string | undefined;
}

/** The start attributes of one request, from its method, params and resolved provider. */
export function startAttributes(method: string, params: Record<string, unknown> | undefined, provider: ResolvedProvider): SpanStart {
  let toolName: string | undefined;
  let target: string | undefined;
  const attributes: StartAttributes = {
    [ATTR.MCP_METHOD_NAME]: method,
    [ATTR.GEN_AI_PROVIDER_NAME]: provider.provider,
    [ATTR.GEN_AI_REQUEST_MODEL]: provider.model,
  };
  if (method === MCP_METHOD.TOOLS_CALL) {
    if (typeof params?.name === 'string') toolName = target = attributes[ATTR.GEN_AI_TOOL_NAME] = params.name;
  } else if (method === MCP_METHOD.PROMPTS_GET) {
    if (typeof params?.name === 'string') target = attributes[ATTR.GEN_AI_PROMPT_NAME] = params.name;
  } else if (method.startsWith(RESOURCES_PREFIX) && typeof params?.uri === 'string') {
    attributes[ATTR.MCP_RESOURCE_URI] = params.uri;
  }
  return { attributes, target, toolName };
}

type AnswerKey =
  | typeof ATTR.JSONRPC_REQUEST_ID
  | typeof ATTR.JSONRPC_PROTOCOL_VERSION
  | typeof ATTR.PROVIDER_SOURCE
  | typeof ATTR.SESSION_KEY
  | typeof ATTR.GEN_AI_OPERATION_NAME
  | typeof ATTR.MCP_SESSION_ID
  | typeof ATTR.MCP_PROTOCOL_VERSION
  | typeof ATTR.NETWORK_TRANSPORT
  | typeof ATTR.NETWORK_PROTOCOL_NAME
  | typeof ATTR.CLIENT_NAME;

/** The request's own attributes a sampler does not need, set after the answer (outcome, violations and tokens follow them). */
export type AnswerAttributes = Partial<Record<AnswerKey, string>>;

/** The request's attributes set after the answer, from what was known when it arrived. */
export function answerAttributes(conn: ObservedConnection, pending: PendingRequest): AnswerAttributes {
  const attributes: AnswerAttributes = {
    [ATTR.JSONRPC_REQUEST_ID]: String(pending.id),
    [ATTR.JSONRPC_PROTOCOL_VERSION]: JSONRPC_VERSION,
    [ATTR.PROVIDER_SOURCE]: pending.provider.source,
    [ATTR.SESSION_KEY]: pending.sessionId ?? conn.key,
  };
  if (pending.method === MCP_METHOD.TOOLS_CALL) attributes[ATTR.GEN_AI_OPERATION_NAME] = OPERATION_EXECUTE_TOOL;
  if (pending.sessionId !== undefined) attributes[ATTR.MCP_SESSION_ID] = pending.sessionId;
  if (pending.protocolVersion !== undefined) attributes[ATTR.MCP_PROTOCOL_VERSION] = pending.protocolVersion;
  if (conn.info.networkTransport !== undefined) attributes[ATTR.NETWORK_TRANSPORT] = conn.info.networkTransport;
  if (conn.info.networkProtocolName !== undefined) attributes[ATTR.NETWORK_PROTOCOL_NAME] = conn.info.networkProtocolName;
  if (pending.clientName !== undefined) attributes[ATTR.CLIENT_NAME] = pending.clientName;
  return attributes;
}

/** Outcome, `error.type` and status of an answer (or of its absence) on the span. */
export function gradeAnswer(
  span: Span,
  pending: PendingRequest,
  message: Message | undefined,
  cancelled: boolean,
): { outcome: Outcome; errorType: string | undefined } {
  let outcome: Outcome;
  let errorType: string | undefined;
  let code: number | undefined;
  if (cancelled) {
    // A cancelled request is the caller's choice, not a failure: no error.type.
    outcome = 'cancelled';
  } else if (message === undefined) {
    outcome = 'error';
    errorType = ERROR_TYPE_NO_RESPONSE;
  } else {
    const graded = gradeResponse(message, {
      malformedShape: pending.malformedShape,
      gradedMalformed: pending.grading?.primary !== undefined,
    });
    // A guard's decision is what the answer was (mcplens wrote it): it wins. A refusal's error.type is its outcome.
    const guard = pending.guardOutcome;
    outcome = guard ?? graded.outcome;
    errorType = guard === undefined || guard === 'replayed' ? graded.errorType : guard;
    code = graded.code;
    if (graded.code !== undefined) span.setAttribute(ATTR.RPC_RESPONSE_STATUS_CODE, String(graded.code));
    const result = message.result;
    if (pending.method === MCP_METHOD.INITIALIZE && isRecord(result) && typeof result.protocolVersion === 'string') {
      span.setAttribute(ATTR.MCP_PROTOCOL_VERSION, result.protocolVersion);
    }
  }
  span.setAttribute(ATTR.OUTCOME, outcome);
  if (errorType !== undefined) {
    span.setAttribute(ATTR.ERROR_TYPE, errorType);
    // MCP semantic conventions: a caller's fault (rejected arguments, unknown method) leaves a SERVER span's status unset.
    if (isServerError(outcome, code)) span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(message) });
  }
  return { outcome, errorType };
}

/** The violations of a graded tools/call, as attributes and one event each. */
export function recordGrading(span: Span, grading: Grading): void {
  if (grading.undeclared.length > 0) span.setAttribute(ATTR.ARGUMENTS_UNDECLARED, grading.undeclared);
  if (grading.primary === undefined) return;
  span.setAttribute(ATTR.VIOLATION_KIND, grading.primary);
  span.setAttribute(ATTR.VIOLATION_COUNT, grading.violations.length);
  span.setAttribute(
    ATTR.VIOLATION_PATHS,
    grading.violations.map((v) => v.path),
  );
  for (const v of grading.violations) {
    span.addEvent(EVENT.SCHEMA_VIOLATION, {
      [ATTR.VIOLATION_KIND]: v.kind,
      [ATTR.VIOLATION_PATH]: v.path,
      [ATTR.VIOLATION_KEYWORD]: v.keyword,
      [ATTR.VIOLATION_MESSAGE]: v.message,
    });
  }
}

function errorMessage(message: Message | undefined): string | undefined {
  const error = message?.error;
  if (isRecord(error) && typeof error.message === 'string') return error.message;
  return undefined;
}

/** With `recordContent`: a tools/call's arguments and result, through the user's `redact` hook. */
export function recordContent(
  span: Span,
  args: unknown,
  result: unknown,
  redact: ((content: string, kind: 'arguments' | 'result') => string) | undefined,
): void {
  const record = (key: string, text: string, kind: 'arguments' | 'result'): void => {
    try {
      span.setAttribute(key, redact === undefined ? text : redact(text, kind));
    } catch (err) {
      diag.warn('mcplens: the redact hook threw; content not recorded', err);
    }
  };
  if (args !== undefined) record(ATTR.GEN_AI_TOOL_CALL_ARGUMENTS, JSON.stringify(args), 'arguments');
  if (result !== undefined) record(ATTR.GEN_AI_TOOL_CALL_RESULT, JSON.stringify(result), 'result');
}
