import type { TracerProvider, MeterProvider } from '@opentelemetry/api';
import type { GuardsConfig } from './guards/guard-config.js';

/** What a provider resolver sees of one request. */
export interface ProviderResolverInput {
  /** JSON-RPC method, e.g. `tools/call`. */
  readonly method: string;
  /** The request's `params` (may be undefined). */
  readonly params: Readonly<Record<string, unknown>> | undefined;
  /** HTTP request headers, lower-cased, on HTTP transports. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>> | undefined;
  /** `clientInfo` the client sent in `initialize` (or per request under protocol 2026-07-28). */
  readonly clientInfo: { readonly name?: string; readonly version?: string } | undefined;
  /** `mcp.session.id`, where the transport has one. */
  readonly sessionId: string | undefined;
}

/** The LLM that produced a call. */
export interface ProviderAttribution {
  /** `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `gcp.gemini`. */
  readonly provider?: string;
  /** `gen_ai.request.model`, e.g. `gpt-4.1`. */
  readonly model?: string;
}

/** A pino-compatible logger: mcplens calls `info(object, message)`. */
export interface StructuredLogger {
  info(obj: Record<string, unknown>, msg?: string): void;
}

/** Options of {@link instrumentServer}. Every field is optional. */
export interface InstrumentOptions {
  /** Tracer provider to create spans with. Default: the global one (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Meter provider for `mcp.server.operation.duration`. Default: the global one (a no-op unless registered). */
  meterProvider?: MeterProvider;
  /**
   * Decides the LLM provider and model of a request before any other source. Return
   * undefined (or a value without `provider`) to fall through to the built-in sources.
   * A resolver that throws is reported through `diag` and ignored.
   */
  providerResolver?: (input: ProviderResolverInput) => ProviderAttribution | undefined;
  /** HTTP header names that carry provider and model. Default: `x-llm-provider` and `x-llm-model`. */
  providerHeaders?: { provider?: string; model?: string };
  /** Extra `clientInfo.name` to provider entries, checked before the built-in map (exact, case-insensitive). */
  clientProviders?: Readonly<Record<string, string>>;
  /**
   * Grade undeclared arguments as `unknown_argument` even where the schema allows them.
   * Default false: only `additionalProperties: false` makes them violations (they are recorded either way).
   */
  strictArguments?: boolean;
  /** Count tokens of arguments, results and the tool catalog. Default true. */
  countTokens?: boolean;
  /**
   * Tokenizer: a function from text to token count. Default: `gpt-tokenizer`'s o200k_base.
   * Runs after the response has left, never on the response path.
   */
  tokenizer?: (text: string) => number;
  /** Record `gen_ai.tool.call.arguments` / `.result` on spans. Default false (content is sensitive). */
  recordContent?: boolean;
  /** With `recordContent`: called with the serialised content before it is recorded; return what to record. */
  redact?: (content: string, kind: 'arguments' | 'result') => string;
  /**
   * A structured log line per tool call: `true` writes JSON lines to stderr, a logger
   * object receives them. Default off. Never stdout: stdio servers own it.
   */
  log?: boolean | StructuredLogger;
  /** Requests awaiting an answer tracked per connection; past it the oldest is ended as an error. Default 1000. */
  maxPendingRequests?: number;
  /**
   * Calls waiting for deferred work (outcome, tokens, logging). Past it, a call's deferred work runs
   * at once instead of queueing (memory stays bounded, nothing is lost). Default
   * {@link DEFAULT_MAX_DEFERRED_QUEUE}. Token counting has bounds of its own, process-wide
   * (`TOKEN_BACKLOG_BOUNDS` in token-service.ts: counts in flight and characters waiting for the
   * tokenizer); past them a call's tokens are not counted (`mcplens.tokens.not_counted = backlog`).
   */
  maxDeferredQueue?: number;
  /**
   * Opt-in production guards around tools/call (timeouts, circuit breakers): see
   * docs/guards.md. Default: none, and mcplens never changes what the server answers. An
   * invalid configuration makes `instrumentServer` throw a ConfigError naming the bad key
   * (a server must not run without the guards it asked for).
   */
  guards?: GuardsConfig;
}

/** Default of {@link InstrumentOptions.maxDeferredQueue}. */
export const DEFAULT_MAX_DEFERRED_QUEUE = 10_000;
