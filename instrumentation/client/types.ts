import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { ProviderAttribution } from '../types.js';

/** Options of {@link instrumentClient}. Every field is optional. */
export interface ClientInstrumentOptions {
  /** Tracer provider to create spans with. Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Meter provider for `mcp.client.operation.duration`. Default: the global one (a no-op unless registered). */
  meterProvider?: MeterProvider;
  /**
   * The LLM provider behind this client's calls (`gen_ai.provider.name`), when it is always the same.
   * Default: none. A `withModel()` scope or baggage the application set takes precedence.
   */
  provider?: string;
  /** The model behind this client's calls (`gen_ai.request.model`). Default: none; same precedence as `provider`. */
  model?: string;
  /**
   * Inject every member of the application's baggage into requests' `_meta.baggage`.
   * Default false: only `gen_ai.provider.name` and `gen_ai.request.model` leave the process.
   */
  propagateAllBaggage?: boolean;
  /** Grade undeclared arguments as `unknown_argument` even where the schema allows them. Default false (as `instrumentServer`). */
  strictArguments?: boolean;
  /** Record `gen_ai.tool.call.arguments` / `.result` on tools/call spans. Default false (content is sensitive). */
  recordContent?: boolean;
  /** With `recordContent`: called with the serialised content before it is recorded; return what to record. */
  redact?: (content: string, kind: 'arguments' | 'result') => string;
  /** Requests awaiting an answer tracked per connection; past it the oldest is ended as an error. Default 1000. */
  maxPendingRequests?: number;
}

/** The provider and model of the calls made inside a {@link withModel} scope. */
export type ModelScope = ProviderAttribution;
