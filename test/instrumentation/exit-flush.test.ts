/**
 * The exit budget, in child processes (exit is a whole-process matter): a flush that never
 * settles holds the process for the budget and no longer; one that settles lets it go at
 * once; a signal is raised again after the flush; beforeExit does not loop.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const EXIT_FLUSH = pathToFileURL(
  join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'dist/instrumentation/exit-flush.js'),
).href;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** ms from the trigger (stdin end or signal) to the exit. */
  afterTrigger: number;
}

/** Runs a child that installs the exit flush with `setup` (an expression of its options), then triggers its end. */
function run(options: string, trigger: 'stdin' | 'SIGTERM' | 'none'): Promise<Run> {
  const script = `
    import { installExitFlush } from ${JSON.stringify(EXIT_FLUSH)};
    installExitFlush(${options});
    process.stderr.write('ready\\n');
    ${trigger === 'SIGTERM' ? 'setInterval(() => {}, 1000);' : ''}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  let triggeredAt = 0;
  return new Promise((resolvePromise, reject) => {
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not exit; stderr: ${stderr}`));
    }, 15_000);
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (triggeredAt === 0 && stderr.includes('ready\n')) {
        triggeredAt = performance.now();
        if (trigger === 'stdin') child.stdin.end();
        else if (trigger === 'SIGTERM') child.kill('SIGTERM');
      }
    });
    if (trigger !== 'stdin') child.stdin.end();
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolvePromise({ code, signal, stderr, afterTrigger: performance.now() - triggeredAt });
    });
  });
}

// A loaded CI machine may add this much to a child's exit; the budgets under test are far apart from it.
const TOLERANCE_MS = 1500;

describe('installExitFlush: one bounded budget', () => {
  it('a flush that never settles holds the process for the budget, then ends its exports and lets it exit', async () => {
    const result = await run(
      `{ flush: () => new Promise(() => {}), timeoutMs: 400, onTimeout: () => process.stderr.write('budget ran out\\n') }`,
      'stdin',
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('budget ran out');
    expect(result.afterTrigger).toBeGreaterThanOrEqual(390);
    expect(result.afterTrigger).toBeLessThan(400 + TOLERANCE_MS);
  });

  it('a flush that settles lets the process exit at once, without touching the budget', async () => {
    const result = await run(
      `{ flush: async () => { process.stderr.write('flushed\\n'); }, timeoutMs: 5000, onTimeout: () => process.stderr.write('budget ran out\\n') }`,
      'stdin',
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('flushed');
    expect(result.stderr).not.toContain('budget ran out');
    expect(result.afterTrigger).toBeLessThan(TOLERANCE_MS);
  });

  it('SIGTERM: the flush gets the budget, then the process dies of the signal', async () => {
    const result = await run(`{ flush: () => new Promise(() => {}), timeoutMs: 300 }`, 'SIGTERM');
    expect(result.signal).toBe('SIGTERM');
    expect(result.afterTrigger).toBeGreaterThanOrEqual(290);
    expect(result.afterTrigger).toBeLessThan(300 + TOLERANCE_MS);
  });

  it('a flush that never settles on beforeExit: one budget, then the process exits (no second flush)', async () => {
    const result = await run(
      `{ flush: () => { process.stderr.write('flush\\n'); return new Promise(() => {}); }, timeoutMs: 300 }`,
      'none',
    );
    expect(result.code).toBe(0);
    expect(result.stderr.match(/flush\n/g)).toHaveLength(1);
  });

  it('beforeExit flushes while there is work, then the process exits (no flush loop)', async () => {
    const result = await run(
      `(() => { let work = 2; return { flush: () => new Promise((done) => setTimeout(() => { work--; process.stderr.write('flush\\n'); done(); }, 50)), timeoutMs: 1000, hasWork: () => work > 0 }; })()`,
      'none',
    );
    expect(result.code).toBe(0);
    expect(result.stderr.match(/flush\n/g)).toHaveLength(2);
  });
});
