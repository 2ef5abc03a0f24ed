/**
 * Label values bounded. Every span attribute value that becomes a Prometheus label
 * value (and the same value in `/api/summary`) goes through {@link LabelValues.sanitize}, one
 * function for both, so the two always agree. A value is rewritten when it is
 *
 * - too long: more than `maxBytes` bytes of UTF-8 (one 5 MiB tool name made a 147 MB scrape);
 * - invalid text: control characters (C0, DEL, C1) or lone UTF-16 surrogates (a string that
 *   is not valid UTF-8), or an ending that looks like a rewritten value's (so a value sent as
 *   `x…~1a2b3c4d` cannot pose as the rewrite of another);
 * - a series-key separator: a `,` followed by a label name and `:`. prom-client keys a series
 *   by `name:value,` per label, so provider `openai,gen_ai_request_model:gpt` with model `x`
 *   and provider `openai` with model `gpt,gen_ai_request_model:x` were one series. Without such
 *   a sequence in any value that key is unambiguous (the first label whose values differ would
 *   have to hold `,<next label name>:`), and nothing visible changes for ordinary values.
 *
 * A rewritten value is its text with each offending character replaced by U+FFFD, cut at a
 * UTF-8 boundary so that the whole fits `maxBytes`, followed by the contract's marker and the
 * first 8 hex digits of the SHA-256 of the whole original value (its UTF-8 bytes; its UTF-16LE
 * code units when it holds lone surrogates, which UTF-8 cannot carry): `lookup_…~1a2b3c4d`.
 * Distinct values stay distinct series (short of a 32-bit hash collision), and every rewrite is
 * counted in `mcplens_collector_label_values_rewritten_total{label,reason}`.
 *
 * Rewritten values hold no control character, so keys built by joining label values with
 * U+0000 (cardinality.ts, summary.ts) cannot collide either.
 */
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import { LABEL, LABEL_VALUE_LIMIT, LABEL_VALUE_REWRITE_REASONS } from '../contract/index.js';

const MARKER = LABEL_VALUE_LIMIT.MARKER;
const HASH_DIGITS = LABEL_VALUE_LIMIT.HASH_HEX_DIGITS;
/** UTF-8 bytes of the marker and the hash. */
const SUFFIX_BYTES = Buffer.byteLength(MARKER) + HASH_DIGITS;

/**
 * Anything that may need a rewrite (a superset, checked precisely on the slow path): control
 * characters, any surrogate (pairs are fine), the marker's first character, a comma before a
 * name character. One regex test per value on the fast path.
 */
const SUSPECT = /[\u0000-\u001f\u007f-\u009f\u2026\ud800-\udfff]|,[A-Za-z_]/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const INVALID_G = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SEPARATOR = /,(?=[A-Za-z_][A-Za-z0-9_]*:)/;
const SEPARATOR_G = /,(?=[A-Za-z_][A-Za-z0-9_]*:)/g;
const LOOKS_REWRITTEN = new RegExp(`${MARKER}[0-9a-f]{${HASH_DIGITS}}$`);

/** Why a value must be rewritten (the first that applies, in the contract's order), or undefined. */
export function labelValueProblem(value: string, maxBytes: number): string | undefined {
  if (value.length > maxBytes / 3 && Buffer.byteLength(value, 'utf8') > maxBytes) return LABEL_VALUE_REWRITE_REASONS.TOO_LONG;
  if (CONTROL.test(value) || LONE_SURROGATE.test(value) || LOOKS_REWRITTEN.test(value)) return LABEL_VALUE_REWRITE_REASONS.INVALID_TEXT;
  if (SEPARATOR.test(value)) return LABEL_VALUE_REWRITE_REASONS.SEPARATOR;
  return undefined;
}

/** The first `maxBytes` bytes of well-formed `text` as UTF-8, cut at a character boundary. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.toString('utf8', 0, end);
}

/** The short hash of a whole value (see the module comment for the bytes hashed). */
export function labelValueHash(value: string): string {
  const encoding = LONE_SURROGATE.test(value) ? 'utf16le' : 'utf8';
  return createHash('sha256').update(value, encoding).digest('hex').slice(0, HASH_DIGITS);
}

