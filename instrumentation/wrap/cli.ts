/**
 * `mcplens wrap [options] -- <command> [args...]`: runs a stdio MCP server written in any
 * language as a child process, relays its bytes unchanged and observes the messages with the
 * same core as in-process instrumentation (one SERVER span per request). It ends the way the
 * child ends: its exit code, or the signal it died of re-raised; 127 (not found) or 126 (not
 * executable) when it cannot start, as a shell does. SIGINT, SIGTERM and SIGHUP are passed to
 * the child. mcplens writes nothing to stdout; its own lines go to stderr. The process that runs
 * the command (bin/mcplens.ts) hands over its stdin and stdout: nothing in instrumentation/ names them.
 */
import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError } from '../../contract/config-error.js';
import type { TelemetryState } from '../telemetry-bootstrap.js';
import { readGuardsFile, readTelemetryConfig } from '../telemetry-config.js';
import type { InstrumentOptions } from '../types.js';
import { OBSERVED_BY_ENV } from '../observed-by.js';
import { HOST_FLAG_OPTIONS, HOST_FLAGS_USAGE, laterServiceName, readHostFlags } from '../host-flags.js';
import type { GuardsConfig } from '../guards/guard-config.js';
import { startChildRelay, type ChildExit } from './child-relay.js';
import type { StdioGuards } from './stdio-guards.js';
import type { PipeObserver } from './pipe-observer.js';

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** The longest the server's EOF waits for a catalog load of wrap's own still in flight. */
const CATALOG_BEFORE_EOF_MS = 250;
/** Bytes held for observation while the observer loads (after the server has started); past it they go unobserved. */
const MAX_EARLY_BYTES = 16 * 1024 * 1024;
/** The value of {@link OBSERVED_BY_ENV} wrap sets for its child. */
const OBSERVED_BY_WRAP = 'wrap';

export const WRAP_USAGE = `usage: mcplens wrap [options] -- <command> [args...]

Runs a stdio MCP server (any language), relays its stdin and stdout byte for byte, and
sends one OpenTelemetry span per request, as in-process instrumentation does.
A host entry such as "python server.py" becomes "mcplens wrap -- python server.py".

options:
  --service-name NAME    service.name (default: OTEL_SERVICE_NAME, else the server's serverInfo.name,
                         else the command's name)
${HOST_FLAGS_USAGE}
The standard OTEL_* variables configure the export (endpoint, headers, sampler, OTEL_SDK_DISABLED);
MCPLENS_EXIT_TIMEOUT_MS bounds what wrap adds to the server's exit (default 1000 ms).
`;

/** What the command line asked for. */
export interface WrapArgs {
  command: string;
  args: string[];
  serviceName: string | undefined;
  instrument: InstrumentOptions;
  /** OTEL_* variables the flags set for wrap's own process (never for the server's). */
  otelEnv: Record<string, string>;
  /** The server's environment: wrap's own, as it was before the flags, plus the marker. */
  childEnv?: NodeJS.ProcessEnv;
  /** `--guards FILE`. */
  guardsFile?: string;
}

/** Splits `[options] -- command args`; a mistake throws a ConfigError naming it. */
export function parseWrapArgs(argv: readonly string[]): WrapArgs | 'help' {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? [...argv] : argv.slice(0, dashes);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: own, strict: true, allowPositionals: false, options: HOST_FLAG_OPTIONS }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help === true) return 'help';
  const [command, ...args] = dashes === -1 ? [] : argv.slice(dashes + 1);
  if (command === undefined || command === '') throw new ConfigError("no command: put it after '--'");
  return { command, args, ...readHostFlags(values) };
}

/**
 * Runs the wrap command to the end. Resolves with the exit code to use; when the child died
 * of a signal, re-raises it on this process first (the promise then usually never settles).
 */
