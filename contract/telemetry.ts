/**
 * The mcplens telemetry contract: every span attribute, enumerated value, metric and
 * label that mcplens emits or reads. Instrumentation writes with these names, the
 * collector reads with them, dashboards and alert rules query with them. Nothing else
 * in the code base spells a telemetry name. Human-readable form: docs/telemetry.md.
 *
 * Semantic-convention names follow the OpenTelemetry MCP conventions (docs/gen-ai/mcp.md,
 * status Development) and the GenAI conventions; mcplens' own names live under `mcplens.`.
 */

/** Span attribute keys. */
export const ATTR = {
  // OpenTelemetry MCP / JSON-RPC / GenAI semantic conventions
  MCP_METHOD_NAME: 'mcp.method.name',
  MCP_SESSION_ID: 'mcp.session.id',
  MCP_PROTOCOL_VERSION: 'mcp.protocol.version',
  MCP_RESOURCE_URI: 'mcp.resource.uri',
  JSONRPC_REQUEST_ID: 'jsonrpc.request.id',
  JSONRPC_PROTOCOL_VERSION: 'jsonrpc.protocol.version',
  RPC_RESPONSE_STATUS_CODE: 'rpc.response.status_code',
  ERROR_TYPE: 'error.type',
  GEN_AI_TOOL_NAME: 'gen_ai.tool.name',
  GEN_AI_PROMPT_NAME: 'gen_ai.prompt.name',
  GEN_AI_OPERATION_NAME: 'gen_ai.operation.name',
  GEN_AI_PROVIDER_NAME: 'gen_ai.provider.name',
  GEN_AI_REQUEST_MODEL: 'gen_ai.request.model',
  GEN_AI_TOOL_CALL_ARGUMENTS: 'gen_ai.tool.call.arguments',
  GEN_AI_TOOL_CALL_RESULT: 'gen_ai.tool.call.result',
  NETWORK_TRANSPORT: 'network.transport',
  NETWORK_PROTOCOL_NAME: 'network.protocol.name',
  SERVICE_NAME: 'service.name',

  // mcplens' own
  OUTCOME: 'mcplens.outcome',
  VIOLATION_KIND: 'mcplens.violation.kind',
  VIOLATION_COUNT: 'mcplens.violation.count',
  VIOLATION_PATHS: 'mcplens.violation.paths',
  VIOLATION_PATH: 'mcplens.violation.path',
  VIOLATION_KEYWORD: 'mcplens.violation.keyword',
  VIOLATION_MESSAGE: 'mcplens.violation.message',
  ARGUMENTS_UNDECLARED: 'mcplens.arguments.undeclared',
  PROVIDER_SOURCE: 'mcplens.provider.source',
  SESSION_KEY: 'mcplens.session.key',
  CLIENT_NAME: 'mcplens.client.name',
  /** On CLIENT spans: the server's self-reported `serverInfo.name` (no semantic-convention attribute names it). */
  SERVER_NAME: 'mcplens.server.name',
  TOKENS_ARGUMENTS: 'mcplens.tokens.arguments',
  TOKENS_RESULT: 'mcplens.tokens.result',
  TOKENS_CATALOG: 'mcplens.tokens.catalog',
  TOKENS_NOT_COUNTED: 'mcplens.tokens.not_counted',
  CATALOG_TOOL_COUNT: 'mcplens.catalog.tool_count',
  TOKENIZER: 'mcplens.tokenizer',
  ADJUSTED_COUNT: 'mcplens.sample.adjusted_count',
  /** On BREAKER_TRANSITION events: the breaker's state after and before the change (BREAKER_STATES). */
  BREAKER_STATE: 'mcplens.circuit_breaker.state',
  BREAKER_PREVIOUS_STATE: 'mcplens.circuit_breaker.previous_state',
  /** Milliseconds of the timeout that ended a call (outcome `timeout`). */
  TIMEOUT_MS: 'mcplens.guard.timeout_ms',
  /** Scopes a call lacked (outcome `unauthorized`). Scopes only, never tokens. */
  MISSING_SCOPES: 'mcplens.guard.missing_scopes',
  /** Resource attribute telling replicas of a service apart (semantic conventions). */
  SERVICE_INSTANCE_ID: 'service.instance.id',
} as const;

