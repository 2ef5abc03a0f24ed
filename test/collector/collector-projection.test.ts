/**
 * The decoders' projection (decode only what the tally reads) against the full decode on
 * real requests (OTel SDK spans, otlp-transformer serializers): a projected decode equals
 * the full decode filtered, in both encodings; malformed bodies fail with the same error
 * either way; and a Tally fed projected spans produces the same /metrics and /api/summary.
 */
import { describe, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Registry, type RegistryContentType } from 'prom-client';
import { decodeTracesJson } from '../../collector/decode-json.js';
import { decodeTracesProtobuf, type DecodeProjection } from '../../collector/decode-protobuf.js';
import { createCollectorMetrics } from '../../collector/metrics.js';
import type { Attributes, SpanView } from '../../collector/span-view.js';
import { SummaryStore } from '../../collector/summary.js';
import { Tally, TALLY_PROJECTION } from '../../collector/tally.js';
import { ATTR, EVENT, LABEL, MCP_METHOD, METRICS, TOKENS_NOT_COUNTED_REASONS } from '../../contract/index.js';
import { emitCatalog, emitUncountedCatalog } from './collector-harness.js';
import { buildKitchenSinkSpans, buildToolCallSpans, recordSpans, seededRandom } from '../../harness/otlp-span-fixtures.js';

function protobufBody(spans: ReadableSpan[]): Uint8Array {
  const bytes = ProtobufTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return bytes;
}

function jsonBody(spans: ReadableSpan[]): string {
  const bytes = JsonTraceSerializer.serializeRequest(spans);
  if (!bytes) throw new Error('serializer returned nothing');
  return Buffer.from(bytes).toString('utf8');
}

function pick(attributes: Attributes, keep: ReadonlySet<string> | undefined): Attributes {
  if (keep === undefined) return attributes;
  return Object.fromEntries(Object.entries(attributes).filter(([k]) => keep.has(k)));
}

/** The full decode, filtered as the projection says. */
function filtered(spans: SpanView[], p: DecodeProjection): SpanView[] {
  return spans.map((s) => ({
    ...s,
    attributes: pick(s.attributes, p.spanAttributes),
    resource: pick(s.resource, p.resourceAttributes),
    events: p.events === undefined ? s.events : s.events.filter((e) => p.events!.has(e.name)),
  }));
}

/** Tool calls, tools/list spans with catalog events, and the kitchen sink (every value type, events, links). */
function mixedSpans(): ReadableSpan[] {
  const catalog = recordSpans({ [ATTR.SERVICE_NAME]: 'catalog-svc', 'host.name': 'h1' }, 3, (tracer) => {
    emitCatalog(tracer, 1_767_000_000_000, { search: 120, create: 80 });
    tracer
      .startSpan(`${MCP_METHOD.TOOLS_CALL} search`, {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
          [ATTR.VIOLATION_KIND]: 'wrong_type',
          [ATTR.VIOLATION_PATHS]: ['/a', '/b'],
        },
      })
      .end();
    // Tokens not counted, on a call and on a listing.
    tracer
      .startSpan(`${MCP_METHOD.TOOLS_CALL} search`, {
        kind: SpanKind.SERVER,
        attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL, [ATTR.TOKENS_NOT_COUNTED]: TOKENS_NOT_COUNTED_REASONS.BACKLOG },
      })
      .end();
    emitUncountedCatalog(tracer, 1_767_000_001_000, TOKENS_NOT_COUNTED_REASONS.SHUTDOWN);
    // The client view: a CLIENT tools/call span naming its server.
    tracer
      .startSpan(`${MCP_METHOD.TOOLS_CALL} search`, {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
          [ATTR.GEN_AI_TOOL_NAME]: 'search',
          [ATTR.GEN_AI_PROVIDER_NAME]: 'openai',
          [ATTR.SERVER_NAME]: 'search-server',
          [ATTR.OUTCOME]: 'rejected',
          [ATTR.VIOLATION_KIND]: 'wrong_type',
        },
      })
      .end();
  });
  return [...buildToolCallSpans(200, 11), ...catalog, ...buildKitchenSinkSpans()];
}

const CUSTOM: DecodeProjection = {
  spanAttributes: new Set(['unicode', 'strings', 'withNulls', 'bigint', ATTR.MCP_METHOD_NAME, 'missing']),
  resourceAttributes: new Set(['deployment.environment']),
  events: new Set(['with attributes', EVENT.CATALOG_TOOL]),
};

