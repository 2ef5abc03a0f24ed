/**
 * The validation stage between decode and tally: every check on what a span says, in one
 * place, so that a new check has an obvious home and the tally only counts.
 *
 * - A span is rejected whole (a reason of `mcplens_collector_spans_rejected_total`) when its
 *   trace or span id is missing, malformed or all zero, when it ends before it starts or its
 *   start is not a number, or when its adjusted count is not a number from 1 to
 *   {@link MAX_ADJUSTED_COUNT}.
 * - A token count the tally reads (tools/call token kinds, tools/list catalog totals and catalog
 *   events) must be an integer from 0 to MAX_TOKEN_COUNT: another value is dropped (as if
 *   absent) and counted in {@link ValidSpan.invalidTokenCounts}; its span still counts. Values
 *   beside a TOKENS_NOT_COUNTED marker, and values of spans the tally ignores, are not read, so
 *   never counted.
 *
 * - A tools/call SERVER span's last BREAKER_TRANSITION event (the latest timestamp; of equal ones,
 *   the last listed) becomes {@link ValidSpan.breaker}: its state as an index of BREAKER_STATES.
 *   Events with a state outside the contract or a timestamp that is not a finite number are skipped.
 *
 * - A CLIENT span counts (in the client view) only when its method is `tools/call`; the checks
 *   above (ids, times, adjusted count) apply to it as to a SERVER span. Other kinds are ignored.
 *
 * Label values are not checked here: they are bounded where they become labels, by the one
 * sanitiser of label-values.ts (it rewrites, never rejects, and counts every rewrite).
 */
import {
  ATTR,
  BREAKER_STATES,
  CALL_TOKEN_KINDS,
  EVENT,
  MAX_TOKEN_COUNT,
  MCP_METHOD,
  SPAN_REJECT_REASONS,
  TOKEN_ATTRIBUTE,
  TOKENS_NOT_COUNTED_REASONS,
  UNKNOWN_LABEL_VALUE,
  type TokenKind,
} from '../contract/index.js';
import { OTLP_SPAN_KIND, type AttributeValue, type SpanView } from './span-view.js';

/** Largest adjusted count honoured on one span; larger (or non-positive) values reject the span. */
export const MAX_ADJUSTED_COUNT = 1_000_000;

/** Why a whole span is rejected: a `reason` of `mcplens_collector_spans_rejected_total`. */
export type SpanRejectReason = (typeof SPAN_REJECT_REASONS)[keyof typeof SPAN_REJECT_REASONS];

/** A token kind of a tools/call span. */
export type CallTokenKind = (typeof CALL_TOKEN_KINDS)[number] & TokenKind;

/** A catalog event of a tools/list span with both a tool name (as sent, not sanitised) and a valid count. */
export interface CatalogToolCount {
  tool: string;
  tokens: number;
}

/** The last circuit-breaker transition a tools/call span reports. */
export interface BreakerTransition {
  /** Index of the new state in BREAKER_STATES (0 closed, 1 half_open, 2 open): the gauge's value. */
  state: number;
  /** The event's time, nanoseconds since the epoch: what orders transitions arriving out of order. */
  timeUnixNano: number;
}

/** What the tally takes from an accepted span, checked. */
export interface ValidSpan {
  /**
   * The MCP method of a SERVER span (non-empty) or of a CLIENT tools/call span, or undefined for
   * a span the tally does not count (another kind, no method, a CLIENT span of another method).
   * Nothing else below is set then.
   */
  method: string | undefined;
  /** The adjusted count: 1 when absent, else from 1 to MAX_ADJUSTED_COUNT (1 / ratio: not necessarily an integer). */
  weight: number;
  /**
   * The TOKENS_NOT_COUNTED reason of a tools/call or tools/list span marked so (a reason outside
   * the contract as UNKNOWN_LABEL_VALUE, so label values stay bounded); its token values are not read.
   */
  notCounted: string | undefined;
  /** tools/call, not marked: the valid token counts by kind (empty when the span reports none). */
  tokens: Partial<Record<CallTokenKind, number>> | undefined;
  /** tools/list, not marked: the span's own catalog total, when present and valid. */
  catalogTotal: number | undefined;
  /** tools/list, not marked: the catalog events with a tool name and a valid count, in order. */
  catalogTools: CatalogToolCount[] | undefined;
  /** Token values read and dropped as invalid. */
  invalidTokenCounts: number;
  /**
   * True for a CLIENT span of `tools/call` (the client view: `method` is tools/call, no token
   * values are read); undefined for every other span, so server spans keep their shape.
   */
  client: true | undefined;
  /** tools/call SERVER spans: the last breaker transition, when the span reports one (undefined otherwise). */
  breaker: BreakerTransition | undefined;
}