/** Span event names. */
export const EVENT = {
  /** One per schema violation of a tools/call; attributes VIOLATION_KIND, VIOLATION_PATH, VIOLATION_KEYWORD, VIOLATION_MESSAGE. */
  SCHEMA_VIOLATION: 'mcplens.schema_violation',
  /** One per tool on a tools/list span; attributes GEN_AI_TOOL_NAME and TOKENS_CATALOG. */
  CATALOG_TOOL: 'mcplens.catalog.tool',
  /** A tool's circuit breaker changed state during this call; attributes BREAKER_STATE (the new one) and BREAKER_PREVIOUS_STATE. */
  BREAKER_TRANSITION: 'mcplens.circuit_breaker.transition',
} as const;

/** Span names of mcplens' own INTERNAL spans. */
export const SPAN_NAME = {
  /** A guarded call's handler finished after its timeout was answered: child of the call's span, from the timeout to the completion. */
  LATE_COMPLETION: 'mcplens.late_completion',
} as const;

/** `gen_ai.operation.name` value for tools/call. */
export const OPERATION_EXECUTE_TOOL = 'execute_tool';
/** `error.type` when a tools/call result carries `isError: true` (semconv). */
export const ERROR_TYPE_TOOL_ERROR = 'tool_error';
/** `error.type` when a request is never answered: the transport closed first. */
export const ERROR_TYPE_NO_RESPONSE = 'no_response';
/** `error.type` of a JSON-RPC error without a numeric code (the semantic conventions' fallback value). */
export const ERROR_TYPE_EXCEPTION = '_OTHER';

/**
 * `mcplens.outcome` values, in the order of their precedence (first match wins). Right after
 * `cancelled` come the decisions of the opt-in production guards (see GUARD_OUTCOMES).
 */
