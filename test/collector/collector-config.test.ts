/**
 * Configuration: defaults in one place, table-driven validation (unknown key, typo, bad
 * values), the three sources and their precedence, and the CLI in a child process
 * (a bad value fails at start naming it; SIGTERM lets an in-flight request finish).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  COLLECTOR_OPTIONS,
  CONFIG_KEYS,
  ConfigError,
  DEFAULT_CONFIG,
  keyToEnv,
  optionsFromEnv,
  optionsFromFile,
  parseArgs,
  resolveConfig,
} from '../../collector/config.js';
import { createCollector } from '../../collector/index.js';

const MAIN = fileURLToPath(new URL('../../collector/main.js', import.meta.url));
/** The built `mcplens` command. */
const BIN = fileURLToPath(new URL('../../bin/mcplens.js', import.meta.url));
const PACKAGE_VERSION = (
  JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string }
).version;
const dir = mkdtempSync(join(tmpdir(), 'mcplens-collector-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('resolveConfig', () => {
  it('fills the defaults: loopback on the OTLP/HTTP port, 16 MiB bodies, 10,000 series, 60 s window', () => {
    const c = resolveConfig({});
    expect(c).toEqual(DEFAULT_CONFIG);
    expect([c.host, c.port, c.maxBodyBytes, c.cardinalityLimit, c.selfCorrectionWindowSeconds]).toEqual([
      '127.0.0.1',
      4318,
      16 * 1024 * 1024,
      10_000,
      60,
    ]);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['unknown key', { colour: 'blue' }, /unknown key 'colour'/],
    ['inherited name', JSON.parse('{"constructor": 5}') as unknown, /unknown key 'constructor'/],
    ['inherited toString', { toString: 1 }, /unknown key 'toString'/],
    ['typo with a hint', { prot: 4318 }, /unknown key 'prot' \(did you mean 'port'\?\)/],
    ['case typo', { MaxBodyBytes: 10 }, /unknown key 'MaxBodyBytes' \(did you mean 'maxBodyBytes'\?\)/],
    ['port too large', { port: 70000 }, /'port': 70000 is not valid: expected an integer port/],
    ['negative port', { port: -1 }, /'port': -1/],
    ['port as string', { port: '4318' }, /'port': '4318'/],
    ['fractional limit', { cardinalityLimit: 1.5 }, /'cardinalityLimit': 1.5/],
    ['zero body limit', { maxBodyBytes: 0 }, /'maxBodyBytes': 0/],
    ['empty host', { host: '' }, /'host': ''/],
    ['token with space', { readToken: 'a b' }, /'readToken'/],
    ['bad forward URL', { forwardEndpoints: ['ftp://x'] }, /'forwardEndpoints': 'ftp:\/\/x' is not an http\(s\) URL/],
    ['forward not a list', { forwardEndpoints: 'http://x' }, /'forwardEndpoints'/],
    ['zero breaker ttl', { breakerStateTtlSeconds: 0 }, /'breakerStateTtlSeconds': 0 is not valid: expected a number greater than 0/],
    ['breaker ttl as text', { breakerStateTtlSeconds: '15m' }, /'breakerStateTtlSeconds': '15m' is not valid/],
    ['backoff order', { forwardInitialBackoffMs: 1000, forwardMaxBackoffMs: 10 }, /'forwardMaxBackoffMs' \(10\) must not be less/],
    ['not an object', [], /expected an object/],
  ];
  for (const [name, input, message] of bad) {
    it(`rejects: ${name}`, () => {
      expect(() => resolveConfig(input)).toThrow(ConfigError);
      expect(() => resolveConfig(input)).toThrow(message);
    });
  }

  it('createCollector rejects bad options at once', () => {
    expect(() => createCollector({ port: 99999 })).toThrow(/'port': 99999/);
    expect(() => createCollector({ cardinalityLimit: 0 })).toThrow(/cardinalityLimit/);
  });
});

describe('traceUrlTemplate (trace viewer link of the status page)', () => {
  const good: Array<[string, string]> = [
    ['Tempo', 'http://tempo:3200/trace/{traceId}'],
    ['https with the id in the query', 'https://grafana.example/explore?traceId={traceId}&orgId=1'],
    ['Grafana Explore JSON state', 'http://127.0.0.1:3000/explore?left={"datasource":"tempo","queries":[{"query":"{traceId}"}]}'],
    ['the id twice', 'http://viewer/{traceId}?q={traceId}'],
  ];
  for (const [name, template] of good) {
    it(`accepts: ${name}`, () => {
      expect(resolveConfig({ traceUrlTemplate: template }).traceUrlTemplate).toBe(template);
    });
  }

  it('is unset by default', () => {
    expect(resolveConfig({}).traceUrlTemplate).toBeUndefined();
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['no placeholder', 'http://tempo/trace/', /'traceUrlTemplate': 'http:\/\/tempo\/trace\/' is not valid: expected an http\(s\) URL/],
    ['placeholder with a typo', 'http://tempo:3200/trace/{traceID}', /'traceUrlTemplate': .* URL containing \{traceId\}/],
    ['placeholder without braces', 'http://tempo:3200/trace/traceId', /'traceUrlTemplate'/],
    ['javascript: URL', 'javascript:alert("{traceId}")', /'traceUrlTemplate': .* expected an http\(s\) URL/],
    ['data: URL', 'data:text/html,{traceId}', /'traceUrlTemplate'/],
    ['not a URL', '/trace/{traceId}', /'traceUrlTemplate': '\/trace\/\{traceId\}' is not valid/],
    ['not a string', 42, /'traceUrlTemplate': 42 is not valid/],
    ['empty', '', /'traceUrlTemplate': '' is not valid/],
    ['key typo', { traceUrlTemplte: 'http://t/{traceId}' }, /unknown key 'traceUrlTemplte' \(did you mean 'traceUrlTemplate'\?\)/],
  ];
  for (const [name, value, message] of bad) {
    it(`rejects: ${name}`, () => {
      const input = typeof value === 'object' && value !== null ? value : { traceUrlTemplate: value };
      expect(() => resolveConfig(input)).toThrow(ConfigError);
      expect(() => resolveConfig(input)).toThrow(message);
    });
  }

  it('comes from --trace-url-template and MCPLENS_COLLECTOR_TRACE_URL_TEMPLATE, validated there too', () => {
    const template = 'http://tempo:3200/trace/{traceId}';
    expect(parseArgs(['--trace-url-template', template]).options).toEqual({ traceUrlTemplate: template });
    expect(optionsFromEnv({ MCPLENS_COLLECTOR_TRACE_URL_TEMPLATE: template })).toEqual({ traceUrlTemplate: template });
    expect(() => parseArgs(['--trace-url-template', 'http://tempo/trace/'])).toThrow(/command line --trace-url-template: .* \{traceId\}/);
    const flagTypo = /unknown option --trace-url-templte \(did you mean --trace-url-template\?\)/;
    expect(() => parseArgs(['--trace-url-templte', template])).toThrow(flagTypo);
    const env = 'MCPLENS_COLLECTOR_TRACE_URL_TEMPLATE';
    expect(() => optionsFromEnv({ [env]: 'ftp://x/{traceId}' })).toThrow(/environment MCPLENS_COLLECTOR_TRACE_URL_TEMPLATE: /);
    expect(() => optionsFromEnv({ MCPLENS_COLLECTOR_TRACE_URL_TEMPLTE: template })).toThrow(`did you mean '${env}'?`);
    expect(() => createCollector({ traceUrlTemplate: 'http://tempo/trace' })).toThrow(/'traceUrlTemplate'/);
  });
});

describe('sources', () => {
  it('parses flags (both forms, repeated forward endpoints) and rejects unknown flags with a hint', () => {
    const p = parseArgs([
      '--port',
      '0',
      '--host=0.0.0.0',
      '--forward-endpoint',
      'http://a/v1/traces',
      '--forward-endpoint=http://b/v1/traces',
      '--config',
      'x.json',
    ]);
    expect(p.options).toEqual({ port: 0, host: '0.0.0.0', forwardEndpoints: ['http://a/v1/traces', 'http://b/v1/traces'] });
    expect(p.configFile).toBe('x.json');
    // The compose file's spelling, each a comma list too.
    expect(parseArgs(['--forward-endpoints', 'http://a/x,http://b/y', '--forward-endpoint', 'http://c/z']).options).toEqual({
      forwardEndpoints: ['http://a/x', 'http://b/y', 'http://c/z'],
    });
    expect(() => parseArgs(['--prot', '1'])).toThrow(/unknown option --prot \(did you mean --port\?\)/);
    expect(() => parseArgs(['--port', 'abc'])).toThrow(/--port: 'abc' is not a number/);
    expect(() => parseArgs(['--port', '70000'])).toThrow(/--port: 70000 is not valid/);
    expect(() => parseArgs(['--port'])).toThrow(/--port needs a value/);
    expect(() => parseArgs(['--port', '--host', 'x'])).toThrow(/--port needs a value/);
  });

  const badArgs: Array<[string, string[], RegExp]> = [
    ['unknown option', ['--bogus'], /^command line: unknown option --bogus; 'mcplens collector --help' lists the options$/],
    ['unknown option before a value', ['--bogus', '5'], /^command line: unknown option --bogus; /],
    ['unknown option with =', ['--bogus=5'], /^command line: unknown option --bogus; /],
    ['unknown short option', ['-x'], /^command line: unknown option -x; /],
    ['inherited name', ['--constructor', 'x'], /^command line: unknown option --constructor; /],
    ['positional argument', ['4318'], /^command line: unexpected argument '4318'; /],
    ['a value for --help', ['--help=yes'], /^command line: --help takes no value; /],
    ['--config without a file', ['--config'], /^command line: --config needs a value; /],
  ];
  for (const [name, argv, message] of badArgs) {
    it(`rejects on the command line: ${name}`, () => {
      expect(() => parseArgs(argv)).toThrow(ConfigError);
      expect(() => parseArgs(argv)).toThrow(message);
    });
  }

  it('--help and --version stop before option values are validated', () => {
    expect(parseArgs(['--help', '--port', 'abc'])).toEqual({ options: {}, configFile: undefined, help: true, version: false });
    expect(parseArgs(['-h']).help).toBe(true);
    expect(parseArgs(['--version']).version).toBe(true);
  });

  it('takes the breaker-state ttl in seconds from --breaker-state-ttl-seconds and its variable, rejecting bad values by name', () => {
    expect(resolveConfig({}).breakerStateTtlSeconds).toBe(15 * 60);
    expect(parseArgs(['--breaker-state-ttl-seconds', '120']).options).toEqual({ breakerStateTtlSeconds: 120 });
    expect(parseArgs(['--breaker-state-ttl-seconds=0.5']).options).toEqual({ breakerStateTtlSeconds: 0.5 });
    expect(optionsFromEnv({ MCPLENS_COLLECTOR_BREAKER_STATE_TTL_SECONDS: '600' })).toEqual({ breakerStateTtlSeconds: 600 });
    expect(() => parseArgs(['--breaker-state-ttl-seconds', '15m'])).toThrow(
      /^command line --breaker-state-ttl-seconds: '15m' is not a number$/,
    );
    expect(() => parseArgs(['--breaker-state-ttl-seconds=0'])).toThrow(
      /^command line --breaker-state-ttl-seconds: 0 is not valid: expected a number greater than 0$/,
    );
    expect(() => parseArgs(['--breaker-state-ttl-seconds', '-5'])).toThrow(
      /^command line --breaker-state-ttl-seconds: -5 is not valid: expected a number greater than 0$/,
    );
    expect(() => optionsFromEnv({ MCPLENS_COLLECTOR_BREAKER_STATE_TTL_SECONDS: '-1' })).toThrow(
      /^environment MCPLENS_COLLECTOR_BREAKER_STATE_TTL_SECONDS: -1 is not valid: expected a number greater than 0$/,
    );
    expect(() => createCollector({ breakerStateTtlSeconds: Number.NaN })).toThrow(ConfigError);
  });

  it('reads MCPLENS_COLLECTOR_* variables and rejects unknown ones', () => {
    expect(keyToEnv('maxBodyBytes')).toBe('MCPLENS_COLLECTOR_MAX_BODY_BYTES');
    expect(
      optionsFromEnv({ MCPLENS_COLLECTOR_PORT: '9999', MCPLENS_COLLECTOR_FORWARD_ENDPOINTS: 'http://a/x, http://b/y', PATH: '/bin' }),
    ).toEqual({
      port: 9999,
      forwardEndpoints: ['http://a/x', 'http://b/y'],
    });
    expect(() => optionsFromEnv({ MCPLENS_COLLECTOR_PROT: '1' })).toThrow(
      /MCPLENS_COLLECTOR_PROT \(did you mean 'MCPLENS_COLLECTOR_PORT'\?\)/,
    );
    expect(() => optionsFromEnv({ MCPLENS_COLLECTOR_PORT: 'x' })).toThrow(/MCPLENS_COLLECTOR_PORT: 'x' is not a number/);
  });

  it('reads a JSON config file, naming the file in errors', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ port: 1234, readToken: 'r' }));
    expect(optionsFromFile(good)).toEqual({ port: 1234, readToken: 'r' });
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ cardinalityLimt: 5 }));
    expect(() => optionsFromFile(typo)).toThrow(
      new RegExp(`config file ${typo}: unknown key 'cardinalityLimt' \\(did you mean 'cardinalityLimit'\\?\\)`),
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{');
    expect(() => optionsFromFile(broken)).toThrow(/not valid JSON/);
  });
});

