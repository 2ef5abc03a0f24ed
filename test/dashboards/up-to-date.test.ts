/**
 * The generated files the compose stack mounts are committed; this fails when they are
 * out of date with dashboards/ or the contract. Fix: `mcplens dashboards --out compose`
 * (or `node dist/bin/mcplens.js dashboards --out compose` after a build).
 */
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { access, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { OUTPUT_PATHS, generateAll, renderAll, runDashboardsCli } from '../../dashboards/index.js';
import { REPO_ROOT, tempDir } from './helpers.js';

const FIX = 'regenerate with `mcplens dashboards --out compose`';

describe('committed compose/ files', () => {
  it('equal a fresh generation into a temporary directory', async () => {
    const dir = await tempDir('mcplens-dashboards-');
    const written = await generateAll({ outDir: dir });
    expect(written.length).toBe(renderAll().size);
    const stale: string[] = [];
    for (const abs of written) {
      const rel = relative(dir, abs);
      const fresh = await readFile(abs, 'utf8');
      const committed = await readFile(join(REPO_ROOT, 'compose', rel), 'utf8').catch(() => '<missing>');
      if (committed !== fresh) stale.push(rel);
    }
    expect(stale.length === 0 ? 'up to date' : `out of date: ${stale.join(', ')}; ${FIX}`).toBe('up to date');
  });

  it('do not provision the Grafana alert rules next to the Prometheus rules (nobody is paged twice)', async () => {
    await expect(access(join(REPO_ROOT, 'compose', OUTPUT_PATHS.GRAFANA_ALERTS_PROVISIONED))).rejects.toThrow();
    const withGrafana = renderAll({ grafanaAlerting: true });
    expect(withGrafana.get(OUTPUT_PATHS.GRAFANA_ALERTS_PROVISIONED)).toBe(withGrafana.get(OUTPUT_PATHS.GRAFANA_ALERTS));
  });
});

describe('mcplens dashboards CLI', () => {
  function capture(): { stream: PassThrough; text: () => string } {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  }

  it('--out DIR writes every file and exits 0', async () => {
    const dir = await tempDir('mcplens-cli-');
    const err = capture();
    const code = await runDashboardsCli(['--out', dir, '--malformed-ratio', '0.1', '--grafana-alerting'], err.stream);
    expect(code).toBe(0);
    const rules = await readFile(join(dir, OUTPUT_PATHS.PROMETHEUS_RULES), 'utf8');
    expect(rules).toMatch(/> 0\.1$/m);
    await access(join(dir, OUTPUT_PATHS.GRAFANA_ALERTS_PROVISIONED));
    expect(err.text()).toContain(`wrote ${join(dir, OUTPUT_PATHS.OVERVIEW_DASHBOARD)}`);
  });

  it('the guard alert flags reach the rules', async () => {
    const dir = await tempDir('mcplens-cli-guards-');
    const argv = ['--out', dir, '--circuit-open-for', '9m', '--timeout-ratio', '0.25', '--denied-rate', '2', '--replay-ratio', '0.4'];
    expect(await runDashboardsCli([...argv, '--timeout-for', '3m', '--denied-for', '1m', '--replay-for', '2m'], capture().stream)).toBe(0);
    const rules = await readFile(join(dir, OUTPUT_PATHS.PROMETHEUS_RULES), 'utf8');
    for (const [alert, tail, forDuration] of [
      ['MCPToolCircuitOpen', '> 1', '9m'],
      ['MCPToolTimeoutRatioHigh', '> 0.25', '3m'],
      ['MCPClientDeniedCallsHigh', '> 2', '1m'],
      ['MCPToolReplayRatioHigh', '> 0.4', '2m'],
    ]) {
      expect(rules).toMatch(new RegExp(`alert: ${alert}\\n\\s+expr: .* ${tail}\\n\\s+for: ${forDuration}\\n`));
    }
  });

  it.each([
    [['--malformed-ratio', '0.1'], /--out DIR is required/],
    [['--out', '/tmp/x', '--malformed-ratio', 'lots'], /--malformed-ratio "lots" is not a number/],
    [['--out', '/tmp/x', '--malformed-ratio', '7'], /malformedRatioThreshold=7/],
    [['--out', '/tmp/x', '--colour'], /Unknown option '--colour'/],
  ])('%j exits 2 naming the problem', async (argv, message) => {
    const err = capture();
    expect(await runDashboardsCli(argv as string[], err.stream)).toBe(2);
    expect(err.text()).toMatch(message);
  });
});
