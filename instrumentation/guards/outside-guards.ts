/**
 * The guards of a host outside the server's process (`mcplens wrap`, `mcplens proxy`): one
 * ToolGuards whose late-completion spans go to the host's tracer provider once telemetry has started.
 */
import { trace, type TracerProvider } from '@opentelemetry/api';
import { VERSION } from '../version.js';
import type { GuardsConfig } from './guard-config.js';
import { ToolGuards } from './tool-guards.js';

/** ToolGuards for `config`; `provider` is asked at each late completion (telemetry may start after the guards). */
export function outsideToolGuards(config: GuardsConfig, provider: () => TracerProvider | undefined): ToolGuards {
  return new ToolGuards(config, { tracer: () => (provider() ?? trace.getTracerProvider()).getTracer('mcplens', VERSION) });
}