/** Runs the CLI entry in a child; resolves with the first stdout line matching `until`. */
function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function output(child: ChildProcess): { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { out: () => out, err: () => err };
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('child did not exit in time'));
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

describe('CLI (child process)', () => {
  it('fails at start naming a bad value from the environment, exit code 2', async () => {
    const child = spawnCli(['--port', '0'], { MCPLENS_COLLECTOR_CARDINALITY_LIMIT: '-3' });
    const o = output(child);
    expect(await exited(child, 10_000)).toBe(2);
    expect(o.err()).toMatch(/MCPLENS_COLLECTOR_CARDINALITY_LIMIT: -3 is not valid/);
  });

  it('flags override the environment and the config file; SIGTERM finishes the in-flight request', async () => {
    const file = join(dir, 'cli.json');
    writeFileSync(file, JSON.stringify({ port: 1, maxBodyBytes: 100 }));
    const child = spawnCli(['--config', file, '--port', '0'], { MCPLENS_COLLECTOR_MAX_BODY_BYTES: '100000' });
    const o = output(child);
    const done = exited(child, 15_000);
    for (let i = 0; i < 200 && !/listening on (\S+) /.test(o.out()); i++) await new Promise((r) => setTimeout(r, 25));
    const url = /listening on (\S+) /.exec(o.out())?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const u = new URL(`${url!}/v1/traces`);
    // Start a request and keep its body open across SIGTERM.
    const body = JSON.stringify({ resourceSpans: [], pad: 'x'.repeat(500) });
    const status = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 100));
      req.flushHeaders();
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(100)), 300);
      }, 200);
    });
    // 200, not 413: the environment's 100000 overrode the file's 100.
    expect(await status).toBe(200);
    expect(await done).toBe(0);
    expect(o.out()).toMatch(/SIGTERM, refusing new ingest/);
    // Never scraped: nobody waits for a last scrape.
    expect(o.out()).toMatch(/last scrape not-needed; finishing in-flight requests/);
    expect(o.out()).toMatch(/stopped/);
  });
});

