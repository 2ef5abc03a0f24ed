/**
 * mcplens instrumentation: `instrumentServer(server)` turns an MCP server into a source
 * of OpenTelemetry spans following the MCP semantic conventions, plus mcplens' outcome,
 * schema-violation, provider and token attributes (docs/telemetry.md).
 */
export { instrumentServer } from './attach.js';
export { StreamObserver, ObservedConnection, ToolCatalog } from './stream-observer.js';
export type { ConnectionInfo, InboundExtra } from './stream-observer.js';
export type { InstrumentOptions, ProviderAttribution, ProviderResolverInput, StructuredLogger } from './types.js';
export { DEFAULT_PROVIDER_HEADERS } from './provider-resolver.js';
export { createAdjustedCountSampler } from './adjusted-count-sampler.js';
export type { AdjustedCountSamplerOptions } from './adjusted-count-sampler.js';
export { flush } from './flush.js';
