import { createRequire, register } from 'node:module';
import { diag } from '@opentelemetry/api';
import { Hook as RequireHook } from 'require-in-the-middle';
import { ConfigError } from '../contract/config-error.js';

/**
 * Called inside every patched `Server.prototype.connect`, before the SDK's own connect
 * runs, with the Server instance and the transport it is connecting. Its errors are
 * reported through diag and never reach the server, except a ConfigError: a server whose
 * configured guards cannot be installed must not run (its connect rejects). A listener may
 * return a promise: the SDK's connect (itself async) then runs once it settles.
 */
export type ConnectListener = (server: object, transport: unknown) => unknown;

/**
 * The SDK files whose `Server` export is hooked, matched by path so that any copy is
 * found, wherever its node_modules tree is:
 * - v1 `@modelcontextprotocol/sdk`: `dist/esm/server/index.js` and `dist/cjs/server/index.js`
 *   (the files that define `Server`; `McpServer` connects through it);
 * - v2 `@modelcontextprotocol/server`: the package root (`Server` lives in a hashed
 *   chunk, re-exported by `dist/index.mjs` and `dist/index.cjs`).
 * `Protocol`, which clients share, is never touched.
 */
const SERVER_FILE_URL_PATTERNS: readonly RegExp[] = [
  /\/node_modules\/@modelcontextprotocol\/sdk\/dist\/(?:esm|cjs)\/server\/index\.js$/,
  /\/node_modules\/@modelcontextprotocol\/server\/dist\/index\.(?:mjs|cjs)$/,
];

// Symbol.for: two copies of mcplens (ESM and --require, or two installs) patch a prototype once.
const PATCHED = Symbol.for('mcplens.connectPatched');

const V1_CJS_SERVER = '@modelcontextprotocol/sdk/dist/cjs/server';
const V2_PACKAGE = '@modelcontextprotocol/server';

type ConnectFn = (this: object, ...args: unknown[]) => unknown;

/**
 * Patches `ServerClass.prototype.connect` so that `listener` runs before each connect.
 * Idempotent per prototype. Returns false (and changes nothing) when `ServerClass` does not
 * look like an MCP SDK Server class.
 */
export function patchServerClass(ServerClass: unknown, listener: ConnectListener): boolean {
  if (typeof ServerClass !== 'function') return false;
  const proto = (ServerClass as { prototype?: Record<PropertyKey, unknown> }).prototype;
  if (proto === undefined || typeof proto.connect !== 'function' || typeof proto.setRequestHandler !== 'function') return false;
  if (Object.prototype.hasOwnProperty.call(proto, PATCHED)) return true;

  // v2 defines connect on Server, v1 inherits it from Protocol: either way the own property
  // set here shadows it for Server instances only.
  const original = proto.connect as ConnectFn;
  const connect = function connect(this: object, ...args: unknown[]): unknown {
    let waited: unknown;
    try {
      waited = listener(this, args[0]);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      diag.error('mcplens: instrumenting a connecting server failed; it runs uninstrumented', err);
    }
    return waited instanceof Promise ? waited.then(() => original.apply(this, args)) : original.apply(this, args);
  };
  Object.defineProperty(connect, 'length', { value: original.length });
  Object.defineProperty(proto, 'connect', { value: connect, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(proto, PATCHED, { value: original, enumerable: false });
  return true;
}

let installed = false;

/** Options of {@link installModuleHooks}. */
export interface ModuleHookOptions {
  /**
   * Install import-in-the-middle's ESM loader hook. On Node 20 any loader hook starts a
   * loader thread that every later import passes through (measured: 130-570 ms more before
   * a stdio server's first answer), so it is only a fallback for SDK copies that
   * {@link patchSdkFiles} cannot reach. Default false.
   */
  loaderHook?: boolean;
}

/**
 * Installs the module hooks: require-in-the-middle for CommonJS (cheap: it wraps
 * `require` and looks only at the SDK's names) and, when asked, import-in-the-middle's
 * loader for ESM (static and dynamic `import()`), limited to the SDK's Server files.
 * Must run before the application loads the SDK, i.e. from `--import mcplens/register`.
 * Installs once per process copy of mcplens.
 */
export function installModuleHooks(listener: ConnectListener, options: ModuleHookOptions = {}): void {
  if (installed) return;
  installed = true;

  if (options.loaderHook === true) {
    // ESM. Only the matched files go through import-in-the-middle's wrapper: every other
    // module loads exactly as without mcplens. Loaded here only: the module itself is not free.
    const requireLazily = createRequire(import.meta.url);
    const { addHook } = requireLazily('import-in-the-middle') as typeof import('import-in-the-middle');
    register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include: [...SERVER_FILE_URL_PATTERNS] } });
    addHook((url, exported) => {
      if (SERVER_FILE_URL_PATTERNS.some((pattern) => pattern.test(url))) onModule(listener, exported, url);
    });
  }

  // CommonJS. require-in-the-middle names a file by its package-relative path without
  // `/index.js`. Its `internals` option cannot be used for v1: it resolves the package root
  // first, and SDK 1.x's `exports["."].require` points at a file that does not exist.
  new RequireHook([V1_CJS_SERVER, V2_PACKAGE], (exported, name) => {
    if (name === V1_CJS_SERVER || name === V2_PACKAGE) onModule(listener, exported as Record<string, unknown>, name);
    return exported;
  });
}

/**
 * Loads the given SDK Server files (ES modules) now and patches their `Server` class, so
 * that the application's own `import` of the same files gets the patched class: an ES
 * module is evaluated once per URL, whoever loads it first. Synchronous (`require` of an
 * ES module, Node >= 20.19), so it works from `--import` and `--require` alike, and the
 * application pays nothing it would not have paid: it loads these files anyway.
 * Returns false when a file could not be loaded or held no Server class.
 */
export function patchSdkFiles(files: readonly string[], listener: ConnectListener): boolean {
  const requireFile = createRequire(import.meta.url);
  let ok = true;
  for (const file of files) {
    try {
      const exported = requireFile(file) as Record<string, unknown>;
      if (!patchServerClass(exported.Server, listener)) ok = false;
    } catch (err) {
      diag.debug(`mcplens: cannot load ${file} ahead of the application`, err);
      ok = false;
    }
  }
  return ok;
}

function onModule(listener: ConnectListener, exported: Record<string, unknown>, where: string): void {
  try {
    if (!patchServerClass(exported.Server, listener)) diag.warn(`mcplens: no MCP Server class found in ${where}; not instrumented`);
  } catch (err) {
    diag.error(`mcplens: patching ${where} failed`, err);
  }
}
