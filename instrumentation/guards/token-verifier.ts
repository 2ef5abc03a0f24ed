/**
 * Verifies short-lived JWT access tokens with `jose`: signature against a JWKS URL or a static
 * public key, issuer, audience and algorithms pinned, `exp` required, a small clock tolerance and
 * an optional maximum age. The scopes come from the `scope` claim (space-separated, RFC 9068 /
 * RFC 8693) or an `scp` array. A verified token is cached until it expires, keyed by its SHA-256.
 * Tokens never appear in errors, logs or the cache.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JWK, JWTPayload, JWTVerifyGetKey } from 'jose';

// jose loads at the first verification, not with this module: `mcplens/register` imports the
// guards at every server's start-up, and most servers configure no authorization.
let jose: Promise<typeof import('jose')> | undefined;
const loadJose = (): Promise<typeof import('jose')> => (jose ??= import('jose'));
import { ConfigError } from '../../contract/config-error.js';
import { VerifiedTokenCache } from './verified-token-cache.js';

/** How tokens are verified. Exactly one of `jwksUrl` and `key`. */
export interface TokenVerifierOptions {
  /** The expected `iss` (the authorization server's issuer identifier). */
  issuer: string;
  /** The expected `aud`: the MCP server's own canonical URL (or several accepted values). */
  audience: string | readonly string[];
  /** The accepted `alg` values, asymmetric only (RS256, ES256, PS256, EdDSA ...). */
  algorithms: readonly string[];
  /** The authorization server's JWKS (https, or http on a loopback address). */
  jwksUrl?: string;
  /** A static public key: PEM (SPKI public key or X.509 certificate) or a public JWK. */
  key?: string | JWK;
  /** Seconds of clock skew tolerated on `exp`, `nbf` and `iat`. Default 30. */
  clockToleranceSeconds?: number;
  /** Refuse tokens whose `iat` is older than this: seconds, or a duration such as '15m', '1h'. Default: no limit. */
  maxTokenAge?: number | string;
  /** Verified tokens kept (LRU). Default 10,000; 0 disables the cache. */
  cacheSize?: number;
  /** JWKS fetch timeout in ms. Default 5,000. */
  jwksTimeoutMs?: number;
  /** Minimum ms between two JWKS fetches triggered by an unknown `kid` (key rotation). Default 30,000. */
  jwksCooldownMs?: number;
}

/** What a verified token grants. */
export interface VerifiedToken {
  readonly scopes: ReadonlySet<string>;
  /** `sub`. */
  readonly subject?: string;
  /** `client_id` (RFC 9068), else `azp`. */
  readonly clientId?: string;
  /** `exp`, seconds since the epoch (as the SDK's `AuthInfo.expiresAt`). */
  readonly expiresAt: number;
}

/**
 * The token cannot be accepted (RFC 6750 `invalid_token`, HTTP 401). `description` is short,
 * fixed text safe to send to the client: it never contains the token or its claims.
 */
export class InvalidTokenError extends Error {
  override name = 'InvalidTokenError';
  constructor(readonly description: string) {
    super(`invalid token: ${description}`);
  }
}

/**
 * The token could not be checked because the key set could not be fetched or read: not the
 * caller's fault, so not a 401 (answer 503 and let the client retry).
 */
export class TokenVerificationUnavailableError extends Error {
  override name = 'TokenVerificationUnavailableError';
}

/** A configured verifier. */
export interface TokenVerifier {
  /** Verifies `token` (cache first). Rejects with InvalidTokenError or TokenVerificationUnavailableError. */
  verify(token: string): Promise<VerifiedToken>;
  /** The cached verification of `token` if there is a live one: synchronous, no signature check. */
  cached(token: string): VerifiedToken | undefined;
  /** The cache itself (keys are SHA-256 digests). */
  readonly cache: VerifiedTokenCache<VerifiedToken>;
}

const KNOWN_KEYS = new Set([
  'issuer',
  'audience',
  'algorithms',
  'jwksUrl',
  'key',
  'clockToleranceSeconds',
  'maxTokenAge',
  'cacheSize',
  'jwksTimeoutMs',
  'jwksCooldownMs',
]);

// Asymmetric algorithms and the key types that verify them. Shared secrets (HS*) are left out on
// purpose: an MCP server verifying an authorization server's tokens should never hold its signing key.
const KEY_TYPES: Record<string, readonly string[]> = {
  RS256: ['rsa'],
  RS384: ['rsa'],
  RS512: ['rsa'],
  PS256: ['rsa', 'rsa-pss'],
  PS384: ['rsa', 'rsa-pss'],
  PS512: ['rsa', 'rsa-pss'],
  ES256: ['ec'],
  ES384: ['ec'],
  ES512: ['ec'],
  EdDSA: ['ed25519', 'ed448'],
  Ed25519: ['ed25519'],
};

const BEARER = 'bearer';

