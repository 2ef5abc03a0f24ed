/**
 * Span fixtures for the decoder tests and the ingest benchmark: spans recorded by the real
 * OTel SDK (BasicTracerProvider + InMemorySpanExporter), serialised by the real
 * otlp-transformer serializers, and a reference decoder built on protobufjs.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes as OtelAttributes,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type IdGenerator,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR,
  EVENT,
  MCP_METHOD,
  NETWORK_TRANSPORT,
  OPERATION_EXECUTE_TOOL,
  ERROR_TYPE_TOOL_ERROR,
  PROVIDERS,
  VIOLATION_KINDS,
} from '../contract/index.js';
import type { AttributeValue, Attributes, SpanView } from '../collector/span-view.js';
import type { IConversionOptions } from 'protobufjs';
import { loadOtlpTypes } from './otlp-proto-types.js';
import { createPrng } from '../demo/prng.js';

/** A small seeded PRNG (mulberry32): the same sequence on every run. */
export const seededRandom = createPrng;

function hexOf(random: () => number, chars: number): string {
  let s = '';
  for (let i = 0; i < chars; i++) s += Math.floor(random() * 16).toString(16);
  return s;
}

/** Seeded ids, so fixtures are reproducible. */
function seededIds(random: () => number): IdGenerator {
  return { generateTraceId: () => hexOf(random, 32), generateSpanId: () => hexOf(random, 16) };
}

/** Records the spans `build` makes with a real SDK tracer under the given resource. */
export function recordSpans(resource: OtelAttributes, seed: number, build: (tracer: Tracer, random: () => number) => void): ReadableSpan[] {
  const random = seededRandom(seed);
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    idGenerator: seededIds(random),
  });
  build(provider.getTracer('mcplens-test', '0.1.0'), random);
  const spans = exporter.getFinishedSpans().slice();
  void provider.shutdown();
  return spans;
}

const TOOLS = ['search_issues', 'create_issue', 'get_file_contents', 'list_commits', 'run_query', 'send_message', 'add'];
const CALLERS: readonly [string, string][] = [
  [PROVIDERS.OPENAI, 'gpt-4.1-mini'],
  [PROVIDERS.ANTHROPIC, 'claude-sonnet-4-5'],
  [PROVIDERS.GCP_GEMINI, 'gemini-2.5-flash'],
  [PROVIDERS.MISTRAL_AI, 'mistral-large-latest'],
];

/**
 * Realistic MCP tools/call SERVER spans as mcplens' instrumentation emits them (the
 * contract's attributes; a schema-violation event on about one call in five), each with a
 * remote parent as when the client propagates traceparent in params._meta.
 */
