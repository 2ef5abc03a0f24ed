/**
 * The collector's answers to everything but well-formed telemetry, over real HTTP on loopback:
 * security headers on every route; errors as plain text (google.rpc.Status on /v1/traces)
 * without stack traces or paths, logged once; the read token exchanged for an HttpOnly cookie
 * (Secure over https); the Host check against DNS rebinding and its configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Gauge, Registry, type RegistryContentType } from 'prom-client';
import { LABEL, METRICS } from '../../contract/index.js';
import { ConfigError, parseArgs, optionsFromEnv, resolveConfig } from '../../collector/config.js';
import { SECURITY_HEADERS, isLoopbackHost, parseHost } from '../../collector/http-security.js';
import { createCollector } from '../../collector/index.js';
import { READ_TOKEN_COOKIE, STATUS_PAGE_CSP } from '../../collector/status-page.js';
import { emitCall, makeTracer, parseExposition, startCollector, sumOf, type Started } from './collector-harness.js';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with exactly the headers given (`host` included: fetch cannot set it). */
function send(
  url: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; ca?: Buffer } = {},
): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const make = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = make(
      {
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port,
        path,
        method: opts.method ?? 'GET',
        headers: opts.headers,
        ...(opts.ca ? { ca: opts.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** What a leaked stack trace or file path looks like. */
const LEAK = /\bat [\w.<>]+ \(|node:internal|\/work\/|\/dist\/|\.js:\d+|\.ts:\d+|<html|<pre|Error:/i;

const SPAN_JSON = JSON.stringify({ resourceSpans: [] });

let open: Started;
let secured: Started;
let port: number;

beforeAll(async () => {
  open = await startCollector();
  secured = await startCollector({ readToken: 'read;secret', ingestToken: 'in-secret' });
  port = Number(new URL(open.url).port);
});

afterAll(async () => {
  await open?.collector.close();
  await secured?.collector.close();
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('security headers', () => {
  it('every route answers with Referrer-Policy, X-Frame-Options and X-Content-Type-Options, errors and refusals included', async () => {
    const answers: Array<[string, Answer]> = [
      ['GET /', await send(open.url, '/')],
      ['GET /metrics', await send(open.url, '/metrics')],
      ['GET /api/summary', await send(open.url, '/api/summary')],
      ['GET /healthz', await send(open.url, '/healthz')],
      ['GET /readyz', await send(open.url, '/readyz')],
      [
        'POST /v1/traces',
        await send(open.url, '/v1/traces', { method: 'POST', headers: { 'content-type': 'application/json' }, body: SPAN_JSON }),
      ],
      ['GET /v1/traces', await send(open.url, '/v1/traces')],
      ['GET /nope', await send(open.url, '/nope')],
      ['GET / (no token)', await send(secured.url, '/')],
      ['GET / (bad Host)', await send(open.url, '/', { headers: { host: 'evil.example' } })],
    ];
    for (const [what, a] of answers) {
      const got = Object.fromEntries(Object.keys(SECURITY_HEADERS).map((h) => [h, a.headers[h]]));
      expect([what, got]).toEqual([
        what,
        { 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' },
      ]);
    }
    expect(answers.map(([w, a]) => [w, a.status])).toEqual([
      ['GET /', 200],
      ['GET /metrics', 200],
      ['GET /api/summary', 200],
      ['GET /healthz', 200],
      ['GET /readyz', 200],
      ['POST /v1/traces', 200],
      ['GET /v1/traces', 405],
      ['GET /nope', 404],
      ['GET / (no token)', 401],
      ['GET / (bad Host)', 403],
    ]);
  });

  it('the status page has a Content-Security-Policy allowing its inline script and style by their hashes only', async () => {
    const a = await send(open.url, '/');
    const csp = String(a.headers['content-security-policy']);
    expect(csp).toBe(STATUS_PAGE_CSP);
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k, v.join(' ')]),
    );
    expect(directives.get('default-src')).toBe("'none'");
    expect(directives.get('connect-src')).toBe("'self'");
    expect(directives.get('frame-ancestors')).toBe("'none'");
    expect(directives.get('base-uri')).toBe("'none'");
    expect(directives.get('form-action')).toBe("'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    // The hashes are those of the page actually served.
    const { createHash } = await import('node:crypto');
    const hash = (t: string): string => `'sha256-${createHash('sha256').update(t, 'utf8').digest('base64')}'`;
    const script = /<script>([\s\S]*?)<\/script>/.exec(a.body)?.[1] ?? '';
    const style = /<style>([\s\S]*?)<\/style>/.exec(a.body)?.[1] ?? '';
    expect(directives.get('script-src')).toBe(hash(script));
    expect(directives.get('style-src')).toBe(hash(style));
    // No style attribute in the markup either (the policy would refuse it).
    expect(a.body).not.toMatch(/<[^>]+\sstyle=/);
  });
});

describe('errors without stack traces or paths', () => {
  it('a failing /metrics (a user metric whose collect throws) answers 500 plain text, logged once with its stack', async () => {
    const registry = new Registry<RegistryContentType>();
    const c = await startCollector({ registry });
    new Gauge({
      name: 'user_metric',
      help: 'a metric registered by the embedding application',
      registers: [registry],
      collect() {
        throw new Error(`cannot read ${join(process.cwd(), 'secret', 'state.json')}`);
      },
    });
    const logged: string[] = [];
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      for (const accept of ['text/plain', 'application/openmetrics-text; version=1.0.0', 'text/html']) {
        const a = await send(c.url, '/metrics', { headers: { accept } });
        expect([accept, a.status, a.headers['content-type']]).toEqual([accept, 500, 'text/plain; charset=utf-8']);
        expect(a.body).toBe('internal error (logged by the collector)\n');
        expect(a.body).not.toMatch(LEAK);
      }
      // The collector still serves everything else.
      expect((await send(c.url, '/api/summary')).status).toBe(200);
    } finally {
      jest.restoreAllMocks();
      await c.collector.close();
    }
    expect(logged).toHaveLength(3);
    for (const line of logged) {
      expect(line).toMatch(/^mcplens collector: GET \/metrics answered 500: Error: cannot read .*state\.json\n\s+at /);
    }
  });

  it('unknown routes answer 404 plain text naming the routes, never echoing the path or serving HTML', async () => {
    for (const path of ['/nope', '/%', '//x', '/<script>alert(1)</script>', '/v1/logs', '/metrics/x']) {
      const a = await send(open.url, path, { headers: { accept: 'text/html' } });
      expect([path, a.status, a.headers['content-type']]).toEqual([path, 404, 'text/plain; charset=utf-8']);
      expect(a.body).toMatch(/^not found; routes: POST \/v1\/traces, GET \/metrics/);
      expect(a.body).not.toContain('script');
      expect(a.body).not.toMatch(LEAK);
    }
    // Methods no route takes are 404 too, as text.
    for (const method of ['OPTIONS', 'DELETE', 'PUT']) {
      const a = await send(open.url, '/metrics', { method });
      expect([method, a.status, a.body]).toEqual([method, 404, expect.stringMatching(/^not found;/)]);
    }
  });

  it('refusals on /v1/traces stay google.rpc.Status in the request encoding, as the receiver answers', async () => {
    const wrongMethod = await send(open.url, '/v1/traces', { method: 'PUT' });
    expect([wrongMethod.status, wrongMethod.headers['content-type'], JSON.parse(wrongMethod.body).code]).toEqual([
      405,
      'application/json',
      12,
    ]);
    const badHost = await send(open.url, '/v1/traces', {
      method: 'POST',
      headers: { host: 'evil.example', 'content-type': 'application/json' },
      body: SPAN_JSON,
    });
    expect(badHost.status).toBe(403);
    expect(badHost.headers['content-type']).toBe('application/json');
    expect(JSON.parse(badHost.body)).toEqual({ code: 7, message: expect.stringMatching(/Host header not allowed/) });
    const badHostPb = await send(open.url, '/v1/traces', {
      method: 'POST',
      headers: { host: 'evil.example', 'content-type': 'application/x-protobuf' },
      body: new Uint8Array(),
    });
    expect([badHostPb.status, badHostPb.headers['content-type']]).toEqual([403, 'application/x-protobuf']);
    // google.rpc.Status: field 1 (code) varint 7, then field 2 (message).
    expect([...Buffer.from(badHostPb.body, 'latin1').subarray(0, 2)]).toEqual([0x08, 7]);
  });
});

describe('the read token: exchanged for an HttpOnly cookie', () => {
  const TOKEN = 'read;secret';

  it('/?token= with the right token sets the cookie and redirects (303) to the page without the token', async () => {
    const a = await send(secured.url, `/?token=${encodeURIComponent(TOKEN)}`);
    expect([a.status, a.headers.location, a.headers['cache-control']]).toEqual([303, './', 'no-store']);
    expect(a.headers['set-cookie']).toEqual([`${READ_TOKEN_COOKIE}=${encodeURIComponent(TOKEN)}; Path=/; HttpOnly; SameSite=Strict`]);
    expect(a.body).not.toContain(TOKEN);
  });

  it('the cookie reads /, /api/summary and /metrics; a wrong cookie or token does not, and sets nothing', async () => {
    const cookie = `other=1; ${READ_TOKEN_COOKIE}=${encodeURIComponent(TOKEN)}`;
    for (const path of ['/', '/api/summary', '/metrics']) {
      expect([path, (await send(secured.url, path, { headers: { cookie } })).status]).toEqual([path, 200]);
      const wrong = await send(secured.url, path, { headers: { cookie: `${READ_TOKEN_COOKIE}=nope` } });
      expect([path, wrong.status, wrong.headers['www-authenticate']]).toEqual([path, 401, 'Bearer realm="mcplens", error="invalid_token"']);
      // Bearer still works; the ingest token still does not read.
      expect((await send(secured.url, path, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await send(secured.url, path, { headers: { authorization: 'Bearer in-secret' } })).status).toBe(401);
    }
    for (const q of ['?token=nope', '?token=', `?token=${encodeURIComponent(TOKEN)}&token=x`]) {
      const a = await send(secured.url, `/${q}`);
      expect([q, a.status, a.headers['set-cookie'], a.headers['www-authenticate']]).toEqual([
        q,
        401,
        undefined,
        'Bearer realm="mcplens", error="invalid_token"',
      ]);
    }
    // The cookie never authenticates ingest.
    const ingest = await send(secured.url, '/v1/traces', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: SPAN_JSON,
    });
    expect(ingest.status).toBe(401);
  });

  it('without a read token, /?token= just redirects to the page, setting nothing', async () => {
    const a = await send(open.url, '/?token=whatever');
    expect([a.status, a.headers.location, a.headers['set-cookie']]).toEqual([303, './', undefined]);
  });

  it('over https the cookie is Secure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcplens-tls-'));
    const c = createCollector({ readToken: TOKEN });
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost,IP:127.0.0.1',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      );
      const cert = readFileSync(join(dir, 'cert.pem'));
      const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, c.app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const a = await send(url, `/?token=${encodeURIComponent(TOKEN)}`, { ca: cert });
        expect(a.status).toBe(303);
        expect(a.headers['set-cookie']).toEqual([
          `${READ_TOKEN_COOKIE}=${encodeURIComponent(TOKEN)}; Path=/; HttpOnly; SameSite=Strict; Secure`,
        ]);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    } finally {
      await c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Host check (DNS-rebinding protection)', () => {
  it('on loopback: localhost, 127.0.0.1 and [::1] with the listening port pass; any other name or port gets 403 plain text', async () => {
    const pass = [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`];
    const refuse = [
      'evil.example',
      `evil.example:${port}`,
      `localhost:${port + 1}`,
      'localhost',
      `127.0.0.2:${port}`,
      `127.0.0.1.evil.example:${port}`,
      `localhost:${port}@evil`,
    ];
    for (const host of pass) expect([host, (await send(open.url, '/api/summary', { headers: { host } })).status]).toEqual([host, 200]);
    for (const host of refuse) {
      const a = await send(open.url, '/api/summary', { headers: { host } });
      expect([host, a.status, a.headers['content-type']]).toEqual([host, 403, 'text/plain; charset=utf-8']);
      expect(a.body).toBe('Host header not allowed (DNS-rebinding protection; see --allowed-hosts)\n');
    }
    // Probes answer whatever the Host.
    for (const path of ['/healthz', '/readyz'])
      expect([path, (await send(open.url, path, { headers: { host: 'pod-ip.example' } })).status]).toEqual([path, 200]);
  });

  it('a request without Host (HTTP/1.0) is refused on loopback', async () => {
    const { connect } = await import('node:net');
    const text = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('utf8')));
      s.on('close', () => resolve(out));
      s.end('GET /api/summary HTTP/1.0\r\n\r\n');
    });
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('refusals are counted in the request metric; OTLP exporters sending Host 127.0.0.1:PORT are still counted', async () => {
    const t = makeTracer(open.url, 'protobuf', 'svc-host-check');
    emitCall(t.tracer, { tool: 'add', provider: 'openai', model: 'm', startMs: Date.now(), outcome: 'ok' });
    await t.flush();
    await t.shutdown();
    const text = (await send(open.url, '/metrics', { headers: { host: `localhost:${port}` } })).body;
    const samples = parseExposition(text);
    expect(sumOf(samples, METRICS.TOOL_CALLS.name, { [LABEL.SERVICE_NAME]: 'svc-host-check' })).toBe(1);
    expect(text).toMatch(/_count\{[^}]*status_code="403"[^}]*\} [1-9]/);
  });

  it('--allowed-hosts adds names (any port) and name:port pairs; the loopback names stay allowed', async () => {
    const c = await startCollector({ allowedHosts: ['mcplens.internal', 'tunnel.example:9000'] });
    const p = Number(new URL(c.url).port);
    try {
      const cases: Array<[string, number]> = [
        ['mcplens.internal', 200],
        ['mcplens.internal:8443', 200],
        ['MCPLENS.INTERNAL', 200],
        ['tunnel.example:9000', 200],
        ['tunnel.example:9001', 403],
        ['tunnel.example', 403],
        [`127.0.0.1:${p}`, 200],
        ['evil.example', 403],
      ];
      const got: Array<[string, number]> = [];
      for (const [host] of cases) got.push([host, (await send(c.url, '/', { headers: { host } })).status]);
      expect(got).toEqual(cases);
    } finally {
      await c.collector.close();
    }
  });

  it('bound to 0.0.0.0 (the compose stack) there is no check, unless allowed hosts are configured', async () => {
    const any = await startCollector({ host: '0.0.0.0' });
    const listed = await startCollector({ host: '0.0.0.0', allowedHosts: ['collector:4318'] });
    try {
      const anyUrl = `http://127.0.0.1:${new URL(any.url).port}`;
      const listedUrl = `http://127.0.0.1:${new URL(listed.url).port}`;
      expect((await send(anyUrl, '/metrics', { headers: { host: 'collector:4318' } })).status).toBe(200);
      expect((await send(anyUrl, '/metrics', { headers: { host: 'evil.example' } })).status).toBe(200);
      expect((await send(listedUrl, '/metrics', { headers: { host: 'collector:4318' } })).status).toBe(200);
      expect((await send(listedUrl, '/metrics', { headers: { host: 'evil.example' } })).status).toBe(403);
    } finally {
      await any.collector.close();
      await listed.collector.close();
    }
  });

  it('bound to ::1 the check is on, with [::1] and localhost allowed', async () => {
    let c: Started;
    try {
      c = await startCollector({ host: '::1' });
    } catch {
      return; // No IPv6 loopback on this machine.
    }
    try {
      const p = Number(new URL(c.url).port);
      expect((await send(c.url, '/api/summary', { headers: { host: `[::1]:${p}` } })).status).toBe(200);
      expect((await send(c.url, '/api/summary', { headers: { host: `localhost:${p}` } })).status).toBe(200);
      expect((await send(c.url, '/api/summary', { headers: { host: `evil.example:${p}` } })).status).toBe(403);
    } finally {
      await c.collector.close();
    }
  });
});

describe('allowedHosts configuration and host parsing', () => {
  it('parses from flags, environment and code; bad values name themselves', () => {
    expect(parseArgs(['--allowed-hosts', 'a.example, B.example:8080,[::2]']).options).toEqual({
      allowedHosts: ['a.example', 'b.example:8080', '[::2]'],
    });
    expect(optionsFromEnv({ MCPLENS_COLLECTOR_ALLOWED_HOSTS: 'collector,collector:4318' })).toEqual({
      allowedHosts: ['collector', 'collector:4318'],
    });
    expect(resolveConfig({}).allowedHosts).toEqual([]);
    for (const bad of ['http://a.example', 'a.example/x', 'a b', 'a.example:99999', '*']) {
      expect(() => resolveConfig({ allowedHosts: [bad] })).toThrow(ConfigError);
      expect(() => resolveConfig({ allowedHosts: [bad] })).toThrow(`'allowedHosts': '${bad}' is not a host name or host:port`);
    }
    expect(() => resolveConfig({ allowedHosts: 'a.example' })).toThrow(/'allowedHosts'/);
    expect(() => parseArgs(['--allowed-hosts', 'http://x'])).toThrow(/--allowed-hosts: 'http:\/\/x' is not a host name/);
  });

  it('loopback addresses and Host values', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LocalHost', '::ffff:127.0.0.1'].map(isLoopbackHost)).toEqual(
      Array(7).fill(true),
    );
    expect(['0.0.0.0', '::', '10.0.0.1', 'localhost.evil', '128.0.0.1', '127.0.0.1.nip.io'].map(isLoopbackHost)).toEqual(
      Array(6).fill(false),
    );
    expect(parseHost('LocalHost:4318')).toEqual({ name: 'localhost', port: 4318 });
    expect(parseHost('[::1]:80')).toEqual({ name: '[::1]', port: 80 });
    expect(parseHost('example')).toEqual({ name: 'example' });
    for (const bad of ['', 'a:b', 'a:99999', 'user@host', '::1', 'a/b', 'a b']) expect([bad, parseHost(bad)]).toEqual([bad, undefined]);
  });
});
