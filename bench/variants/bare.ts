import type { VariantRuntime } from './variant.js';

/** No OpenTelemetry at all: the baseline every other variant is measured against. */
export async function setUpBare(): Promise<VariantRuntime> {
  return { exportsSpans: false, hooks: {}, toolCallSpans: () => 0, allSpans: () => 0, flush: async () => {} };
}
