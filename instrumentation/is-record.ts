/** A JSON object: not null, not an array (JSON-RPC params, results, tool arguments). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
