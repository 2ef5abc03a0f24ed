/**
 * Spans -> metrics. The rules:
 * - Two views, each counting each call once. The server view counts SERVER spans (OTLP kind 2)
 *   into every metric below; the client view counts CLIENT spans (OTLP kind 3) of `tools/call`
 *   into its two counters only (see the last rules). A call whose both sides are instrumented is
 *   in both views: the two are never added. Other kinds, and CLIENT spans of other methods, are ignored.
 * - Every SERVER span with `mcp.method.name` is observed in the duration histogram (exemplar trace_id).
 * - A SERVER span with method `tools/call` is one call: `mcp_tool_calls_total` + 1 (or its adjusted count).
 *   Tool label: the tool name, or UNKNOWN_LABEL_VALUE when the call's primary violation kind is
 *   `unknown_tool` or the name is missing (the real name stays on the span). Provider and model:
 *   UNKNOWN_PROVIDER when absent.
 * - A malformed call (VIOLATION_KIND present) adds one to `mcp_tool_schema_violations_total` under
 *   its primary kind, with the very label values of the calls counter.
 * - When a call label set (service, tool, provider, model) first appears, every violation_kind series
 *   of it is created at zero, so `sum by (provider)(violations) / sum by (provider)(calls)` reads 0
 *   (not "no data") for a provider with calls and no violations. Those zero series count against the
 *   cardinality cap: a call label set is admitted only while the violations metric has room for all
 *   its kinds and one unknown-kind series (see cardinality.ts), so at the default cap of 10,000 series about 900 distinct
 *   (service, tool, provider, model) sets get their own series.
 * - Tokens are unknown, never 0, for a call marked TOKENS_NOT_COUNTED (its token attributes, if any,
 *   are ignored; `mcp_tool_tokens_not_counted_total` + 1 under its reason, a reason outside the
 *   contract's as UNKNOWN_LABEL_VALUE) and for a call with no token attribute at all (token
 *   counting off, older instrumentation: the summary only, as TOKENS_UNREPORTED).
 * - tools/list spans set the catalog gauges (per tool from CATALOG_TOOL events, total from TOKENS_CATALOG);
 *   a listing without counts (marked, or a successful one with none) leaves them as they were and
 *   shows in the summary as not counted.
 * - Self-corrections (a malformed call followed by a well-formed one of the same provider and model,
 *   session and tool within the window): see self-correction.ts.
 * - Every value that becomes a label (service, server name, method, tool, provider, model, error type) goes
 *   through the one sanitiser of label-values.ts first (length limit, invalid text, series-key
 *   separators), and the summary gets the very same values.
 * - Client view: a CLIENT tools/call span adds one (or its adjusted count) to
 *   `mcp_client_tool_calls_total` under its outcome (the same outcomeOf) and, when malformed as the
 *   client graded it, to `mcp_client_tool_schema_violations_total` under its primary kind. Labels:
 *   the calling agent's service, `server_name` (the server's own name, UNKNOWN_LABEL_VALUE when
 *   absent), tool (UNKNOWN_LABEL_VALUE for `unknown_tool` or a missing name), provider and model as
 *   on the server side, all through the same sanitiser. A new client label set creates its
 *   violation_kind series at zero and is admitted by the same cardinality guard (a group of its
 *   own with its fan-out), overflowing as the server side does. CLIENT spans enter no histogram,
 *   token, catalog or self-correction count, and the summary's client view reads these counts.
 * - Guards: the last BREAKER_TRANSITION event of a tools/call SERVER span (see validate-span.ts)
 *   sets `mcp_tool_circuit_breaker_state` of (service, `service.instance.id` of the resource or
 *   UNKNOWN_LABEL_VALUE, tool) to its state's index in BREAKER_STATES. Spans arrive out of order
 *   across batches, so each series keeps the time of the transition it shows and ignores an older
 *   one. A call with outcome `unauthorized` adds its weight to `mcp_tool_unauthorized_calls_total`
 *   under (service, tool, client name or UNKNOWN_LABEL_VALUE). Both are admitted by the cap like
 *   the catalog gauges (one label set at a time), created at first use; past the cap, one overflow
 *   series each (the breaker's overflow series shows the latest transition of any overflowed set).
 *   A breaker series whose transition is older than `breakerStateTtlMs` is removed (see
 *   {@link Tally.sweepBreakers}), freeing its slot under the cap; a transition already that old is ignored.
 * - Spans are checked before they are counted (ids, times, adjusted counts, token counts): see
 *   validate-span.ts. The tally counts what that stage rejected and dropped, nothing more.
 */
