/** A raw newline-delimited JSON-RPC client for stdio servers, to compare what a client receives byte for byte. */
import { spawn } from 'node:child_process';

/**
 * Runs `command` as a client does: each request is written once the answer to the previous one
 * has arrived (a server may answer requests that arrive together in any order), then stdin ends.
 */
export function runLockstep(
  command: string,
  args: string[],
  lines: string[],
  env: Record<string, string>,
): Promise<{ stdout: Buffer; code: number | null }> {
  return new Promise((done) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    let waitingFor: unknown;
    let i = 0;
    const next = (): void => {
      if (i === lines.length) return void child.stdin.end();
      const line = lines[i++]!;
      const message = JSON.parse(line) as { id?: unknown; method?: unknown };
      child.stdin.write(`${line}\n`);
      if (message.id === undefined) next();
      else waitingFor = message.id;
    };
    child.stdout.on('data', (c: Buffer) => {
      out.push(c);
      const text = Buffer.concat(out).toString('utf8');
      if (waitingFor !== undefined && text.split('\n').some((l) => l.includes(`"id":${JSON.stringify(waitingFor)}`))) {
        waitingFor = undefined;
        next();
      }
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('close', (code) => {
      clearTimeout(killer);
      done({ stdout: Buffer.concat(out), code });
    });
    next();
  });
}