/** Runs the built `mcplens` command to its end. */
function runBin(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const o = output(child);
  return exited(child, 15_000).then((code) => ({ code, stdout: o.out(), stderr: o.err() }));
}

/** The defaults as documented in the README's collector table (an independent record of them). */
const DOCUMENTED_DEFAULTS: Record<string, string> = {
  host: '127.0.0.1',
  port: '4318',
  maxBodyBytes: '16777216 (16 MiB)',
  maxInflightBytes: '83886080 (80 MiB)',
  bodyTimeoutMs: '10000',
  maxConnections: '512',
  maxConcurrentIngest: '64',
  maxRssBytes: '0',
  retryAfterSeconds: '1',
  cardinalityLimit: '10000',
  maxLabelValueBytes: '256',
  selfCorrectionWindowSeconds: '60',
  selfCorrectionMaxKeys: '10000',
  breakerStateTtlSeconds: '900',
  recentViolations: '50',
  trendBucketSeconds: '60',
  trendBuckets: '30',
  ingestToken: 'unset',
  readToken: 'unset',
  forwardEndpoints: 'none',
  forwardQueueSize: '1000',
  forwardMaxRetries: '8',
  forwardInitialBackoffMs: '500',
  forwardMaxBackoffMs: '30000',
  forwardTimeoutMs: '10000',
  shutdownTimeoutMs: '10000',
  shutdownScrapeWaitMs: '15000',
  allowedHosts: 'none',
  traceUrlTemplate: 'unset',
};

