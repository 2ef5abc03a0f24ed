/**
 * `mcplens wrap -- <command>` as a process, the way a host runs it: real child processes over
 * pipes. Bytes both ways unchanged and as they come, stderr passed through, stdin EOF passed
 * on, exit codes and signals mirrored, 127/126 for commands that cannot start.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MCPLENS = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/mcplens.js');
let dir: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** Milliseconds after start at which each stdout chunk arrived. */
  chunkTimes: number[];
}

function wrap(command: string[], options: { input?: Buffer; signalOnOutput?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<Run> {
  // The relay alone: telemetry off, so stderr holds only the child's (random bytes are no JSON-RPC,
  // which wrap would report there). What wrap observes is tested in wrap-observe.test.ts.
  const env = { ...process.env, OTEL_SDK_DISABLED: 'true' };
  const child = spawn(process.execPath, [MCPLENS, 'wrap', '--', ...command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const started = Date.now();
  const out: Buffer[] = [];
  const chunkTimes: number[] = [];
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    // The child said it is ready (its signal handler is installed): now the signal.
    if (out.length === 0 && options.signalOnOutput !== undefined) child.kill(options.signalOnOutput);
    out.push(c);
    chunkTimes.push(Date.now() - started);
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  if (options.input !== undefined) child.stdin.end(options.input);
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
  return new Promise((done) =>
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      done({ code, signal, stdout: Buffer.concat(out), stderr, chunkTimes });
    }),
  );
}

function script(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mcplens-wrap-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mcplens wrap: bytes', () => {
  it('relays 4 MiB of random bytes both ways unchanged, and passes stdin EOF on', async () => {
    // The child echoes stdin to stdout and exits 0 at EOF: if EOF were not passed on, it would hang.
    const echo = script('echo.mjs', 'process.stdin.pipe(process.stdout);\n');
    const input = randomBytes(4 * 1024 * 1024);
    const run = await wrap([process.execPath, echo], { input });
    expect(run.code).toBe(0);
    expect(run.stdout.equals(input)).toBe(true);
    expect(run.stderr).toBe('');
  });

  it('forwards a partial line as it comes, before the rest of the line', async () => {
    const slow = script('slow.mjs', "process.stdout.write('{\"half\":');\nsetTimeout(() => process.stdout.write('1}\\n'), 600);\n");
    const run = await wrap([process.execPath, slow], { input: Buffer.alloc(0) });
    expect(run.stdout.toString()).toBe('{"half":1}\n');
    expect(run.chunkTimes.length).toBeGreaterThanOrEqual(2);
    // The first half arrived well before the second was written.
    expect(run.chunkTimes[1]! - run.chunkTimes[0]!).toBeGreaterThan(300);
  });

  it("passes the child's stderr through unchanged and writes nothing of its own", async () => {
    const noisy = script('noisy.mjs', "process.stderr.write('diagnostic line\\n'); process.stdout.write('out');\n");
    const run = await wrap([process.execPath, noisy], { input: Buffer.alloc(0) });
    expect(run.stderr).toBe('diagnostic line\n');
    expect(run.stdout.toString()).toBe('out');
  });

  it('gives the child the same arguments, environment and working directory', async () => {
    const show = script(
      'show.mjs',
      'process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), env: process.env.WRAP_TEST_VALUE, cwd: process.cwd() }));\n',
    );
    const child = spawn(process.execPath, [MCPLENS, 'wrap', '--', process.execPath, show, 'a b', '--flag', ''], {
      cwd: dir,
      env: { ...process.env, WRAP_TEST_VALUE: 'x=1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((r) => child.on('close', r));
    expect(JSON.parse(text)).toEqual({ argv: ['a b', '--flag', ''], env: 'x=1', cwd: dir });
  });
});

describe('mcplens wrap: how it ends', () => {
  it.each([0, 3, 42])('exits with the child exit code %i', async (code) => {
    const exit = script(`exit-${code}.mjs`, `process.exitCode = ${code};\n`);
    const run = await wrap([process.execPath, exit], { input: Buffer.alloc(0) });
    expect(run.code).toBe(code);
    expect(run.signal).toBeNull();
  });

  it('re-raises the signal the child died of', async () => {
    const die = script('die.mjs', "setTimeout(() => process.kill(process.pid, 'SIGTERM'), 50); setTimeout(() => {}, 10_000);\n");
    const run = await wrap([process.execPath, die]);
    expect(run.signal).toBe('SIGTERM');
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('forwards %s to the child and ends as the child does', async (signal) => {
    const handles = script(
      `handles-${signal}.mjs`,
      `process.on('${signal}', () => { process.stdout.write('got ${signal}'); process.exitCode = 9; process.stdin.destroy(); });\nprocess.stdin.resume();\nprocess.stdout.write('ready');\n`,
    );
    const run = await wrap([process.execPath, handles], { signalOnOutput: signal });
    expect(run.stdout.toString()).toBe(`ready` + `got ${signal}`);
    expect(run.code).toBe(9);
  });

  it('a command that does not exist: one line on stderr, exit 127', async () => {
    const run = await wrap(['mcplens-no-such-command-xyz'], { input: Buffer.alloc(0) });
    expect(run.code).toBe(127);
    expect(run.stderr).toBe("mcplens wrap: cannot run 'mcplens-no-such-command-xyz': command not found\n");
    expect(run.stdout.length).toBe(0);
  });

  it('a file that is not executable: exit 126', async () => {
    const plain = script('plain.sh', 'echo hi\n');
    chmodSync(plain, 0o644);
    const run = await wrap([plain], { input: Buffer.alloc(0) });
    expect(run.code).toBe(126);
    expect(run.stderr).toMatch(/permission denied/);
  });

  it('no command, or an unknown option: usage on stderr, exit 2', async () => {
    const none = await new Promise<{ code: number | null; stderr: string; stdout: string }>((done) => {
      const child = spawn(process.execPath, [MCPLENS, 'wrap', '--bogus'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let stdout = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.on('close', (code) => done({ code, stderr, stdout }));
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/unknown option '--bogus'/i);
    expect(none.stdout).toBe('');
  });
});
