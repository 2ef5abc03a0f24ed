import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The ES module files that define an MCP SDK `Server` class, relative to a node_modules folder. */
const ESM_SERVER_FILES = {
  /** v1: `McpServer` and every transport connect through this file's `Server`. */
  '@modelcontextprotocol/sdk': '@modelcontextprotocol/sdk/dist/esm/server/index.js',
  /** v2: `Server` lives in a hashed chunk, re-exported by the package root. */
  '@modelcontextprotocol/server': '@modelcontextprotocol/server/dist/index.mjs',
} as const;

type SdkPackage = keyof typeof ESM_SERVER_FILES;

/** What {@link findEntrySdk} found for the process's entry script. */
export interface EntrySdk {
  /** The entry is an ES module (`.mjs`, or `.js` under `"type": "module"`). */
  readonly esm: boolean;
  /** Absolute paths of the SDK `Server` files the entry's `import` resolves to, one per SDK package it uses. */
  readonly serverFiles: readonly string[];
}

/**
 * Finds the MCP SDK copies the entry script would import, by Node's own lookup: the
 * node_modules folders from the entry's real directory upwards. No module is loaded.
 * Undefined when there is no entry script (`node -e`, a REPL) or it cannot be read.
 *
 * A package the entry's nearest package.json declares is preferred; when that names
 * none (a loose script), every SDK package found is returned.
 */
export function findEntrySdk(entry: string | undefined = process.argv[1]): EntrySdk | undefined {
  if (entry === undefined || entry === '') return undefined;
  let script: string;
  try {
    script = realpathSync(entry);
  } catch {
    return undefined;
  }
  const manifest = nearestPackageJson(dirname(script));
  const esm = script.endsWith('.mjs') || (!script.endsWith('.cjs') && manifest?.json.type === 'module');

  const lookup = createRequire(script).resolve.paths('@modelcontextprotocol/sdk') ?? [];
  const found = new Map<SdkPackage, string>();
  for (const pkg of Object.keys(ESM_SERVER_FILES) as SdkPackage[]) {
    for (const dir of lookup) {
      const file = join(dir, ESM_SERVER_FILES[pkg]);
      if (existsSync(file)) {
        found.set(pkg, realpathOrSelf(file));
        break;
      }
    }
  }
  const declared = [...found.keys()].filter((pkg) => declares(manifest?.json, pkg));
  const chosen = declared.length > 0 ? declared : [...found.keys()];
  return { esm, serverFiles: chosen.map((pkg) => found.get(pkg)!) };
}

function nearestPackageJson(dir: string): { json: Record<string, unknown> } | undefined {
  for (let current = dir; ; current = dirname(current)) {
    const file = join(current, 'package.json');
    if (existsSync(file)) {
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        if (json !== null && typeof json === 'object') return { json: json as Record<string, unknown> };
      } catch {
        // An unreadable manifest: as if there were none.
      }
      return undefined;
    }
    if (dirname(current) === current) return undefined;
  }
}

function declares(manifest: Record<string, unknown> | undefined, pkg: string): boolean {
  if (manifest === undefined) return false;
  return ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'].some((field) => {
    const deps = manifest[field];
    return deps !== null && typeof deps === 'object' && pkg in deps;
  });
}

function realpathOrSelf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}
