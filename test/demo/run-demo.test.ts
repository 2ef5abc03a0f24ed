/**
 * `runDemo` end to end, a few seconds on a free port: the real collector, the real OTLP
 * protobuf exporter, the instrumented server and the simulated agents. The collector must
 * see calls from every provider; the terminal summary redraws in place on a TTY and prints
 * plain lines otherwise; Ctrl-C (a real SIGINT to the built CLI) stops it cleanly.
 */
import { describe, it, expect } from '@jest/globals';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Summary } from '../../collector/summary-types.js';
import { AGENT_PROFILES } from '../../demo/traffic.js';
import { runDemo } from '../../demo/run-demo.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

class Sink {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

describe('runDemo', () => {
  it('runs for --duration on a free port; the collector sees calls from every provider; a TTY summary redraws in place', async () => {
    const out = new Sink(true);
    const err = new Sink(false);
    let last: Summary | undefined;
    let sent = -1;
    let startedUrl = '';
    const code = await runDemo(['--port', '0', '--duration', '3.5', '--rate', '60'], {
      stdout: out,
      stderr: err,
      handleSignals: false,
      onStarted: ({ collectorUrl }) => (startedUrl = collectorUrl),
      onBeforeClose: (s, stats) => {
        last = s;
        sent = Object.values(stats?.sent ?? {}).reduce((a, b) => a + b, 0);
      },
    });
    expect(code).toBe(0);
    expect(startedUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(startedUrl).not.toBe('http://127.0.0.1:4318');
    expect(out.text).toContain(`Status page:  ${startedUrl}/`);
    expect(out.text).toContain('SIMULATED');
    expect(out.text).toContain('mcplens demo stopped.');

    expect(last).toBeDefined();
    const providers = new Map((last?.providers ?? []).map((p) => [p.provider, p]));
    for (const profile of AGENT_PROFILES) {
      expect({ provider: profile.provider, seen: (providers.get(profile.provider)?.calls ?? 0) > 0 }).toEqual({
        provider: profile.provider,
        seen: true,
      });
      expect(providers.get(profile.provider)?.models.map((m) => m.model)).toEqual([profile.model]);
    }
    // Nothing lost between agents and collector, and the rate bounded (60 calls/s for 3.5 s at most).
    expect(last?.totals.calls).toBe(sent);
    expect(sent).toBeGreaterThan(25);
    expect(sent).toBeLessThanOrEqual(60 * 3.5 + 5);

    // The table was drawn, then redrawn in place: cursor up over the previous table, clear below.
    expect(out.text).toMatch(/provider\s+model\s+calls\s+malformed\s+top violation\s+p95\s+tokens/);
    expect(out.text).toMatch(/\x1b\[\d+F\x1b\[J/);
    expect(out.text).toMatch(/^deepseek\s+deepseek-chat\s+\d+\s+\d+\.\d%\s+wrong_type/m);
    expect(err.text).toBe('');
  }, 30_000);

  it('refuses a bad option, naming it, with exit code 2', async () => {
    const err = new Sink(false);
    expect(await runDemo(['--rate', 'fast'], { stderr: err, stdout: new Sink(false), handleSignals: false })).toBe(2);
    expect(err.text).toContain("--rate: 'fast' is not a rate between 0.1 and 1000 calls/s");
    const err2 = new Sink(false);
    expect(await runDemo(['--colour'], { stderr: err2, stdout: new Sink(false), handleSignals: false })).toBe(2);
    expect(err2.text).toContain('--colour');
  });

  it('stops cleanly on Ctrl-C (SIGINT to the built CLI) and exits 0', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/bin/mcplens.js'), 'demo', '--port', '0', '--rate', '20'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    try {
      const deadline = Date.now() + 15_000;
      while (!stdout.includes('Status page:') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(stdout).toContain('Status page:');
      await new Promise((r) => setTimeout(r, 1500));
      const sentAt = Date.now();
      child.kill('SIGINT');
      const code = await exited;
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      expect(stdout).toContain('mcplens demo stopped.');
      // Bounded: stopping, flushing and closing take well under the collector's shutdown timeout.
      expect(Date.now() - sentAt).toBeLessThan(8000);
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
