/**
 * Shared helpers of the collector tests: a real collector on 127.0.0.1 port 0, real OTLP
 * exporters (JSON via exporter-trace-otlp-http, protobuf+gzip via exporter-trace-otlp-proto)
 * behind a real BasicTracerProvider, spans shaped like mcplens' instrumentation's, and a
 * small parser for the Prometheus text formats.
 */
import { SpanKind, type Attributes as OtelAttributes, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR, EVENT, MCP_METHOD, PROVIDERS, type Outcome, type ViolationKind } from '../../contract/index.js';
import { createCollector, type Collector, type CreateCollectorOptions } from '../../collector/index.js';

/** A started collector. */
export interface Started {
  collector: Collector;
  url: string;
}

/** Starts a collector on 127.0.0.1 port 0. */
export async function startCollector(options: CreateCollectorOptions = {}): Promise<Started> {
  const collector = createCollector({ host: '127.0.0.1', port: 0, shutdownTimeoutMs: 2000, ...options });
  const { url } = await collector.listen();
  return { collector, url };
}

/** A tracer whose spans go to `url` through a real OTLP exporter. */
export interface TestTracer {
  tracer: Tracer;
  /** Sends everything ended so far and waits for the collector's answer. */
  flush(): Promise<void>;
  /** Trace ids of every span ended so far. */
  traceIds(): Set<string>;
  shutdown(): Promise<void>;
}

/** Builds a tracer exporting with JSON (`json`) or protobuf with gzip (`protobuf`). */
export function makeTracer(url: string, encoding: 'json' | 'protobuf', serviceName: string, headers?: Record<string, string>): TestTracer {
  const exporter =
    encoding === 'json'
      ? new JsonExporter({ url: `${url}/v1/traces`, headers })
      : new ProtoExporter({ url: `${url}/v1/traces`, compression: CompressionAlgorithm.GZIP, headers });
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR.SERVICE_NAME]: serviceName }),
    spanProcessors: [
      new BatchSpanProcessor(exporter, { maxExportBatchSize: 512, scheduledDelayMillis: 60_000 }),
      new SimpleSpanProcessor(memory),
    ],
  });
  return {
    tracer: provider.getTracer('mcplens-collector-test'),
    flush: () => provider.forceFlush(),
    traceIds: () => new Set(memory.getFinishedSpans().map((s) => s.spanContext().traceId)),
    shutdown: () => provider.shutdown(),
  };
}

/** One MCP request span, as the instrumentation emits it. */
export interface CallSpec {
  method?: string;
  kind?: SpanKind;
  tool?: string;
  provider?: string;
  model?: string;
  /** Typed by the contract's enumeration, so a typo fails to compile. */
  outcome?: Outcome;
  violationKind?: ViolationKind;
  paths?: string[];
  session?: string;
  tokensArguments?: number;
  tokensResult?: number;
  /** `mcplens.tokens.not_counted`: a contract reason, or anything else to see it kept bounded. */
  tokensNotCounted?: string | number | boolean;
  adjustedCount?: number;
  errorType?: string;
  /** Start, ms since epoch. */
  startMs: number;
  durationMs?: number;
}

/** Emits one span per spec. */
export function emitCall(tracer: Tracer, c: CallSpec): void {
  const method = c.method ?? MCP_METHOD.TOOLS_CALL;
  const a: OtelAttributes = { [ATTR.MCP_METHOD_NAME]: method };
  if (c.tool !== undefined) a[ATTR.GEN_AI_TOOL_NAME] = c.tool;
  if (c.provider !== undefined) a[ATTR.GEN_AI_PROVIDER_NAME] = c.provider;
  if (c.model !== undefined) a[ATTR.GEN_AI_REQUEST_MODEL] = c.model;
  if (c.outcome !== undefined) a[ATTR.OUTCOME] = c.outcome;
  if (c.violationKind !== undefined) {
    a[ATTR.VIOLATION_KIND] = c.violationKind;
    a[ATTR.VIOLATION_COUNT] = c.paths?.length ?? 1;
    a[ATTR.VIOLATION_PATHS] = c.paths ?? ['/x'];
  }
  if (c.session !== undefined) a[ATTR.SESSION_KEY] = c.session;
  if (c.tokensArguments !== undefined) a[ATTR.TOKENS_ARGUMENTS] = c.tokensArguments;
  if (c.tokensResult !== undefined) a[ATTR.TOKENS_RESULT] = c.tokensResult;
  if (c.tokensNotCounted !== undefined) a[ATTR.TOKENS_NOT_COUNTED] = c.tokensNotCounted;
  if (c.adjustedCount !== undefined) a[ATTR.ADJUSTED_COUNT] = c.adjustedCount;
  if (c.errorType !== undefined) a[ATTR.ERROR_TYPE] = c.errorType;
  const span = tracer.startSpan(`${method} ${c.tool ?? ''}`.trim(), {
    kind: c.kind ?? SpanKind.SERVER,
    attributes: a,
    startTime: c.startMs,
  });
  span.end(c.startMs + (c.durationMs ?? 20));
}

