/**
 * Spans -> metrics. The rules (issue 3):
 * - Only SERVER spans (OTLP kind 2) count; client-side spans of the same call never double-count.
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
 *   its kinds (see cardinality.ts), so at the default cap of 10,000 series about 1,000 distinct
 *   (service, tool, provider, model) sets get their own series.
 * - tools/list spans set the catalog gauges (per tool from CATALOG_TOOL events, total from TOKENS_CATALOG).
 * - Self-corrections: see self-correction.ts.
 */
import {
  ATTR,
  ERROR_TYPE_TOOL_ERROR,
  EVENT,
  LABEL,
  MCP_METHOD,
  METRICS,
  OUTCOMES,
  OVERFLOW_LABEL_VALUE,
  SPAN_REJECT_REASONS,
  TOKEN_ATTRIBUTE,
  UNKNOWN_LABEL_VALUE,
  UNKNOWN_PROVIDER,
  VIOLATION_KINDS,
  type Outcome,
} from '../contract/index.js';
import { CardinalityGuard } from './cardinality.js';
import type { CollectorMetrics } from './metrics.js';
import { SelfCorrectionTracker } from './self-correction.js';
import { OTLP_SPAN_KIND, OTLP_STATUS_CODE, type Attributes, type AttributeValue, type SpanView } from './span-view.js';
import type { SummaryStore } from './summary.js';

const TOOLS_CALL = MCP_METHOD.TOOLS_CALL;
const TOOLS_LIST = MCP_METHOD.TOOLS_LIST;

/** Largest adjusted count honoured on one span; larger (or non-positive) values reject the span. */
export const MAX_ADJUSTED_COUNT = 1_000_000;

/** Reasons of `mcplens_collector_spans_rejected_total` (from the contract). */
const REJECT_REASON = SPAN_REJECT_REASONS;

const CALL_LABEL_NAMES = METRICS.TOOL_CALLS.labels.slice(0, -1) as readonly string[];
const DURATION_LABELS = METRICS.SERVER_OPERATION_DURATION.labels as readonly string[];
const CATALOG_TOOL_LABELS = METRICS.TOOL_CATALOG_TOOL_TOKENS.labels as readonly string[];
const CATALOG_TOTAL_LABELS = METRICS.TOOL_CATALOG_TOKENS.labels as readonly string[];
const CALL_TOKEN_KINDS = (['arguments', 'result'] as const).filter((k) => k in TOKEN_ATTRIBUTE);

/** Series one admitted call label set may create in each per-call metric (reserved against the cap). */
const CALL_FANOUT: Readonly<Record<string, number>> = {
  [METRICS.TOOL_CALLS.name]: OUTCOMES.length,
  [METRICS.TOOL_SCHEMA_VIOLATIONS.name]: VIOLATION_KINDS.length,
  [METRICS.TOOL_TOKENS.name]: CALL_TOKEN_KINDS.length,
  [METRICS.TOOL_SELF_CORRECTIONS.name]: 1,
};

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const ZERO32 = '0'.repeat(32);
const ZERO16 = '0'.repeat(16);
const KNOWN_KINDS: ReadonlySet<string> = new Set(VIOLATION_KINDS);
const KNOWN_OUTCOMES: ReadonlySet<string> = new Set(OUTCOMES);

/** Options of {@link Tally}. */
export interface TallyOptions {
  metrics: CollectorMetrics;
  cardinalityLimit: number;
  selfCorrectionWindowMs: number;
  selfCorrectionMaxKeys: number;
  summary: SummaryStore;
}

/** What one batch did. */
export interface TallyResult {
  spans: number;
  rejected: number;
  /** Rejected spans by reason. */
  reasons: Record<string, number>;
}

/** Pre-built label sets of one call label set (service, tool, provider, model): no allocation per span. */
interface CallSeries {
  labels: Record<string, string>;
  /** The call label set went to the overflow series (every label, outcome and kind included, is the overflow value). */
  overflow: boolean;
  outcome: Map<string, Record<string, string>>;
  kind: Map<string, Record<string, string>>;
  token: Map<string, Record<string, string>>;
}

