/**
 * A bounded LRU of verified tokens, so a token seen before costs a hash and a map lookup instead
 * of a signature check. Keyed by the SHA-256 of the token: the token itself is never stored, so a
 * heap dump or a debugger shows no usable credential.
 */
import { sha256Base64url } from './sha256.js';

/** What the cache holds for one token. */
export interface CachedToken<T> {
  value: T;
  /** Epoch milliseconds after which the entry is no longer served. */
  expiresAtMs: number;
}

/** A bounded LRU keyed by the SHA-256 of a token. */
export class VerifiedTokenCache<T> {
  // A Map iterates in insertion order: re-inserting on a hit keeps the oldest entry first.
  private readonly entries = new Map<string, CachedToken<T>>();

  /** @param maxEntries the bound; the least recently used entry is dropped past it. */
  constructor(private readonly maxEntries: number) {}

  /** The key a token is stored under (base64url SHA-256). */
  static keyOf(token: string): string {
    return sha256Base64url(token);
  }

  /** The entry for `token` when present and not expired at `nowMs`; an expired entry is dropped. */
  get(token: string, nowMs: number): T | undefined {
    const key = VerifiedTokenCache.keyOf(token);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expiresAtMs <= nowMs) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for `token` until `expiresAtMs`. */
  set(token: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    const key = VerifiedTokenCache.keyOf(token);
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAtMs });
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
