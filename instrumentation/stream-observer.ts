import { context as otelContext, diag, metrics, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Histogram, type HrTime, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import {
  ATTR,
  DURATION_BUCKETS_SECONDS,
  ERROR_TYPE_NO_RESPONSE,
  EVENT,
  MCP_METHOD,
  META_KEYS,
  OPERATION_EXECUTE_TOOL,
  OTEL_METRICS,
  TOKENS_NOT_COUNTED_REASONS,
  type Outcome,
  type TokensNotCountedReason,
} from '../contract/index.js';
import type { Grading } from './tool-schemas.js';
import type { ToolCatalog } from './tool-catalog.js';
import type { ToolDefinition } from './tool-definition.js';
import { DeferredWork, processDeferredWork } from './deferred-work.js';
import { gradeResponse, isServerError } from './outcome.js';
import { isRecord } from './is-record.js';
import { extractRequestContext } from './propagation.js';
import { ProviderResolver, type ResolvedProvider } from './provider-resolver.js';
import { argumentsText, catalogToolText, resultText } from './token-counter.js';
import { defaultTokenService, inThreadTokenService, type TokenCount, type TokenService } from './token-service.js';
import { writeCallLog } from './call-log.js';
import { DEFAULT_MAX_DEFERRED_QUEUE, type InstrumentOptions } from './types.js';
import { VERSION } from './version.js';

type JsonRpcId = string | number;

const JSONRPC_VERSION = '2.0';
const RESOURCES_PREFIX = 'resources/';
/** The longest a span waits for its token counts (a tokenizer starved of CPU); then it ends without them. */
const MAX_TOKEN_WAIT_MS = 10_000;
/** How long after the first answer the token worker starts. */
const WARM_UP_DELAY_MS = 100;
type Message = Record<string, unknown>;
type Headers = Record<string, string | string[] | undefined>;

/** What the attaching code knows about one connection (one transport). */
export interface ConnectionInfo {
  /** `network.transport`: `pipe` for stdio, `tcp` for HTTP; undefined in-process. */
  networkTransport?: string | undefined;
  /** `network.protocol.name`: `http` on HTTP transports. */
  networkProtocolName?: string | undefined;
  /** Reads the transport's session id (it may be assigned during initialize). */
  sessionId?: () => string | undefined;
  /** The tool catalog of the server behind this connection. */
  catalog: ToolCatalog;
}

/** Per-message extras the transport passes along (v1 `requestInfo.headers`, v2 a web `Request`). */
export interface InboundExtra {
  headers?: Headers | undefined;
}

/** What a span's token counts are made of. */
interface TokenTexts {
  call: { kind: 'call'; texts: string[] };
  catalog: { kind: 'catalog'; key: string; tools: ToolDefinition[]; texts: string[] };
}

interface Pending {
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
  /** The connection's negotiated protocol version when the request arrived. */
  protocolVersion: string | undefined;
  clientName: string | undefined;
  args: unknown;
  grading: Grading | undefined;
  gradingDone: Promise<void> | undefined;
  malformedShape: boolean;
}

/**
 * Observes the JSON-RPC message stream of MCP connections (requests in, responses out)
 * and turns it into one SERVER span per request. It knows nothing about how it is
 * attached: an in-process transport wrapper and an out-of-process proxy use it alike.
 */
export class StreamObserver {
  readonly deferred: DeferredWork;
  private tracer: Tracer;
  private tracerSource: TracerProvider;
  private readonly duration: Histogram;
  private readonly providers: ProviderResolver;
  private readonly tokens: TokenService | undefined;
  /** Bound of each connection's table of unanswered requests. */
  readonly maxPending: number;

  constructor(readonly options: InstrumentOptions) {
    this.tracerSource = options.tracerProvider ?? trace.getTracerProvider();
    this.tracer = this.tracerSource.getTracer('mcplens', VERSION);
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('mcplens', VERSION);
    this.duration = meter.createHistogram(OTEL_METRICS.SERVER_OPERATION_DURATION.name, {
      unit: OTEL_METRICS.SERVER_OPERATION_DURATION.unit,
      description: OTEL_METRICS.SERVER_OPERATION_DURATION.description,
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    });
    this.providers = new ProviderResolver(options);
    this.tokens =
      options.countTokens === false ? undefined : options.tokenizer === undefined ? defaultTokenService() : inThreadTokenService(options.tokenizer);
    this.maxPending = options.maxPendingRequests ?? 1000;
    this.deferred = new DeferredWork(options.maxDeferredQueue ?? DEFAULT_MAX_DEFERRED_QUEUE, processDeferredWork);
  }

  private warmedUp = false;

  /**
   * Starts the token worker once the first answer has left: its start and its vocabulary
   * (about 200 ms of CPU) would otherwise compete with the server's own start-up on a
   * small machine. Ordinary sessions are still counted: their calls wait for it.
   */
  private warmUpAfterFirstAnswer(): void {
    this.warmedUp = true;
    const tokens = this.tokens;
    if (tokens?.warmUp === undefined) return;
    // A short while later still: a session that is over by then (a script, a probe) never
    // starts it and exits at once; its spans say their tokens were not counted.
    setTimeout(() => {
      try {
        tokens.warmUp?.();
      } catch (err) {
        diag.warn('mcplens: starting token counting failed', err);
      }
    }, WARM_UP_DELAY_MS).unref();
  }

  /** The global provider can be replaced (trace.disable() then a new registration): follow it. */
  private currentTracer(): Tracer {
    if (this.options.tracerProvider === undefined) {
      const global = trace.getTracerProvider();
      if (global !== this.tracerSource) {
        this.tracerSource = global;
        this.tracer = global.getTracer('mcplens', VERSION);
      }
    }
    return this.tracer;
  }

  /** Starts observing one connection. */
  openConnection(info: ConnectionInfo): ObservedConnection {
    return new ObservedConnection(this, info);
  }

  /** @internal */
  startSpan(conn: ObservedConnection, message: Message, extra: InboundExtra | undefined): Context | undefined {
    const method = message.method as string;
    const params = isRecord(message.params) ? message.params : undefined;
    const meta = params?._meta;
    const { parent, links, baggage } = extractRequestContext(meta);

    const perRequestClient = isRecord(meta) ? meta[META_KEYS.CLIENT_INFO] : undefined;
    if (method === MCP_METHOD.INITIALIZE && isRecord(params?.clientInfo)) conn.clientInfo = params.clientInfo as ObservedConnection['clientInfo'];
    const clientInfo = isRecord(perRequestClient) ? (perRequestClient as ObservedConnection['clientInfo']) : conn.clientInfo;
    const sessionId = conn.sessionId();
    const provider = this.providers.resolve({ method, params, headers: extra?.headers, clientInfo, sessionId }, baggage);

    // Only what a sampler may decide on goes in at the start: every attribute given here is
    // validated and copied on the request's path. The rest is set off it, before the span ends.
    let toolName: string | undefined;
    let target: string | undefined;
    const attributes: Record<string, string> = {
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

    // Start and end on one monotonic clock, as absolute times: the SDK otherwise anchors each
    // span to Date.now(), whole milliseconds, which leaves calls of one millisecond unordered
    // (self-correction needs their order).
    const startPerf = performance.now();
    const anchor = clockAnchor(startPerf);
    const span = this.currentTracer().startSpan(
      target === undefined ? method : `${method} ${target}`,
      { kind: SpanKind.SERVER, attributes, links, startTime: hrTimeOf(startPerf, anchor) },
      parent,
    );
    const pending: Pending = {
      id: message.id as JsonRpcId,
      method,
      span,
      startPerf,
      anchor,
      toolName,
      provider,
      sessionId,
      protocolVersion: conn.protocolVersion,
      clientName: typeof clientInfo?.name === 'string' ? clientInfo.name : undefined,
      args: params?.arguments,
      grading: undefined,
      gradingDone: undefined,
      malformedShape: false,
    };
    const ctx = trace.setSpan(parent, span);
    if (method === MCP_METHOD.TOOLS_CALL) this.grade(conn, pending, params, ctx);
    conn.track(pending);
    return ctx;
  }

  /**
   * Grades the arguments now, against the catalog the call was made against: a handler may
   * change its arguments in place and a tool may leave the catalog before the answer. A
   * catalog that must be loaded first is loaded now, in the call's context, so the list
   * handler's spans nest there.
   */
  private grade(conn: ObservedConnection, pending: Pending, params: Record<string, unknown> | undefined, ctx: Context): void {
    const args = params?.arguments;
    pending.malformedShape = typeof params?.name !== 'string' || (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args)));
    const catalog = conn.info.catalog;
    if (catalog.ready) {
      gradeArguments(catalog, pending, params);
      return;
    }
    const loading = otelContext.with(ctx, () => catalog.ensureLoaded());
    if (loading === undefined) {
      gradeArguments(catalog, pending, params);
      return;
    }
    // Graded once loaded, which may be after the answer: on a copy taken now, since the handler
    // (or, over an in-memory transport, the client) may change the arguments before then.
    let asArrived = params;
    try {
      if (params !== undefined) asArrived = { name: params.name, arguments: structuredClone(params.arguments) };
    } catch {
      // Not cloneable (an in-process value no JSON transport carries): graded as they are then.
    }
    pending.gradingDone = loading.then(() => gradeArguments(catalog, pending, asArrived));
  }

  /**
   * The answer left (or never will). Only what the next requests depend on happens here
   * (protocol version, the tool catalog); grading the answer and everything else is deferred.
   * @internal
   */
  finish(conn: ObservedConnection, pending: Pending, message: Message | undefined, cancelled = false): void {
    const endPerf = performance.now();
    if (!this.warmedUp) this.warmUpAfterFirstAnswer();
    const result = message?.result;
    if (isRecord(result)) {
      if (pending.method === MCP_METHOD.INITIALIZE && typeof result.protocolVersion === 'string') conn.protocolVersion = result.protocolVersion;
      else if (pending.method === MCP_METHOD.TOOLS_LIST) conn.info.catalog.update(result);
    }
    const complete = (): void => this.complete(conn, pending, message, cancelled, endPerf);
    if (pending.gradingDone !== undefined && pending.grading === undefined) {
      const later = (): void => this.deferred.push(complete);
      pending.gradingDone.then(later, later);
    } else {
      this.deferred.push(complete);
    }
  }

  /**
   * Off the response path: violations, content, the duration metric; then tokens (counted
   * in a worker thread), the log line, and the span ends at the answer's time.
   */
  private complete(conn: ObservedConnection, pending: Pending, message: Message | undefined, cancelled: boolean, endPerf: number): void {
    const { span } = pending;
    const seconds = (endPerf - pending.startPerf) / 1000;
    const result = message?.result;
    let outcome: Outcome = 'error';
    let errorType: string | undefined;
    let texts: TokenTexts[keyof TokenTexts] | undefined;
    try {
      span.setAttributes(requestAttributes(conn, pending));
      ({ outcome, errorType } = gradeAnswer(span, pending, message, cancelled));
      if (pending.grading !== undefined) recordGrading(span, pending.grading);
      if (this.options.recordContent === true && pending.method === MCP_METHOD.TOOLS_CALL) this.recordContent(span, pending.args, result);
      const metricAttributes: Record<string, string> = { [ATTR.MCP_METHOD_NAME]: pending.method };
      if (pending.toolName !== undefined) metricAttributes[ATTR.GEN_AI_TOOL_NAME] = pending.toolName;
      if (errorType !== undefined) metricAttributes[ATTR.ERROR_TYPE] = errorType;
      if (conn.info.networkTransport !== undefined) metricAttributes[ATTR.NETWORK_TRANSPORT] = conn.info.networkTransport;
      this.duration.record(seconds, metricAttributes);
      texts = this.tokenTexts(conn, pending, result);
    } catch (err) {
      diag.error('mcplens: recording span details failed', err);
    }
    let done = false;
    let stopWaiting: (() => void) | undefined;
    // `notCounted` says why counts that were due are missing: a span without counts must not read as 0 tokens.
    const finish = (counts: number[] | undefined, notCounted?: TokensNotCountedReason): void => {
      if (done) return;
      done = true;
      stopWaiting?.();
      let tokens: { arguments?: number; result?: number } | undefined;
      try {
        if (counts !== undefined && texts !== undefined) tokens = recordTokens(conn, span, texts, counts);
        else if (texts !== undefined) span.setAttribute(ATTR.TOKENS_NOT_COUNTED, notCounted ?? TOKENS_NOT_COUNTED_REASONS.FAILED);
        if (this.options.log !== undefined && this.options.log !== false && pending.method === MCP_METHOD.TOOLS_CALL) {
          writeCallLog(this.options.log, span, {
            tool: pending.toolName,
            provider: pending.provider,
            outcome,
            violation: pending.grading?.primary,
            latencySeconds: seconds,
            tokens,
          });
        }
      } catch (err) {
        diag.error('mcplens: recording span details failed', err);
      } finally {
        span.end(hrTimeOf(endPerf, pending.anchor));
      }
    };
    if (this.tokens === undefined || texts === undefined || texts.texts.length === 0) {
      // Cached catalog counts need no worker round trip.
      finish(texts?.kind === 'catalog' && texts.texts.length === 0 ? [] : undefined);
      return;
    }
    let counted: TokenCount;
    try {
      counted = this.tokens.count(texts.texts);
    } catch (err) {
      diag.warn('mcplens: token counting failed', err);
      counted = { notCounted: TOKENS_NOT_COUNTED_REASONS.FAILED };
    }
    if ('counts' in counted) finish(counted.counts);
    else if ('notCounted' in counted) finish(undefined, counted.notCounted);
    else {
      // The worker starts after the first answer has left; a call that comes before it is ready waits for it.
      stopWaiting = this.deferred.wait((reason) => finish(undefined, reason), MAX_TOKEN_WAIT_MS);
      counted.later.then(
        (counts) => finish(counts),
        () => finish(undefined),
      );
    }
  }

  /** The texts to tokenize for this span (none for a catalog whose counts are cached). */
  private tokenTexts(
    conn: ObservedConnection,
    pending: Pending,
    result: unknown,
  ): TokenTexts[keyof TokenTexts] | undefined {
    if (this.tokens === undefined) return undefined;
    if (pending.method === MCP_METHOD.TOOLS_CALL) {
      return { kind: 'call', texts: [pending.args === undefined ? '' : argumentsText(pending.args), result === undefined ? '' : resultText(result)] };
    }
    if (pending.method === MCP_METHOD.TOOLS_LIST && isRecord(result) && Array.isArray(result.tools)) {
      const tools = result.tools as ToolDefinition[];
      const key = JSON.stringify(tools);
      return { kind: 'catalog', key, tools, texts: conn.info.catalog.hasTokensFor(key) ? [] : tools.map(catalogToolText) };
    }
    return undefined;
  }

  private recordContent(span: Span, args: unknown, result: unknown): void {
    const redact = this.options.redact;
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
}

/** One connection's view: its pending requests, matched to responses by JSON-RPC id. */
export class ObservedConnection {
  /** Random session key for transports without a session id (stdio, protocol 2026-07-28). */
  readonly key = randomKey();
  clientInfo: { name?: string; version?: string } | undefined;
  protocolVersion: string | undefined;
  private readonly pending = new Map<JsonRpcId, Pending>();
  private closed = false;

  constructor(
    private readonly observer: StreamObserver,
    readonly info: ConnectionInfo,
  ) {}

  sessionId(): string | undefined {
    try {
      return this.info.sessionId?.();
    } catch {
      return undefined;
    }
  }

  /**
   * A message arrived from the client. Returns the context the server should handle it
   * in (the request's span), or undefined for messages that start no span.
   */
  inbound(message: unknown, extra?: InboundExtra): Context | undefined {
    try {
      if (!isRecord(message) || typeof message.method !== 'string') return undefined;
      if (message.id !== undefined && message.id !== null) return this.observer.startSpan(this, message, extra);
      if (message.method === 'notifications/cancelled' && isRecord(message.params)) {
        const entry = this.pending.get(message.params.requestId as JsonRpcId);
        if (entry !== undefined) {
          this.pending.delete(entry.id);
          this.observer.finish(this, entry, undefined, true);
        }
      }
    } catch (err) {
      diag.error('mcplens: observing an inbound message failed', err);
    }
    return undefined;
  }

  /** A message the server sends to the client. */
  outbound(message: unknown): void {
    try {
      if (!isRecord(message)) return;
      if ('result' in message || 'error' in message) {
        const entry = this.pending.get(message.id as JsonRpcId);
        if (entry === undefined) return;
        this.pending.delete(entry.id);
        this.observer.finish(this, entry, message);
      } else if (message.method === 'notifications/tools/list_changed') {
        this.info.catalog.markStale();
      }
    } catch (err) {
      diag.error('mcplens: observing an outbound message failed', err);
    }
  }

  /** The transport closed: requests never answered end as errors. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.pending.values()) this.observer.finish(this, entry, undefined);
    this.pending.clear();
  }

  /** @internal */
  track(entry: Pending): void {
    const previous = this.pending.get(entry.id);
    if (previous !== undefined) this.observer.finish(this, previous, undefined); // id reused before an answer
    this.pending.set(entry.id, entry);
    if (this.pending.size > this.observer.maxPending) {
      const oldest = this.pending.values().next().value as Pending;
      this.pending.delete(oldest.id);
      this.observer.finish(this, oldest, undefined);
    }
  }
}

/** Puts token counts on the span; returns the call's counts for the log line. */
function recordTokens(
  conn: ObservedConnection,
  span: Span,
  texts: TokenTexts[keyof TokenTexts],
  counts: number[],
): { arguments?: number; result?: number } | undefined {
  if (texts.kind === 'call') {
    const tokens = { arguments: counts[0] ?? 0, result: counts[1] ?? 0 };
    span.setAttribute(ATTR.TOKENS_ARGUMENTS, tokens.arguments);
    span.setAttribute(ATTR.TOKENS_RESULT, tokens.result);
    return tokens;
  }
  const catalog = conn.info.catalog.catalogTokens(texts.key, texts.tools, texts.texts.length === 0 ? undefined : counts);
  span.setAttribute(ATTR.TOKENS_CATALOG, catalog.total);
  span.setAttribute(ATTR.CATALOG_TOOL_COUNT, catalog.perTool.length);
  for (const tool of catalog.perTool) {
    span.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: tool.name, [ATTR.TOKENS_CATALOG]: tool.tokens });
  }
  return undefined;
}