interface Call {
  span: SpanView;
  toolName: string;
  kind: string | undefined;
  weight: number;
  series: CallSeries;
}

/** Label set for `value` of the last label, built once per call series. */
function child(map: Map<string, Record<string, string>>, base: CallSeries, label: string, value: string): Record<string, string> {
  let l = map.get(value);
  if (!l) {
    l = { ...base.labels, [label]: base.overflow ? OVERFLOW_LABEL_VALUE : value };
    map.set(value, l);
  }
  return l;
}

function str(v: AttributeValue | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function num(v: AttributeValue | undefined): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? n : undefined;
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

/** Turns span batches into metric increments and summary records. */
export class Tally {
  readonly guard: CardinalityGuard;
  private readonly m: CollectorMetrics;
  private readonly summary: SummaryStore;
  private readonly selfCorrection: SelfCorrectionTracker<{ series: CallSeries; weight: number }>;
  /** Admitted call series by call key (bounded by the cap); overflowed keys share {@link overflowSeries}. */
  private readonly callSeries = new Map<string, CallSeries>();
  private overflowSeries: CallSeries | undefined;
  /** Admitted duration label sets by key (bounded by the cap). */
  private readonly durationSeries = new Map<string, Record<string, string>>();
  /** Plain totals for `/api/summary` (reading prom-client values is async). */
  readonly health = { spansReceived: 0, spansRejected: 0 };

  constructor(options: TallyOptions) {
    this.m = options.metrics;
    this.summary = options.summary;
    this.guard = new CardinalityGuard({ limit: options.cardinalityLimit, dropped: options.metrics.seriesDropped });
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
    const calls: Call[] = [];
    for (const span of spans) {
      if (!HEX32.test(span.traceId) || span.traceId === ZERO32 || !HEX16.test(span.spanId) || span.spanId === ZERO16) {
        reject(REJECT_REASON.INVALID_ID);
        continue;
      }
      if (!(span.endTimeUnixNano >= span.startTimeUnixNano) || !Number.isFinite(span.startTimeUnixNano)) {
        reject(REJECT_REASON.INVALID_TIME);
        continue;
      }
      const adjusted = span.attributes[ATTR.ADJUSTED_COUNT];
      let weight = 1;
      if (adjusted !== undefined) {
        const n = typeof adjusted === 'number' ? adjusted : Number(adjusted);
        // 1 / ratio: not necessarily an integer (ratio 0.3 -> 3.33...).
        if (!Number.isFinite(n) || n < 1 || n > MAX_ADJUSTED_COUNT) {
          reject(REJECT_REASON.INVALID_ADJUSTED_COUNT);
          continue;
        }
        weight = n;
      }
      if (span.kind !== OTLP_SPAN_KIND.SERVER) continue;
      const method = str(span.attributes[ATTR.MCP_METHOD_NAME]);
      if (method === undefined) continue;
      const call = this.observeDuration(span, method, weight);
      if (call) calls.push(call);
      else if (method === TOOLS_LIST) this.recordCatalog(span);
    }
    // Self-correction compares span starts: feed calls in start order.
    calls.sort((a, b) => a.span.startTimeUnixNano - b.span.startTimeUnixNano);
    for (const c of calls) this.recordCall(c);

    this.health.spansReceived += spans.length;
    this.health.spansRejected += rejected;
    if (spans.length > 0) this.m.spansReceived.inc({ [LABEL.ENCODING]: encoding }, spans.length);
    for (const [reason, n] of Object.entries(reasons)) this.m.spansRejected.inc({ [LABEL.REASON]: reason }, n);
    return { spans: spans.length, rejected, reasons };
  }

  /** Total label sets sent to overflow series so far. */
  async seriesDropped(): Promise<number> {
    const v = await this.m.seriesDropped.get();
    return v.values.reduce((a, b) => a + b.value, 0);
  }

  /** Duration histogram for every SERVER MCP span; returns the call for tools/call spans. */
  private observeDuration(span: SpanView, method: string, weight: number): Call | undefined {
    const a = span.attributes;
    const service = str(span.resource[ATTR.SERVICE_NAME]) ?? UNKNOWN_LABEL_VALUE;
    const rawKind = str(a[ATTR.VIOLATION_KIND]);
    const kind = rawKind === undefined ? undefined : KNOWN_KINDS.has(rawKind) ? rawKind : UNKNOWN_LABEL_VALUE;
    const toolName = str(a[ATTR.GEN_AI_TOOL_NAME]);
    const provider = str(a[ATTR.GEN_AI_PROVIDER_NAME]) ?? UNKNOWN_PROVIDER;
    const isCall = method === TOOLS_CALL;
    // Only tools/call names a tool label; an unknown tool's name never becomes a label value.
    const tool = isCall ? (kind === 'unknown_tool' || toolName === undefined ? UNKNOWN_LABEL_VALUE : toolName) : '';
    const errorType = str(a[ATTR.ERROR_TYPE]) ?? '';

    const durKey = `${service}\u0000${method}\u0000${tool}\u0000${provider}\u0000${errorType}`;
    let durLabels = this.durationSeries.get(durKey);
    if (!durLabels) {
      const labels = {
        [LABEL.SERVICE_NAME]: service,
        [LABEL.MCP_METHOD_NAME]: method,
        [LABEL.GEN_AI_TOOL_NAME]: tool,
        [LABEL.GEN_AI_PROVIDER_NAME]: provider,
        [LABEL.ERROR_TYPE]: errorType,
      };
      durLabels = this.guard.resolve(METRICS.SERVER_OPERATION_DURATION.name, DURATION_LABELS, labels);
      // Only admitted sets are cached, so the cache is bounded by the cap.
      if (durLabels === labels) this.durationSeries.set(durKey, labels);
    }
    const seconds = (span.endTimeUnixNano - span.startTimeUnixNano) / 1e9;
    this.m.duration.observe({ labels: durLabels, value: seconds, exemplarLabels: { trace_id: span.traceId } });
    // Adjusted counts: prom-client has no weighted observe; the extra observations are plain,
    // rounded to whole observations (counters below take the exact weight).
    for (let i = 1, n = Math.round(weight); i < n; i++) this.m.duration.observe({ labels: durLabels, value: seconds });
    if (!isCall) return undefined;
    const model = str(a[ATTR.GEN_AI_REQUEST_MODEL]) ?? UNKNOWN_PROVIDER;
    return { span, toolName: toolName ?? '', kind, weight, series: this.seriesFor(service, tool, provider, model) };
  }

  /** The call series of a call label set: admitted (and cached) or the shared overflow series. */
  private seriesFor(service: string, tool: string, provider: string, model: string): CallSeries {
    const key = `${service}\u0000${tool}\u0000${provider}\u0000${model}\u0000`;
    const cached = this.callSeries.get(key);
    if (cached) return cached;
    if (this.guard.admitGroup('call', key, CALL_FANOUT)) {
      const series = this.newSeries(
        {
          [LABEL.SERVICE_NAME]: service,
          [LABEL.GEN_AI_TOOL_NAME]: tool,
          [LABEL.GEN_AI_PROVIDER_NAME]: provider,
          [LABEL.GEN_AI_REQUEST_MODEL]: model,
        },
        false,
      );
      this.callSeries.set(key, series);
      return series;
    }
    for (const metric of Object.keys(CALL_FANOUT)) this.guard.noteDropped(metric, key);
    this.overflowSeries ??= this.newSeries(this.guard.overflowLabels('call', CALL_LABEL_NAMES), true);
    return this.overflowSeries;
  }

  /** Makes a call series and creates its violation_kind series at zero (the ratio reads 0, not "no data"). */
  private newSeries(labels: Record<string, string>, overflow: boolean): CallSeries {
    const series: CallSeries = { labels, overflow, outcome: new Map(), kind: new Map(), token: new Map() };
    for (const kind of VIOLATION_KINDS) this.m.violations.inc(child(series.kind, series, LABEL.VIOLATION_KIND, kind), 0);
    return series;
  }

  private recordCall(c: Call): void {
    const a = c.span.attributes;
    const s = c.series;
    const outcome = outcomeOf(a, c.span.statusCode);
    this.m.calls.inc(child(s.outcome, s, LABEL.OUTCOME, outcome), c.weight);
    if (c.kind !== undefined) this.m.violations.inc(child(s.kind, s, LABEL.VIOLATION_KIND, c.kind), c.weight);
    const tokens: Partial<Record<string, number>> = {};
    for (const kind of CALL_TOKEN_KINDS) {
      const n = num(a[TOKEN_ATTRIBUTE[kind]]);
      if (n === undefined) continue;
      tokens[kind] = n;
      if (n > 0) this.m.tokens.inc(child(s.token, s, LABEL.TOKEN_KIND, kind), n * c.weight);
    }
    const sessionKey = str(a[ATTR.SESSION_KEY]);
    if (sessionKey !== undefined && c.toolName !== '') {
      const corrected = this.selfCorrection.observe({
        sessionKey,
        tool: c.toolName,
        startMs: c.span.startTimeUnixNano / 1e6,
        malformed: c.kind !== undefined,
        payload: { series: s, weight: c.weight },
      });
      for (const p of corrected) {
        const l = p.series.labels;
        this.m.selfCorrections.inc(l, p.weight);
        this.summary.recordSelfCorrection(l[LABEL.SERVICE_NAME]!, l[LABEL.GEN_AI_TOOL_NAME]!, l[LABEL.GEN_AI_PROVIDER_NAME]!, l[LABEL.GEN_AI_REQUEST_MODEL]!, p.weight);
      }
    }
    const paths = c.kind === undefined ? undefined : a[ATTR.VIOLATION_PATHS];
    this.summary.recordCall({
      service: s.labels[LABEL.SERVICE_NAME]!,
      tool: s.labels[LABEL.GEN_AI_TOOL_NAME]!,
      toolName: c.toolName,
      provider: s.labels[LABEL.GEN_AI_PROVIDER_NAME]!,
      model: s.labels[LABEL.GEN_AI_REQUEST_MODEL]!,
      outcome,
      kind: c.kind,
      paths: Array.isArray(paths) ? paths.map(String) : typeof paths === 'string' ? [paths] : [],
      durationSeconds: (c.span.endTimeUnixNano - c.span.startTimeUnixNano) / 1e9,
      tokens,
      weight: c.weight,
      startMs: c.span.startTimeUnixNano / 1e6,
      traceId: c.span.traceId,
      spanId: c.span.spanId,
    });
  }

  /** Catalog gauges from a tools/list span. */
  private recordCatalog(span: SpanView): void {
    const service = str(span.resource[ATTR.SERVICE_NAME]) ?? UNKNOWN_LABEL_VALUE;
    const tools: Array<{ tool: string; tokens: number }> = [];
    for (const e of span.events) {
      if (e.name !== EVENT.CATALOG_TOOL) continue;
      const tool = str(e.attributes[ATTR.GEN_AI_TOOL_NAME]);
      const tokens = num(e.attributes[ATTR.TOKENS_CATALOG]);
      if (tool === undefined || tokens === undefined) continue;
      tools.push({ tool, tokens });
      const labels = this.guard.resolve(METRICS.TOOL_CATALOG_TOOL_TOKENS.name, CATALOG_TOOL_LABELS, {
        [LABEL.SERVICE_NAME]: service,
        [LABEL.GEN_AI_TOOL_NAME]: tool,
      });
      this.m.catalogTool.set(labels, tokens);
    }
    let total = num(span.attributes[ATTR.TOKENS_CATALOG]);
    if (total === undefined && tools.length > 0) total = tools.reduce((s, t) => s + t.tokens, 0);
    if (total !== undefined) {
      const labels = this.guard.resolve(METRICS.TOOL_CATALOG_TOKENS.name, CATALOG_TOTAL_LABELS, { [LABEL.SERVICE_NAME]: service });
      this.m.catalogTotal.set(labels, total);
    }
    if (total !== undefined || tools.length > 0) this.summary.recordCatalog(service, total, tools);
  }
}