import {
  ATTR,
  DURATION_BUCKETS_SECONDS,
  ERROR_TYPE_TOOL_ERROR,
  EVENT,
  LABEL,
  MCP_METHOD,
  METRICS,
  OUTCOMES,
  OVERFLOW_LABEL_VALUE,
  TOKEN_ATTRIBUTE,
  TOKENS_NOT_COUNTED_REASONS,
  UNKNOWN_LABEL_VALUE,
  UNKNOWN_PROVIDER,
  VIOLATION_KINDS,
  type Outcome,
  CALL_LABELS,
  CLIENT_CALL_LABELS,
  CALL_TOKEN_KINDS,
  LABEL_VALUE_LIMIT,
  VALUE_REJECT_REASONS,
} from '../contract/index.js';
import { CardinalityGuard } from './cardinality.js';
import { KeyTree, LabelGroup } from './label-group.js';
import { LabelValues, type LabelSlot } from './label-values.js';
import type { DecodeProjection } from './decode-protobuf.js';
import { CounterCell, HistogramCell, ShareCount, type CollectorMetrics, type Count } from './metrics.js';
import { SelfCorrectionTracker } from './self-correction.js';
import { OTLP_STATUS_CODE, type Attributes, type AttributeValue, type SpanView } from './span-view.js';
import type { CallCounts, ClientCallCounts, SummaryStore } from './summary.js';
import { TOKENS_UNREPORTED } from './summary-types.js';
import { validateSpan, type BreakerTransition, type ValidateSpanOptions, type ValidSpan } from './validate-span.js';

const TOOLS_CALL = MCP_METHOD.TOOLS_CALL;
const TOOLS_LIST = MCP_METHOD.TOOLS_LIST;

const DURATION_LABELS = METRICS.SERVER_OPERATION_DURATION.labels as readonly string[];
const CATALOG_TOOL_LABELS = METRICS.TOOL_CATALOG_TOOL_TOKENS.labels as readonly string[];
const CATALOG_TOTAL_LABELS = METRICS.TOOL_CATALOG_TOKENS.labels as readonly string[];
const BREAKER_LABELS = METRICS.TOOL_CIRCUIT_BREAKER_STATE.labels as readonly string[];
const UNAUTHORIZED_LABELS = METRICS.TOOL_UNAUTHORIZED_CALLS.labels as readonly string[];
/** The outcome the unauthorized-calls counter counts (typed against the contract's outcomes). */
const UNAUTHORIZED: Outcome = 'unauthorized';

/** Series one admitted call label set may create in each per-call metric (reserved against the cap). */
const CALL_FANOUT: Readonly<Record<string, number>> = {
  [METRICS.TOOL_CALLS.name]: OUTCOMES.length,
  // Every kind at zero, plus the one series of kinds this contract does not know (UNKNOWN_LABEL_VALUE).
  [METRICS.TOOL_SCHEMA_VIOLATIONS.name]: VIOLATION_KINDS.length + 1,
  [METRICS.TOOL_TOKENS.name]: CALL_TOKEN_KINDS.length,
  // Every reason of the contract, plus the one series of reasons it does not know (UNKNOWN_LABEL_VALUE).
  [METRICS.TOOL_TOKENS_NOT_COUNTED.name]: Object.keys(TOKENS_NOT_COUNTED_REASONS).length + 1,
  [METRICS.TOOL_SELF_CORRECTIONS.name]: 1,
};

/** Series one admitted client call label set may create in each client-view counter (reserved against the cap). */
const CLIENT_FANOUT: Readonly<Record<string, number>> = {
  [METRICS.CLIENT_TOOL_CALLS.name]: OUTCOMES.length,
  [METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name]: VIOLATION_KINDS.length + 1,
};

/**
 * What {@link Tally} and its validation stage (validate-span.ts) read from a span, for the
 * decoders' projection (attribute values of other keys and events of other names are not
 * decoded). Keep it in step with the reads of both:
 * test/collector/collector-projection.test.ts tallies with and without it and compares.
 */
export const TALLY_PROJECTION: Readonly<Required<DecodeProjection>> = {
  spanAttributes: new Set<string>([
    ATTR.ADJUSTED_COUNT,
    ATTR.MCP_METHOD_NAME,
    ATTR.VIOLATION_KIND,
    ATTR.VIOLATION_PATHS,
    ATTR.GEN_AI_TOOL_NAME,
    ATTR.GEN_AI_PROVIDER_NAME,
    ATTR.GEN_AI_REQUEST_MODEL,
    ATTR.ERROR_TYPE,
    ATTR.OUTCOME,
    ATTR.SESSION_KEY,
    ATTR.SERVER_NAME,
    ATTR.TOKENS_CATALOG,
    ATTR.TOKENS_NOT_COUNTED,
    ATTR.CLIENT_NAME,
    ...CALL_TOKEN_KINDS.map((k) => TOKEN_ATTRIBUTE[k]),
  ]),
  resourceAttributes: new Set<string>([ATTR.SERVICE_NAME, ATTR.SERVICE_INSTANCE_ID]),
  events: new Set<string>([EVENT.CATALOG_TOOL, EVENT.BREAKER_TRANSITION]),
};

/** Default of {@link TallyOptions.breakerStateTtlMs}: many breaker cool-downs (default 30 s) long. */
const DEFAULT_BREAKER_STATE_TTL_MS = 15 * 60 * 1000;

const KNOWN_KINDS: ReadonlySet<string> = new Set(VIOLATION_KINDS);
const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(OUTCOMES);