/** Options of {@link validateSpan}. */
export interface ValidateSpanOptions {
  /**
   * False takes any finite non-negative token count (numeric strings too) and counts none as
   * invalid: only for the ingest benchmark's "checks off" baseline. Default true.
   */
  valueChecks?: boolean;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);
const KNOWN_NOT_COUNTED: ReadonlySet<string> = new Set(Object.values(TOKENS_NOT_COUNTED_REASONS));
const TOKEN_KINDS = CALL_TOKEN_KINDS as readonly CallTokenKind[];

/** Every span the tally does not count (weight unused): shared, so such spans allocate nothing. */
const IGNORED: Readonly<ValidSpan> = Object.freeze({
  method: undefined,
  weight: 1,
  notCounted: undefined,
  tokens: undefined,
  catalogTotal: undefined,
  catalogTools: undefined,
  invalidTokenCounts: 0,
  client: undefined,
  breaker: undefined,
});

/** A CLIENT tools/call span of weight `weight` (the client view reads nothing else). */
function clientCall(weight: number): ValidSpan {
  return {
    method: MCP_METHOD.TOOLS_CALL,
    weight,
    notCounted: undefined,
    tokens: undefined,
    catalogTotal: undefined,
    catalogTools: undefined,
    invalidTokenCounts: 0,
    client: true,
    breaker: undefined,
  };
}

/** Every unsampled CLIENT tools/call span: shared, so such spans allocate nothing. */
const CLIENT_CALL_1: Readonly<ValidSpan> = Object.freeze(clientCall(1));

