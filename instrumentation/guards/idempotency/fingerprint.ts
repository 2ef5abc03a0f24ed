/**
 * The arguments' fingerprint (RFC 8785 canonical JSON, see canonical-json.ts, so key order does not matter, then
 * SHA-256) and the storage key of one idempotency key within its caller's scope and tool.
 */
import * as crypto from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

// One-shot crypto.hash (Node >= 20.12) costs a third of a Hash object for short inputs.
const sha256 =
  typeof crypto.hash === 'function'
    ? (text: string): string => crypto.hash('sha256', text, 'base64url')
    : (text: string): string => crypto.createHash('sha256').update(text).digest('base64url');

/**
 * SHA-256 (base64url) of the RFC 8785 canonical JSON of `args`.
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
 * subject; undefined for anonymous callers, who share one scope). Hashed so separators inside
 * the parts cannot collide and the length is bounded.
 */
export function idempotencyStorageKey(scope: string | undefined, tool: string, key: string): string {
  return sha256(JSON.stringify([scope ?? null, tool, key]));
}