/** Tokens longer than this are refused before any hashing or parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

const DURATION = /^(\d+) ?(s|sec|secs|seconds?|m|min|mins|minutes?|h|hr|hrs|hours?|d|days?)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * Validates `options` (a mistake throws ConfigError naming the key) and builds the verifier.
 * No network access happens here: the JWKS is fetched on the first verification.
 */
export function createTokenVerifier(options: TokenVerifierOptions, keyPrefix = 'authorization.token'): TokenVerifier {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${keyPrefix}: expected an object`);
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`${keyPrefix}.${key}: unknown option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const at = (key: string) => `${keyPrefix}.${key}`;
  if (typeof options.issuer !== 'string' || options.issuer === '') throw new ConfigError(`${at('issuer')}: expected a non-empty string`);
  const audience = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!Array.isArray(audience) || audience.length === 0 || audience.some((a) => typeof a !== 'string' || a === '')) {
    throw new ConfigError(`${at('audience')}: expected the server's own URL (a non-empty string or a list of them)`);
  }
  const algorithms = options.algorithms;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new ConfigError(`${at('algorithms')}: expected a non-empty list such as ["RS256"]`);
  }
  for (const alg of algorithms) {
    if (typeof alg !== 'string' || KEY_TYPES[alg] === undefined) {
      throw new ConfigError(
        `${at('algorithms')}: ${JSON.stringify(alg)} is not supported (asymmetric only: ${Object.keys(KEY_TYPES).join(', ')})`,
      );
    }
  }
  const clockTolerance = nonNegative(options.clockToleranceSeconds, 30, at('clockToleranceSeconds'));
  const maxTokenAge = options.maxTokenAge === undefined ? undefined : durationSeconds(options.maxTokenAge, at('maxTokenAge'));
  const cacheSize = nonNegativeInteger(options.cacheSize, 10_000, at('cacheSize'));
  const timeoutDuration = nonNegativeInteger(options.jwksTimeoutMs, 5_000, at('jwksTimeoutMs'));
  const cooldownDuration = nonNegativeInteger(options.jwksCooldownMs, 30_000, at('jwksCooldownMs'));

  if ((options.jwksUrl === undefined) === (options.key === undefined)) {
    throw new ConfigError(`${at('jwksUrl')}: set exactly one of jwksUrl and key`);
  }
  // The key set is made at the first verification (jose loads then); its URL is checked now.
  let keyFor: () => Promise<JWTVerifyGetKey | KeyObject>;
  if (options.jwksUrl !== undefined) {
    const url = jwksUrl(options.jwksUrl, at('jwksUrl'));
    let remote: Promise<JWTVerifyGetKey> | undefined;
    keyFor = () => (remote ??= loadJose().then((j) => j.createRemoteJWKSet(url, { timeoutDuration, cooldownDuration })));
  } else {
    const fixed = Promise.resolve(staticKey(options.key, algorithms as string[], at('key')));
    keyFor = () => fixed;
  }

  const verifyOptions = {
    issuer: options.issuer,
    audience: audience as string[],
    algorithms: [...algorithms] as string[],
    clockTolerance,
    requiredClaims: ['exp'],
    ...(maxTokenAge !== undefined ? { maxTokenAge } : {}),
  };
  const cache = new VerifiedTokenCache<VerifiedToken>(cacheSize);

  const cached = (token: string): VerifiedToken | undefined => (typeof token === 'string' ? cache.get(token, Date.now()) : undefined);

  const verify = async (token: string): Promise<VerifiedToken> => {
    if (typeof token !== 'string' || token === '') throw new InvalidTokenError('no token');
    if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('token too long');
    const hit = cache.get(token, Date.now());
    if (hit !== undefined) return hit;
    let payload: JWTPayload;
    try {
      // Two overloads (a key or a key resolver): the union needs a cast to pick one.
      const { jwtVerify } = await loadJose();
      ({ payload } = await jwtVerify(token, (await keyFor()) as JWTVerifyGetKey, verifyOptions));
    } catch (err) {
      throw translate(err);
    }
    const verified = Object.freeze({
      scopes: scopesOf(payload),
      ...(typeof payload.sub === 'string' ? { subject: payload.sub } : {}),
      ...clientIdOf(payload),
      expiresAt: payload.exp!,
    });
    // Served from the cache until `exp`, or until it would be too old, whichever is first.
    let untilSeconds = payload.exp!;
    if (maxTokenAge !== undefined && typeof payload.iat === 'number') untilSeconds = Math.min(untilSeconds, payload.iat + maxTokenAge);
    cache.set(token, verified, untilSeconds * 1000);
    return verified;
  };

  return { verify, cached, cache };
}