/** A non-empty string, else undefined. */
function str(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** The `reason` of a TOKENS_NOT_COUNTED value: a contract reason, else UNKNOWN_LABEL_VALUE (label values stay bounded). */
export function notCountedReason(v: AttributeValue): string {
  return typeof v === 'string' && KNOWN_NOT_COUNTED.has(v) ? v : UNKNOWN_LABEL_VALUE;
}

const BREAKER_STATE_INDEX: ReadonlyMap<string, number> = new Map(BREAKER_STATES.map((state, i) => [state, i]));

/** The last valid BREAKER_TRANSITION of a span's events (see the module comment), or undefined. */
function lastBreakerTransition(events: SpanView['events']): BreakerTransition | undefined {
  let found: BreakerTransition | undefined;
  for (const e of events) {
    if (e.name !== EVENT.BREAKER_TRANSITION) continue;
    const raw = e.attributes[ATTR.BREAKER_STATE];
    const state = typeof raw === 'string' ? BREAKER_STATE_INDEX.get(raw) : undefined;
    const time = e.timeUnixNano;
    if (state === undefined || !Number.isFinite(time)) continue;
    if (found === undefined || time >= found.timeUnixNano) found = { state, timeUnixNano: time };
  }
  return found;
}

/** What {@link tokenCount} answers for a value outside the contract's range. */
const INVALID_COUNT = -1;

/** A token count: undefined when absent, INVALID_COUNT unless an integer from 0 to MAX_TOKEN_COUNT (a number, never a string). */
function tokenCount(v: AttributeValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_TOKEN_COUNT ? v : INVALID_COUNT;
}

/** Without the value checks (the benchmark's "checks off" baseline): any finite non-negative number, numeric strings too. */
function looseCount(v: AttributeValue | undefined): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A token count as read: {@link tokenCount} with the checks, {@link looseCount} (never invalid) without. */
function readCount(v: AttributeValue | undefined, checks: boolean): number | undefined {
  return checks ? tokenCount(v) : looseCount(v);
}

/** The adjusted count of a span: 1 when absent, NaN when invalid. */
function adjustedCount(v: AttributeValue | undefined): number {
  if (v === undefined) return 1;
  // A number, or a number sent as a string; anything else (booleans, arrays) is invalid.
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 1 && n <= MAX_ADJUSTED_COUNT ? n : NaN;
}

/**
 * Checks one decoded span: the reason it is rejected whole, or the checked values the tally
 * needs (see the module comment). Pure apart from reading the span; never throws on span content.
 */
export function validateSpan(span: SpanView, options?: ValidateSpanOptions): SpanRejectReason | ValidSpan {
  if (!HEX32.test(span.traceId) || span.traceId === ZERO32 || !HEX16.test(span.spanId) || span.spanId === ZERO16) {
    return SPAN_REJECT_REASONS.INVALID_ID;
  }
  if (!(span.durationNano >= 0) || !Number.isFinite(span.startTimeUnixNano)) return SPAN_REJECT_REASONS.INVALID_TIME;
  const a = span.attributes;
  const weight = adjustedCount(a[ATTR.ADJUSTED_COUNT]);
  if (Number.isNaN(weight)) return SPAN_REJECT_REASONS.INVALID_ADJUSTED_COUNT;
  if (span.kind === OTLP_SPAN_KIND.CLIENT) {
    // The client view counts tools/call only; other methods a client sends are ignored.
    if (a[ATTR.MCP_METHOD_NAME] !== MCP_METHOD.TOOLS_CALL) return IGNORED;
    return weight === 1 ? CLIENT_CALL_1 : clientCall(weight);
  }
  if (span.kind !== OTLP_SPAN_KIND.SERVER) return IGNORED;
  const method = str(a[ATTR.MCP_METHOD_NAME]);
  if (method === undefined) return IGNORED;

  const checks = options?.valueChecks ?? true;
  let invalid = 0;
  const marked = a[ATTR.TOKENS_NOT_COUNTED];
  const notCounted = marked === undefined ? undefined : notCountedReason(marked);
  let tokens: Partial<Record<CallTokenKind, number>> | undefined;
  let catalogTotal: number | undefined;
  let catalogTools: CatalogToolCount[] | undefined;
  // Most calls have no events: the scan costs a length check.
  const breaker = method === MCP_METHOD.TOOLS_CALL && span.events.length > 0 ? lastBreakerTransition(span.events) : undefined;
  if (marked === undefined && method === MCP_METHOD.TOOLS_CALL) {
    tokens = {};
    for (const kind of TOKEN_KINDS) {
      const n = readCount(a[TOKEN_ATTRIBUTE[kind]], checks);
      if (n === INVALID_COUNT) invalid++;
      else if (n !== undefined) tokens[kind] = n;
    }
  } else if (marked === undefined && method === MCP_METHOD.TOOLS_LIST) {
    catalogTools = [];
    for (const e of span.events) {
      if (e.name !== EVENT.CATALOG_TOOL) continue;
      const tool = str(e.attributes[ATTR.GEN_AI_TOOL_NAME]);
      // Read (and counted when invalid) whether or not the event names its tool.
      const n = readCount(e.attributes[ATTR.TOKENS_CATALOG], checks);
      if (n === INVALID_COUNT) invalid++;
      else if (tool !== undefined && n !== undefined) catalogTools.push({ tool, tokens: n });
    }
    const total = readCount(a[ATTR.TOKENS_CATALOG], checks);
    if (total === INVALID_COUNT) invalid++;
    else catalogTotal = total;
  }
  return { method, weight, notCounted, tokens, catalogTotal, catalogTools, invalidTokenCounts: invalid, client: undefined, breaker };
}