export function buildToolCallSpans(count: number, seed: number, serviceName = 'github-mcp'): ReadableSpan[] {
  return recordSpans(
    {
      [ATTR.SERVICE_NAME]: serviceName,
      'service.version': '1.4.2',
      'telemetry.sdk.language': 'nodejs',
      'telemetry.sdk.name': 'opentelemetry',
      'telemetry.sdk.version': '2.12.0',
    },
    seed,
    (tracer, random) => {
      const startSeconds = 1_767_000_000;
      for (let i = 0; i < count; i++) {
        const tool = TOOLS[Math.floor(random() * TOOLS.length)]!;
        const [provider, model] = CALLERS[Math.floor(random() * CALLERS.length)]!;
        const malformed = random() < 0.2;
        const kind = VIOLATION_KINDS[Math.floor(random() * VIOLATION_KINDS.length)]!;
        const outcome = malformed ? 'tool_error' : random() < 0.05 ? 'error' : 'ok';
        const parent = trace.setSpanContext(ROOT_CONTEXT, {
          traceId: hexOf(random, 32),
          spanId: hexOf(random, 16),
          traceFlags: TraceFlags.SAMPLED,
          isRemote: true,
        });
        const attributes: OtelAttributes = {
          [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
          [ATTR.GEN_AI_TOOL_NAME]: tool,
          [ATTR.GEN_AI_OPERATION_NAME]: OPERATION_EXECUTE_TOOL,
          [ATTR.GEN_AI_PROVIDER_NAME]: provider,
          [ATTR.GEN_AI_REQUEST_MODEL]: model,
          [ATTR.PROVIDER_SOURCE]: 'baggage',
          [ATTR.JSONRPC_REQUEST_ID]: String(i + 1),
          [ATTR.JSONRPC_PROTOCOL_VERSION]: '2.0',
          [ATTR.MCP_PROTOCOL_VERSION]: '2025-06-18',
          [ATTR.MCP_SESSION_ID]: `${hexOf(random, 8)}-${hexOf(random, 4)}-4${hexOf(random, 3)}-a${hexOf(random, 3)}-${hexOf(random, 12)}`,
          [ATTR.SESSION_KEY]: `s-${Math.floor(random() * 64)}`,
          [ATTR.NETWORK_TRANSPORT]: NETWORK_TRANSPORT.TCP,
          [ATTR.CLIENT_NAME]: 'claude-code',
          [ATTR.OUTCOME]: outcome,
          [ATTR.TOKENS_ARGUMENTS]: 20 + Math.floor(random() * 400),
          [ATTR.TOKENS_RESULT]: Math.floor(random() * 4000),
        };
        if (outcome !== 'ok') attributes[ATTR.ERROR_TYPE] = outcome === 'tool_error' ? ERROR_TYPE_TOOL_ERROR : '-32603';
        if (malformed) {
          attributes[ATTR.VIOLATION_KIND] = kind;
          attributes[ATTR.VIOLATION_COUNT] = 1;
          attributes[ATTR.VIOLATION_PATHS] = ['/query'];
        }
        const startNs = Math.floor(random() * 1e9);
        const span = tracer.startSpan(
          `${MCP_METHOD.TOOLS_CALL} ${tool}`,
          { kind: SpanKind.SERVER, attributes, startTime: [startSeconds + i, startNs] },
          parent,
        );
        if (malformed) {
          span.addEvent(
            EVENT.SCHEMA_VIOLATION,
            {
              [ATTR.VIOLATION_KIND]: kind,
              [ATTR.VIOLATION_PATH]: '/query',
              [ATTR.VIOLATION_KEYWORD]: 'type',
              [ATTR.VIOLATION_MESSAGE]: 'must be string',
            },
            [startSeconds + i, startNs + 1000],
          );
        }
        if (outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
        span.end([startSeconds + i, startNs + 200_000 + Math.floor(random() * 5_000_000)]);
      }
    },
  );
}

/**
 * Spans covering every attribute type the SDK emits (strings incl. non-ASCII and long
 * ones, ints incl. negative and large, doubles, booleans, homogeneous arrays and arrays
 * with nulls), every span kind, statuses, events with attributes, links, a parent chain
 * and two resources.
 */
export function buildKitchenSinkSpans(): ReadableSpan[] {
  const first = recordSpans({ [ATTR.SERVICE_NAME]: 'kitchen-sink', 'deployment.environment': 'test', 'host.cpu.count': 2 }, 7, (tracer) => {
    const root = tracer.startSpan('root', {
      kind: SpanKind.SERVER,
      attributes: {
        str: 'hello',
        empty: '',
        unicode: 'grüße – 日本語 – 🚀',
        long: 'x'.repeat(300) + 'é',
        int: 42,
        zero: 0,
        negative: -17,
        bigint: 2 ** 40 + 3,
        bigNegative: -(2 ** 52),
        double: 3.25,
        negDouble: -0.5,
        tiny: 1e-300,
        huge: 1.5e300,
        yes: true,
        no: false,
        strings: ['a', 'b', 'ü'],
        ints: [1, -2, 3],
        doubles: [1.5, 2.5],
        bools: [true, false],
        withNulls: ['a', null, 'b', undefined],
        emptyArray: [],
        [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
      },
      startTime: [1_767_000_000, 123_456_789],
    });
    root.addEvent('plain', [1_767_000_000, 200_000_000]);
    root.addEvent('with attributes', { n: 1, s: 'v', list: ['x', 'y'] }, [1_767_000_000, 300_000_000]);
    root.setStatus({ code: SpanStatusCode.OK });
    const child = tracer.startSpan(
      'child',
      { kind: SpanKind.CLIENT, links: [{ context: root.spanContext(), attributes: { linked: true } }], startTime: [1_767_000_001, 0] },
      trace.setSpan(ROOT_CONTEXT, root),
    );
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    child.end([1_767_000_001, 999_999_999]);
    for (const kind of [SpanKind.INTERNAL, SpanKind.PRODUCER, SpanKind.CONSUMER]) {
      tracer.startSpan(`kind-${kind}`, { kind, startTime: [1_767_000_002, kind] }).end([1_767_000_003, kind]);
    }
    root.end([1_767_000_004, 5]);
  });
  const second = recordSpans({ [ATTR.SERVICE_NAME]: 'second-service' }, 8, (tracer) => {
    tracer.startSpan('other', { kind: SpanKind.SERVER, attributes: { a: 'b' }, startTime: [1_767_000_005, 0] }).end([1_767_000_005, 1000]);
  });
  return [...first, ...second];
}

/** The attributes a ReadableSpan carries, as the decoders flatten them (nulls dropped from arrays). */
export function expectedAttributes(attributes: OtelAttributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    out[key] = Array.isArray(value) ? (value.filter((v) => v !== null && v !== undefined) as AttributeValue) : (value as AttributeValue);
  }
  return out;
}

// ---- reference decoding with protobufjs -------------------------------------------------

type Obj = Record<string, unknown>;

function refAnyValue(v: Obj | undefined, allowArray: boolean): AttributeValue | undefined {
  if (!v) return undefined;
  switch (v.value) {
    case 'stringValue':
      return v.stringValue as string;
    case 'boolValue':
      return v.boolValue as boolean;
    case 'intValue':
      return Number(v.intValue as string);
    case 'doubleValue':
      return v.doubleValue as number;
    case 'arrayValue': {
      if (!allowArray) return undefined;
      const values = ((v.arrayValue as Obj).values as Obj[] | undefined) ?? [];
      return values.map((e) => refAnyValue(e, false)).filter((e): e is string | number | boolean => e !== undefined);
    }
    default:
      return undefined;
  }
}

function refAttributes(list: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of (list as Obj[] | undefined) ?? []) {
    const value = refAnyValue(kv.value as Obj | undefined, true);
    // defineProperty: a '__proto__' key must stay data, not replace the prototype.
    if (value !== undefined)
      Object.defineProperty(out, (kv.key as string | undefined) ?? '', { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function refId(bytes: unknown): string {
  return bytes ? Buffer.from(bytes as Uint8Array).toString('hex') : '';
}

/** The protobufjs toObject options the tests and bench use give for an OTLP request. */
export const PROTOBUFJS_TO_OBJECT: IConversionOptions = { longs: String, enums: Number, oneofs: true, defaults: false };

/** Decodes an ExportTraceServiceRequest with protobufjs and maps it to span views, independently of the collector's reader. */
export function referenceDecode(body: Uint8Array): SpanView[] {
  const { ExportTraceServiceRequest } = loadOtlpTypes();
  const request = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(body), PROTOBUFJS_TO_OBJECT) as Obj;
  const spans: SpanView[] = [];
  for (const rs of (request.resourceSpans as Obj[] | undefined) ?? []) {
    const resource = refAttributes((rs.resource as Obj | undefined)?.attributes);
    for (const ss of (rs.scopeSpans as Obj[] | undefined) ?? []) {
      for (const s of (ss.spans as Obj[] | undefined) ?? []) {
        spans.push({
          traceId: refId(s.traceId),
          spanId: refId(s.spanId),
          parentSpanId: refId(s.parentSpanId),
          name: (s.name as string | undefined) ?? '',
          kind: (s.kind as number | undefined) ?? 0,
          startTimeUnixNano: Number((s.startTimeUnixNano as string | undefined) ?? 0),
          endTimeUnixNano: Number((s.endTimeUnixNano as string | undefined) ?? 0),
          // BigInt here, as a reference independent of the decoders' hi/lo arithmetic.
          durationNano: Number(
            BigInt((s.endTimeUnixNano as string | undefined) ?? 0) - BigInt((s.startTimeUnixNano as string | undefined) ?? 0),
          ),
          statusCode: ((s.status as Obj | undefined)?.code as number | undefined) ?? 0,
          attributes: refAttributes(s.attributes),
          events: ((s.events as Obj[] | undefined) ?? []).map((e) => ({
            name: (e.name as string | undefined) ?? '',
            timeUnixNano: Number((e.timeUnixNano as string | undefined) ?? 0),
            attributes: refAttributes(e.attributes),
          })),
          resource,
        });
      }
    }
  }
  return spans;
}