/** The token of an `Authorization: Bearer <token>` header value, or undefined when absent or another scheme. */
export function bearerToken(header: string | readonly string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  // No regular expression: this runs on every request, cache hits included. A token with
  // characters a JWT cannot have is refused by the verifier as malformed.
  if (typeof value !== 'string' || value.length < 8 || value.charCodeAt(6) !== 32) return undefined;
  // "Bearer", case-insensitive (RFC 7235 §2.1), compared without allocating: | 0x20 lowercases ASCII letters.
  for (let i = 0; i < 6; i++) if ((value.charCodeAt(i) | 0x20) !== BEARER.charCodeAt(i)) return undefined;
  const token = value.charCodeAt(value.length - 1) === 32 || value.charCodeAt(7) === 32 ? value.slice(7).trim() : value.slice(7);
  return token === '' || token.includes(' ') ? undefined : token;
}

function scopesOf(payload: JWTPayload): ReadonlySet<string> {
  const { scope, scp } = payload;
  if (scope !== undefined) {
    if (typeof scope !== 'string') throw new InvalidTokenError('scope claim is not a string');
    return new Set(scope.split(' ').filter((s) => s !== ''));
  }
  if (scp !== undefined) {
    if (typeof scp === 'string') return new Set(scp.split(' ').filter((s) => s !== ''));
    if (Array.isArray(scp) && scp.every((s) => typeof s === 'string')) return new Set(scp as string[]);
    throw new InvalidTokenError('scp claim is neither a string nor a list of strings');
  }
  return new Set();
}

function clientIdOf(payload: JWTPayload): { clientId?: string } {
  const id = payload['client_id'] ?? payload['azp'];
  return typeof id === 'string' ? { clientId: id } : {};
}

/** jose's error -> ours, with a fixed description (jose's errors carry the payload; they stay here). */
function translate(err: unknown): Error {
  const code = (err as { code?: unknown } | null)?.code;
  const claim = (err as { claim?: unknown }).claim;
  const reason = (err as { reason?: unknown }).reason;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      // jose reports a token past maxTokenAge as expired on its `iat`.
      return new InvalidTokenError(claim === 'iat' ? 'token older than the maximum token age' : 'token expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (reason === 'missing') return new InvalidTokenError(`${String(claim)} claim missing`);
      if (claim === 'nbf') return new InvalidTokenError('token not yet valid');
      if (claim === 'iat') return new InvalidTokenError('token issued in the future');
      if (claim === 'iss') return new InvalidTokenError('unexpected issuer');
      if (claim === 'aud') return new InvalidTokenError('token not issued for this server (audience)');
      return new InvalidTokenError(`${String(claim)} claim invalid`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new InvalidTokenError('signing algorithm not allowed');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new InvalidTokenError('signature verification failed');
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return new InvalidTokenError('no single key of the key set matches the token');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JWK_INVALID':
      return new InvalidTokenError('malformed or unsupported token');
    default:
      if (err instanceof InvalidTokenError) return err;
      // Fetch failures, a timeout, a key set that is not JSON: the verifier's trouble, not the token's.
      return new TokenVerificationUnavailableError(
        `token verification unavailable: ${code === 'ERR_JWKS_TIMEOUT' ? 'key set fetch timed out' : 'key set could not be fetched or read'}`,
      );
  }
}

function jwksUrl(value: unknown, key: string): URL {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw new ConfigError(`${key}: ${JSON.stringify(value)} is not a URL`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError(`${key}: ${url.href} must use https (plain http only on a loopback address)`);
  }
  return url;
}

function staticKey(value: unknown, algorithms: readonly string[], key: string): KeyObject {
  let keyObject: KeyObject;
  try {
    if (typeof value === 'string') keyObject = createPublicKey(value);
    else if (typeof value === 'object' && value !== null && (value as JWK).kty !== 'oct') {
      keyObject = createPublicKey({ key: value as JWK & { kty: string }, format: 'jwk' });
    } else throw new Error('not a public key');
  } catch {
    throw new ConfigError(`${key}: expected a PEM public key or certificate, or a public JWK (asymmetric)`);
  }
  const type = keyObject.asymmetricKeyType ?? 'unknown';
  const unusable = algorithms.filter((alg) => !(KEY_TYPES[alg] ?? []).includes(type));
  if (unusable.length > 0) throw new ConfigError(`${key}: a ${type} key cannot verify ${unusable.join(', ')} (see algorithms)`);
  return keyObject;
}

function nonNegative(value: unknown, fallback: number, key: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigError(`${key}: expected a non-negative number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegativeInteger(value: unknown, fallback: number, key: string): number {
  const n = nonNegative(value, fallback, key);
  if (!Number.isInteger(n)) throw new ConfigError(`${key}: expected an integer, got ${JSON.stringify(value)}`);
  return n;
}

function durationSeconds(value: unknown, key: string): number {
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
  const match = typeof value === 'string' ? DURATION.exec(value.trim()) : null;
  if (match === null || Number(match[1]) === 0) {
    throw new ConfigError(`${key}: expected a positive number of seconds or a duration such as '15m', got ${JSON.stringify(value)}`);
  }
  return Number(match[1]) * UNIT_SECONDS[match[2]![0]!]!;
}
