/**
 * A bounded LRU of verified tokens, so a token seen before costs a hash and a map lookup instead
 * of a signature check. Keyed by the SHA-256 of the token's signature, the entry holding the
 * signed part (header and claims, which are no secret) to compare: the token itself is never
 * stored, so a heap dump or a debugger shows no usable credential; hashing the signature alone
 * costs about two thirds of hashing the whole token on every call.
 */
import * as crypto from 'node:crypto';

// crypto.hash (one call, no Hash object) is Node >= 20.12; createHash is the fallback for older 20.x.
const sha256 =
  typeof crypto.hash === 'function'
    ? (text: string): string => crypto.hash('sha256', text, 'base64url')
    : (text: string): string => crypto.createHash('sha256').update(text).digest('base64url');

/** What the cache holds for one token. */
export interface CachedToken<T> {
  value: T;
  /** Epoch milliseconds after which the entry is no longer served. */
  expiresAtMs: number;
}

interface Entry<T> extends CachedToken<T> {
  /** The token up to its last `.` (a JWS's header and payload): a hit must match it too. */
  signed: string;
}

/** The signed part and the signature of a compact JWS (a token without `.` is all signature). */
function split(token: string): { signed: string; signature: string } {
  const dot = token.lastIndexOf('.');
  return { signed: dot < 0 ? '' : token.slice(0, dot), signature: dot < 0 ? token : token.slice(dot + 1) };
}

/** A bounded LRU keyed by the SHA-256 of a token's signature. */
export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit keeps the oldest entry first.
  private readonly entries = new Map<string, Entry<T>>();

  /** @param maxEntries the bound; the least recently used entry is dropped past it. */
  constructor(private readonly maxEntries: number) {}

  /** The key a token is stored under (base64url SHA-256 of its signature). */
  static keyOf(token: string): string {
    return sha256(split(token).signature);
  }

  /** The entry for `token` when present and not expired at `nowMs`; an expired entry is dropped. */
  get(token: string, nowMs: number): T | undefined {
    const { signed, signature } = split(token);
    const key = sha256(signature);
    const entry = this.entries.get(key);
    // The same signature on other claims is another token: never served from this entry.
    if (entry === undefined || entry.signed !== signed) return undefined;
    this.entries.delete(key);
    if (entry.expiresAtMs <= nowMs) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for `token` until `expiresAtMs`. */
  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    const { signed, signature } = split(token);
    const key = sha256(signature);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAtMs, signed });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  /** The number of entries (expired ones included until they are looked up or evicted). */
  get size(): number {
    return this.entries.size;
  }

  /** The stored keys, oldest first (for tests: they must be hashes, never tokens). */
  keys(): string[] {
    return [...this.entries.keys()];
  }
}
