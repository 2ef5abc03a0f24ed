/**
 * Which SDK files the zero-code entry patches ahead of the application: found from the
 * entry script by Node's node_modules lookup, in real directory trees (nothing is loaded).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findEntrySdk } from '../../instrumentation/find-sdk.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'mcplens-find-sdk-')));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, content = ''): string {
  const file = join(root, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

const V1 = 'node_modules/@modelcontextprotocol/sdk/dist/esm/server/index.js';
const V2 = 'node_modules/@modelcontextprotocol/server/dist/index.mjs';

describe('findEntrySdk', () => {
  it('an ES module package: the v1 Server file of the nearest node_modules, not a hoisted one further up', () => {
    write('app/package.json', JSON.stringify({ type: 'module', dependencies: { '@modelcontextprotocol/sdk': '^1' } }));
    const entry = write('app/dist/index.js');
    const own = write(`app/${V1}`);
    write(V1); // a hoisted copy above: Node's lookup stops at the nearer one
    expect(findEntrySdk(entry)).toEqual({ esm: true, serverFiles: [own] });
  });

  it('a CommonJS entry is reported as such (its copies are hooked through require)', () => {
    write('cjs/package.json', JSON.stringify({ dependencies: { '@modelcontextprotocol/sdk': '^1' } }));
    const entry = write('cjs/server.js');
    write(`cjs/${V1}`);
    expect(findEntrySdk(entry)?.esm).toBe(false);
    expect(findEntrySdk(write('cjs/server.cjs'))?.esm).toBe(false);
    expect(findEntrySdk(write('cjs/server.mjs'))?.esm).toBe(true);
  });

  it('prefers the SDK packages the manifest declares; a loose script gets every one found', () => {
    write('both/package.json', JSON.stringify({ type: 'module', dependencies: { '@modelcontextprotocol/server': '^2' } }));
    write(`both/${V1}`);
    const v2 = write(`both/${V2}`);
    expect(findEntrySdk(write('both/server.js'))?.serverFiles).toEqual([v2]);

    write('loose/package.json', JSON.stringify({ type: 'module' }));
    const v1 = write(`loose/${V1}`);
    const v2Loose = write(`loose/${V2}`);
    expect(findEntrySdk(write('loose/server.js'))?.serverFiles).toEqual([v1, v2Loose]);
  });

  it('follows a symlinked entry to its real directory, as Node does', () => {
    write('real/package.json', JSON.stringify({ type: 'module' }));
    const v1 = write(`real/${V1}`);
    const entry = write('real/bin/server.js');
    mkdirSync(join(root, 'bin'), { recursive: true });
    symlinkSync(entry, join(root, 'bin/server-link.js'));
    expect(findEntrySdk(join(root, 'bin/server-link.js'))).toEqual({ esm: true, serverFiles: [v1] });
  });

  it('no SDK reachable: an empty list (the loader hook is the fallback); no entry at all: undefined', () => {
    // A tree of its own: the other cases left a hoisted copy at this file's root.
    const bare = realpathSync(mkdtempSync(join(tmpdir(), 'mcplens-find-sdk-bare-')));
    try {
      writeFileSync(join(bare, 'package.json'), JSON.stringify({ type: 'module' }));
      writeFileSync(join(bare, 'server.js'), '');
      expect(findEntrySdk(join(bare, 'server.js'))).toEqual({ esm: true, serverFiles: [] });
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
    expect(findEntrySdk('')).toBeUndefined();
    expect(findEntrySdk(join(root, 'does-not-exist.js'))).toBeUndefined();
  });
});
