import { diag, SpanKind, trace, type Context, type Histogram, type Tracer } from '@opentelemetry/api';
import {
  ATTR,
  MCP_METHOD,
  META_KEYS,
  PROTOCOL_VERSION_HEADER,
  OTEL_METRICS,
  TOKENS_NOT_COUNTED_REASONS,
  type Outcome,
  type TokensNotCountedReason,
} from '../contract/index.js';
import { gradeOnArrival } from './argument-grading.js';
import { writeCallLog } from './call-log.js';
import { DeferredWork, processDeferredWork } from './deferred-work.js';
import { isRecord } from './is-record.js';
import { ObservedConnection, type ConnectionInfo, type ConnectionObserver, type InboundExtra } from './observed-connection.js';
import type { JsonRpcId, Message, PendingRequest } from './pending-request.js';
import { extractRequestContext } from './propagation.js';
import { durationHistogram, followedTracer } from './mcplens-instruments.js';
import { ProviderResolver } from './provider-resolver.js';
import { answerAttributes, gradeAnswer, recordContent, recordGrading, startAttributes } from './span-attributes.js';
import { clockAnchor, hrTimeOf } from './span-clock.js';
import { recordTokens, spanTokenTexts, type SpanTokenTexts } from './span-tokens.js';
import { defaultTokenService, inThreadTokenService, type TokenCount, type TokenService } from './token-service.js';
import { DEFAULT_MAX_DEFERRED_QUEUE, type InstrumentOptions } from './types.js';

/** The longest a span waits for its token counts (a tokenizer starved of CPU); then it ends without them. */
const MAX_TOKEN_WAIT_MS = 10_000;
/** How long after the first answer the token worker starts. */
const WARM_UP_DELAY_MS = 100;

/**
 * Observes the JSON-RPC message stream of MCP connections (requests in, responses out)
 * and turns it into one SERVER span per request. It knows nothing about how it is
 * attached: an in-process transport wrapper and an out-of-process proxy use it alike.
 */
export class StreamObserver implements ConnectionObserver {
  readonly deferred: DeferredWork;
  /** The global provider can be replaced (trace.disable() then a new registration): followed. */
  private readonly currentTracer: () => Tracer;
  private readonly duration: Histogram;
  private readonly providers: ProviderResolver;
  private readonly tokens: TokenService | undefined;
  /** Bound of each connection's table of unanswered requests. */
  readonly maxPending: number;

  constructor(readonly options: InstrumentOptions) {
    this.currentTracer = followedTracer(options.tracerProvider);
    this.duration = durationHistogram(options.meterProvider, OTEL_METRICS.SERVER_OPERATION_DURATION);
    this.providers = new ProviderResolver(options);
    this.tokens =
      options.countTokens === false
        ? undefined
        : options.tokenizer === undefined
          ? defaultTokenService()
          : inThreadTokenService(options.tokenizer);
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
    if (method === MCP_METHOD.INITIALIZE && isRecord(params?.clientInfo))
      conn.clientInfo = params.clientInfo as ObservedConnection['clientInfo'];
    const clientInfo = isRecord(perRequestClient) ? (perRequestClient as ObservedConnection['clientInfo']) : conn.clientInfo;
    const sessionId = conn.sessionId();
    const provider = this.providers.resolve({ method, params, headers: extra?.headers, clientInfo, sessionId }, baggage);

    // Only what a sampler may decide on goes in at the start (span-attributes.ts); the rest is
    // set off the request's path, before the span ends. Start and end share one clock (span-clock.ts).
    const { attributes, target, toolName } = startAttributes(method, params, provider);
    const startPerf = extra?.receivedAt ?? performance.now();
    const anchor = clockAnchor(startPerf);
    const span = this.currentTracer().startSpan(
      target === undefined ? method : `${method} ${target}`,
      { kind: SpanKind.SERVER, attributes, links, startTime: hrTimeOf(startPerf, anchor) },
      parent,
    );
    const pending: PendingRequest = {
      id: message.id as JsonRpcId,
      method,
      span,
      startPerf,
      anchor,
      toolName,
      provider,
      sessionId,
      protocolVersion: requestProtocolVersion(meta, extra) ?? conn.protocolVersion,
      signal: extra?.signal,
      clientName: typeof clientInfo?.name === 'string' ? clientInfo.name : undefined,
      args: params?.arguments,
      grading: undefined,
      gradingDone: undefined,
      malformedShape: false,
      cursor: method === MCP_METHOD.TOOLS_LIST && typeof params?.cursor === 'string' ? params.cursor : undefined,
      listed: undefined,
    };
    const ctx = trace.setSpan(parent, span);
    if (method === MCP_METHOD.TOOLS_CALL) gradeOnArrival(conn.info.catalog, pending, params, ctx);
    conn.track(pending);
    return ctx;
  }

