/** Shared helpers of the dashboards tests: repository paths, promtool, temp dirs. */
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The repository root (tests run from dist/test/dashboards). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const run = promisify(execFile);

/** Result of a promtool run; never throws on a non-zero exit. */
export interface ToolResult {
  code: number;
  output: string;
}

/**
 * Runs promtool. A missing promtool is an error that says what to install, never a skip:
 * CI must have it (Debian package `prometheus`).
 */
export async function promtool(args: string[], cwd?: string): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd, timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'promtool is not installed: these tests need it (Debian package `prometheus`, `apt-get install -y prometheus`). Not skipping.',
        { cause: err },
      );
    }
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}${e.message}` };
  }
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
