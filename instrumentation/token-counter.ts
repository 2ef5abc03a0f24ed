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
 *
 * Bounds. gpt-tokenizer splits a text with the o200k pre-tokenizer regex into pieces (a word,
 * up to 3 digits, a run of punctuation, a run of whitespace) and runs byte-pair merging on each piece
 * that is not itself a token. That merging is quadratic in the piece's length (it rescans the piece
 * after every merge), and an unspaced payload is one piece: 100,000 `a` took 3-15 s (by load), 5 MiB
 * would take hours. Its merge cache (an LRU over a Map, 100,000 entries by default) is slow once full
 * (evicting skips the Map's deleted entries): 1 MiB of random base64 then took 7-9 s of CPU instead of
 * about 1 s. So defaultTokenizer():
 * - hands no piece longer than {@link MAX_PIECE_BYTES} UTF-8 bytes to the merging: a longer piece is
 *   counted in chunks of at most that size (an estimate, within about a token per chunk). Every other
 *   piece is counted whole, so a text without such pieces (prose, code, JSON, numbers, even wide
 *   Markdown tables) counts exactly as gpt-tokenizer's `countTokens` counts it;
 * - shrinks gpt-tokenizer's merge cache to {@link MERGE_CACHE_SIZE} entries;
 * - refuses a payload longer than {@link MAX_PAYLOAD_CHARS} by throwing {@link PayloadTooLargeError}.
 * Counting is then linear in the payload. CPU per count (bench/tokenizer-bound.ts, 2 shared cores,
 * load 7-8): 1 MiB of JSON about 110-150 ms, as with plain countTokens; at worst, text whose every piece is no token
 * (random letters, random CJK, base64), about 1-1.6 µs per UTF-8 byte, gpt-tokenizer's own merging
 * cost: 4 Mi characters of base64 3.9 s, 1 Mi random a-z 1.6 s, 1 Mi random CJK 4.9 s.
 */
import { createRequire } from 'node:module';
import type { ToolDefinition } from './tool-definition.js';

/** A function from text to its token count. */
export type Tokenizer = (text: string) => number;

type O200k = typeof import('gpt-tokenizer/encoding/o200k_base');
type SplitPatterns = typeof import('gpt-tokenizer/encodingParams/constants');

/**
 * The longest piece, in UTF-8 bytes, that defaultTokenizer() hands whole to byte-pair merging; longer
 * pieces are counted in chunks of at most this size. Merging costs per byte about 1.15x its floor at
 * 384 bytes, 1.4x at 768 and 2x at 1,536 (one piece's merging rescans it after each merge); the longest
 * pieces found in 53 MB of ordinary text (12,000 files of code, Markdown, JSON and minified JS) were
 * 665 bytes, all of them the padding of wide Markdown tables, and no word came near. 1,024 keeps all
 * of those exact at about 1.5x the floor.
 */
export const MAX_PIECE_BYTES = 1024;

/**
 * The largest payload, in UTF-16 code units (`text.length`), that defaultTokenizer() counts: 4 Mi,
 * about a million tokens of ordinary text, the largest context window a model reads. A longer text
 * makes it throw {@link PayloadTooLargeError} at once, never a partial or estimated count. Callers
 * check `text.length > MAX_PAYLOAD_CHARS` before counting and record such a payload as not counted
 * (`mcplens.tokens.not_counted = too_large`), so it never travels to the tokenizer's thread; the throw
 * is the backstop. 1 Mi characters is about 250k tokens of ordinary text, more than a model's context
 * takes from one tool result; at the cap a count takes about 0.1-0.25 s of CPU for ordinary text and
 * about 5 s for the worst content (random CJK, 4.9 s per Mi characters), in the worker, so one payload
 * cannot hold the counts of the calls after it for longer than that.
 */
export const MAX_PAYLOAD_CHARS = 1024 * 1024;

/**
 * Entries of gpt-tokenizer's merge cache. CPU per character with the cache full (as in a long-lived
 * worker), 256 KiB texts, 2 shared cores: code 64-72 ns at 2,000 to 8,000 entries, 150-170 with no cache;
 * CJK messages 470-500 against 700-780; random base64 780-840 against 570-590 with no cache and
 * 1,700-2,300 with the default 100,000. 2,000 keeps most of the gain on ordinary text and little of
 * the eviction cost.
 */
const MERGE_CACHE_SIZE = 2000;

/** Thrown by defaultTokenizer() for a text longer than {@link MAX_PAYLOAD_CHARS}: it is not counted. */
export class PayloadTooLargeError extends Error {
  /** Stable code, for callers that cannot use `instanceof` (e.g. across a worker boundary). */
  readonly code = 'MCPLENS_PAYLOAD_TOO_LARGE';

  /** @param chars the payload's length in UTF-16 code units */
  constructor(readonly chars: number) {
    super(`a payload of ${chars} characters is over the tokenizer's cap of ${MAX_PAYLOAD_CHARS}; not counted`);
    this.name = 'PayloadTooLargeError';
  }
}

/**
 * Special-token markers such as `<|endoftext|>` inside payloads are counted as the ordinary text they
 * are (gpt-tokenizer's default throws on them); an empty set also skips its per-call regex scan.
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

let cached: Tokenizer | undefined;

/**
 * The default tokenizer: gpt-tokenizer's o200k_base `countTokens` (GPT-4o / GPT-4.1 / o-series
 * vocabulary; a fair proxy for other providers' counts), bounded: linear in the text, exact unless a
 * single piece is longer than {@link MAX_PIECE_BYTES}, and throwing {@link PayloadTooLargeError} for a
 * text longer than {@link MAX_PAYLOAD_CHARS}. The first call loads the encoding table synchronously
 * (about 160 ms), so call it at start-up rather than on a request's path; later calls return the same
 * function.
 */
export function defaultTokenizer(): Tokenizer {
  if (!cached) {
    // The CommonJS build through the package's `require` export: synchronous, and only when wanted.
    const require = createRequire(import.meta.url);
    const o200k = require('gpt-tokenizer/encoding/o200k_base') as O200k;
    // The very regex countTokens splits with (same package, same version), so cuts land on its pieces.
    // A deep path, allowed by the package's exports map (`./*`); if an upgrade moves it, every test fails.
    const { O200K_TOKEN_SPLIT_REGEX } = require('gpt-tokenizer/encodingParams/constants') as SplitPatterns;
    // gpt-tokenizer's documented knob. In the worker this module instance is mcplens' own; in-thread it
    // may be shared with the host's own o200k_base, whose counts a cache size never changes.
    o200k.setMergeCacheSize(MERGE_CACHE_SIZE);
    cached = boundedCounter((text) => o200k.countTokens(text, PLAIN_TEXT), O200K_TOKEN_SPLIT_REGEX);
  }
  return cached;
}

/**
 * Wraps an exact counter so that it is linear in its input. A text without a run of one character
 * class long enough to form a piece over MAX_PIECE_BYTES (almost every text; a scan of one code unit in
 * 338, widened to its run, says so) goes to `count` as it is. Otherwise the text is split with the same regex
 * as `count` splits it, and counted in segments: runs of pieces of at most MAX_PIECE_BYTES as one
 * `count` each, each longer piece in chunks.
 *
 * Why the segment counts add up to `count(text)`: the o200k pattern has no look-behind and no anchor,
 * so the pieces from a piece boundary on do not depend on what came before it; and its only
 * look-ahead is `\s+(?!\S)`, which at a segment's end can merge whitespace pieces that the full text
 * splits (`"x\t\t!!!"` is `x`, `\t`, `\t`, `!!!`, but `"x\t\t"` alone is `x`, `\t\t`). So a segment
 * ends before its trailing whitespace-only pieces, and those are counted one by one (a piece alone is
 * split as itself).
 */
function boundedCounter(count: (text: string) => number, splitPattern: RegExp): Tokenizer {
  const pieces = new RegExp(splitPattern.source, splitPattern.flags); // own lastIndex
  const countLongPiece = (text: string, start: number, end: number): number => {
    let total = 0;
    let chunkStart = start;
    let bytes = 0;
    for (let i = start; i < end;) {
      const code = text.charCodeAt(i);
      // A surrogate pair (4 bytes) is never cut in two.
      const units = isHighSurrogate(code) && i + 1 < end && isLowSurrogate(text.charCodeAt(i + 1)) ? 2 : 1;
      const size = units === 2 ? 4 : utf8Bytes(code);
      if (bytes + size > MAX_PIECE_BYTES) {
        total += count(text.slice(chunkStart, i));
        chunkStart = i;
        bytes = 0;
      }
      bytes += size;
      i += units;
    }
    return total + count(text.slice(chunkStart, end));
  };
  const countInSegments = (text: string): number => {
    let total = 0;
    let segmentStart = 0;
    // Starts of the whitespace-only pieces that end the current segment (at most a few: see above).
    const spaceTail: number[] = [];
    pieces.lastIndex = 0;
    for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
      const piece = match[0];
      const start = match.index;
      if (piece.length * 3 <= MAX_PIECE_BYTES || Buffer.byteLength(piece, 'utf8') <= MAX_PIECE_BYTES) {
        if (isWhitespacePiece(piece)) spaceTail.push(start);
        else spaceTail.length = 0;
        continue;
      }
      const cut = spaceTail[0] ?? start;
      if (cut > segmentStart) total += count(text.slice(segmentStart, cut));
      for (let i = 0; i < spaceTail.length; i++) total += count(text.slice(spaceTail[i], spaceTail[i + 1] ?? start));
      spaceTail.length = 0;
      segmentStart = start + piece.length;
      total += countLongPiece(text, start, segmentStart);
    }
    return segmentStart < text.length ? total + count(text.slice(segmentStart)) : total;
  };
  return (text) => {
    if (text.length === 0) return 0;
    if (text.length > MAX_PAYLOAD_CHARS) throw new PayloadTooLargeError(text.length);
    return hasLongRun(text) ? countInSegments(text) : count(text);
  };
}