/** Runs a decode and returns its spans or the message of the error it throws. */
function attempt(run: () => SpanView[]): SpanView[] | string {
  try {
    return run();
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
}

describe('decode projection', () => {
  const spans = mixedSpans();
  const proto = protobufBody(spans);
  const json = jsonBody(spans);

  it('protobuf: a projected decode equals the full decode filtered', () => {
    const full = decodeTracesProtobuf(proto);
    for (const p of [TALLY_PROJECTION, CUSTOM, {}]) {
      const projected = decodeTracesProtobuf(proto, undefined, p);
      expect(projected).toEqual(filtered(full, p));
    }
    // The projection keeps what the tally needs (and the catalog events), drops the rest.
    const projected = decodeTracesProtobuf(proto, undefined, TALLY_PROJECTION);
    expect(projected[0]!.attributes[ATTR.GEN_AI_TOOL_NAME]).toBeDefined();
    expect(projected[0]!.attributes[ATTR.MCP_SESSION_ID]).toBeUndefined();
    expect(projected.some((s) => s.events.some((e) => e.name === EVENT.CATALOG_TOOL))).toBe(true);
    expect(projected.every((s) => s.events.every((e) => e.name === EVENT.CATALOG_TOOL))).toBe(true);
  });

  it('JSON: a projected decode equals the full decode filtered, and the protobuf one', () => {
    const full = decodeTracesJson(json);
    for (const p of [TALLY_PROJECTION, CUSTOM]) {
      const projected = decodeTracesJson(json, undefined, p);
      expect(projected).toEqual(filtered(full, p));
      expect(projected).toEqual(decodeTracesProtobuf(proto, undefined, p));
    }
  });

  it('a repeated key in one KeyValue: the last key wins, whether the first one was kept or not', () => {
    // KeyValue{key: 'skipped', value: 'v', key: 'kept'} and KeyValue{key: 'kept2', value: 'w', key: 'skipped2'}.
    const str = (s: string): number[] => [...Buffer.from(s)];
    const len = (field: number, body: number[]): number[] => [(field << 3) | 2, body.length, ...body];
    const anyString = (s: string): number[] => len(1, str(s));
    const kv1 = [...len(1, str('skipped')), ...len(2, anyString('v')), ...len(1, str('kept'))];
    const kv2 = [...len(1, str('kept2')), ...len(2, anyString('w')), ...len(1, str('skipped2'))];
    const span = [...len(1, new Array<number>(16).fill(1)), ...len(2, new Array<number>(8).fill(2)), ...len(9, kv1), ...len(9, kv2)];
    const body = Uint8Array.from(len(1, len(2, len(2, span))));
    const p: DecodeProjection = { spanAttributes: new Set(['kept', 'kept2']) };
    const full = decodeTracesProtobuf(body);
    expect(full[0]!.attributes).toEqual({ kept: 'v', skipped2: 'w' });
    expect(decodeTracesProtobuf(body, undefined, p)).toEqual(filtered(full, p));
  });

  it('malformed bodies fail with the same error, projected or not (bounded fuzz)', () => {
    const random = seededRandom(42);
    const small = protobufBody(buildKitchenSinkSpans());
    let failures = 0;
    for (let i = 0; i < 1500; i++) {
      const body = Uint8Array.from(small);
      if (i % 3 === 0) {
        // Truncated.
        const cut = Math.floor(random() * body.length);
        const t = body.subarray(0, cut);
        const full = attempt(() => decodeTracesProtobuf(t));
        const projected = attempt(() => decodeTracesProtobuf(t, undefined, CUSTOM));
        if (typeof full === 'string') failures++;
        expect(projected).toEqual(typeof full === 'string' ? full : filtered(full, CUSTOM));
        continue;
      }
      for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--)
        body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
      const full = attempt(() => decodeTracesProtobuf(body));
      if (typeof full === 'string') failures++;
      for (const p of [CUSTOM, TALLY_PROJECTION]) {
        const projected = attempt(() => decodeTracesProtobuf(body, undefined, p));
        expect(projected).toEqual(typeof full === 'string' ? full : filtered(full, p));
      }
    }
    // The fuzz did exercise errors (and successes).
    expect(failures).toBeGreaterThan(300);
    expect(failures).toBeLessThan(1500);
  });

  it('a Tally fed projected spans exposes the same metrics and summary as one fed full spans', async () => {
    const make = () => {
      const registry = new Registry<RegistryContentType>();
      registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      const summary = new SummaryStore({ recentViolations: 20, trendBucketSeconds: 60, trendBuckets: 30, now: () => 1_767_000_100_000 });
      const tally = new Tally({
        metrics: createCollectorMetrics(registry),
        summary,
        cardinalityLimit: 10_000,
        selfCorrectionWindowMs: 60_000,
        selfCorrectionMaxKeys: 1000,
      });
      return { registry, summary, tally };
    };
    const full = make();
    const projected = make();
    const bodies = [proto, protobufBody(buildToolCallSpans(300, 12, 'other-svc'))];
    for (const b of bodies) {
      full.tally.record(decodeTracesProtobuf(b), 'protobuf');
      projected.tally.record(decodeTracesProtobuf(b, undefined, TALLY_PROJECTION), 'protobuf');
    }
    full.tally.record(decodeTracesJson(json), 'json');
    projected.tally.record(decodeTracesJson(json, undefined, TALLY_PROJECTION), 'json');
    // Exemplar timestamps are the time of tallying; everything else must match.
    const text = async (r: Registry<RegistryContentType>): Promise<string> =>
      (await r.metrics()).replace(/( # \{[^}]*\} \S+) \S+$/gm, '$1');
    const fullText = await text(full.registry);
    expect(fullText).toContain('mcp_tool_calls_total{');
    // The client view's attributes survive the projection.
    expect(fullText).toContain(`${METRICS.CLIENT_TOOL_CALLS.name}{`);
    expect(fullText).toContain(`${LABEL.SERVER_NAME}="search-server"`);
    // The marker survives the projection: its counter has a sample.
    expect(fullText).toContain(`${METRICS.TOOL_TOKENS_NOT_COUNTED.name}{`);
    expect(
      projected.summary.render({ spansReceived: 0, spansRejected: 0, seriesDropped: 0 }).catalogs.find((c) => c.service === 'catalog-svc')
        ?.latestNotCounted,
    ).toBe(TOKENS_NOT_COUNTED_REASONS.SHUTDOWN);
    expect(await text(projected.registry)).toBe(fullText);
    const collector = { spansReceived: 0, spansRejected: 0, seriesDropped: 0 };
    expect(projected.summary.render(collector)).toEqual(full.summary.render(collector));
  });
});
