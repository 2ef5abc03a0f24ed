/**
 * Loads the production guards and plugs them into `instrumentServer` (see guard-support.ts).
 * Imported for its effect by the `mcplens` entry, and by `--import` when `MCPLENS_GUARDS` is set.
 */
import { trace } from '@opentelemetry/api';
import { ConfigError } from '../../contract/config-error.js';
import type { InstrumentOptions } from '../types.js';
import { VERSION } from '../version.js';
import { createAuthorization } from './authorization.js';
import { parseGuardsConfig, type GuardsConfig } from './guard-config.js';
import { setGuardSupport } from './guard-support.js';
import { guardToolCalls, type GuardedProtocol } from './server-guards.js';
import { ToolGuards } from './tool-guards.js';

/** The guards of each options object (checked once, shared by the servers instrumented with it). */
const guardsByOptions = new WeakMap<InstrumentOptions, ToolGuards>();

/**
 * Checks what the JSON Schema cannot: the authorization options (their own checks name the key).
 * `source` starts every message, e.g. `mcplens: MCPLENS_GUARDS (guards.json)`.
 */
export function checkGuardsConfig(config: GuardsConfig, source: string): void {
  if (config.authorization !== undefined) createAuthorization(config.authorization, `${source}: authorization`);
}

function guardsFor(options: InstrumentOptions): ToolGuards {
  let guards = guardsByOptions.get(options);
  if (guards === undefined) {
    const config = parseGuardsConfig(options.guards, 'guards');
    checkGuardsConfig(config, 'guards');
    const provider = options.tracerProvider;
    guards = new ToolGuards(config, { tracer: () => (provider ?? trace.getTracerProvider()).getTracer('mcplens', VERSION) });
    guardsByOptions.set(options, guards);
  }
  return guards;
}

setGuardSupport({
  install(server, protocol, options, recorderFor, seenFromImport) {
    if (!guardToolCalls(server, protocol as GuardedProtocol, guardsFor(options), recorderFor, seenFromImport)) {
      throw new ConfigError(
        'guards: this server has no request handler map mcplens knows (SDK version?); its tool calls cannot be guarded',
      );
    }
  },
});