describe('mcplens collector command line (the built bin, child process)', () => {
  it('names an unknown option and points to --help, exit code 2, nothing on stdout', async () => {
    for (const args of [['--bogus'], ['--bogus', 'value'], ['--port', '0', '--bogus']]) {
      const r = await runBin(['collector', ...args]);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        args,
        code: 2,
        stdout: '',
        stderr: "mcplens collector: command line: unknown option --bogus; 'mcplens collector --help' lists the options\n",
      });
    }
    const typo = await runBin(['collector', '--prot', '0']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option --prot \(did you mean --port\?\); 'mcplens collector --help' lists the options/);
  });

  it('--version prints the package version to stdout, for the collector and for mcplens itself', async () => {
    for (const args of [['collector', '--version'], ['--version']]) {
      const r = await runBin(args);
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
        args,
        code: 0,
        stdout: `${PACKAGE_VERSION}\n`,
        stderr: '',
      });
    }
  });

  it('--help lists every option with its meaning, default, environment variable and config key, exit code 0', async () => {
    // A bad environment does not stop --help.
    const r = await runBin(['collector', '--help'], { MCPLENS_COLLECTOR_PORT: 'nope' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(Object.keys(DOCUMENTED_DEFAULTS).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const key of CONFIG_KEYS) {
      const flag = key === 'forwardEndpoints' ? 'forward-endpoint' : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const at = lines.findIndex((l) => l.startsWith(`  --${flag} `));
      expect([key, at >= 0]).toEqual([key, true]);
      // The meaning on the flag's line (or the next one, for a long flag), then the default line.
      const block = lines.slice(at, at + 3).join('\n');
      expect(COLLECTOR_OPTIONS[key].meaning.length).toBeGreaterThan(10);
      expect(block).toContain(COLLECTOR_OPTIONS[key].meaning);
      expect(block).toContain(`default ${DOCUMENTED_DEFAULTS[key]}; ${keyToEnv(key)}; config key ${key}`);
    }
    for (const flag of ['--config FILE', '-h, --help', '--version']) expect(r.stdout).toContain(`  ${flag} `);
    expect(r.stdout).toContain('Precedence: defaults < config file < environment < flags.');
  });
});