/** Grades a tools/call's arguments against the catalog. */
function gradeArguments(catalog: ToolCatalog, pending: Pending, params: Record<string, unknown> | undefined): void {
  try {
    pending.grading = catalog.schemas.grade(params ?? {});
  } catch (err) {
    diag.error('mcplens: grading a tools/call failed', err);
  }
}

/** The request's attributes a sampler does not need, set off the request's path. */
function requestAttributes(conn: ObservedConnection, pending: Pending): Attributes {
  const attributes: Attributes = {
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
function gradeAnswer(span: Span, pending: Pending, message: Message | undefined, cancelled: boolean): { outcome: Outcome; errorType: string | undefined } {
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
    const graded = gradeResponse(message, pending.malformedShape);
    outcome = graded.outcome;
    errorType = graded.errorType;
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

function recordGrading(span: Span, grading: Grading): void {
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

// Wall time of performance.now() = 0, refreshed every minute so that a long-lived process
// follows wall-clock adjustments; between refreshes, span times are monotonic.
let anchorMs = Date.now() - performance.now();
let anchoredAt = performance.now();

/** The current anchor (wall-clock ms at performance.now() = 0). */
function clockAnchor(perf: number): number {
  if (perf - anchoredAt > 60_000) {
    anchorMs = Date.now() - performance.now();
    anchoredAt = perf;
  }
  return anchorMs;
}

/** A `performance.now()` reading as an absolute HrTime ([seconds, nanoseconds] since the epoch). */
function hrTimeOf(perf: number, anchor: number): HrTime {
  const ms = anchor + perf;
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.min(999_999_999, Math.round((ms - seconds * 1000) * 1e6))];
}

function randomKey(): string {
  return globalThis.crypto.randomUUID();
}