  /**
   * The answer left (or never will). Only what the next requests depend on happens here
   * (protocol version, the tool catalog); grading the answer and everything else is deferred.
   * @internal
   */
  finish(conn: ObservedConnection, pending: PendingRequest, message: Message | undefined, cancelled = false, at?: number): void {
    const endPerf = at ?? performance.now();
    if (!this.warmedUp) this.warmUpAfterFirstAnswer();
    const result = message?.result;
    if (isRecord(result)) {
      if (pending.method === MCP_METHOD.INITIALIZE && typeof result.protocolVersion === 'string')
        conn.protocolVersion = result.protocolVersion;
      // The server's whole page, also when a guard hid tools from this caller (as the proxy records it).
      else if (pending.method === MCP_METHOD.TOOLS_LIST)
        pending.listed = conn.info.catalog.update(pending.unfilteredResult ?? result, pending.cursor);
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
  private complete(
    conn: ObservedConnection,
    pending: PendingRequest,
    message: Message | undefined,
    cancelled: boolean,
    endPerf: number,
  ): void {
    const { span } = pending;
    const seconds = (endPerf - pending.startPerf) / 1000;
    const result = message?.result;
    let outcome: Outcome = 'error';
    let errorType: string | undefined;
    let texts: SpanTokenTexts | undefined;
    try {
      span.setAttributes(answerAttributes(conn, pending));
      ({ outcome, errorType } = gradeAnswer(span, pending, message, cancelled));
      if (pending.grading !== undefined) recordGrading(span, pending.grading);
      if (this.options.recordContent === true && pending.method === MCP_METHOD.TOOLS_CALL)
        recordContent(span, pending.args, result, this.options.redact);
      const metricAttributes: Record<string, string> = { [ATTR.MCP_METHOD_NAME]: pending.method };
      if (pending.toolName !== undefined) metricAttributes[ATTR.GEN_AI_TOOL_NAME] = pending.toolName;
      if (errorType !== undefined) metricAttributes[ATTR.ERROR_TYPE] = errorType;
      if (conn.info.networkTransport !== undefined) metricAttributes[ATTR.NETWORK_TRANSPORT] = conn.info.networkTransport;
      this.duration.record(seconds, metricAttributes);
      if (this.tokens !== undefined) texts = spanTokenTexts(conn, pending, result);
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
}

/** The version a 2026-07-28 request carries itself: `_meta`, else the `MCP-Protocol-Version` header. */
function requestProtocolVersion(meta: unknown, extra: InboundExtra | undefined): string | undefined {
  const fromMeta = isRecord(meta) ? meta[META_KEYS.PROTOCOL_VERSION] : undefined;
  if (typeof fromMeta === 'string' && fromMeta !== '') return fromMeta;
  const header = extra?.headers?.[PROTOCOL_VERSION_HEADER];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  return typeof fromHeader === 'string' && fromHeader !== '' ? fromHeader : undefined;
}