// Character classes of the o200k pieces, one bit each, per UTF-16 code unit. A piece is a prefix of at
// most one code point (4 bytes), then a run of one class, then at most a 3-byte contraction ('ll):
// LETTER for words (\p{L}\p{M}), SYMBOL for punctuation runs with their trailing \r\n/ ([^\s\p{L}\p{N}],
// \r, \n), SPACE for whitespace (\s); digits come in threes. A surrogate may belong to an astral letter
// or symbol, so it counts as both (overestimating a run only costs the segment path, never exactness).
const LETTER = 1;
const SYMBOL = 2;
const SPACE = 4;
const UNCLASSIFIED = 0xff;
const CLASS_BITS = [LETTER, SYMBOL, SPACE] as const;
/** Classes by code unit, filled in as code units are first seen. */
const classes = new Uint8Array(0x10000).fill(UNCLASSIFIED);
/** A piece over MAX_PIECE_BYTES has a run of one class at least this long, in bytes (prefix + contraction: 7 bytes). */
const RUN_LIMIT = MAX_PIECE_BYTES - 8;
/** Such a run spans at least this many code units (at most 3 bytes each), so sampling every STRIDE-th unit finds it. */
const STRIDE = Math.floor(RUN_LIMIT / 3);

function classOf(code: number): number {
  let bits = classes[code]!;
  if (bits === UNCLASSIFIED) {
    if (code >= 0xd800 && code <= 0xdfff) bits = LETTER | SYMBOL;
    else {
      const ch = String.fromCharCode(code);
      bits = 0;
      if (/[\p{L}\p{M}]/u.test(ch)) bits |= LETTER;
      if (/[^\s\p{L}\p{N}]/u.test(ch) || ch === '\r' || ch === '\n') bits |= SYMBOL;
      if (/\s/u.test(ch)) bits |= SPACE;
    }
    classes[code] = bits;
  }
  return bits;
}

