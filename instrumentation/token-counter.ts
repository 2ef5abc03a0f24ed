/**
 * Token counts of what a tool call costs the LLM: the arguments it wrote, the result it reads back,
 * and the tool catalog it is sent on every request.
 *
 * Runs on the deferred path only (after the response has left): tokenizing is the most expensive thing
 * mcplens does per call. Measured with gpt-tokenizer 4.0.0 o200k_base through defaultTokenizer(),
 * Node 20.20, CPU time per count (process.cpuUsage, median of 5 rounds; the 2 cores were shared, load ~10):
 *   700-byte JSON payload (200 tokens):   about 17.5 µs (about 40 MB/s);
 *   10 KB JSON payload (2,800 tokens):    about 245-275 µs (about 40 MB/s): linear in size.
 * So a 10 KB result costs about 0.25 ms of CPU after the answer has left, never before it.
 * Loading the o200k_base table costs 160-450 ms (wall, by load) and about 70 MB RSS, once per process:
 * that is why it loads on the first call of defaultTokenizer(), not when this module is imported.
 */
import { createRequire } from 'node:module';

/** A function from text to its token count. */
export type Tokenizer = (text: string) => number;

type O200k = typeof import('gpt-tokenizer/encoding/o200k_base');

/**
 * Special-token markers such as `<|endoftext|>` inside payloads are counted as the ordinary text they
 * are (gpt-tokenizer's default throws on them); an empty set also skips its per-call regex scan.
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

let cached: Tokenizer | undefined;

/**
 * The default tokenizer: gpt-tokenizer's o200k_base `countTokens` (GPT-4o / GPT-4.1 / o-series
 * vocabulary; a fair proxy for other providers' counts). The first call loads the encoding table
 * synchronously (about 160 ms), so call it at start-up rather than on a request's path; later calls
 * return the same function.
 */
export function defaultTokenizer(): Tokenizer {
  if (!cached) {
    // The CommonJS build through the package's `require` export: synchronous, and only when wanted.
    const require = createRequire(import.meta.url);
    const { countTokens } = require('gpt-tokenizer/encoding/o200k_base') as O200k;
    cached = (text: string) => (text.length === 0 ? 0 : countTokens(text, PLAIN_TEXT));
  }
  return cached;
}

/**
 * The JSON text the model produced for a tools/call's `arguments`: a string is taken as is (a model
 * that sent JSON text as a string produced exactly that), anything else as compact JSON; absent -> ''.
 */
export function argumentsText(args: unknown): string {
  if (args === undefined) return '';
  if (typeof args === 'string') return args;
  return safeJson(args);
}

/**
 * What the model reads back from a tools/call result: the text of `text` content items, the JSON of
 * every other content item (image, audio, resource, resource_link) and of `structuredContent`, one per
 * line. A result without a `content` array (e.g. a JSON-RPC error object) is counted as its JSON.
 */
export function resultText(result: unknown): string {
  if (result === undefined || result === null) return '';
  if (typeof result === 'string') return result;
  if (typeof result !== 'object') return safeJson(result);
  const { content, structuredContent } = result as { content?: unknown; structuredContent?: unknown };
  if (!Array.isArray(content)) return safeJson(result);
  const parts: string[] = [];
  for (const item of content) {
    const text = (item as { type?: unknown; text?: unknown } | null)?.text;
    if ((item as { type?: unknown } | null)?.type === 'text' && typeof text === 'string') parts.push(text);
    else parts.push(safeJson(item));
  }
  if (structuredContent !== undefined) parts.push(safeJson(structuredContent));
  return parts.join('\n');
}

/** One tool of a tools/list result, as far as token counting needs it. */
export interface CatalogTool {
  name: string;
  description?: string;
  inputSchema?: unknown;
  /** Display name for user interfaces: not sent to the LLM, so not counted. */
  title?: string;
}

/**
 * The text a tool adds to every LLM request that offers it: its name, description and input schema as
 * JSON, in the shape of a function declaration (`{"name","description","parameters"}`) as clients send
 * them. `title` is for user interfaces and is left out.
 */
export function catalogToolText(tool: CatalogTool): string {
  const declaration: Record<string, unknown> = { name: tool.name };
  if (typeof tool.description === 'string') declaration.description = tool.description;
  declaration.parameters = tool.inputSchema ?? { type: 'object', properties: {} };
  return safeJson(declaration);
}

/** Token counts of a tool catalog: per tool, and the total every LLM request carries. */
export interface CatalogTokens {
  total: number;
  perTool: Array<{ name: string; tokens: number }>;
}

/** Counts the tokens each tool of a catalog adds to an LLM request, and their total. */
export function countCatalog(tools: readonly CatalogTool[], tokenizer: Tokenizer = defaultTokenizer()): CatalogTokens {
  const perTool: Array<{ name: string; tokens: number }> = [];
  let total = 0;
  for (const tool of tools) {
    const tokens = tokenizer(catalogToolText(tool));
    perTool.push({ name: tool.name, tokens });
    total += tokens;
  }
  return { total, perTool };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return ''; // cyclic or BigInt: nothing a model could have read as JSON
  }
}