/** Options of {@link Tally}. */
export interface TallyOptions {
  metrics: CollectorMetrics;
  cardinalityLimit: number;
  selfCorrectionWindowMs: number;
  selfCorrectionMaxKeys: number;
  summary: SummaryStore;
  /**
   * A breaker-gauge series whose transition (event time) is older than this (ms) is removed at the
   * next {@link Tally.sweepBreakers}. Default 15 minutes.
   */
  breakerStateTtlMs?: number;
  /** The clock (ms since the epoch): exemplar timestamps and the breaker expiry. Default Date.now. */
  now?: () => number;
  /** Longest label value in UTF-8 bytes (see label-values.ts). Default LABEL_VALUE_LIMIT.DEFAULT_MAX_BYTES. */
  maxLabelValueBytes?: number;
  /**
   * False turns off the value checks (label values pass unchanged, any finite non-negative
   * token count is taken): only for the ingest benchmark's same-run comparison. Default true.
   */
  valueChecks?: boolean;
}

/** What one batch did. */
export interface TallyResult {
  spans: number;
  rejected: number;
  /** Rejected spans by reason. */
  reasons: Record<string, number>;
}

/** What {@link child} needs of a series: its labels and, for the overflow series, its shared cells. */
interface SeriesBase {
  labels: Record<string, string>;
  /** The label set went to the overflow series (every label, outcome and kind included, is the overflow value). */
  overflow: boolean;
  /** The overflow series' one metric series per counter, shared by its per-value {@link ShareCount}s. */
  overflowCells: Map<CollectorMetrics['calls'], CounterCell> | undefined;
}

/**
 * The per-call counts of one call label set (service, tool, provider, model), kept once: the
 * metric series are read by `/metrics`, and the summary store reads the very same counts
 * (see CallCounts in summary.ts), plus the two it alone shows. Series are pre-resolved: no
 * allocation and no label hashing per span (see CounterCell in metrics.ts).
 */
interface CallSeries extends CallCounts, SeriesBase {
  outcome: Map<string, Count>;
  kind: Map<string, Count>;
  token: Map<string, Count>;
  /** `mcp_tool_tokens_not_counted_total` by reason (created at the first call of a reason). */
  notCounted: Map<string, Count>;
  /** Created at the first self-correction of this label set (never at zero). */
  selfCorrections: CounterCell | undefined;
  /** Calls with neither token counts nor a reason (no metric: see the module comment). */
  unreported: number;
  /** Calls per duration bucket, weighted (the duration histogram has no model label). */
  durationBuckets: number[];
  /** Self-correction payload of an unsampled call (weight 1), shared so a call allocates none. */
  payload1: { series: CallSeries; weight: number };
}

/** The client view's counts of one client call label set (service, server, tool, provider, model), pre-resolved like {@link CallSeries}. */
interface ClientSeries extends ClientCallCounts, SeriesBase {
  outcome: Map<string, Count>;
  kind: Map<string, Count>;
}

/** One series of the breaker-state gauge and the time of the transition it shows. */
export interface BreakerSeries {
  labels: Record<string, string>;
  service: string;
  instance: string;
  tool: string;
  /** Index in BREAKER_STATES of the state shown. */
  state: number;
  /** Event time (ns since the epoch) of that transition: an older one is ignored. */
  timeUnixNano: number;
}

interface Call {
  span: SpanView;
  /** The call's service and tool label values, before the cap (the guards' metrics are capped on their own). */
  service: string;
  tool: string;
  /** What the validation stage checked (weight, token counts, not-counted reason). */
  checked: ValidSpan;
  toolName: string;
  /** Provider and model as sent (UNKNOWN_PROVIDER when absent), not the label values, which may have overflowed. */
  provider: string;
  model: string;
  kind: string | undefined;
  weight: number;
  series: CallSeries;
}

/** A copy of `base` with `label` set to `value`. */
function withLabel(base: Record<string, string>, label: string, value: string): Record<string, string> {
  // Copied key by key, not spread: V8 gives every `{...spread}` result a map of its own
  // (about 350 bytes each, 17,000 series at the cap); keyed copies share one.
  const labels: Record<string, string> = {};
  for (const k of Object.keys(base)) labels[k] = base[k]!;
  labels[label] = value;
  return labels;
}

/**
 * The count of `value` of the last label, resolved once per call series: its counter series,
 * or for the overflow series (whose last label is the overflow value too) a share of it.
 */
function child(map: Map<string, Count>, counter: CollectorMetrics['calls'], base: SeriesBase, label: string, value: string): Count {
  let cell = map.get(value);
  if (!cell) {
    if (base.overflow) {
      const cells = (base.overflowCells ??= new Map());
      let series = cells.get(counter);
      if (!series) cells.set(counter, (series = new CounterCell(counter, withLabel(base.labels, label, OVERFLOW_LABEL_VALUE))));
      cell = new ShareCount(series);
    } else {
      cell = new CounterCell(counter, withLabel(base.labels, label, value));
    }
    map.set(value, cell);
  }
  return cell;
}

/** The series of a one-label counter for `value`, made at its first use. */
function cellOf(cells: Map<string, CounterCell>, counter: CollectorMetrics['calls'], label: string, value: string): CounterCell {
  let cell = cells.get(value);
  if (!cell) cells.set(value, (cell = new CounterCell(counter, { [label]: value })));
  return cell;
}

