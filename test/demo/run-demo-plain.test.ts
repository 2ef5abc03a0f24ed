/**
 * `runDemo` with stdout that is not a terminal (CI logs, a pipe): plain timestamped lines,
 * no ANSI; and `--grafana-out` writing the generated Grafana and Prometheus files.
 * (Its own file: each run registers a global tracer provider, and a jest file is one process.)
 */
import { describe, it, expect } from '@jest/globals';
import { join } from 'node:path';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AGENT_PROFILES } from '../../demo/traffic.js';
import { runDemo } from '../../demo/run-demo.js';

class Sink {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe('runDemo without a terminal', () => {
  it('prints plain timestamped lines when stdout is not a terminal, and writes Grafana files with --grafana-out', async () => {
    const out = new Sink(false);
    const dir = mkdtempSync(join(tmpdir(), 'mcplens-demo-grafana-'));
    try {
      const code = await runDemo(['--port', '0', '--duration', '2.5', '--rate', '40', '--grafana-out', dir], {
        stdout: out,
        handleSignals: false,
      });
      expect(code).toBe(0);
      expect(out.text).not.toContain('\x1b[');
      for (const profile of AGENT_PROFILES) {
        expect(out.text).toMatch(
          new RegExp(
            `^\\[\\d\\d:\\d\\d:\\d\\d\\] ${profile.provider.replace('.', '\\.')} model=${profile.model} calls=\\d+ malformed=\\d+\\.\\d% top=\\S+ p95=\\S+ tokens=\\S+( tokens_not_counted=\\S+)?$`,
            'm',
          ),
        );
      }
      expect(readdirSync(join(dir, 'grafana', 'dashboards')).length).toBeGreaterThanOrEqual(3);
      expect(readdirSync(join(dir, 'prometheus', 'rules')).length).toBeGreaterThanOrEqual(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
