/**
 * What end-to-end tests that start real binaries on loopback need: the binary (a missing one is
 * an error naming its Debian package, never a skip), a free port, and a bounded poll.
 */
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';

/** The first of `names` on PATH; a missing binary is an error naming the package, never a skip. */
export function requireBinary(names: readonly string[], pkg: string): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of names) if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(
    `${names.join(' / ')} not found on PATH: this test needs the Debian package ${pkg} (apt-get install -y ${pkg}). Not skipping.`,
  );
}

/** A TCP port free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Polls `probe` every `everyMs` until it returns a value or `timeoutMs` passes; the error names what was awaited and the last failure. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
