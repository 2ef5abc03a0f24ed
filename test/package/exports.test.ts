import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The package as an application sees it: node_modules/mcplens -> this repository (built).
const root = fileURLToPath(new URL('../../../', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'mcplens-app-'));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules', 'mcplens'), 'dir');
afterAll(() => rmSync(app, { recursive: true, force: true }));

function run(code: string, type: 'module' | 'commonjs'): string {
  const args = type === 'module' ? ['--input-type=module', '-e', code] : ['-e', code];
  return execFileSync(process.execPath, args, { cwd: app, encoding: 'utf8', timeout: 30_000 }).trim();
}

describe('the package exports map', () => {
  it('serves the instrumentation, contract, collector and dashboards entries to ESM', () => {
    const out = run(
      `const m = await import('mcplens'); const c = await import('mcplens/contract'); const col = await import('mcplens/collector'); const d = await import('mcplens/dashboards');
       console.log([typeof m.instrumentServer, typeof m.flush, typeof m.createAdjustedCountSampler, typeof c.METRICS, typeof col.createCollector, typeof d.generateAll].join(','));`,
      'module',
    );
    expect(out).toBe('function,function,function,object,function,function');
  });

  it('is loadable with require (Node >= 20.19 loads ES modules synchronously)', () => {
    const out = run(
      `const m = require('mcplens'); console.log(typeof m.instrumentServer, typeof require('mcplens/contract').ATTR)`,
      'commonjs',
    );
    expect(out).toBe('function object');
  });

  it('does not expose internals', () => {
    expect(() => run(`require('mcplens/instrumentation/stream-observer.js')`, 'commonjs')).toThrow(
      /ERR_PACKAGE_PATH_NOT_EXPORTED|not defined by "exports"/,
    );
  });
});
