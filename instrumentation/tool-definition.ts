/**
 * One tool as a server lists it: an entry of a `tools/list` result's `tools` array, as far as
 * mcplens reads it (grading its calls, counting what it costs the LLM).
 */
export interface ToolDefinition {
  /** Tool name, the key `tools/call` uses. */
  name: string;
  /** What the LLM reads about the tool. */
  description?: string;
  /** The tool's JSON Schema for its arguments. */
  inputSchema?: unknown;
  /** Display name for user interfaces: not sent to the LLM, so not counted. */
  title?: string;
}
