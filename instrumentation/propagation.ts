import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Baggage,
  type Context,
  type Link,
  type TextMapGetter,
} from '@opentelemetry/api';
import { W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { META_KEYS } from '../contract/index.js';

// Our own W3C propagators, not the global one: SEP-414 fixes the format in `_meta`,
// whatever propagator the application registered (often none).
const traceContext = new W3CTraceContextPropagator();
const baggagePropagator = new W3CBaggagePropagator();

const metaGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return typeof value === 'string' ? value : undefined;
  },
};

/** Where a request's span hangs: its parent context and links. */
export interface RequestContext {
  /** Context holding the remote parent from `_meta` (or the ambient one) and `_meta` baggage. */
  parent: Context;
  /** The ambient span (e.g. an HTTP server span) when the parent came from `_meta`. */
  links: Link[] | undefined;
  /** Baggage members from `_meta.baggage`, by key. */
  baggage: ReadonlyMap<string, string> | undefined;
}

/** Extracts trace context and baggage from `params._meta` (MCP SEP-414), linking an ambient HTTP span. */
export function extractRequestContext(meta: unknown): RequestContext {
  const ambient = otelContext.active();
  if (meta === null || typeof meta !== 'object') return { parent: ambient, links: undefined, baggage: undefined };
  const carrier = meta as Record<string, unknown>;
  let parent = ambient;
  let links: Link[] | undefined;
  if (typeof carrier[META_KEYS.TRACEPARENT] === 'string') {
    const remote = traceContext.extract(ROOT_CONTEXT, carrier, metaGetter);
    const remoteSpan = trace.getSpanContext(remote);
    if (remoteSpan !== undefined) {
      const ambientSpan = trace.getSpanContext(ambient);
      if (ambientSpan !== undefined && ambientSpan.traceId !== remoteSpan.traceId) links = [{ context: ambientSpan }];
      parent = trace.setSpanContext(ambient, remoteSpan);
    }
  }
  let baggage: ReadonlyMap<string, string> | undefined;
  const raw = carrier[META_KEYS.BAGGAGE];
  if (typeof raw === 'string') {
    const parsed = parseBaggage(raw);
    if (parsed !== undefined) {
      baggage = parsed.entries;
      parent = withBaggage(parent, parsed.bag);
    }
  }
  return { parent, links, baggage };
}

// Contexts are immutable: a client that sends the same baggage into the same ambient context
// (stdio, or any transport without an ambient span) gets the same context, not a copy per call.
let lastBaggageContext: { parent: Context; bag: Baggage; context: Context } | undefined;

function withBaggage(parent: Context, bag: Baggage): Context {
  const last = lastBaggageContext;
  if (last !== undefined && last.parent === parent && last.bag === bag) return last.context;
  const context = propagation.setBaggage(parent, bag);
  lastBaggageContext = { parent, bag, context };
  return context;
}

interface ParsedBaggage {
  bag: Baggage;
  entries: ReadonlyMap<string, string>;
}

// A client sends the same baggage string on every call: parse each distinct string once.
// Baggage objects are immutable, so sharing one between requests is safe.
const BAGGAGE_CACHE_SIZE = 256;
const baggageCache = new Map<string, ParsedBaggage | null>();

function parseBaggage(raw: string): ParsedBaggage | undefined {
  const cached = baggageCache.get(raw);
  if (cached !== undefined) return cached ?? undefined;
  const bag = propagation.getBaggage(baggagePropagator.extract(ROOT_CONTEXT, { baggage: raw }, metaGetter));
  const parsed = bag === undefined ? null : { bag, entries: new Map(bag.getAllEntries().map(([key, entry]) => [key, entry.value])) };
  if (baggageCache.size >= BAGGAGE_CACHE_SIZE) baggageCache.clear();
  baggageCache.set(raw, parsed);
  return parsed ?? undefined;
}

/** Parses a W3C `baggage` header value into a map (for the HTTP header source). */
export function parseBaggageHeader(value: string): ReadonlyMap<string, string> | undefined {
  return parseBaggage(value)?.entries;
}
