/**
 * Optional bearer-token checks: one token for ingest (`POST /v1/traces`), one for reading
 * (`/metrics`, `/api/summary`, the status page). A missing or wrong token answers 401 with
 * `WWW-Authenticate: Bearer` (RFC 6750). Tokens are compared in constant time.
 *
 * The read check also takes the token from a cookie (the status page exchanges its
 * `?token=` for an HttpOnly one, so the token leaves the URL; see status-page.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Realm put in `WWW-Authenticate`. */
export const AUTH_REALM = 'mcplens';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** A token check: `check(req)` returns undefined when allowed, else the `WWW-Authenticate` value for a 401. */
export interface BearerCheck {
  check(req: IncomingMessage, queryToken?: string): string | undefined;
  /** True when a token is required. */
  readonly enabled: boolean;
  /** Whether `presented` is the token (constant time); false when no token is set. */
  matches(presented: string): boolean;
}

/** Options of {@link bearerCheck}. */
export interface BearerCheckOptions {
  /** Cookie whose value (URI-encoded) is accepted in place of `Authorization: Bearer`. Default: none. */
  cookie?: string;
}

/** The value of cookie `name` in a `Cookie` header (URI-decoded), undefined when absent or undecodable. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Makes a check for `token`; with no token everything is allowed. The token is taken from
 * `Authorization: Bearer`, else from `options.cookie`, else from `queryToken` (accepted only
 * where the caller passes it).
 */
export function bearerCheck(token: string | undefined, options: BearerCheckOptions = {}): BearerCheck {
  if (token === undefined) return { check: () => undefined, enabled: false, matches: () => false };
  const expected = digest(token);
  const matches = (presented: string): boolean => timingSafeEqual(digest(presented), expected);
  return {
    enabled: true,
    matches,
    check(req, queryToken) {
      const header = req.headers.authorization;
      let presented: string | undefined;
      if (typeof header === 'string') {
        const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
        if (m) presented = m[1];
      }
      if (options.cookie !== undefined) presented ??= readCookie(req.headers.cookie, options.cookie);
      presented ??= queryToken;
      if (presented === undefined) return `Bearer realm="${AUTH_REALM}"`;
      if (!matches(presented)) {
        return `Bearer realm="${AUTH_REALM}", error="invalid_token"`;
      }
      return undefined;
    },
  };
}