/** A tools/list span with the catalog's tokens. */
export function emitCatalog(tracer: Tracer, startMs: number, tools: Record<string, number>): void {
  const total = Object.values(tools).reduce((x, y) => x + y, 0);
  const span = tracer.startSpan(MCP_METHOD.TOOLS_LIST, {
    kind: SpanKind.SERVER,
    attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST, [ATTR.TOKENS_CATALOG]: total },
    startTime: startMs,
  });
  for (const [tool, tokens] of Object.entries(tools)) {
    span.addEvent(EVENT.CATALOG_TOOL, { [ATTR.GEN_AI_TOOL_NAME]: tool, [ATTR.TOKENS_CATALOG]: tokens }, startMs + 1);
  }
  span.end(startMs + 5);
}

/**
 * A tools/list span without catalog tokens: marked `mcplens.tokens.not_counted` with `reason`,
 * or (reason undefined) unmarked, as from token counting off; `errorType` makes it a failed listing.
 */
export function emitUncountedCatalog(tracer: Tracer, startMs: number, reason: string | undefined, errorType?: string): void {
  const attributes: OtelAttributes = { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST };
  if (reason !== undefined) attributes[ATTR.TOKENS_NOT_COUNTED] = reason;
  if (errorType !== undefined) attributes[ATTR.ERROR_TYPE] = errorType;
  const span = tracer.startSpan(MCP_METHOD.TOOLS_LIST, { kind: SpanKind.SERVER, attributes, startTime: startMs });
  span.end(startMs + 5);
}

/**
 * The standard scenario (exact expectations in {@link SCENARIO}): openai 8 calls (2 malformed,
 * 1 self-corrected), anthropic 5 clean calls, deepseek 2 calls to an unknown tool, 1 call
 * without provider, mistral_ai 1 sampled span standing for 4 calls, plus a CLIENT span, a
 * tools/list span and an initialize span.
 */
export function emitScenario(tracer: Tracer, base: number): void {
  const s = 1000;
  const openai = { provider: PROVIDERS.OPENAI, model: 'gpt-4.1', tool: 'lookup_inventory', tokensArguments: 10, tokensResult: 100 };
  emitCall(tracer, { ...openai, session: 's1', startMs: base, outcome: 'tool_error', violationKind: 'missing_required', paths: ['/sku'] });
  emitCall(tracer, { ...openai, session: 's1', startMs: base + 1 * s, outcome: 'ok' });
  emitCall(tracer, {
    ...openai,
    session: 's1',
    startMs: base + 2 * s,
    outcome: 'tool_error',
    violationKind: 'wrong_type',
    paths: ['/quantity'],
  });
  emitCall(tracer, { ...openai, session: 's1', startMs: base + 100 * s, outcome: 'ok' });
  for (let i = 0; i < 4; i++) emitCall(tracer, { ...openai, session: 's2', startMs: base + (10 + i) * s, outcome: 'ok' });
  for (let i = 0; i < 5; i++) {
    emitCall(tracer, {
      provider: PROVIDERS.ANTHROPIC,
      model: 'claude-sonnet-4-5',
      tool: 'cancel_order',
      session: 's3',
      startMs: base + i * s,
      outcome: 'ok',
    });
  }
  for (let i = 0; i < 2; i++) {
    emitCall(tracer, {
      provider: PROVIDERS.DEEPSEEK,
      model: 'deepseek-chat',
      tool: 'nope',
      session: 's4',
      startMs: base + i * s,
      outcome: 'rejected',
      violationKind: 'unknown_tool',
      paths: [''],
    });
  }
  emitCall(tracer, { tool: 'lookup_inventory', startMs: base, outcome: 'ok' });
  emitCall(tracer, {
    provider: PROVIDERS.MISTRAL_AI,
    model: 'mistral-large',
    tool: 'cancel_order',
    startMs: base,
    outcome: 'ok',
    adjustedCount: 4,
  });
  // A client-side span of the same kind of call must never count.
  emitCall(tracer, { ...openai, kind: SpanKind.CLIENT, startMs: base, outcome: 'ok' });
  emitCatalog(tracer, base, { lookup_inventory: 120, cancel_order: 180 });
  emitCall(tracer, { method: 'initialize', startMs: base });
}

/** Exact expectations of {@link emitScenario}, per service. */
export const SCENARIO = {
  calls: 20,
  serverMcpObservations: 22,
  byProvider: { openai: 8, anthropic: 5, deepseek: 2, unknown: 1, mistral_ai: 4 } as Record<string, number>,
  openaiViolations: { missing_required: 1, wrong_type: 1 } as Record<string, number>,
  openaiSelfCorrections: 1,
  openaiTokens: { arguments: 80, result: 800 } as Record<string, number>,
};

/** One sample of a text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Exemplar text after `#`, if any. */
  exemplar?: string;
}

/** Parses Prometheus classic text or OpenMetrics samples (comments skipped). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*?)\})?\s+(\S+)(?:\s+#\s+(.*))?$/.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
        labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    }
    const v = m[4]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v), exemplar: m[5] });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/** Number of samples named `name` whose labels include `match`. */
export function countOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).length;
}

/** GET /metrics, classic (default) or OpenMetrics; returns the text and parsed samples. */
export async function scrape(
  url: string,
  openMetrics = false,
  token?: string,
): Promise<{ text: string; samples: Sample[]; contentType: string }> {
  const headers: Record<string, string> = {};
  if (openMetrics) headers['accept'] = 'application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5';
  if (token) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return { text, samples: parseExposition(text), contentType: res.headers.get('content-type') ?? '' };
}