export const OUTCOMES = [
  'cancelled',
  'timeout',
  'circuit_open',
  'unauthorized',
  'idempotency_conflict',
  'in_progress',
  'replayed',
  'rejected',
  'tool_error',
  'error',
  'ok',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/**
 * The outcomes a production guard decides, by how they count: `timeout` and `circuit_open` are
 * errors of the server (span status ERROR, error ratios); `unauthorized`, `idempotency_conflict`
 * and `in_progress` are the caller's faults, like `rejected` (status unset); `replayed` (a stored
 * answer given again for a retried idempotency key) is a success.
 */
export const GUARD_OUTCOMES = {
  ERRORS: ['timeout', 'circuit_open'],
  CALLER_FAULTS: ['unauthorized', 'idempotency_conflict', 'in_progress'],
  SUCCESSES: ['replayed'],
} as const satisfies Readonly<Record<string, readonly Outcome[]>>;
export type GuardOutcome = (typeof GUARD_OUTCOMES)[keyof typeof GUARD_OUTCOMES][number];

/** Outcomes that count as a failed tool call in error ratios and alerts (a caller's fault is not one). */
export const ERROR_OUTCOMES = ['tool_error', 'error', ...GUARD_OUTCOMES.ERRORS] as const satisfies readonly Outcome[];

/** Circuit-breaker states, in the order of their value in the state gauge (0 closed, 1 half-open, 2 open). */
export const BREAKER_STATES = ['closed', 'half_open', 'open'] as const;
export type BreakerState = (typeof BREAKER_STATES)[number];

/** `mcplens.violation.kind` values, in priority order: the first present is a call's primary kind. */
export const VIOLATION_KINDS = [
  'unknown_tool',
  'not_an_object',
  'missing_required',
  'null_value',
  'wrong_type',
  'enum_violation',
  'out_of_range',
  'format_violation',
  'constraint',
  'unknown_argument',
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/** Token kinds: the `token_kind` label and the suffix of the `mcplens.tokens.*` attributes. */
export const TOKEN_KINDS = ['arguments', 'result', 'catalog'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];
/** The token kinds a tools/call carries (`catalog` is on tools/list spans). */
export const CALL_TOKEN_KINDS = ['arguments', 'result'] as const satisfies readonly TokenKind[];

/** Which token attribute carries each token kind. */
export const TOKEN_ATTRIBUTE: Readonly<Record<TokenKind, string>> = {
  arguments: ATTR.TOKENS_ARGUMENTS,
  result: ATTR.TOKENS_RESULT,
  catalog: ATTR.TOKENS_CATALOG,
};

/**
 * `mcplens.tokens.not_counted` values: why a span that should carry token counts carries none.
 * Such a span's tokens are unknown, never 0.
 */
export const TOKENS_NOT_COUNTED_REASONS = {
  /** The process was ending and its exit budget ran out before the counts came back. */
  SHUTDOWN: 'shutdown',
  /** The tokenizer was behind (too much text waiting); spans ended without counts. */
  BACKLOG: 'backlog',
  /** One payload was larger than the per-payload cap. */
  TOO_LARGE: 'too_large',
  /** The tokenizer failed (it threw, or its worker could not start or died). */
  FAILED: 'failed',
} as const;
export type TokensNotCountedReason = (typeof TOKENS_NOT_COUNTED_REASONS)[keyof typeof TOKENS_NOT_COUNTED_REASONS];

/** `mcplens.provider.source` values: where the provider and model came from. */
export const PROVIDER_SOURCES = ['resolver', 'baggage', 'http_baggage', 'header', 'client_info', 'unknown'] as const;
export type ProviderSource = (typeof PROVIDER_SOURCES)[number];

/** Well-known `gen_ai.provider.name` values (GenAI semantic conventions). */
export const PROVIDERS = {
  OPENAI: 'openai',
  ANTHROPIC: 'anthropic',
  GCP_GEMINI: 'gcp.gemini',
  GCP_VERTEX_AI: 'gcp.vertex_ai',
  AWS_BEDROCK: 'aws.bedrock',
  AZURE_AI_OPENAI: 'azure.ai.openai',
  DEEPSEEK: 'deepseek',
  MISTRAL_AI: 'mistral_ai',
  X_AI: 'x_ai',
  GROQ: 'groq',
  COHERE: 'cohere',
  PERPLEXITY: 'perplexity',
  IBM_WATSONX_AI: 'ibm.watsonx.ai',
} as const;

/** Provider and model value when nothing names them. */
export const UNKNOWN_PROVIDER = 'unknown';

/** `network.transport` values used by MCP transports. */
export const NETWORK_TRANSPORT = { PIPE: 'pipe', TCP: 'tcp' } as const;

/** Baggage members that carry the provider and model of the calling LLM (same keys as the span attributes). */
export const BAGGAGE_KEYS = {
  PROVIDER: ATTR.GEN_AI_PROVIDER_NAME,
  MODEL: ATTR.GEN_AI_REQUEST_MODEL,
} as const;

/**
 * Keys of `params._meta` that carry trace context (MCP SEP-414), and the client info and
 * protocol version every request carries under protocol 2026-07-28 (there is no initialize).
 */
export const META_KEYS = {
  TRACEPARENT: 'traceparent',
  TRACESTATE: 'tracestate',
  BAGGAGE: 'baggage',
  CLIENT_INFO: 'io.modelcontextprotocol/clientInfo',
  PROTOCOL_VERSION: 'io.modelcontextprotocol/protocolVersion',
  /** In a result's `_meta`: `true` when a production guard gave a stored answer again for a retried idempotency key. */
  IDEMPOTENT_REPLAY: 'dev.mcplens/idempotent-replay',
  /** On results (protocol 2026-07-28 and later): the server's self-reported `serverInfo`. */
  SERVER_INFO: 'io.modelcontextprotocol/serverInfo',
} as const;

/** The HTTP header that carries the protocol version on Streamable HTTP (lower-case, as Node gives it). */
export const PROTOCOL_VERSION_HEADER = 'mcp-protocol-version';

/**
 * Malformed-call ratio levels every view colours by (dashboard thresholds, status page):
 * above WARN deserves a look, above CRITICAL an alert (the alert's own threshold is an option).
 */
export const MALFORMED_RATIO_LEVELS = { WARN: 0.01, CRITICAL: 0.05 } as const;

/** Label of the exemplars on `mcp_server_operation_duration_seconds`: the span's trace id. */
export const EXEMPLAR_LABEL = { TRACE_ID: 'trace_id' } as const;

/** Label value for a tool name that must not become a label (unknown or missing tool). */
export const UNKNOWN_LABEL_VALUE = '__unknown__';
/** Label value every label of a series takes once its metric has reached the cardinality cap. */
export const OVERFLOW_LABEL_VALUE = '__overflow__';

/** Bucket boundaries (seconds) of `mcp.server.operation.duration`, from the MCP semantic conventions. */
export const DURATION_BUCKETS_SECONDS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300] as const;

/** The OTel metric instruments mcplens records in-process (when a MeterProvider is registered). */
export const OTEL_METRICS = {
  SERVER_OPERATION_DURATION: {
    name: 'mcp.server.operation.duration',
    unit: 's',
    description: 'Duration of MCP requests handled by the server.',
  },
  CLIENT_OPERATION_DURATION: {
    name: 'mcp.client.operation.duration',
    unit: 's',
    description: 'Duration of MCP requests sent by the client, until their answer arrived.',
  },
} as const;

/**
 * Prometheus label names, each with the span attribute it comes from. Semantic-convention
 * attributes map dots to underscores (the spanmetrics connector's names); mcplens'
 * dimensions get short names.
 */
export const LABEL = {
  SERVICE_NAME: 'service_name',
  MCP_METHOD_NAME: 'mcp_method_name',
  GEN_AI_TOOL_NAME: 'gen_ai_tool_name',
  GEN_AI_PROVIDER_NAME: 'gen_ai_provider_name',
  GEN_AI_REQUEST_MODEL: 'gen_ai_request_model',
  ERROR_TYPE: 'error_type',
  OUTCOME: 'outcome',
  VIOLATION_KIND: 'violation_kind',
  TOKEN_KIND: 'token_kind',
  ENCODING: 'encoding',
  REASON: 'reason',
  METRIC: 'metric',
  ROUTE: 'route',
  STATUS_CODE: 'status_code',
  ENDPOINT: 'endpoint',
  /** Which label a rewritten value was meant for (`mcplens_collector_label_values_rewritten_total`). */
  LABEL: 'label',
  /** The called server's identity on the client view's metrics (`mcplens.server.name`). */
  SERVER_NAME: 'server_name',
  /** A replica of a service (resource `service.instance.id`), on the per-process breaker state. */
  SERVICE_INSTANCE_ID: 'service_instance_id',
  /** The calling client's `clientInfo.name` (`mcplens.client.name`), on refused calls. */
  CLIENT_NAME: 'client_name',
} as const;
export type LabelName = (typeof LABEL)[keyof typeof LABEL];

/** The attribute-to-label table: which span (or resource) attribute fills which label. */
export const ATTRIBUTE_TO_LABEL: Readonly<Record<string, LabelName>> = {
  [ATTR.SERVICE_NAME]: LABEL.SERVICE_NAME,
  [ATTR.MCP_METHOD_NAME]: LABEL.MCP_METHOD_NAME,
  [ATTR.GEN_AI_TOOL_NAME]: LABEL.GEN_AI_TOOL_NAME,
  [ATTR.GEN_AI_PROVIDER_NAME]: LABEL.GEN_AI_PROVIDER_NAME,
  [ATTR.GEN_AI_REQUEST_MODEL]: LABEL.GEN_AI_REQUEST_MODEL,
  [ATTR.ERROR_TYPE]: LABEL.ERROR_TYPE,
  [ATTR.OUTCOME]: LABEL.OUTCOME,
  [ATTR.VIOLATION_KIND]: LABEL.VIOLATION_KIND,
  [ATTR.SERVER_NAME]: LABEL.SERVER_NAME,
  [ATTR.SERVICE_INSTANCE_ID]: LABEL.SERVICE_INSTANCE_ID,
  [ATTR.CLIENT_NAME]: LABEL.CLIENT_NAME,
};

/** Labels shared by every per-call metric: who called which tool of which service. */
export const CALL_LABELS = [LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME, LABEL.GEN_AI_PROVIDER_NAME, LABEL.GEN_AI_REQUEST_MODEL] as const;

/**
 * Labels of the client view's per-call metrics: the calling agent's service, the server it
 * called (`server_name`, UNKNOWN_LABEL_VALUE when the server did not name itself), the tool and
 * the caller's provider and model.
 */
export const CLIENT_CALL_LABELS = [
  LABEL.SERVICE_NAME,
  LABEL.SERVER_NAME,
  LABEL.GEN_AI_TOOL_NAME,
  LABEL.GEN_AI_PROVIDER_NAME,
  LABEL.GEN_AI_REQUEST_MODEL,
] as const;

/** One entry of the metric catalog. */
export interface MetricDefinition {
  /** Prometheus metric name, including `_total` for counters. */
  readonly name: string;
  readonly type: 'counter' | 'histogram' | 'gauge';
  readonly help: string;
  /** Base unit (UCUM-ish, as in Prometheus' `# UNIT`): seconds, tokens, spans, ... */
  readonly unit: string;
  readonly labels: readonly LabelName[];
  /** Histogram buckets, where type is histogram. */
  readonly buckets?: readonly number[];
}

function metric<const L extends readonly LabelName[]>(m: MetricDefinition & { labels: L }): MetricDefinition & { labels: L } {
  return m;
}

/** Every metric the collector exports. */
export const METRICS = {
  TOOL_CALLS: metric({
    name: 'mcp_tool_calls_total',
    type: 'counter',
    unit: 'calls',
    help: 'MCP tools/call requests handled by servers, by caller (LLM provider and model), tool and outcome.',
    labels: [...CALL_LABELS, LABEL.OUTCOME],
  }),
  TOOL_SCHEMA_VIOLATIONS: metric({
    name: 'mcp_tool_schema_violations_total',
    type: 'counter',
    unit: 'calls',
    help: 'Malformed tools/call requests (arguments that break the tool input schema, or an unknown tool), one per call under its primary violation kind.',
    labels: [...CALL_LABELS, LABEL.VIOLATION_KIND],
  }),
  CLIENT_TOOL_CALLS: metric({
    name: 'mcp_client_tool_calls_total',
    type: 'counter',
    unit: 'calls',
    help: 'MCP tools/call requests sent by instrumented clients (agents), by server, tool, caller (LLM provider and model) and outcome.',
    labels: [...CLIENT_CALL_LABELS, LABEL.OUTCOME],
  }),
  CLIENT_TOOL_SCHEMA_VIOLATIONS: metric({
    name: 'mcp_client_tool_schema_violations_total',
    type: 'counter',
    unit: 'calls',
    help: "Malformed tools/call requests as the sending client graded them against the server's listed tools, one per call under its primary violation kind.",
    labels: [...CLIENT_CALL_LABELS, LABEL.VIOLATION_KIND],
  }),
  SERVER_OPERATION_DURATION: metric({
    name: 'mcp_server_operation_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    help: 'Duration of MCP requests handled by servers (mcp.server.operation.duration).',
    labels: [LABEL.SERVICE_NAME, LABEL.MCP_METHOD_NAME, LABEL.GEN_AI_TOOL_NAME, LABEL.GEN_AI_PROVIDER_NAME, LABEL.ERROR_TYPE],
    buckets: DURATION_BUCKETS_SECONDS,
  }),
  TOOL_TOKENS: metric({
    name: 'mcp_tool_tokens_total',
    type: 'counter',
    unit: 'tokens',
    help: 'Tokens of tools/call arguments and results, by caller, tool and token kind.',
    labels: [...CALL_LABELS, LABEL.TOKEN_KIND],
  }),
  TOOL_TOKENS_NOT_COUNTED: metric({
    name: 'mcp_tool_tokens_not_counted_total',
    type: 'counter',
    unit: 'calls',
    help: 'tools/call requests whose token counts are unknown (their tokens are missing from mcp_tool_tokens_total), by caller, tool and reason.',
    labels: [...CALL_LABELS, LABEL.REASON],
  }),
  TOOL_CATALOG_TOOL_TOKENS: metric({
    name: 'mcp_tool_catalog_tool_tokens',
    type: 'gauge',
    unit: 'tokens',
    help: "Tokens one tool's name, description and input schema add to every LLM request that lists it, as last seen in tools/list.",
    labels: [LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME],
  }),
  TOOL_CATALOG_TOKENS: metric({
    name: 'mcp_tool_catalog_tokens',
    type: 'gauge',
    unit: 'tokens',
    help: 'Tokens the whole tool catalog of a service adds to every LLM request, as last seen in tools/list.',
    labels: [LABEL.SERVICE_NAME],
  }),
  TOOL_CIRCUIT_BREAKER_STATE: metric({
    name: 'mcp_tool_circuit_breaker_state',
    type: 'gauge',
    unit: 'state',
    help: "Last known state of a tool's circuit breaker in one replica (0 closed, 1 half-open, 2 open), from the breaker transitions on tools/call spans.",
    labels: [LABEL.SERVICE_NAME, LABEL.SERVICE_INSTANCE_ID, LABEL.GEN_AI_TOOL_NAME],
  }),
  TOOL_UNAUTHORIZED_CALLS: metric({
    name: 'mcp_tool_unauthorized_calls_total',
    type: 'counter',
    unit: 'calls',
    help: 'tools/call requests refused by the authorization guard (outcome unauthorized), by tool and calling client (clientInfo.name).',
    labels: [LABEL.SERVICE_NAME, LABEL.GEN_AI_TOOL_NAME, LABEL.CLIENT_NAME],
  }),
  TOOL_SELF_CORRECTIONS: metric({
    name: 'mcp_tool_self_corrections_total',
    type: 'counter',
    unit: 'calls',
    help: 'Malformed tools/call requests followed, in the same session and within the window, by a well-formed call to the same tool from the same provider and model.',
    labels: [...CALL_LABELS],
  }),
  COLLECTOR_SPANS_RECEIVED: metric({
    name: 'mcplens_collector_spans_received_total',
    type: 'counter',
    unit: 'spans',
    help: 'Spans received by the collector, by OTLP encoding.',
    labels: [LABEL.ENCODING],
  }),
  COLLECTOR_SPANS_REJECTED: metric({
    name: 'mcplens_collector_spans_rejected_total',
    type: 'counter',
    unit: 'spans',
    help: 'Spans the collector could not use, by reason.',
    labels: [LABEL.REASON],
  }),
  COLLECTOR_SERIES_DROPPED: metric({
    name: 'mcplens_collector_series_dropped_total',
    type: 'counter',
    unit: 'series',
    help: 'Label sets sent to the overflow series because their metric reached the cardinality cap.',
    labels: [LABEL.METRIC],
  }),
  COLLECTOR_REQUEST_DURATION: metric({
    name: 'mcplens_collector_request_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    help: 'Duration of HTTP requests served by the collector.',
    labels: [LABEL.ROUTE, LABEL.STATUS_CODE],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  }),
  COLLECTOR_FORWARD_SENT: metric({
    name: 'mcplens_collector_forward_sent_total',
    type: 'counter',
    unit: 'requests',
    help: 'OTLP request bodies forwarded upstream and accepted.',
    labels: [LABEL.ENDPOINT],
  }),
  COLLECTOR_FORWARD_DROPPED: metric({
    name: 'mcplens_collector_forward_dropped_total',
    type: 'counter',
    unit: 'requests',
    help: 'OTLP request bodies not forwarded upstream, by reason (queue_full, rejected, retries_exhausted, shutdown).',
    labels: [LABEL.ENDPOINT, LABEL.REASON],
  }),
  COLLECTOR_LABEL_VALUES_REWRITTEN: metric({
    name: 'mcplens_collector_label_values_rewritten_total',
    type: 'counter',
    unit: 'values',
    help: 'Span attribute values rewritten before becoming a label value (too long, invalid text, or a series-key separator), by label and reason; the span is still counted.',
    labels: [LABEL.LABEL, LABEL.REASON],
  }),
  COLLECTOR_ATTRIBUTE_VALUES_REJECTED: metric({
    name: 'mcplens_collector_attribute_values_rejected_total',
    type: 'counter',
    unit: 'values',
    help: 'Span attribute values the collector dropped as outside the contract (e.g. a token count that is not an integer from 0 to 1e9), by reason; the span is still counted.',
    labels: [LABEL.REASON],
  }),
} as const;

export type MetricKey = keyof typeof METRICS;

/** `mcp.method.name` values that instrumentation, dashboards, alert rules and the collector single out (the `mcp_method_name` label). */
export const MCP_METHOD = {
  INITIALIZE: 'initialize',
  TOOLS_CALL: 'tools/call',
  TOOLS_LIST: 'tools/list',
  PROMPTS_GET: 'prompts/get',
  /** The notification that cancels a request (no span of its own; it ends the request's span as `cancelled`). */
  CANCELLED: 'notifications/cancelled',
  /** The server's tools changed: a client's or mcplens' catalog is stale. */
  TOOLS_LIST_CHANGED: 'notifications/tools/list_changed',
  /** The client finished initialize (protocols before 2026-07-28). */
  INITIALIZED: 'notifications/initialized',
} as const;

/** `reason` label values of `mcplens_collector_spans_rejected_total` (spans the collector received but could not use). */
export const SPAN_REJECT_REASONS = {
  /** Trace or span id missing, of the wrong length, or all zero. */
  INVALID_ID: 'invalid_id',
  /** End before start, or a start that is not a number. */
  INVALID_TIME: 'invalid_time',
  /** `mcplens.sample.adjusted_count` not a number from 1 to 1,000,000. */
  INVALID_ADJUSTED_COUNT: 'invalid_adjusted_count',
} as const;

/**
 * Largest token count the collector takes from one attribute (`mcplens.tokens.*`, on a span or a
 * `mcplens.catalog.tool` event): valid counts are integers from 0 to this. A larger, negative,
 * fractional or non-numeric value is dropped and counted (VALUE_REJECT_REASONS); the span still counts.
 */
export const MAX_TOKEN_COUNT = 1_000_000_000;

/** `reason` label values of `mcplens_collector_attribute_values_rejected_total` (one value dropped, its span still counted). */
export const VALUE_REJECT_REASONS = {
  /** A `mcplens.tokens.*` value that is not an integer from 0 to MAX_TOKEN_COUNT (strings included). */
  INVALID_TOKEN_COUNT: 'invalid_token_count',
} as const;

/**
 * How the collector bounds label values. A value that is too long, holds text
 * that cannot be a label value as sent, or holds a series-key separator is rewritten: its
 * text (invalid characters replaced by U+FFFD, cut at a UTF-8 boundary to fit) followed by
 * MARKER and the first HASH_HEX_DIGITS hex digits of the SHA-256 of the whole original value,
 * so two rewritten values never merge (short of a hash collision).
 */
export const LABEL_VALUE_LIMIT = {
  /** Default of the collector's `maxLabelValueBytes` (UTF-8 bytes of one label value, marker and hash included). */
  DEFAULT_MAX_BYTES: 256,
  /** Smallest `maxLabelValueBytes` accepted: room for the marker, the hash and some text. */
  MIN_MAX_BYTES: 32,
  /** Ends every rewritten value, followed by the hash (`…~1a2b3c4d`). */
  MARKER: '\u2026~',
  HASH_HEX_DIGITS: 8,
} as const;

/** `reason` label values of `mcplens_collector_label_values_rewritten_total`, in precedence order (one per value). */
export const LABEL_VALUE_REWRITE_REASONS = {
  /** Longer than `maxLabelValueBytes` in UTF-8. */
  TOO_LONG: 'too_long',
  /** Control characters (C0, DEL, C1), lone UTF-16 surrogates (not valid UTF-8), or an ending that looks like a rewritten value's. */
  INVALID_TEXT: 'invalid_text',
  /** A `,` followed by a label name and `:`, which would make two label sets one series in prom-client's series key. */
  SEPARATOR: 'separator',
} as const;

/** `reason` label values of `mcplens_collector_forward_dropped_total`. */
export const FORWARD_DROP_REASONS = {
  QUEUE_FULL: 'queue_full',
  REJECTED: 'rejected',
  RETRIES_EXHAUSTED: 'retries_exhausted',
  SHUTDOWN: 'shutdown',
} as const;
