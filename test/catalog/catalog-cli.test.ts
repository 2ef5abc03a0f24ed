/**
 * `mcplens catalog` against real servers: every page listed, the same token counts as the
 * `mcplens.tokens.catalog` span attribute for the same server, budgets as exit status, `--json`.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTR, CATALOG_COST, monthlyCatalogCost } from '../../contract/index.js';
import { createCollector } from '../../collector/index.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../harness/otlp-receiver.js';
import { listAllTools } from '../../instrumentation/catalog/cli.js';
import { catalogToolText, defaultTokenizer } from '../../instrumentation/token-counter.js';
import type { ToolDefinition } from '../../instrumentation/tool-definition.js';
import { startMcpHttpFixture } from '../proxy/mcp-http-fixture.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');
const REGISTER = join(ROOT, 'dist/instrumentation/register.js');
const PYTHON_SERVER = join(ROOT, 'test/fixtures/python/stdio_server.py');
const NODE_SERVER = join(ROOT, 'test/fixtures/register/server-v1-static.mjs');

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

function catalog(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [MCPLENS, 'catalog', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      done({ code, stdout, stderr });
    });
  });
}

/** The tools a plain SDK client sees over all pages. */
async function toolsOf(
  command: string,
  args: string[],
  env?: Record<string, string>,
): Promise<{ tools: ToolDefinition[]; client: Client }> {
  const client = new Client({ name: 'catalog-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, env, stderr: 'ignore' }));
  cleanups.push(() => client.close());
  return { tools: await listAllTools(client), client };
}

/** A free loopback port (bound and released). */
function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

interface CatalogJson {
  tools: Array<{ name: string; tokens: number; descriptionTokens: number; overBudget: boolean }>;
  totalTokens: number;
  descriptionBudget: number;
  requestsPerDay: number;
  pricePerMillionTokens: number;
  monthlyCost: number;
}

describe('mcplens catalog', () => {
  it("lists every page of a paginated server and counts each tool with the spans' tokenizer", async () => {
    const run = await catalog(['--json', '--', 'python3', PYTHON_SERVER]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as CatalogJson;
    const { tools } = await toolsOf('python3', [PYTHON_SERVER]);
    expect(tools).toHaveLength(5);
    const count = defaultTokenizer();
    const expected = new Map(tools.map((t) => [t.name, count(catalogToolText(t))]));
    expect(new Map(result.tools.map((t) => [t.name, t.tokens]))).toEqual(expected);
    expect(result.totalTokens).toBe([...expected.values()].reduce((a, b) => a + b, 0));
    // Most expensive first, and the same cost formula as the dashboards' panel.
    expect(result.tools.map((t) => t.tokens)).toEqual([...result.tools.map((t) => t.tokens)].sort((a, b) => b - a));
    expect(result.monthlyCost).toBeCloseTo(
      monthlyCatalogCost(result.totalTokens, CATALOG_COST.DEFAULT_REQUESTS_PER_DAY, CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS),
      9,
    );
    expect(run.stderr).toMatch(/page 3: 1 tools/);
  });

  it('agrees with mcplens.tokens.catalog on the tools/list span of the same server', async () => {
    const otlp: OtlpReceiver = await startOtlpReceiver();
    cleanups.push(() => otlp.close());
    const { client } = await toolsOf(process.execPath, ['--import', REGISTER, NODE_SERVER], {
      PATH: process.env.PATH ?? '',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    // Keep the session open while the token worker counts (it starts after the first answer).
    const spans = await otlp.waitFor(
      (s) => s.some((x) => x.name === 'tools/list' && x.attributes[ATTR.TOKENS_CATALOG] !== undefined),
      20_000,
    );
    await client.close();
    const fromSpan = spans.find((x) => x.name === 'tools/list' && x.attributes[ATTR.TOKENS_CATALOG] !== undefined)!.attributes[
      ATTR.TOKENS_CATALOG
    ];
    const run = await catalog(['--json', '--', process.execPath, NODE_SERVER]);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as CatalogJson).totalTokens).toBe(fromSpan);
  });

  it('reads a Streamable HTTP server with --url and prints a table', async () => {
    const server = await startMcpHttpFixture({ stateful: true });
    cleanups.push(() => server.close());
    const run = await catalog(['--url', server.url]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^tool\s+tokens\s+description/);
    expect(run.stdout).toMatch(/^add\s+\d+\s+\d+/m);
    expect(run.stdout).toMatch(/2 tools, \d+ tokens on every LLM request/);
  });

  it('--usage-from a collector lists the tools never called, with what they cost', async () => {
    const collector = createCollector({ host: '127.0.0.1', port: 0, shutdownTimeoutMs: 1000 });
    const { url } = await collector.listen();
    cleanups.push(() => collector.close());
    // Calls of two tools reach the collector through mcplens wrap (spans over OTLP, as in production).
    const client = new Client({ name: 'usage-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [MCPLENS, 'wrap', '--', 'python3', PYTHON_SERVER],
        env: { PATH: process.env.PATH ?? '', OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '100' },
        stderr: 'ignore',
      }),
    );
    await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } });
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await client.close();
    // The summary counts both calls once wrap has exported them at its exit.
    for (let i = 0; i < 100; i++) {
      const summary = (await (await fetch(`${url}/api/summary`)).json()) as { totals: { calls: number } };
      if (summary.totals.calls >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const run = await catalog(['--json', '--usage-from', url, '--', 'python3', PYTHON_SERVER]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as CatalogJson & {
      unused: { service: string; tools: Array<{ name: string; tokens: number }>; tokens: number };
    };
    expect(result.unused.service).toBe('python-stdlib-server');
    expect(result.unused.tools.map((t) => t.name).sort()).toEqual(['crash', 'fail', 'sleep']);
    const byName = new Map(result.tools.map((t) => [t.name, t.tokens]));
    expect(result.unused.tokens).toBe(['crash', 'fail', 'sleep'].reduce((n, name) => n + byName.get(name)!, 0));
    const table = await catalog(['--usage-from', `${url}/api/summary`, '--', 'python3', PYTHON_SERVER]);
    expect(table.stdout).toMatch(/never called \(python-stdlib-server, .*\/api\/summary\): 3 tools/);
  });

  it('--usage-from a real Prometheus scraping the collector, over a window', async () => {
    const prometheusBin = ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p));
    if (prometheusBin === undefined) throw new Error('prometheus is not installed: this test needs the Debian package `prometheus`');
    const collector = createCollector({ host: '127.0.0.1', port: 0, shutdownTimeoutMs: 1000 });
    const { url } = await collector.listen();
    cleanups.push(() => collector.close());
    const client = new Client({ name: 'usage-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [MCPLENS, 'wrap', '--', 'python3', PYTHON_SERVER],
        env: { PATH: process.env.PATH ?? '', OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_SCHEDULE_DELAY: '100' },
        stderr: 'ignore',
      }),
    );
    await client.callTool({ name: 'sleep', arguments: { ms: 1 } });
    await client.close();

    const dir = mkdtempSync(join(tmpdir(), 'mcplens-catalog-prom-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: { scrape_interval: 1s }\nscrape_configs:\n  - job_name: mcplens\n    static_configs: [{ targets: ['${new URL(url).host}'] }]\n`,
    );
    const prometheus = spawn(
      prometheusBin,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: 'ignore' },
    );
    cleanups.push(async () => {
      prometheus.kill('SIGKILL');
      await new Promise((r) => prometheus.once('exit', r));
    });
    const prom = `http://127.0.0.1:${port}`;
    // Bounded: until Prometheus has scraped the sleep calls' series.
    let seen = false;
    for (let i = 0; i < 120 && !seen; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const body = (await fetch(`${prom}/api/v1/query?query=${encodeURIComponent('mcp_tool_calls_total')}`)
        .then((r) => r.json())
        .catch(() => undefined)) as { data?: { result?: unknown[] } } | undefined;
      seen = (body?.data?.result?.length ?? 0) > 0;
    }
    expect(seen).toBe(true);
    const run = await catalog(['--json', '--usage-from', prom, '--usage-window', '10m', '--', 'python3', PYTHON_SERVER]);
    expect(run.stderr).not.toMatch(/cannot read/);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { unused: { service: string; tools: Array<{ name: string }>; source: string } };
    expect(result.unused.service).toBe('python-stdlib-server');
    expect(result.unused.tools.map((t) => t.name).sort()).toEqual(['add', 'crash', 'echo', 'fail']);
    expect(result.unused.source).toBe(`${prom} over 10m`);
  });

  it('exits 1 past a budget, naming it, and 2 on a usage mistake', async () => {
    const over = await catalog(['--max-tokens', '10', '--max-description-tokens', '5', '--', 'python3', PYTHON_SERVER]);
    expect(over.code).toBe(1);
    expect(over.stderr).toMatch(/over --max-tokens 10/);
    expect(over.stderr).toMatch(/the description of sleep takes \d+ tokens, over --max-description-tokens 5/);
    const within = await catalog(['--max-tokens', '100000', '--', 'python3', PYTHON_SERVER]);
    expect(within.code).toBe(0);
    const bad = await catalog(['--max-tokens', 'lots', '--', 'python3', PYTHON_SERVER]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('mcplens catalog: --max-tokens "lots" is not a whole number of 0 or more');
    expect(bad.stdout).toBe('');
  });
});
