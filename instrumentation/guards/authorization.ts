/**
 * The scoped-authorization guard for HTTP transports: who the caller is (the SDK's `authInfo`, or
 * a JWT from the `Authorization` header verified by token-verifier.ts), whether they may call a
 * tool (tool-scopes.ts), and the answer when they may not (bearer-challenge.ts). Opt-in: nothing
 * here runs unless a user configures it.
 */
import { ConfigError } from '../../contract/config-error.js';
import {
  type BearerAnswer,
  insufficientScopeAnswer,
  invalidTokenAnswer,
  missingTokenAnswer,
  verificationUnavailableAnswer,
} from './bearer-challenge.js';
import {
  bearerToken,
  createTokenVerifier,
  InvalidTokenError,
  TokenVerificationUnavailableError,
  type TokenVerifier,
  type TokenVerifierOptions,
} from './token-verifier.js';
import { type AuthorizationDecision, type CallerScopes, createToolScopes, deniedMessage, type ToolScopesOptions } from './tool-scopes.js';

/** The guard's configuration. */
export interface AuthorizationOptions extends ToolScopesOptions {
  /** Verify JWTs from the `Authorization: Bearer` header. Default: none, so only the SDK's `authInfo` is read. */
  token?: TokenVerifierOptions;
  /** Hide from `tools/list` the tools the caller may not call. Default false (listed, refused at call time). */
  hideUnauthorizedTools?: boolean;
  /** Protected Resource Metadata URL (RFC 9728), named in every challenge as `resource_metadata`. Default: left out. */
  resourceMetadataUrl?: string;
}

/** The part of the SDK's `AuthInfo` (`extra.authInfo`) the guard reads. Its `token` is never read. */
export interface AuthInfoLike {
  scopes: readonly string[];
  clientId?: string;
  /** Seconds since the epoch. */
  expiresAt?: number;
}

/** An authenticated caller. */
export interface Caller {
  readonly scopes: CallerScopes;
  readonly clientId?: string;
  readonly subject?: string;
  /** Seconds since the epoch. */
  readonly expiresAt?: number;
}

/** What the guard is given about one HTTP request. */
export interface CallerSource {
  /** `extra.authInfo`, set when the server already uses the SDK's bearer auth: it wins over the header. */
  authInfo?: AuthInfoLike;
  /** The request's `Authorization` header value. */
  authorization?: string | readonly string[];
}

/** The request carried no credentials the guard can use. */
export class MissingTokenError extends Error {
  override name = 'MissingTokenError';
  constructor() {
    super('authorization required: no bearer token');
  }
}

/** A refused `tools/call`: the message for a JSON-RPC error and the HTTP answer. */
export interface Denial {
  message: string;
  http: BearerAnswer;
}

/** A configured guard. */
export interface Authorization {
  readonly hideUnauthorizedTools: boolean;
  /** The decision for `tool` given the caller's scopes. */
  authorize(tool: string, scopes: CallerScopes): AuthorizationDecision;
  /** The tools the caller may call (for `tools/list` when `hideUnauthorizedTools`). */
  visibleTools<T extends { name: string }>(tools: readonly T[], scopes: CallerScopes): T[];
  /**
   * The caller of a request: from `authInfo` when present, else from a bearer JWT. Synchronous when
   * the answer needs no signature check (authInfo, or a cached token), a promise otherwise.
   * Throws (or rejects) MissingTokenError, InvalidTokenError or TokenVerificationUnavailableError.
   */
  resolveCaller(source: CallerSource): Caller | Promise<Caller>;
  /** The message and the 403 for a denied decision. */
  denial(tool: string, decision: Exclude<AuthorizationDecision, { allowed: true }>): Denial;
  /** The HTTP answer for an error of resolveCaller (401, or 503 when the key set is unreachable). */
  answerFor(error: unknown): BearerAnswer;
  /** The JWT verifier, when `token` is configured. */
  readonly verifier?: TokenVerifier;
}

const KNOWN_KEYS = new Set(['tools', 'defaultScopes', 'allowUnmapped', 'token', 'hideUnauthorizedTools', 'resourceMetadataUrl']);

