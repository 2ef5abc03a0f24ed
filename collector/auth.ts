/**
 * Optional bearer-token checks: one token for ingest (`POST /v1/traces`), one for reading
 * (`/metrics`, `/api/summary`, the status page). A missing or wrong token answers 401 with
 * `WWW-Authenticate: Bearer` (RFC 6750). Tokens are compared in constant time.
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
}

/**
 * Makes a check for `token`; with no token everything is allowed. `queryToken` (the
 * status page's `?token=`, since a browser cannot set headers on a page load) is accepted
 * in place of the header only where the caller passes it.
 */
export function bearerCheck(token: string | undefined): BearerCheck {
  if (token === undefined) return { check: () => undefined };
  const expected = digest(token);
  return {
    check(req, queryToken) {
      const header = req.headers.authorization;
      let presented: string | undefined;
      if (typeof header === 'string') {
        const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
        if (m) presented = m[1];
      }
      presented ??= queryToken;
      if (presented === undefined) return `Bearer realm="${AUTH_REALM}"`;
      if (!timingSafeEqual(digest(presented), expected)) {
        return `Bearer realm="${AUTH_REALM}", error="invalid_token"`;
      }
      return undefined;
    },
  };
}
