/** SHA-256 of a text, base64url: the digest the guards key their caches and stores with. */
import * as crypto from 'node:crypto';

/**
 * SHA-256 of `text`, base64url. One-shot `crypto.hash` (Node >= 20.12) costs a third of a Hash
 * object for short inputs; `createHash` is the fallback for older 20.x.
 */
export const sha256Base64url: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('sha256', text, 'base64url')
    : (text) => crypto.createHash('sha256').update(text).digest('base64url');