export async function runWrapCli(argv: readonly string[], io: { input: Readable; output: Writable }): Promise<number> {
  let parsed: WrapArgs | 'help';
  let config: ReturnType<typeof readTelemetryConfig>;
  let guardsConfig: GuardsConfig | undefined;
  try {
    parsed = parseWrapArgs(argv);
    if (parsed === 'help') {
      process.stderr.write(WRAP_USAGE);
      return 0;
    }
    // The flags' OTEL_* values are for wrap's own exporter; the server's environment is taken before.
    const childEnv: NodeJS.ProcessEnv = { ...process.env, [OBSERVED_BY_ENV]: OBSERVED_BY_WRAP };
    Object.assign(process.env, parsed.otelEnv);
    config = readTelemetryConfig();
    guardsConfig = parsed.guardsFile === undefined ? config.guards : readGuardsFile(parsed.guardsFile, '--guards');
    // Wrap applies the guards: an instrumented server must not apply them a second time.
    if (guardsConfig !== undefined) delete childEnv.MCPLENS_GUARDS;
    parsed = { ...parsed, childEnv };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mcplens wrap: ${err.message.replace(/^mcplens: /, '')}\n\n${WRAP_USAGE}`);
    return 2;
  }

  // The server starts first; the observer and the OpenTelemetry SDK load while it starts up.
  // Bytes relayed meanwhile are kept with their arrival times and observed once the observer is
  // there, so spans keep the times the messages really passed.
  const observe = !config.disabled && config.exportTraces;
  let observer: PipeObserver | undefined;
  let early: Array<{ client: boolean; chunk: Buffer; at: number }> | undefined = observe ? [] : undefined;
  let earlyBytes = 0;
  const tap =
    (client: boolean) =>
    (chunk: Buffer): void => {
      if (observer !== undefined) {
        if (client) observer.clientBytes(chunk);
        else observer.serverBytes(chunk);
      } else if (early !== undefined && (earlyBytes += chunk.length) <= MAX_EARLY_BYTES) {
        early.push({ client, chunk, at: performance.now() });
      }
    };
  // Time the server's EOF waited for a catalog load: it comes out of the exit budget.
  let heldEofMs = 0;
  let telemetry: TelemetryState | undefined;
  // Loaded only when asked for (the guards' modules are not small), before the server starts:
  // no tools/call may pass unguarded.
  let guards: StdioGuards | undefined;
  if (guardsConfig !== undefined) {
    const [{ StdioGuards }, { outsideToolGuards }] = await Promise.all([
      import('./stdio-guards.js'),
      import('../guards/outside-guards.js'),
    ]);
    guards = new StdioGuards(
      outsideToolGuards(guardsConfig, () => telemetry?.tracerProvider),
      {
        toServer: (line) => relay.sendToChild(line),
        toClient: (line) => relay.sendToHost(line),
        recorder: (id) => observer?.guardRecorder(id),
        answered: (message) => observer?.guardAnswer(message),
      },
    );
  }
  const relay = startChildRelay({
    ...io,
    command: parsed.command,
    args: parsed.args,
    env: parsed.childEnv,
    onClientBytes: tap(true),
    onServerBytes: tap(false),
    ...(guards === undefined
      ? {}
      : { clientLineGate: (line: Buffer) => guards.clientLine(line), serverLineGate: (line: Buffer) => guards.serverLine(line) }),
    // A short session that called a tool before listing: the last catalog pages first (bounded).
    beforeChildEof: () => {
      const hold = observer?.beforeClientEof(CATALOG_BEFORE_EOF_MS);
      if (hold === undefined) return undefined;
      const start = performance.now();
      return hold.finally(() => (heldEofMs = performance.now() - start));
    },
  });
  const forward = (signal: NodeJS.Signals): void => relay.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  // `service.name` learnt from the server's first answer with `serverInfo` (or the command's name at the end).
  const serverName = laterServiceName();
  const settleServerName = serverName.settle;
  if (observe) {
    try {
      const [{ ensureTelemetryStarted }, { PipeObserver }] = await Promise.all([
        import('../telemetry-bootstrap.js'),
        import('./pipe-observer.js'),
      ]);
      telemetry = ensureTelemetryStarted({ serviceName: parsed.serviceName ?? serverName.name, endsItself: true }, config);
      const options: InstrumentOptions = { ...parsed.instrument, tracerProvider: telemetry.tracerProvider };
      const started = new PipeObserver(
        options,
        { send: (line) => relay.sendToChild(line), setLineFilter: (filter) => relay.setServerLineFilter(filter) },
        { onServerName: (name) => settleServerName(name), ...(guards === undefined ? {} : { heldAnswer: (m) => guards.holdsAnswer(m) }) },
      );
      for (const { client, chunk, at } of early ?? []) {
        if (client) started.clientBytes(chunk, at);
        else started.serverBytes(chunk, at);
      }
      if (earlyBytes > MAX_EARLY_BYTES) process.stderr.write('mcplens wrap: the first bytes of the session were too many to observe\n');
      observer = started;
    } catch (err) {
      // Telemetry never stops the server: it runs unobserved.
      process.stderr.write(`mcplens wrap: telemetry could not start (${(err as Error).message}); relaying only\n`);
      observer = undefined;
    }
    early = undefined;
  }
  const exit = await relay.exited;
  for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);

  if (observer !== undefined && telemetry !== undefined) {
    try {
      observer.close();
      settleServerName(basename(parsed.command));
      // Within the exit budget (MCPLENS_EXIT_TIMEOUT_MS), less what the EOF waited; never rejects into the exit.
      await telemetry.flush(Math.max(0, config.exitTimeoutMs - heldEofMs));
    } catch {
      // Telemetry never changes how wrap ends.
    }
  }
  return endLike(exit);
}

/** The exit code that mirrors the child's end; a signal is re-raised on this process. */
function endLike(exit: ChildExit): number {
  switch (exit.kind) {
    case 'exited':
      return exit.code;
    case 'not-started':
      process.stderr.write(`mcplens wrap: ${exit.message}\n`);
      return exit.code;
    case 'signalled': {
      // Default action for the signal, as if this process had received it (nothing of wrap's,
      // such as the exit flush, may catch it now). If the signal is ignored, fall back to the
      // shell's convention 128 + signal number.
      process.removeAllListeners(exit.signal);
      process.kill(process.pid, exit.signal);
      return 128 + (osConstants.signals[exit.signal] ?? 0);
    }
  }
}
