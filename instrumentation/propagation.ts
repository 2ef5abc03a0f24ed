import { context as otelContext, propagation, ROOT_CONTEXT, trace, type Context, type Link, type TextMapGetter } from '@opentelemetry/api';
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
  links: Link[];
  /** Baggage members from `_meta.baggage`, by key. */
  baggage: ReadonlyMap<string, string> | undefined;
}

/** Extracts trace context and baggage from `params._meta` (MCP SEP-414), linking an ambient HTTP span. */
export function extractRequestContext(meta: unknown): RequestContext {
  const ambient = otelContext.active();
  if (meta === null || typeof meta !== 'object') return { parent: ambient, links: [], baggage: undefined };
  const carrier = meta as Record<string, unknown>;
  let parent = ambient;
  const links: Link[] = [];
  if (typeof carrier[META_KEYS.TRACEPARENT] === 'string') {
    const remote = traceContext.extract(ROOT_CONTEXT, carrier, metaGetter);
    const remoteSpan = trace.getSpanContext(remote);
    if (remoteSpan !== undefined) {
      const ambientSpan = trace.getSpanContext(ambient);
      if (ambientSpan !== undefined && ambientSpan.traceId !== remoteSpan.traceId) links.push({ context: ambientSpan });
      parent = trace.setSpanContext(ambient, remoteSpan);
    }
  }
  let baggage: Map<string, string> | undefined;
  if (typeof carrier[META_KEYS.BAGGAGE] === 'string') {
    const bag = propagation.getBaggage(baggagePropagator.extract(ROOT_CONTEXT, carrier, metaGetter));
    if (bag !== undefined) {
      baggage = new Map(bag.getAllEntries().map(([key, entry]) => [key, entry.value]));
      parent = propagation.setBaggage(parent, bag);
    }
  }
  return { parent, links, baggage };
}

/** Parses a W3C `baggage` header value into a map (for the HTTP header source). */
export function parseBaggageHeader(value: string): ReadonlyMap<string, string> | undefined {
  const bag = propagation.getBaggage(baggagePropagator.extract(ROOT_CONTEXT, { baggage: value }, metaGetter));
  return bag === undefined ? undefined : new Map(bag.getAllEntries().map(([key, entry]) => [key, entry.value]));
}
