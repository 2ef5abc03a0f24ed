/**
 * `node --import mcplens/register server.js` (or `--require mcplens/register` on Node
 * >= 20.19, which can require this ES module): instruments every MCP SDK `Server` the
 * process connects, with no code change. Patches the SDK's `Server.prototype.connect`;
 * telemetry starts the first time a server connects (see telemetry-bootstrap). Writes
 * nothing to stdout.
 *
 * How the SDK is reached, cheapest first (each path was measured on a stdio server's
 * first answer; see bench/README.md):
 * - an ES module entry script: the SDK files its `import` resolves to are loaded now and
 *   patched, with no ESM loader hook (on Node 20 a loader hook alone costs 130-570 ms);
 * - CommonJS: require-in-the-middle, whatever copy is required, wherever it lives;
 * - no entry script, no SDK found from it, or `MCPLENS_MODULE_HOOKS=loader`:
 *   import-in-the-middle's loader hook as well (needed for ES module copies of the SDK
 *   that the entry's own node_modules lookup does not reach).
 *
 * Configured by the standard OpenTelemetry variables; `OTEL_SDK_DISABLED=true` turns
 * mcplens off entirely, and so does `MCPLENS_OBSERVED_BY` (set by `mcplens wrap` for the
 * process it observes from outside). A server bundled together with the SDK into one file cannot be
 * hooked: its Server class is not loaded from the SDK's files.
 */
import { isMainThread } from 'node:worker_threads';
import { instrumentConnectingTransport } from './attach.js';
import { findEntrySdk } from './find-sdk.js';
import { installModuleHooks, patchSdkFiles, type ConnectListener } from './module-hooks.js';
import { observedFromOutside } from './observed-by.js';
import { ensureTelemetryStarted, readTelemetryConfig } from './telemetry-bootstrap.js';
import type { InstrumentOptions } from './types.js';
import { ConfigError } from '../contract/config-error.js';

// Read (and validated) now, so that a bad variable stops the process at start-up: one line
// naming it on stderr (never stdout, which a stdio server owns) and exit status 2.
const config = readConfigOrExit();
// The guards' modules load only when they are configured, while the application starts; its
// servers' connect waits for them (no top-level await: `--require` loads this module too).
const guardsReady =
  config.guards === undefined || config.disabled
    ? undefined
    : import('./guards/enable.js').then(({ checkGuardsConfig }) =>
        exitOnConfigError(() => checkGuardsConfig(config.guards!, `mcplens: MCPLENS_GUARDS (${process.env.MCPLENS_GUARDS ?? ''})`)),
      );

// Main thread only: Node 20 also runs `--require` modules in its module-loader thread, where
// registering the loader again only earns a warning. Servers run in worker threads are not hooked.
// A process observed from outside (`mcplens wrap`) gets nothing installed: each call gets one span, the outside host's.
if (!config.disabled && isMainThread && observedFromOutside() === undefined) {
  // One options object for the whole process: instrumentation shares one observer per options object.
  let options: InstrumentOptions | undefined;
  const onConnect: ConnectListener = (server, transport) =>
    guardsReady === undefined ? attach(server, transport) : guardsReady.then(() => attach(server, transport));
  const attach = (server: object, transport: unknown): void => {
    if (options === undefined) {
      const telemetry = ensureTelemetryStarted({ serviceName: serverName(server) }, config);
      if (telemetry.source === 'disabled') return;
      options = telemetry.tracerProvider === undefined ? {} : { tracerProvider: telemetry.tracerProvider };
      if (config.guards !== undefined) options.guards = config.guards;
    }
    instrumentConnectingTransport(server, transport, options);
  };
  let loaderHook = config.moduleHooks === 'loader';
  if (!loaderHook) {
    const entry = findEntrySdk();
    if (entry === undefined) loaderHook = true;
    else if (entry.esm) loaderHook = entry.serverFiles.length === 0 || !patchSdkFiles(entry.serverFiles, onConnect);
  }
  installModuleHooks(onConnect, { loaderHook });
}

/** The name the server announces in `initialize` (v1 and v2 keep it in `_serverInfo`). */
function serverName(server: object): string | undefined {
  const name = (server as { _serverInfo?: { name?: unknown } })._serverInfo?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

function readConfigOrExit(): ReturnType<typeof readTelemetryConfig> {
  return exitOnConfigError(readTelemetryConfig);
}

/** Runs `read`; a ConfigError stops the process: its message on stderr (never stdout, which a stdio server owns), exit status 2. */
function exitOnConfigError<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}