/** Whether `text` may hold a piece over MAX_PIECE_BYTES: a run of one class of RUN_LIMIT bytes or more. */
function hasLongRun(text: string): boolean {
  for (let q = STRIDE - 1; q < text.length; q += STRIDE) {
    const bits = classOf(text.charCodeAt(q));
    for (const bit of CLASS_BITS) {
      if ((bits & bit) !== 0 && runBytes(text, q, bit) >= RUN_LIMIT) return true;
    }
  }
  return false;
}

/** UTF-8 bytes of the run of class `bit` around index `q`, counted up to RUN_LIMIT. */
function runBytes(text: string, q: number, bit: number): number {
  let bytes = utf8Bytes(text.charCodeAt(q));
  for (let i = q - 1; i >= 0 && bytes < RUN_LIMIT; i--) {
    const code = text.charCodeAt(i);
    if ((classOf(code) & bit) === 0) break;
    bytes += utf8Bytes(code);
  }
  for (let i = q + 1; i < text.length && bytes < RUN_LIMIT; i++) {
    const code = text.charCodeAt(i);
    if ((classOf(code) & bit) === 0) break;
    bytes += utf8Bytes(code);
  }
  return bytes;
}

/** UTF-8 bytes of one UTF-16 code unit (a surrogate pair's two units make 4). */
function utf8Bytes(code: number): number {
  return code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code <= 0xdfff) ? 2 : 3;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** An o200k piece is whitespace only when its first two code units are (a word or symbol piece has at most one before it). */
function isWhitespacePiece(piece: string): boolean {
  return (classOf(piece.charCodeAt(0)) & SPACE) !== 0 && (piece.length === 1 || (classOf(piece.charCodeAt(1)) & SPACE) !== 0);
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

/**
 * The text a tool adds to every LLM request that offers it: its name, description and input schema as
 * JSON, in the shape of a function declaration (`{"name","description","parameters"}`) as clients send
 * them. `title` is for user interfaces and is left out.
 */
export function catalogToolText(tool: ToolDefinition): string {
  const declaration: Record<string, unknown> = { name: tool.name };
  if (typeof tool.description === 'string') declaration.description = tool.description;
  declaration.parameters = tool.inputSchema ?? { type: 'object', properties: {} };
  return safeJson(declaration);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return ''; // cyclic or BigInt: nothing a model could have read as JSON
  }
}
