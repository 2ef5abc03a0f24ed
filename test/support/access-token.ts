/** A short-lived ES256/RS256 access token as the guard tests' clients carry: `scope`, `client_id` agent-1, `sub` user-7. */
import { SignJWT } from 'jose';

/** The private key `SignJWT.sign` takes. */
export type SigningKey = Parameters<SignJWT['sign']>[0];

/** Signs a token for `audience` from `issuer` granting `scope`, valid for `expiresIn` (jose's time span, e.g. '5m', '-2m'). */
export function accessToken(
  key: SigningKey,
  claims: { issuer: string; audience: string; scope: string; expiresIn?: string; alg?: string },
): Promise<string> {
  return new SignJWT({ scope: claims.scope, client_id: 'agent-1' })
    .setProtectedHeader({ alg: claims.alg ?? 'ES256' })
    .setIssuer(claims.issuer)
    .setAudience(claims.audience)
    .setSubject('user-7')
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '5m')
    .sign(key);
}
