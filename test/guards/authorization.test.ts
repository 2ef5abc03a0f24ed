import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express from 'express';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { ConfigError } from '../../contract/config-error.js';
import { type AuthorizationOptions, createAuthorization, MissingTokenError } from '../../instrumentation/guards/authorization.js';
import { z } from 'zod';
import {
  bearerToken,
  createTokenVerifier,
  InvalidTokenError,
  TokenVerificationUnavailableError,
} from '../../instrumentation/guards/token-verifier.js';
import { createToolScopes } from '../../instrumentation/guards/tool-scopes.js';

const ISSUER = 'https://auth.example.test';
const AUDIENCE = 'https://mcp.example.test/mcp';
const TOOLS = { lookup_inventory: ['orders:read'], cancel_order: ['orders:write'], refund_order: ['orders:admin', 'orders:write'] };

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
interface Signer {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: SigningKey;
  jwk: JWK;
  spki: string;
}

async function makeSigner(alg: 'RS256' | 'ES256', kid: string): Promise<Signer> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk, spki: await exportSPKI(publicKey) };
}

const now = () => Math.floor(Date.now() / 1000);

/** A signed token; `claims` overrides the defaults, an `undefined` value removes a claim. */
async function sign(signer: Signer, claims: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'user-1',
    client_id: 'agent-7',
    iat: now(),
    exp: now() + 300,
    ...claims,
  };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' }).sign(signer.privateKey);
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWKS served by a real HTTP server on loopback; `keys` may be replaced (rotation), fetches are counted. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  private server: Server | undefined;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.keys }));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

function options(jwksUrl: string, extra: Partial<AuthorizationOptions> = {}, token: Record<string, unknown> = {}): AuthorizationOptions {
  return {
    tools: TOOLS,
    resourceMetadataUrl: 'https://mcp.example.test/.well-known/oauth-protected-resource',
    token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256', 'ES256'], jwksUrl, jwksCooldownMs: 0, ...token },
    ...extra,
  };
}