/** The rewritten form of `value` (whether or not it needed one): fitting text, the marker, the hash. */
export function rewriteLabelValue(value: string, maxBytes: number): string {
  const budget = maxBytes - SUFFIX_BYTES;
  // Each UTF-16 unit is at least one UTF-8 byte: cut huge values before replacing anything.
  const head = value.length > budget + 1 ? value.slice(0, budget + 1) : value;
  const text = truncateUtf8(head.replace(INVALID_G, '\ufffd').replace(SEPARATOR_G, '\ufffd'), budget);
  return `${text}${MARKER}${labelValueHash(value)}`;
}

/** Options of {@link LabelValues}. */
export interface LabelValuesOptions {
  /** Longest label value in UTF-8 bytes, marker and hash included; at least LABEL_VALUE_LIMIT.MIN_MAX_BYTES. */
  maxBytes: number;
  /** `mcplens_collector_label_values_rewritten_total` (labels `label`, `reason`). */
  rewritten: Counter<string>;
  /** False passes every value unchanged (the benchmark's "checks off" baseline only). Default true. */
  enabled?: boolean;
}

/** The one sanitiser of label values (see the module comment). */
export class LabelValues {
  readonly maxBytes: number;
  private readonly rewritten: Counter<string>;
  private readonly enabled: boolean;
  /** Values no longer than this many UTF-16 units fit `maxBytes` whatever they hold. */
  private readonly fastLength: number;

  constructor(options: LabelValuesOptions) {
    const { maxBytes } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < LABEL_VALUE_LIMIT.MIN_MAX_BYTES) {
      throw new RangeError(`maxLabelValueBytes: ${String(maxBytes)} must be an integer of at least ${LABEL_VALUE_LIMIT.MIN_MAX_BYTES}`);
    }
    this.maxBytes = maxBytes;
    this.rewritten = options.rewritten;
    this.enabled = options.enabled ?? true;
    this.fastLength = Math.floor(maxBytes / 3);
  }

  /**
   * `value` as the label `label` may hold it: unchanged (the common case: one length check and
   * one regex test), or rewritten and counted under `label` and the reason.
   */
  sanitize(label: string, value: string): string {
    if (!this.enabled || (value.length <= this.fastLength && !SUSPECT.test(value))) return value;
    const reason = labelValueProblem(value, this.maxBytes);
    if (reason === undefined) return value;
    this.rewritten.inc({ [LABEL.LABEL]: label, [LABEL.REASON]: reason });
    return rewriteLabelValue(value, this.maxBytes);
  }

  /** A {@link LabelSlot} for one label: the same answers, with the last value remembered. */
  slot(label: string): LabelSlot {
    return new LabelSlot(this, label);
  }

  /** Counts one rewrite (for {@link LabelSlot}'s remembered answers). */
  countRewrite(label: string, reason: string): void {
    this.rewritten.inc({ [LABEL.LABEL]: label, [LABEL.REASON]: reason });
  }

  /** Like {@link sanitize} without counting: for text shown beside labels (field paths, session keys), bounded the same way. */
  bound(value: string): string {
    if (!this.enabled || (value.length <= this.fastLength && !SUSPECT.test(value))) return value;
    return labelValueProblem(value, this.maxBytes) === undefined ? value : rewriteLabelValue(value, this.maxBytes);
  }
}

/**
 * {@link LabelValues.sanitize} for one label (one call site of the tally), remembering its last
 * value: consecutive spans mostly repeat a service, method, provider and model (the decoders
 * even hand out the same string), and an equality test is cheaper than the checks. Every
 * occurrence of a rewritten value is still counted.
 */
export class LabelSlot {
  private lastRaw: string | undefined;
  private lastOut = '';
  /** The reason of the last value's rewrite, undefined when it was clean. */
  private lastReason: string | undefined;

  constructor(
    private readonly values: LabelValues,
    readonly label: string,
  ) {}

  sanitize(value: string): string {
    if (value === this.lastRaw) {
      if (this.lastReason !== undefined) this.values.countRewrite(this.label, this.lastReason);
      return this.lastOut;
    }
    const out = this.values.sanitize(this.label, value);
    this.lastRaw = value;
    this.lastOut = out;
    this.lastReason = out === value ? undefined : labelValueProblem(value, this.values.maxBytes);
    return out;
  }
}