function str(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Outcome from the span when the instrumentation did not set one (e.g. plain semconv spans). */
function outcomeOf(a: Attributes, statusCode: number): Outcome {
  const o = str(a[ATTR.OUTCOME]);
  if (o !== undefined && KNOWN_OUTCOMES.has(o)) return o as Outcome;
  const errorType = str(a[ATTR.ERROR_TYPE]);
  if (errorType === ERROR_TYPE_TOOL_ERROR) return 'tool_error';
  if (errorType !== undefined || statusCode === OTLP_STATUS_CODE.ERROR) return 'error';
  return 'ok';
}

/** Field paths kept per malformed call (the summary shows 16). */
const MAX_PATHS = 16;

/** Turns span batches into metric increments and summary records. */
export class Tally {
  readonly guard: CardinalityGuard;
  private readonly m: CollectorMetrics;
  private readonly summary: SummaryStore;
  private readonly selfCorrection: SelfCorrectionTracker<{ series: CallSeries; weight: number }>;
  /** Call series by (service, tool, provider, model), admitted against the cap once per label set. */
  private readonly calls: LabelGroup<CallSeries>;
  /** Client-view series by (service, server, tool, provider, model), likewise. */
  private readonly clients: LabelGroup<ClientSeries>;
  /** Admitted duration series by (service, method, tool, provider, error type) (bounded by the cap). */
  private readonly durationSeries = new KeyTree<HistogramCell>();
  /** Overflow duration series, by the guard's (cached) overflow label object. */
  private readonly durationOverflow = new Map<Record<string, string>, HistogramCell>();
  /** Key scratch for the trees (no array per span). */
  private readonly durKey: string[] = ['', '', '', '', ''];
  /** Breaker-gauge series by (service, instance, tool): a group of one metric, one series per label set. */
  private readonly breakers: LabelGroup<BreakerSeries>;
  /** The admitted breaker series, for the sweep (no walk of the group's tree). */
  private readonly breakerList = new Set<BreakerSeries>();
  private readonly breakerTtlNano: number;
  private readonly now: () => number;
  /** Unauthorized-calls series by (service, tool, client): a group of one metric, one series per label set. */
  private readonly unauthorized: LabelGroup<CounterCell>;
  /** Exemplar timestamp of the batch being tallied (seconds). */
  private nowSeconds = 0;
  /** Series of the spans-received counter by encoding and of the spans-rejected counter by reason (both bounded sets). */
  private readonly received = new Map<string, CounterCell>();
  private readonly rejected = new Map<string, CounterCell>();
  /** The one sanitiser of label values (and of the summary's copies of them). */
  readonly labels: LabelValues;
  /** Options of the validation stage (value checks on or off). */
  private readonly validation: ValidateSpanOptions;
  /** One remembering sanitiser per label read (see LabelSlot). */
  private readonly slot: Readonly<
    Record<'service' | 'method' | 'tool' | 'provider' | 'model' | 'errorType' | 'catalogTool' | 'instance' | 'client', LabelSlot>
  >;
  /** The client view's slots (its own, so interleaved server and client spans keep each slot's memory). */
  private readonly clientSlot: Readonly<Record<'service' | 'server' | 'tool' | 'provider' | 'model', LabelSlot>>;
  /** Token values dropped in the batch being tallied (counted once per batch). */
  private invalidTokenCounts = 0;

  constructor(options: TallyOptions) {
    this.m = options.metrics;
    this.now = options.now ?? Date.now;
    this.breakerTtlNano = (options.breakerStateTtlMs ?? DEFAULT_BREAKER_STATE_TTL_MS) * 1e6;
    const valueChecks = options.valueChecks ?? true;
    this.validation = { valueChecks };
    this.labels = new LabelValues({
      maxBytes: options.maxLabelValueBytes ?? LABEL_VALUE_LIMIT.DEFAULT_MAX_BYTES,
      rewritten: options.metrics.labelValuesRewritten,
      enabled: valueChecks,
    });
    const lv = this.labels;
    this.slot = {
      service: lv.slot(LABEL.SERVICE_NAME),
      method: lv.slot(LABEL.MCP_METHOD_NAME),
      tool: lv.slot(LABEL.GEN_AI_TOOL_NAME),
      provider: lv.slot(LABEL.GEN_AI_PROVIDER_NAME),
      model: lv.slot(LABEL.GEN_AI_REQUEST_MODEL),
      errorType: lv.slot(LABEL.ERROR_TYPE),
      catalogTool: lv.slot(LABEL.GEN_AI_TOOL_NAME),
      instance: lv.slot(LABEL.SERVICE_INSTANCE_ID),
      client: lv.slot(LABEL.CLIENT_NAME),
    };
    this.clientSlot = {
      service: lv.slot(LABEL.SERVICE_NAME),
      server: lv.slot(LABEL.SERVER_NAME),
      tool: lv.slot(LABEL.GEN_AI_TOOL_NAME),
      provider: lv.slot(LABEL.GEN_AI_PROVIDER_NAME),
      model: lv.slot(LABEL.GEN_AI_REQUEST_MODEL),
    };
    this.summary = options.summary;
    this.guard = new CardinalityGuard({ limit: options.cardinalityLimit, dropped: options.metrics.seriesDropped });
    this.calls = new LabelGroup(this.guard, 'call', CALL_LABELS, CALL_FANOUT, (labels, overflow) => this.newSeries(labels, overflow));
    this.clients = new LabelGroup(this.guard, 'client', CLIENT_CALL_LABELS, CLIENT_FANOUT, (labels, overflow) =>
      this.newClientSeries(labels, overflow),
    );
    this.breakers = new LabelGroup(
      this.guard,
      METRICS.TOOL_CIRCUIT_BREAKER_STATE.name,
      BREAKER_LABELS,
      { [METRICS.TOOL_CIRCUIT_BREAKER_STATE.name]: 1 },
      (labels, overflow) => this.newBreakerSeries(labels, overflow),
    );
    this.unauthorized = new LabelGroup(
      this.guard,
      METRICS.TOOL_UNAUTHORIZED_CALLS.name,
      UNAUTHORIZED_LABELS,
      { [METRICS.TOOL_UNAUTHORIZED_CALLS.name]: 1 },
      (labels) => new CounterCell(this.m.unauthorizedCalls, labels),
    );
    this.selfCorrection = new SelfCorrectionTracker({
      windowMs: options.selfCorrectionWindowMs,
      maxKeys: options.selfCorrectionMaxKeys,
    });
  }

  /** Tallies one decoded batch received in `encoding`. Never throws on span content. */
  record(spans: readonly SpanView[], encoding: string): TallyResult {
    const reasons: Record<string, number> = {};
    let rejected = 0;
    const reject = (reason: string): void => {
      rejected++;
      reasons[reason] = (reasons[reason] ?? 0) + 1;
    };
    // One exemplar timestamp per batch: its spans are observed within the same millisecond or so.
    this.nowSeconds = this.now() / 1000;
    const calls: Call[] = [];
    for (const span of spans) {
      const checked = validateSpan(span, this.validation);
      if (typeof checked === 'string') {
        reject(checked);
        continue;
      }
      const method = checked.method;
      if (method === undefined) continue;
      if (checked.client) {
        // The client view: no duration, tokens, catalog or self-correction (and no start order needed).
        this.recordClientCall(span, checked.weight);
        continue;
      }
      this.invalidTokenCounts += checked.invalidTokenCounts;
      const call = this.observeDuration(span, method, checked);
      if (call) calls.push(call);
      else if (method === TOOLS_LIST) this.recordCatalog(span, checked);
    }
    // Self-correction compares span starts: feed calls in start order.
    calls.sort((a, b) => a.span.startTimeUnixNano - b.span.startTimeUnixNano);
    for (const c of calls) this.recordCall(c);

    if (spans.length > 0) cellOf(this.received, this.m.spansReceived, LABEL.ENCODING, encoding).inc(spans.length);
    for (const [reason, n] of Object.entries(reasons)) cellOf(this.rejected, this.m.spansRejected, LABEL.REASON, reason).inc(n);
    if (this.invalidTokenCounts > 0) {
      this.m.attributeValuesRejected.inc({ [LABEL.REASON]: VALUE_REJECT_REASONS.INVALID_TOKEN_COUNT }, this.invalidTokenCounts);
      this.invalidTokenCounts = 0;
    }
    return { spans: spans.length, rejected, reasons };
  }

  /** Spans received and rejected so far, for `/api/summary`: read from their counters. */
  get health(): { spansReceived: number; spansRejected: number } {
    let spansReceived = 0;
    let spansRejected = 0;
    for (const c of this.received.values()) spansReceived += c.value;
    for (const c of this.rejected.values()) spansRejected += c.value;
    return { spansReceived, spansRejected };
  }

  /**
   * Removes the breaker-gauge series (overflow series included) whose transition is older than
   * the ttl: from the gauge, the cap (its slot is freed) and the summary. Run before each read
   * (`/metrics`, `/api/summary`), not per span: one pass over at most the cap's series.
   */
  sweepBreakers(): void {
    const cutoff = this.now() * 1e6 - this.breakerTtlNano;
    for (const series of this.breakerList) {
      if (series.timeUnixNano >= cutoff) continue;
      this.m.breakerState.remove(series.labels);
      this.breakerList.delete(series);
      const key = this.breakers.key;
      key[0] = series.service;
      key[1] = series.instance;
      key[2] = series.tool;
      this.breakers.release();
      this.summary.removeBreaker(series);
    }
    const overflow = this.breakers.overflowSeries;
    if (overflow !== undefined && overflow.timeUnixNano < cutoff) {
      this.m.breakerState.remove(overflow.labels);
      this.breakers.releaseOverflow();
    }
  }

  /** Total label sets sent to overflow series so far. */
  async seriesDropped(): Promise<number> {
    const v = await this.m.seriesDropped.get();
    return v.values.reduce((a, b) => a + b.value, 0);
  }

  /** Duration histogram for every SERVER MCP span; returns the call for tools/call spans. */
  private observeDuration(span: SpanView, method: string, checked: ValidSpan): Call | undefined {
    const a = span.attributes;
    const weight = checked.weight;
    const lv = this.slot;
    const service = this.serviceOf(span);
    const rawKind = str(a[ATTR.VIOLATION_KIND]);
    const kind = rawKind === undefined ? undefined : KNOWN_KINDS.has(rawKind) ? rawKind : UNKNOWN_LABEL_VALUE;
    const isCall = method === TOOLS_CALL;
    // The name as called is only kept for tools/call (summary, self-correction), sanitised like a label.
    const rawToolName = isCall ? str(a[ATTR.GEN_AI_TOOL_NAME]) : undefined;
    const toolName = rawToolName === undefined ? undefined : lv.tool.sanitize(rawToolName);
    const rawProvider = str(a[ATTR.GEN_AI_PROVIDER_NAME]);
    const provider = rawProvider === undefined ? UNKNOWN_PROVIDER : lv.provider.sanitize(rawProvider);
    // Only tools/call names a tool label; an unknown tool's name never becomes a label value.
    const tool = isCall ? (kind === 'unknown_tool' || toolName === undefined ? UNKNOWN_LABEL_VALUE : toolName) : '';
    const rawErrorType = str(a[ATTR.ERROR_TYPE]);
    const errorType = rawErrorType === undefined ? '' : lv.errorType.sanitize(rawErrorType);

    // tools/call is a constant of the contract: only other methods need the check.
    const methodLabel = isCall ? method : lv.method.sanitize(method);

    const key = this.durKey;
    key[0] = service;
    key[1] = methodLabel;
    key[2] = tool;
    key[3] = provider;
    key[4] = errorType;
    let cell = this.durationSeries.get(key);
    if (!cell) {
      const labels = {
        [LABEL.SERVICE_NAME]: service,
        [LABEL.MCP_METHOD_NAME]: methodLabel,
        [LABEL.GEN_AI_TOOL_NAME]: tool,
        [LABEL.GEN_AI_PROVIDER_NAME]: provider,
        [LABEL.ERROR_TYPE]: errorType,
      };
      // Past the cap the guard is asked on every span, as it counts dropped label sets.
      const resolved = this.guard.resolve(METRICS.SERVER_OPERATION_DURATION.name, DURATION_LABELS, labels);
      if (resolved === labels) {
        // Only admitted sets are cached, so the cache is bounded by the cap.
        cell = new HistogramCell(this.m.duration, labels);
        this.durationSeries.set(key, cell);
      } else {
        cell = this.durationOverflow.get(resolved);
        if (!cell) this.durationOverflow.set(resolved, (cell = new HistogramCell(this.m.duration, resolved)));
      }
    }
    const seconds = span.durationNano / 1e9;
    // Adjusted counts: prom-client has no weighted observe; the extra observations are plain,
    // rounded to whole observations (counters below take the exact weight).
    cell.observe(seconds, Math.round(weight), span.traceId, this.nowSeconds);
    if (!isCall) return undefined;
    const rawModel = str(a[ATTR.GEN_AI_REQUEST_MODEL]);
    const model = rawModel === undefined ? UNKNOWN_PROVIDER : lv.model.sanitize(rawModel);
    return {
      span,
      service,
      tool,
      checked,
      toolName: toolName ?? '',
      provider,
      model,
      kind,
      weight,
      series: this.seriesFor(service, tool, provider, model),
    };
  }

  /** The sanitised `service_name` of a span (UNKNOWN_LABEL_VALUE when absent). */
  private serviceOf(span: SpanView): string {
    const raw = str(span.resource[ATTR.SERVICE_NAME]);
    return raw === undefined ? UNKNOWN_LABEL_VALUE : this.slot.service.sanitize(raw);
  }

  /** The call series of a call label set: admitted (and cached) or the shared overflow series. */
  private seriesFor(service: string, tool: string, provider: string, model: string): CallSeries {
    const key = this.calls.key;
    key[0] = service;
    key[1] = tool;
    key[2] = provider;
    key[3] = model;
    return this.calls.resolve();
  }

  /**
   * Makes a call series, creates its violation_kind series at zero (the ratio reads 0, not
   * "no data") and hands its counts to the summary.
   */
  private newSeries(labels: Record<string, string>, overflow: boolean): CallSeries {
    const series = {
      labels,
      service: labels[LABEL.SERVICE_NAME]!,
      tool: labels[LABEL.GEN_AI_TOOL_NAME]!,
      provider: labels[LABEL.GEN_AI_PROVIDER_NAME]!,
      model: labels[LABEL.GEN_AI_REQUEST_MODEL]!,
      overflow,
      outcome: new Map(),
      kind: new Map(),
      token: new Map(),
      notCounted: new Map(),
      selfCorrections: undefined,
      unreported: 0,
      durationBuckets: new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0),
      overflowCells: undefined,
    } as Omit<CallSeries, 'payload1'> as CallSeries;
    series.payload1 = { series, weight: 1 };
    for (const kind of VIOLATION_KINDS) child(series.kind, this.m.violations, series, LABEL.VIOLATION_KIND, kind);
    this.summary.addCalls(series);
    return series;
  }

  private recordCall(c: Call): void {
    const a = c.span.attributes;
    const s = c.series;
    const w = c.weight;
    const outcome = outcomeOf(a, c.span.statusCode);
    child(s.outcome, this.m.calls, s, LABEL.OUTCOME, outcome).inc(w);
    if (outcome === UNAUTHORIZED) this.recordUnauthorized(c);
    if (c.checked.breaker !== undefined) this.recordBreaker(c.span, c.service, c.tool, c.checked.breaker);
    if (c.kind !== undefined) child(s.kind, this.m.violations, s, LABEL.VIOLATION_KIND, c.kind).inc(w);
    const checked = c.checked;
    const notCounted = checked.notCounted;
    if (notCounted !== undefined) {
      // Unknown, not 0. A token attribute beside the marker (the contract has none) is ignored,
      // so every call is either counted or not, never both.
      child(s.notCounted, this.m.tokensNotCounted, s, LABEL.REASON, notCounted).inc(w);
    } else {
      const tokens = checked.tokens;
      let counted = false;
      if (tokens !== undefined) {
        for (const kind of CALL_TOKEN_KINDS) {
          const n = tokens[kind];
          if (n === undefined) continue;
          counted = true;
          if (n > 0) child(s.token, this.m.tokens, s, LABEL.TOKEN_KIND, kind).inc(n * w);
        }
      }
      // Neither counts nor a reason: token counting off, or instrumentation older than the marker.
      // Unknown all the same; the summary says so, the metric (marked calls only) does not.
      if (!counted) s.unreported += w;
    }
    const seconds = c.span.durationNano / 1e9;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS_SECONDS.length && seconds > DURATION_BUCKETS_SECONDS[bucket]!) bucket++;
    s.durationBuckets[bucket]! += w;
    const startMs = c.span.startTimeUnixNano / 1e6;
    const rawSessionKey = str(a[ATTR.SESSION_KEY]);
    // Bounded like a label value (the tracker keeps up to selfCorrectionMaxKeys of them); distinct keys stay distinct.
    const sessionKey = rawSessionKey === undefined ? undefined : this.labels.bound(rawSessionKey);
    if (sessionKey !== undefined && c.toolName !== '') {
      const corrected = this.selfCorrection.observe({
        sessionKey,
        tool: c.toolName,
        provider: c.provider,
        model: c.model,
        startMs,
        malformed: c.kind !== undefined,
        payload: w === 1 ? s.payload1 : { series: s, weight: w },
      });
      for (const p of corrected) {
        const ps = p.series;
        (ps.selfCorrections ??= new CounterCell(this.m.selfCorrections, ps.labels)).inc(p.weight);
      }
    }
    this.summary.recordTrend(s.provider, startMs, w, c.kind !== undefined);
    if (c.kind !== undefined) {
      const paths = a[ATTR.VIOLATION_PATHS];
      this.summary.recordViolation({
        startMs,
        service: s.service,
        provider: s.provider,
        model: s.model,
        tool: c.toolName,
        kind: c.kind,
        paths: Array.isArray(paths)
          ? paths.slice(0, MAX_PATHS).map((p) => this.labels.bound(String(p)))
          : typeof paths === 'string'
            ? [this.labels.bound(paths)]
            : [],
        traceId: c.span.traceId,
        spanId: c.span.spanId,
      });
    }
  }

  /** `mcp_tool_unauthorized_calls_total` + the call's weight under its service, tool and client name. */
  private recordUnauthorized(c: Call): void {
    const rawClient = str(c.span.attributes[ATTR.CLIENT_NAME]);
    const client = rawClient === undefined ? UNKNOWN_LABEL_VALUE : this.slot.client.sanitize(rawClient);
    const key = this.unauthorized.key;
    key[0] = c.service;
    key[1] = c.tool;
    key[2] = client;
    this.unauthorized.resolve().inc(c.weight);
  }

  /** Sets the breaker gauge of (service, instance, tool) from a transition, unless the series already shows a later one. */
  private recordBreaker(span: SpanView, service: string, tool: string, transition: BreakerTransition): void {
    // Older than the ttl: the next sweep would remove it before any read shows it.
    if (transition.timeUnixNano < this.nowSeconds * 1e9 - this.breakerTtlNano) return;
    const rawInstance = str(span.resource[ATTR.SERVICE_INSTANCE_ID]);
    const instance = rawInstance === undefined ? UNKNOWN_LABEL_VALUE : this.slot.instance.sanitize(rawInstance);
    const key = this.breakers.key;
    key[0] = service;
    key[1] = instance;
    key[2] = tool;
    const series = this.breakers.resolve();
    // Out of order across batches: an older transition than the one shown changes nothing.
    if (transition.timeUnixNano < series.timeUnixNano) return;
    series.timeUnixNano = transition.timeUnixNano;
    series.state = transition.state;
    this.m.breakerState.set(series.labels, transition.state);
  }

  /** Makes a breaker series showing no transition yet; an admitted one is swept by age and shown in the summary. */
  private newBreakerSeries(labels: Record<string, string>, overflow: boolean): BreakerSeries {
    const series: BreakerSeries = {
      labels,
      service: labels[LABEL.SERVICE_NAME]!,
      instance: labels[LABEL.SERVICE_INSTANCE_ID]!,
      tool: labels[LABEL.GEN_AI_TOOL_NAME]!,
      state: 0,
      timeUnixNano: -Infinity,
    };
    if (!overflow) {
      this.breakerList.add(series);
      this.summary.addBreaker(series);
    }
    return series;
  }

  /** The client view of one CLIENT tools/call span: its two counters, nothing else. */
  private recordClientCall(span: SpanView, weight: number): void {
    const a = span.attributes;
    const lv = this.clientSlot;
    const rawKind = str(a[ATTR.VIOLATION_KIND]);
    const kind = rawKind === undefined ? undefined : KNOWN_KINDS.has(rawKind) ? rawKind : UNKNOWN_LABEL_VALUE;
    const rawService = str(span.resource[ATTR.SERVICE_NAME]);
    const service = rawService === undefined ? UNKNOWN_LABEL_VALUE : lv.service.sanitize(rawService);
    const rawServer = str(a[ATTR.SERVER_NAME]);
    const server = rawServer === undefined ? UNKNOWN_LABEL_VALUE : lv.server.sanitize(rawServer);
    const rawTool = str(a[ATTR.GEN_AI_TOOL_NAME]);
    // As on the server side: an unknown tool's name never becomes a label value.
    const tool = kind === 'unknown_tool' || rawTool === undefined ? UNKNOWN_LABEL_VALUE : lv.tool.sanitize(rawTool);
    const rawProvider = str(a[ATTR.GEN_AI_PROVIDER_NAME]);
    const provider = rawProvider === undefined ? UNKNOWN_PROVIDER : lv.provider.sanitize(rawProvider);
    const rawModel = str(a[ATTR.GEN_AI_REQUEST_MODEL]);
    const model = rawModel === undefined ? UNKNOWN_PROVIDER : lv.model.sanitize(rawModel);
    const s = this.clientSeriesFor(service, server, tool, provider, model);
    child(s.outcome, this.m.clientCalls, s, LABEL.OUTCOME, outcomeOf(a, span.statusCode)).inc(weight);
    if (kind !== undefined) child(s.kind, this.m.clientViolations, s, LABEL.VIOLATION_KIND, kind).inc(weight);
  }

  /** The client series of a client call label set: admitted (and cached) or the shared overflow series. */
  private clientSeriesFor(service: string, server: string, tool: string, provider: string, model: string): ClientSeries {
    const key = this.clients.key;
    key[0] = service;
    key[1] = server;
    key[2] = tool;
    key[3] = provider;
    key[4] = model;
    return this.clients.resolve();
  }

  /** Makes a client series with its violation_kind series at zero (as {@link newSeries}) and hands its counts to the summary. */
  private newClientSeries(labels: Record<string, string>, overflow: boolean): ClientSeries {
    const series: ClientSeries = {
      labels,
      service: labels[LABEL.SERVICE_NAME]!,
      server: labels[LABEL.SERVER_NAME]!,
      tool: labels[LABEL.GEN_AI_TOOL_NAME]!,
      provider: labels[LABEL.GEN_AI_PROVIDER_NAME]!,
      model: labels[LABEL.GEN_AI_REQUEST_MODEL]!,
      overflow,
      outcome: new Map(),
      kind: new Map(),
      overflowCells: undefined,
    };
    for (const kind of VIOLATION_KINDS) child(series.kind, this.m.clientViolations, series, LABEL.VIOLATION_KIND, kind);
    this.summary.addClientCalls(series);
    return series;
  }

  /** Catalog gauges from a tools/list span. */
  private recordCatalog(span: SpanView, checked: ValidSpan): void {
    const service = this.serviceOf(span);
    if (checked.notCounted !== undefined) {
      // The gauges keep the last counted catalog; the summary says this listing was not counted.
      this.recordCatalogNotCounted(service, checked.notCounted);
      return;
    }
    const tools: Array<{ tool: string; tokens: number }> = [];
    for (const { tool: rawTool, tokens } of checked.catalogTools ?? []) {
      const tool = this.slot.catalogTool.sanitize(rawTool);
      const labels = this.guard.resolve(METRICS.TOOL_CATALOG_TOOL_TOKENS.name, CATALOG_TOOL_LABELS, {
        [LABEL.SERVICE_NAME]: service,
        [LABEL.GEN_AI_TOOL_NAME]: tool,
      });
      this.m.catalogTool.set(labels, tokens);
      // The summary keeps what the cap admitted, so its memory is bounded the same way.
      tools.push({ tool: labels[LABEL.GEN_AI_TOOL_NAME]!, tokens });
    }
    let total = checked.catalogTotal;
    if (total === undefined && tools.length > 0) total = tools.reduce((s, t) => s + t.tokens, 0);
    if (total === undefined) {
      // A failed listing has no catalog to count; a successful one without counts or a reason
      // comes from token counting off or older instrumentation: not counted either.
      const failed = span.statusCode === OTLP_STATUS_CODE.ERROR || str(span.attributes[ATTR.ERROR_TYPE]) !== undefined;
      if (!failed) this.recordCatalogNotCounted(service, TOKENS_UNREPORTED);
      return;
    }
    const labels = this.guard.resolve(METRICS.TOOL_CATALOG_TOKENS.name, CATALOG_TOTAL_LABELS, { [LABEL.SERVICE_NAME]: service });
    this.m.catalogTotal.set(labels, total);
    this.summary.recordCatalog(labels[LABEL.SERVICE_NAME]!, total, tools);
  }

  /** A tools/list whose tokens are unknown: the summary's catalog of the service says so (bounded by the cap like its gauge). */
  private recordCatalogNotCounted(service: string, reason: string): void {
    const labels = this.guard.resolve(METRICS.TOOL_CATALOG_TOKENS.name, CATALOG_TOTAL_LABELS, { [LABEL.SERVICE_NAME]: service });
    this.summary.recordCatalogNotCounted(labels[LABEL.SERVICE_NAME]!, reason);
  }
}
