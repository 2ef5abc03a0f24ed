/**
 * RFC 8785 canonical JSON of JSON values, the same text as `canonicalize` 4.0.0 gives, at about
 * half its cost: it runs on every keyed tools/call, where the library's cycle set, per-level
 * arrays and per-character surrogate loop in JavaScript were most of the idempotency guard's
 * cost (measured in bench/guards-overhead.ts). test/guards/canonical-json.test.ts compares the
 * two on a varied corpus. Anything outside plain JSON values (undefined at the top, functions,
 * bigints, sparse arrays, NaN, infinities, lone surrogates, nesting deeper than {@link MAX_DEPTH}
 * such as a cycle) is handed to the library itself, so its output or its error is the answer.
 */
import canonicalize from 'canonicalize';

/** Deeper values go to the library, whose cycle check then applies. */
const MAX_DEPTH = 100;

/** `String.prototype.isWellFormed` (Node 20; ES2024, newer than this project's `lib`): no lone surrogate. */
const wellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** Characters JSON.stringify escapes in a well-formed string; without them a string is quoted as it is (a third of the cost). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

const quote = (text: string): string => (NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`);

/** Thrown inside {@link write} when the value needs the library. */
const LIBRARY: unique symbol = Symbol('canonicalize');

/**
 * The RFC 8785 canonical JSON of `value` (undefined when it has none, as `canonicalize`).
 * @throws Error as `canonicalize` does (NaN, infinities, lone surrogates, cycles).
 */
export function canonicalJson(value: unknown): string | undefined {
  try {
    return write(value, 0);
  } catch (error) {
    if (error === LIBRARY) return canonicalize(value);
    throw error;
  }
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      if (!wellFormed(value)) throw LIBRARY;
      return quote(value);
    case 'number':
      // String() of a finite number is ECMAScript's Number::toString, as in JSON.stringify (-0 gives "0").
      if (!Number.isFinite(value)) throw LIBRARY;
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw LIBRARY;
  }
  if (value === null) return 'null';
  if (depth >= MAX_DEPTH) throw LIBRARY;
  const object = value as Record<string, unknown> & { toJSON?: unknown };
  if (typeof object.toJSON === 'function') return write((object.toJSON as () => unknown)(), depth + 1);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0) out += ',';
      if (item === undefined || typeof item === 'symbol') {
        // The library maps over the array, which leaves holes empty.
        if (!(i in value)) throw LIBRARY;
        out += 'null';
      } else out += write(item, depth + 1);
    }
    return out + ']';
  }
  // Default sort: UTF-16 code units, as RFC 8785 orders property names.
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined || typeof item === 'symbol') continue;
    if (!wellFormed(key)) throw LIBRARY;
    out += `${first ? '' : ','}${quote(key)}:${write(item, depth + 1)}`;
    first = false;
  }
  return out + '}';
}
