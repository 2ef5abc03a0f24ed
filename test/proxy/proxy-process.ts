/**
 * Runs `mcplens proxy` as a child process the way a user does, on port 0, and reads the
 * address it listens on from its stderr.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MCPLENS = join(ROOT, 'dist/bin/mcplens.js');

/** A running proxy process. */
export interface ProxyProcess {
  /** The proxy's MCP endpoint (the target's path on the proxy's address). */
  readonly url: string;
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  stderr(): string;
  stdout(): string;
  /** Sends the signal and resolves with the exit code once the process ended. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `mcplens proxy --target <target> --port 0 [args]`; rejects with its stderr if it does not listen. */
export function startProxy(target: string, args: string[] = [], env: Record<string, string> = {}): Promise<ProxyProcess> {
  const child = spawn(process.execPath, [MCPLENS, 'proxy', '--target', target, '--port', '0', ...args], {
    env: { ...(process.env as Record<string, string>), OTEL_BSP_SCHEDULE_DELAY: '100', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the proxy did not listen within 10 s; stderr:\n${stderr}`));
    }, 10_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the proxy exited (${code}) before listening; stderr:\n${stderr}`));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      const match = /listening on (http:\/\/[^/\s]+)(\S*) ->/.exec(stderr);
      if (match === null) return;
      clearTimeout(timer);
      resolveStart({
        origin: match[1]!,
        url: `${match[1]!}${match[2]!}`,
        stderr: () => stderr,
        stdout: () => stdout,
        stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          return exited.finally(() => clearTimeout(killer));
        },
      });
    });
  });
}
