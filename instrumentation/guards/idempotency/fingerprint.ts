/**
 * What identifies one idempotent call in a store: the arguments' fingerprint (SHA-256 of their
 * RFC 8785 canonical JSON, see canonical-json.ts, so key order does not matter) and the storage
 * key of one idempotency key within its caller's scope and tool. A store outside the process gets
 * the storage key as SHA-256 too (no caller identity leaves the process in clear, and its length
 * is bounded); a store in the process keeps a short one as text, which saves a SHA-256 per call.
 * (Fingerprints stay digests everywhere: kept as text, the canonical JSON's many small strings
 * outlived the call and cost more in garbage collection than the hash.)
 */
import { sha256Base64url as sha256 } from '../sha256.js';
import { canonicalJson } from './canonical-json.js';

/** How a store keeps the text that names a call's record. */
export type CallDigest = (text: string) => string;

/** Longest storage key an in-process store keeps as text: bounds its memory per record. */
export const MAX_TEXT_IDENTITY = 256;

/** SHA-256, base64url: for stores outside the process. */
export const hashedIdentity: CallDigest = sha256;

/**
 * The text itself when short, else its SHA-256 behind a `sha256:` prefix (never valid JSON, so a
 * digest cannot equal a text kept as it is): for stores in the process.
 */
export const textIdentity: CallDigest = (text) => (text.length <= MAX_TEXT_IDENTITY ? text : `sha256:${sha256(text)}`);

/**
 * The fingerprint of `args`: SHA-256 (base64url) of their RFC 8785 canonical JSON.
 * @throws TypeError when `args` has no canonical form (a lone UTF-16 surrogate, NaN, a cycle).
 */
export function fingerprintArguments(args: unknown): string {
  let canonical: string | undefined;
  try {
    canonical = canonicalJson(args);
  } catch (error) {
    throw new TypeError(`idempotency: arguments have no canonical JSON form (${(error as Error).message})`, { cause: error });
  }
  // undefined arguments (a call without any) fingerprint like JSON null.
  return sha256(canonical ?? 'null');
}

/**
 * The storage key of `key` for `tool` and the caller's `scope` (an identity such as a token's
 * subject; undefined for anonymous callers, who share one scope): `digest` (default SHA-256) of
 * the three as a JSON array, so separators inside the parts cannot collide.
 */
export function idempotencyStorageKey(scope: string | undefined, tool: string, key: string, digest: CallDigest = hashedIdentity): string {
  return digest(JSON.stringify([scope ?? null, tool, key]));
}
