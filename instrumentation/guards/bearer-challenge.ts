/**
 * The HTTP answers of the scoped-authorization guard, as the MCP authorization spec asks
 * (Scope Challenge Handling, Token Handling) with RFC 6750 §3 challenges: 403 with
 * `Bearer error="insufficient_scope", scope="..."` for a valid token that lacks scopes, 401 with
 * `error="invalid_token"` for a token that cannot be accepted, 401 with no error code when the
 * request carries no token.
 */

/** An HTTP answer for a refused request. */
export interface BearerAnswer {
  status: 401 | 403 | 503;
  headers: Record<string, string>;
  /** The RFC 6750 error code, absent when the request carried no token. */
  error?: 'invalid_token' | 'insufficient_scope';
  /** Short text for the client (never the token). */
  description: string;
}

/** Extra challenge parameters. */
export interface ChallengeOptions {
  /** The URL of the server's Protected Resource Metadata (RFC 9728), added as `resource_metadata`. */
  resourceMetadataUrl?: string;
}

// RFC 6750 §3: scope and error_description values are limited to %x20-21 / %x23-5B / %x5D-7E, so
// no escaping is ever needed; anything outside (a quote, a backslash, a control or non-ASCII
// character) is dropped rather than escaped.
const OUTSIDE_QUOTABLE = /[^\x20\x21\x23-\x5b\x5d-\x7e]/g;

/** `Bearer k1="v1", k2="v2"` from parameters in order; undefined values are left out. */
export function bearerChallenge(params: ReadonlyArray<readonly [string, string | undefined]>): string {
  const parts: string[] = [];
  for (const [name, value] of params) {
    if (value !== undefined) parts.push(`${name}="${value.replace(OUTSIDE_QUOTABLE, '')}"`);
  }
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`;
}

/**
 * 403 `insufficient_scope`, naming in `scope` every scope the operation requires (the spec's
 * recommended form: the client unions it with what it holds and steps up). An empty `required`
 * (a tool that no scope unlocks) leaves `scope` out.
 */
export function insufficientScopeAnswer(required: readonly string[], description: string, options: ChallengeOptions = {}): BearerAnswer {
  const header = bearerChallenge([
    ['error', 'insufficient_scope'],
    ['scope', required.length > 0 ? required.join(' ') : undefined],
    ['resource_metadata', options.resourceMetadataUrl],
    ['error_description', description],
  ]);
  return { status: 403, headers: { 'WWW-Authenticate': header }, error: 'insufficient_scope', description };
}

/** 401 `invalid_token`: expired, not yet valid, wrong issuer or audience, bad signature, malformed. */
export function invalidTokenAnswer(description: string, options: ChallengeOptions = {}): BearerAnswer {
  const header = bearerChallenge([
    ['error', 'invalid_token'],
    ['resource_metadata', options.resourceMetadataUrl],
    ['error_description', description],
  ]);
  return { status: 401, headers: { 'WWW-Authenticate': header }, error: 'invalid_token', description };
}

/** 401 without an error code (RFC 6750 §3.1: a request with no credentials gets none). */
export function missingTokenAnswer(options: ChallengeOptions = {}): BearerAnswer {
  const header = bearerChallenge([['resource_metadata', options.resourceMetadataUrl]]);
  return { status: 401, headers: { 'WWW-Authenticate': header }, description: 'authorization required' };
}

/** 503 when the key set cannot be fetched: the token may be fine, so no challenge that would make the client re-authorize. */
export function verificationUnavailableAnswer(retryAfterSeconds = 5): BearerAnswer {
  return { status: 503, headers: { 'Retry-After': String(retryAfterSeconds) }, description: 'token verification temporarily unavailable' };
}