async function refusal(promise: () => unknown): Promise<unknown> {
  try {
    await promise();
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal');
}

describe('scoped authorization with JWTs verified against a live JWKS', () => {
  const jwks = new JwksServer();
  let rs: Signer;
  let es: Signer;

  beforeAll(async () => {
    [rs, es] = await Promise.all([makeSigner('RS256', 'rs-1'), makeSigner('ES256', 'es-1')]);
    jwks.keys = [rs.jwk, es.jwk];
    await jwks.start();
  });
  afterAll(() => jwks.stop());

  it.each(['RS256', 'ES256'] as const)(
    'a valid %s token with the scope is allowed; one without it is denied with the missing list',
    async (alg) => {
      const guard = createAuthorization(options(jwks.url));
      const token = await sign(alg === 'RS256' ? rs : es, { scope: 'orders:read orders:write' });
      const caller = await guard.resolveCaller({ authorization: `Bearer ${token}` });
      expect([...caller.scopes]).toEqual(['orders:read', 'orders:write']);
      expect(caller).toMatchObject({ subject: 'user-1', clientId: 'agent-7' });
      expect(guard.authorize('lookup_inventory', caller.scopes)).toEqual({ allowed: true });
      expect(guard.authorize('cancel_order', caller.scopes)).toEqual({ allowed: true });

      const decision = guard.authorize('refund_order', caller.scopes);
      expect(decision).toEqual({
        allowed: false,
        missing: ['orders:admin'],
        required: ['orders:admin', 'orders:write'],
        reason: 'missing_scopes',
      });
      if (decision.allowed) throw new Error('unreachable');
      const denial = guard.denial('refund_order', decision);
      expect(denial.message).toContain('orders:admin');
      expect(denial.message).toContain('refund_order');
      expect(denial.http.status).toBe(403);
      expect(denial.http.headers['WWW-Authenticate']).toBe(
        'Bearer error="insufficient_scope", scope="orders:admin orders:write", ' +
          'resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource", error_description="missing scope orders:admin"',
      );
    },
  );

  it('reads scopes from an scp array when there is no scope claim', async () => {
    const guard = createAuthorization(options(jwks.url));
    const caller = await guard.resolveCaller({ authorization: `Bearer ${await sign(rs, { scp: ['orders:write'] })}` });
    expect(guard.authorize('cancel_order', caller.scopes)).toEqual({ allowed: true });
    expect(guard.authorize('lookup_inventory', caller.scopes)).toMatchObject({ allowed: false, missing: ['orders:read'] });
  });

  it.each<[string, () => Promise<string>, string]>([
    ['expired (past the 30 s tolerance)', () => sign(rs, { exp: now() - 120, iat: now() - 600 }), 'token expired'],
    ['not yet valid', () => sign(rs, { nbf: now() + 120 }), 'token not yet valid'],
    ['for another audience', () => sign(rs, { aud: 'https://other.example.test/mcp' }), 'token not issued for this server (audience)'],
    ['from another issuer', () => sign(es, { iss: 'https://evil.example.test' }), 'unexpected issuer'],
    ['without exp', () => sign(rs, { exp: undefined }), 'exp claim missing'],
    ['signed by a key outside the key set', async () => sign(await makeSigner('RS256', 'rs-1')), 'signature verification failed'],
    [
      'unsecured (alg none)',
      async () =>
        `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: ISSUER, aud: AUDIENCE, exp: now() + 300, scope: 'orders:admin' })}.`,
      'signing algorithm not allowed',
    ],
    [
      'HS256 with the RSA public key as the secret (algorithm confusion)',
      () =>
        new SignJWT({ iss: ISSUER, aud: AUDIENCE, exp: now() + 300, scope: 'orders:admin' })
          .setProtectedHeader({ alg: 'HS256', kid: 'rs-1' })
          .sign(new TextEncoder().encode(rs.spki)),
      'signing algorithm not allowed',
    ],
  ])('refuses a token %s with a 401 invalid_token that does not echo it', async (_case, make, description) => {
    const guard = createAuthorization(options(jwks.url));
    const token = await make();
    const err = await refusal(() => guard.resolveCaller({ authorization: `Bearer ${token}` }));
    expect(err).toBeInstanceOf(InvalidTokenError);
    expect((err as InvalidTokenError).description).toBe(description);
    const answer = guard.answerFor(err);
    expect(answer.status).toBe(401);
    expect(answer.headers['WWW-Authenticate']).toBe(
      `Bearer error="invalid_token", resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource", error_description="${description}"`,
    );
    const signature = token.split('.')[2] ?? '';
    for (const text of [(err as Error).message, (err as Error).stack ?? '', JSON.stringify(answer)]) {
      expect(text).not.toContain(token.split('.')[1]!);
      if (signature !== '') expect(text).not.toContain(signature);
    }
    expect(guard.verifier!.cache.size).toBe(0);
  });

  it('accepts a token expired within the clock tolerance, and refuses it with a tolerance of 0', async () => {
    const token = await sign(rs, { exp: now() - 10, iat: now() - 300, scope: 'orders:read' });
    await expect(createAuthorization(options(jwks.url)).resolveCaller({ authorization: `Bearer ${token}` })).resolves.toBeDefined();
    const strict = createAuthorization(options(jwks.url, {}, { clockToleranceSeconds: 0 }));
    await expect(strict.resolveCaller({ authorization: `Bearer ${token}` })).rejects.toThrow('token expired');
  });

  it('refuses a token older than maxTokenAge, and one without iat when maxTokenAge is set', async () => {
    const guard = createAuthorization(options(jwks.url, {}, { maxTokenAge: '15m' }));
    const fresh = await sign(rs, { iat: now() - 60, scope: 'orders:read' });
    await expect(guard.resolveCaller({ authorization: `Bearer ${fresh}` })).resolves.toBeDefined();
    const old = await sign(rs, { iat: now() - 20 * 60, exp: now() + 300 });
    await expect(guard.resolveCaller({ authorization: `Bearer ${old}` })).rejects.toThrow('token older than the maximum token age');
    const future = await sign(rs, { iat: now() + 600 });
    await expect(guard.resolveCaller({ authorization: `Bearer ${future}` })).rejects.toThrow('token issued in the future');
    const noIat = await sign(rs, { iat: undefined });
    await expect(guard.resolveCaller({ authorization: `Bearer ${noIat}` })).rejects.toThrow('iat claim missing');
  });

  it('verifies a token signed by a rotated-in key (new kid) by refetching the key set', async () => {
    const guard = createAuthorization(options(jwks.url));
    await guard.resolveCaller({ authorization: `Bearer ${await sign(rs, { scope: 'orders:read' })}` });
    const before = jwks.fetches;
    const next = await makeSigner('RS256', 'rs-2');
    const rotated = await sign(next, { scope: 'orders:admin orders:write' });
    // Not yet published: refused.
    await expect(guard.resolveCaller({ authorization: `Bearer ${rotated}` })).rejects.toThrow(
      'no single key of the key set matches the token',
    );
    jwks.keys = [rs.jwk, es.jwk, next.jwk];
    try {
      const caller = await guard.resolveCaller({ authorization: `Bearer ${rotated}` });
      expect(guard.authorize('refund_order', caller.scopes)).toEqual({ allowed: true });
      expect(jwks.fetches).toBeGreaterThan(before);
    } finally {
      jwks.keys = [rs.jwk, es.jwk];
    }
  });

  it('caches a verified token by its SHA-256 until exp: the same decision, synchronously, without the token stored', async () => {
    const guard = createAuthorization(options(jwks.url));
    const token = await sign(es, { scope: 'orders:read', exp: now() + 2 });
    const first = await guard.resolveCaller({ authorization: `Bearer ${token}` });
    const fetches = jwks.fetches;
    const second = guard.resolveCaller({ authorization: `Bearer ${token}` });
    expect(second).not.toBeInstanceOf(Promise);
    expect(second).toBe(first);
    expect(guard.authorize('cancel_order', (second as typeof first).scopes)).toEqual(guard.authorize('cancel_order', first.scopes));
    expect(jwks.fetches).toBe(fetches);

    const keys = guard.verifier!.cache.keys();
    expect(keys).toEqual([createHash('sha256').update(token).digest('base64url')]);
    for (const part of token.split('.')) expect(keys[0]).not.toContain(part.slice(0, 16));
    expect(JSON.stringify(first)).not.toContain(token.split('.')[2]!);

    // Past exp the entry is no longer served (the cache does not stretch a token's life).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (first.expiresAt ?? 0) * 1000 - Date.now() + 20)));
    expect(guard.verifier!.cached(token)).toBeUndefined();
  });

  it('never serves a cached verification to other claims under the same signature', async () => {
    const guard = createAuthorization(options(jwks.url));
    const token = await sign(es, { scope: 'orders:read' });
    await guard.resolveCaller({ authorization: `Bearer ${token}` });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, scope: 'orders:read orders:admin' })).toString('base64url')}.${signature}`;
    expect(guard.verifier!.cached(forged)).toBeUndefined();
    const err = await refusal(async () => guard.resolveCaller({ authorization: `Bearer ${forged}` }));
    expect(err).toBeInstanceOf(InvalidTokenError);
    // The genuine token is still served from the cache.
    expect([...(guard.verifier!.cached(token)?.scopes ?? [])]).toEqual(['orders:read']);
  });

  it('bounds the cache: the least recently used token is dropped', async () => {
    const guard = createAuthorization(options(jwks.url, {}, { cacheSize: 2 }));
    const tokens = await Promise.all([1, 2, 3].map((n) => sign(rs, { sub: `user-${n}` })));
    for (const token of tokens) await guard.resolveCaller({ authorization: `Bearer ${token}` });
    expect(guard.verifier!.cache.size).toBe(2);
    expect(guard.verifier!.cached(tokens[0]!)).toBeUndefined();
    expect(guard.verifier!.cached(tokens[2]!)?.subject).toBe('user-3');
  });

  it('answers 503, not 401, when the key set cannot be fetched', async () => {
    const down = new JwksServer();
    await down.start();
    await down.stop();
    const guard = createAuthorization(options(down.url, {}, { jwksTimeoutMs: 2000 }));
    const err = await refusal(async () => guard.resolveCaller({ authorization: `Bearer ${await sign(rs)}` }));
    expect(err).toBeInstanceOf(TokenVerificationUnavailableError);
    expect(guard.answerFor(err)).toMatchObject({ status: 503, headers: { 'Retry-After': '5' } });
  });

  it('answers 401 without an error code when there is no token, invalid_token for a malformed header', async () => {
    const guard = createAuthorization(options(jwks.url));
    const missing = await refusal(() => guard.resolveCaller({}));
    expect(missing).toBeInstanceOf(MissingTokenError);
    expect(guard.answerFor(missing).headers['WWW-Authenticate']).toBe(
      'Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource"',
    );
    const malformed = await refusal(() => guard.resolveCaller({ authorization: 'Basic dXNlcjpwYXNz' }));
    expect(malformed).toBeInstanceOf(InvalidTokenError);
    expect(guard.answerFor(malformed).status).toBe(401);
  });
});

describe('scoped authorization with a static key', () => {
  it('verifies against a PEM public key (RS256) and a public JWK (ES256)', async () => {
    const [rs, es] = await Promise.all([makeSigner('RS256', 'a'), makeSigner('ES256', 'b')]);
    const pem = createAuthorization({ tools: TOOLS, token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], key: rs.spki } });
    const caller = await pem.resolveCaller({ authorization: `Bearer ${await sign(rs, { scope: 'orders:read' })}` });
    expect(pem.authorize('lookup_inventory', caller.scopes)).toEqual({ allowed: true });
    await expect(pem.resolveCaller({ authorization: `Bearer ${await sign(es)}` })).rejects.toThrow('signing algorithm not allowed');

    const jwk = createAuthorization({ tools: TOOLS, token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], key: es.jwk } });
    await expect(jwk.resolveCaller({ authorization: `Bearer ${await sign(es, { scope: 'orders:write' })}` })).resolves.toMatchObject({
      clientId: 'agent-7',
    });
  });
});

describe("scoped authorization from the SDK's authInfo", () => {
  const guard = createAuthorization({ tools: TOOLS });

  it('takes the scopes of authInfo and never keeps its token', () => {
    const caller = guard.resolveCaller({
      authInfo: { token: 'opaque-secret-token', clientId: 'agent-7', scopes: ['orders:read'], expiresAt: now() + 60 } as never,
      authorization: 'Bearer ignored-because-authInfo-wins',
    });
    expect(caller).not.toBeInstanceOf(Promise);
    expect(JSON.stringify(caller)).not.toContain('opaque-secret-token');
    expect(caller).toEqual({ scopes: ['orders:read'], clientId: 'agent-7', expiresAt: expect.any(Number) });
    const { scopes } = caller as { scopes: string[] };
    expect(guard.authorize('lookup_inventory', scopes)).toEqual({ allowed: true });
    expect(guard.authorize('cancel_order', scopes)).toEqual({
      allowed: false,
      missing: ['orders:write'],
      required: ['orders:write'],
      reason: 'missing_scopes',
    });
  });

  it('refuses an expired authInfo, and a request with neither authInfo nor a verifier', async () => {
    expect(() => guard.resolveCaller({ authInfo: { clientId: 'c', scopes: ['orders:read'], expiresAt: now() - 1 } })).toThrow(
      'token expired',
    );
    expect(() => guard.resolveCaller({ authorization: 'Bearer abc' })).toThrow(MissingTokenError);
  });
});

describe('the authInfo of a real SDK server behind requireBearerAuth', () => {
  it('grants or denies a tools/call by the scopes in extra.authInfo', async () => {
    const signer = await makeSigner('ES256', 'sdk');
    const verifier = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], key: signer.jwk });
    const guard = createAuthorization({ tools: TOOLS });
    const seen: unknown[] = [];
    const app = express();
    app.use(express.json());
    app.post(
      '/mcp',
      requireBearerAuth({
        verifier: {
          verifyAccessToken: async (token) => {
            const verified = await verifier.verify(token);
            return { token, clientId: verified.clientId ?? '', scopes: [...verified.scopes], expiresAt: verified.expiresAt };
          },
        },
      }),
      async (req, res) => {
        const server = new McpServer({ name: 'orders', version: '1.0.0' });
        server.registerTool('cancel_order', { inputSchema: { id: z.string() } }, async ({ id }, extra) => {
          seen.push(extra.authInfo?.scopes);
          const caller = guard.resolveCaller({ authInfo: extra.authInfo! }) as { scopes: readonly string[] };
          const decision = guard.authorize('cancel_order', caller.scopes);
          if (!decision.allowed)
            return { isError: true, content: [{ type: 'text' as const, text: guard.denial('cancel_order', decision).message }] };
          return { content: [{ type: 'text' as const, text: `cancelled ${id}` }] };
        });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        res.on('close', () => void transport.close());
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
      },
    );
    const http = await new Promise<Server>((resolve) => {
      const listening: Server = app.listen(0, '127.0.0.1', () => resolve(listening));
    });
    const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
    const call = async (scope: string) => {
      const client = new Client({ name: 'agent', version: '1.0.0' });
      const headers = { Authorization: `Bearer ${await sign(signer, { scope })}` };
      await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
      try {
        return (await client.callTool({ name: 'cancel_order', arguments: { id: 'o-1' } })) as {
          isError?: boolean;
          content: Array<{ text: string }>;
        };
      } finally {
        await client.close();
      }
    };
    try {
      const denied = await call('orders:read');
      expect(denied.isError).toBe(true);
      expect(denied.content[0]!.text).toContain('orders:write');
      const granted = await call('orders:read orders:write');
      expect(granted.isError).not.toBe(true);
      expect(granted.content[0]!.text).toBe('cancelled o-1');
      expect(seen).toEqual([['orders:read'], ['orders:read', 'orders:write']]);
    } finally {
      await new Promise((resolve) => http.close(resolve));
    }
  });
});

describe('bearerToken', () => {
  it.each<[string | string[] | undefined, string | undefined]>([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer abc.def.ghi', 'abc.def.ghi'],
    ['BEARER  abc.def.ghi  ', 'abc.def.ghi'],
    [['Bearer first.a.b', 'Bearer second.a.b'], 'first.a.b'],
    ['Basic dXNlcjpwYXNz', undefined],
    ['Bearerabc.def.ghi', undefined],
    ['Bearer a b', undefined],
    ['Bearer ', undefined],
    [undefined, undefined],
  ])('%j -> %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('tool scope map', () => {
  it('denies an unmapped tool by default, with a 403 that names no scope', () => {
    const guard = createAuthorization({ tools: TOOLS });
    const decision = guard.authorize('drop_database', ['orders:admin', 'orders:write', 'orders:read']);
    expect(decision).toEqual({ allowed: false, missing: [], required: [], reason: 'unmapped_tool' });
    if (decision.allowed) throw new Error('unreachable');
    const denial = guard.denial('drop_database', decision);
    expect(denial.message).toContain('drop_database');
    expect(denial.http.headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="tool drop_database is not authorized for any scope"',
    );
  });

  it('applies defaultScopes or allowUnmapped to unmapped tools', () => {
    const withDefault = createToolScopes({ tools: TOOLS, defaultScopes: ['orders:admin'] });
    expect(withDefault.authorize('other', ['orders:read'])).toMatchObject({ allowed: false, missing: ['orders:admin'] });
    expect(withDefault.authorize('other', new Set(['orders:admin']))).toEqual({ allowed: true });
    expect(createToolScopes({ tools: TOOLS, allowUnmapped: true }).authorize('other', [])).toEqual({ allowed: true });
  });

  it('visibleTools keeps only the tools the caller may call, in order', () => {
    const guard = createAuthorization({ tools: TOOLS, hideUnauthorizedTools: true });
    const listed = [{ name: 'refund_order' }, { name: 'lookup_inventory' }, { name: 'unmapped' }, { name: 'cancel_order' }];
    expect(guard.hideUnauthorizedTools).toBe(true);
    expect(guard.visibleTools(listed, new Set(['orders:read', 'orders:write'])).map((t) => t.name)).toEqual([
      'lookup_inventory',
      'cancel_order',
    ]);
  });
});

describe('configuration errors name the bad key', () => {
  const token = { issuer: ISSUER, audience: AUDIENCE, algorithms: ['RS256'], jwksUrl: 'https://auth.example.test/jwks' };
  it.each<[string, unknown, RegExp]>([
    ['a typo', { tools: TOOLS, allowUnmaped: true }, /^authorization\.allowUnmaped: unknown option/],
    ['both unmapped rules', { tools: TOOLS, allowUnmapped: true, defaultScopes: ['x'] }, /^authorization\.defaultScopes:/],
    ['a scope with a quote', { tools: { t: ['a"b'] } }, /^authorization\.tools\.t: "a\\"b" is not a valid OAuth scope/],
    ['a scope list that is a string', { tools: { t: 'orders:read' } }, /^authorization\.tools\.t: expected an array/],
    [
      'a symmetric algorithm',
      { tools: TOOLS, token: { ...token, algorithms: ['HS256'] } },
      /^authorization\.token\.algorithms: "HS256" is not supported/,
    ],
    ['alg none', { tools: TOOLS, token: { ...token, algorithms: ['none'] } }, /^authorization\.token\.algorithms: "none"/],
    ['no audience', { tools: TOOLS, token: { ...token, audience: '' } }, /^authorization\.token\.audience:/],
    ['both key sources', { tools: TOOLS, token: { ...token, key: 'x' } }, /^authorization\.token\.jwksUrl: set exactly one/],
    [
      'plain http off loopback',
      { tools: TOOLS, token: { ...token, jwksUrl: 'http://auth.example.test/jwks' } },
      /^authorization\.token\.jwksUrl: .* must use https/,
    ],
    ['a bad duration', { tools: TOOLS, token: { ...token, maxTokenAge: '15 fortnights' } }, /^authorization\.token\.maxTokenAge:/],
    [
      'a negative tolerance',
      { tools: TOOLS, token: { ...token, clockToleranceSeconds: -1 } },
      /^authorization\.token\.clockToleranceSeconds:/,
    ],
    ['a token typo', { tools: TOOLS, token: { ...token, audiance: AUDIENCE } }, /^authorization\.token\.audiance: unknown option/],
    ['a bad key', { tools: TOOLS, token: { ...token, jwksUrl: undefined, key: 'not a pem' } }, /^authorization\.token\.key:/],
    ['a bad metadata URL', { tools: TOOLS, resourceMetadataUrl: 'nope' }, /^authorization\.resourceMetadataUrl:/],
  ])('%s', (_case, config, message) => {
    const attempt = () => createAuthorization(JSON.parse(JSON.stringify(config)) as AuthorizationOptions);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });

  it('a key that cannot verify the pinned algorithm', async () => {
    const rs = await makeSigner('RS256', 'k');
    expect(() =>
      createAuthorization({ tools: TOOLS, token: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], key: rs.spki } }),
    ).toThrow(/^authorization\.token\.key: a rsa key cannot verify ES256/);
  });
});
