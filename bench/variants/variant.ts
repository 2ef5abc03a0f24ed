import type { PairHooks } from './mcp-pair.js';

/** A telemetry set-up under test, as the measuring code sees it. */
export interface VariantRuntime {
  /** False for the bare baseline: there is nothing to drain. */
  exportsSpans: boolean;
  /** How it hooks into the MCP server. */
  hooks: PairHooks;
  /** tools/call spans that reached the exporter (or transport) so far. */
  toolCallSpans(): number;
  /** Spans of any kind exported so far. */
  allSpans(): number;
  /** Pushes buffered telemetry to the exporter now; resolves when done. */
  flush(): Promise<void>;
}