/**
 * Validates `options` (ConfigError naming the bad key) and builds the guard.
 * @param keyPrefix how the options are named in messages, e.g. `guards.authorization`.
 */
export function createAuthorization(options: AuthorizationOptions, keyPrefix = 'authorization'): Authorization {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${keyPrefix}: expected an object`);
  const { token, hideUnauthorizedTools, resourceMetadataUrl, ...scopeOptions } = options;
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`${keyPrefix}.${key}: unknown option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const scopes = createToolScopes(scopeOptions, keyPrefix);
  if (hideUnauthorizedTools !== undefined && typeof hideUnauthorizedTools !== 'boolean') {
    throw new ConfigError(`${keyPrefix}.hideUnauthorizedTools: expected a boolean, got ${JSON.stringify(hideUnauthorizedTools)}`);
  }
  if (resourceMetadataUrl !== undefined) checkResourceMetadataUrl(resourceMetadataUrl, `${keyPrefix}.resourceMetadataUrl`);
  const verifier = token === undefined ? undefined : createTokenVerifier(token, `${keyPrefix}.token`);
  const challenge = resourceMetadataUrl === undefined ? {} : { resourceMetadataUrl };

  const fromAuthInfo = (authInfo: AuthInfoLike): Caller => {
    if (!Array.isArray(authInfo.scopes) || authInfo.scopes.some((s) => typeof s !== 'string')) {
      throw new InvalidTokenError('token scopes unreadable');
    }
    // The SDK's own middleware refuses expired tokens too; checked again because a custom one may not.
    if (typeof authInfo.expiresAt === 'number' && authInfo.expiresAt < Date.now() / 1000) throw new InvalidTokenError('token expired');
    return {
      scopes: authInfo.scopes,
      ...(typeof authInfo.clientId === 'string' ? { clientId: authInfo.clientId } : {}),
      ...(typeof authInfo.expiresAt === 'number' ? { expiresAt: authInfo.expiresAt } : {}),
    };
  };

  const resolveCaller = (source: CallerSource): Caller | Promise<Caller> => {
    if (source.authInfo !== undefined) return fromAuthInfo(source.authInfo);
    const jwt = bearerToken(source.authorization);
    if (verifier === undefined || jwt === undefined) {
      // A header that is present but not a usable bearer token is a bad token, not a missing one.
      if (verifier !== undefined && source.authorization !== undefined) throw new InvalidTokenError('malformed authorization header');
      throw new MissingTokenError();
    }
    return verifier.cached(jwt) ?? verifier.verify(jwt);
  };

  return {
    hideUnauthorizedTools: hideUnauthorizedTools === true,
    authorize: scopes.authorize,
    visibleTools: scopes.visibleTools,
    resolveCaller,
    denial: (tool, decision) => {
      const message = deniedMessage(tool, decision);
      const description =
        decision.reason === 'unmapped_tool'
          ? `tool ${tool} is not authorized for any scope`
          : `missing scope ${decision.missing.join(' ')}`;
      return { message, http: insufficientScopeAnswer(decision.required, description, challenge) };
    },
    answerFor: (error) => {
      if (error instanceof MissingTokenError) return missingTokenAnswer(challenge);
      if (error instanceof InvalidTokenError) return invalidTokenAnswer(error.description, challenge);
      if (error instanceof TokenVerificationUnavailableError) return verificationUnavailableAnswer();
      // Anything else is a fault in the guard: fail closed, and say nothing about it to the client.
      return invalidTokenAnswer('token could not be verified', challenge);
    },
    ...(verifier !== undefined ? { verifier } : {}),
  };
}

function checkResourceMetadataUrl(value: unknown, key: string): void {
  let url: URL | undefined;
  try {
    url = new URL(String(value));
  } catch {
    url = undefined;
  }
  if (typeof value !== 'string' || url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || /["\\]/.test(value)) {
    throw new ConfigError(`${key}: expected an absolute http(s) URL, got ${JSON.stringify(value)}`);
  }
}
