/**
 * mcplens instrumentation: `instrumentServer(server)` turns an MCP server into a source
 * of OpenTelemetry spans following the MCP semantic conventions, plus mcplens' outcome,
 * schema-violation, provider and token attributes (docs/telemetry.md); `instrumentClient(client)`
 * does the same for an agent's MCP client, and `withModel()` names the LLM behind its calls.
 *
 * Adding an export here makes it public API: test/package/entry-points.test.ts pins the list.
 * Tests and benchmarks import internals by their file path.
 */
export { instrumentServer } from './attach.js';
// The production guards, for `instrumentServer(server, { guards })`.
import './guards/enable.js';
export type { InstrumentOptions, ProviderAttribution, ProviderResolverInput, StructuredLogger } from './types.js';
export { DEFAULT_PROVIDER_HEADERS } from './provider-resolver.js';
export { createAdjustedCountSampler } from './adjusted-count-sampler.js';
export type { AdjustedCountSamplerOptions } from './adjusted-count-sampler.js';
export { flush } from './flush.js';
export { instrumentClient } from './client/instrument-client.js';
export { withModel } from './client/model-scope.js';
export type { ClientInstrumentOptions, ModelScope } from './client/types.js';
export type { GuardsConfig, ToolGuardsConfig, IdempotencyConfig } from './guards/guard-config.js';
export type { AuthorizationOptions } from './guards/authorization.js';
export type { TokenVerifierOptions } from './guards/token-verifier.js';
export { MemoryIdempotencyStore, RedisIdempotencyStore } from './guards/idempotency/index.js';
export type { IdempotencyStore, MemoryIdempotencyStoreOptions, RedisIdempotencyStoreOptions } from './guards/idempotency/index.js';
