/**
 * `mcplens proxy --target URL [options]`: a reverse proxy in front of an MCP Streamable HTTP
 * server written in any language. It forwards every request to the target unchanged (streams
 * as they come) and observes the MCP endpoint's messages with the same core as in-process
 * instrumentation (one SERVER span per request). SIGINT and SIGTERM: it stops accepting, lets
 * exchanges in flight finish (bounded), exports the last spans and exits 0. mcplens writes
 * nothing to stdout; the listening address and its other lines go to stderr.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../../contract/config-error.js';
import { flagText, HOST_FLAG_OPTIONS, HOST_FLAGS_USAGE, laterServiceName, readHostFlags, type HostFlags } from '../host-flags.js';
import type { GuardsConfig } from '../guards/guard-config.js';
import { outsideToolGuards } from '../guards/outside-guards.js';
import { ensureTelemetryStarted, readTelemetryConfig, type TelemetryState } from '../telemetry-bootstrap.js';
import { readGuardsFile } from '../telemetry-config.js';
import type { InstrumentOptions } from '../types.js';
import { HttpObserver } from './http-observer.js';
import { startReverseProxy } from './reverse-proxy.js';

/** Defaults of the proxy's own options, in one place. */
export const PROXY_DEFAULTS = {
  host: '127.0.0.1',
  port: 4319,
  maxBodyBytes: 16 * 1024 * 1024,
  timeoutMs: 300_000,
  drainMs: 5_000,
  sessionIdleMs: 30 * 60_000,
  maxSessions: 10_000,
} as const;

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

export const PROXY_USAGE = `usage: mcplens proxy --target URL [options]

A reverse proxy for an MCP Streamable HTTP server (any language): forwards every request
to the target unchanged, event streams as they come, and sends one OpenTelemetry span per
request on the target's MCP endpoint, as in-process instrumentation does.
"--target http://127.0.0.1:3001/mcp" serves the same path, /mcp, on --host:--port.

options:
  --target URL           the server's MCP endpoint, http(s)://host:port/path (required)
  --host HOST            address to listen on (default ${PROXY_DEFAULTS.host})
  --port N               port to listen on, 0 for any free one (default ${PROXY_DEFAULTS.port})
  --max-body-bytes N     bodies larger than this are forwarded but not observed (default 16 MiB)
  --timeout-ms N         the longest wait for the server's answer to begin, then 504; 0: none
                         (default ${PROXY_DEFAULTS.timeoutMs})
  --drain-ms N           on SIGINT/SIGTERM, how long exchanges in flight may finish (default ${PROXY_DEFAULTS.drainMs})
  --service-name NAME    service.name (default: OTEL_SERVICE_NAME, else the server's serverInfo.name,
                         else the target's host)
${HOST_FLAGS_USAGE}
The standard OTEL_* variables configure the export (endpoint, headers, sampler, OTEL_SDK_DISABLED);
MCPLENS_EXIT_TIMEOUT_MS bounds the last export at exit (default 1000 ms).
`;

/** What the command line asked for. */
export interface ProxyArgs extends HostFlags {
  target: URL;
  host: string;
  port: number;
  maxBodyBytes: number;
  timeoutMs: number;
  drainMs: number;
}

/** Reads the proxy's options; a mistake throws a ConfigError naming it. */
export function parseProxyArgs(argv: readonly string[]): ProxyArgs | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        ...HOST_FLAG_OPTIONS,
        target: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'max-body-bytes': { type: 'string' },
        'timeout-ms': { type: 'string' },
        'drain-ms': { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help === true) return 'help';
  const targetText = flagText(values, 'target');
  if (targetText === undefined) throw new ConfigError('--target URL is required');
  let target: URL;
  try {
    target = new URL(targetText);
  } catch {
    throw new ConfigError(`--target ${JSON.stringify(targetText)} is not a URL`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new ConfigError(`--target ${JSON.stringify(targetText)} is not an http(s) URL`);
  const integer = (name: string, fallback: number, max: number): number => {
    const text = flagText(values, name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value > max)
      throw new ConfigError(`--${name} ${JSON.stringify(text)} is not an integer from 0 to ${max}`);
    return value;
  };
  return {
    ...readHostFlags(values),
    target,
    host: flagText(values, 'host') ?? PROXY_DEFAULTS.host,
    port: integer('port', PROXY_DEFAULTS.port, 65_535),
    maxBodyBytes: integer('max-body-bytes', PROXY_DEFAULTS.maxBodyBytes, 2 ** 31),
    timeoutMs: integer('timeout-ms', PROXY_DEFAULTS.timeoutMs, 2 ** 31 - 1),
    drainMs: integer('drain-ms', PROXY_DEFAULTS.drainMs, 600_000),
  };
}

/** Runs the proxy until SIGINT or SIGTERM; resolves with the exit code. */
export async function runProxyCli(argv: readonly string[]): Promise<number> {
  let parsed: ProxyArgs | 'help';
  let config: ReturnType<typeof readTelemetryConfig>;
  let guardsConfig: GuardsConfig | undefined;
  try {
    parsed = parseProxyArgs(argv);
    if (parsed === 'help') {
      process.stderr.write(PROXY_USAGE);
      return 0;
    }
    Object.assign(process.env, parsed.otelEnv);
    config = readTelemetryConfig();
    guardsConfig = parsed.guardsFile === undefined ? config.guards : readGuardsFile(parsed.guardsFile, '--guards');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mcplens proxy: ${err.message.replace(/^mcplens: /, '')}\n\n${PROXY_USAGE}`);
    return 2;
  }
  const args = parsed;

  let telemetry: TelemetryState | undefined;
  let observer: HttpObserver | undefined;
  const serverName = laterServiceName();
  if (!config.disabled && config.exportTraces) {
    try {
      telemetry = ensureTelemetryStarted({ serviceName: args.serviceName ?? serverName.name, endsItself: true }, config);
      const options: InstrumentOptions = { ...args.instrument, tracerProvider: telemetry.tracerProvider };
      observer = new HttpObserver(
        options,
        args.target,
        { idleMs: PROXY_DEFAULTS.sessionIdleMs, maxSessions: PROXY_DEFAULTS.maxSessions },
        { onServerName: serverName.settle },
      );
    } catch (err) {
      // Telemetry never stops the proxy: it forwards unobserved.
      process.stderr.write(`mcplens proxy: telemetry could not start (${(err as Error).message}); forwarding only\n`);
      observer = undefined;
    }
  }

  let proxy: Awaited<ReturnType<typeof startReverseProxy>>;
  try {
    const guards = guardsConfig === undefined ? undefined : outsideToolGuards(guardsConfig, () => telemetry?.tracerProvider);
    proxy = await startReverseProxy({ ...args, observer, ...(guards === undefined ? {} : { guards }) });
  } catch (err) {
    process.stderr.write(`mcplens proxy: cannot listen on ${args.host}:${args.port} (${(err as Error).message})\n`);
    observer?.close();
    return 1;
  }
  process.stderr.write(`mcplens proxy: listening on ${proxy.url}${args.target.pathname} -> ${args.target.href}\n`);

  // Listening for the signals also tells the exit flush not to re-raise them: the proxy ends itself.
  let stopping = false;
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (name: NodeJS.Signals): void => {
      // A second signal while draining: stop at once.
      if (stopping) process.exit(0);
      stopping = true;
      resolve(name);
    };
    for (const name of STOP_SIGNALS) process.on(name, onSignal);
  });
  process.stderr.write(`mcplens proxy: ${signal}: finishing ${proxy.inFlight} exchange(s) in flight\n`);
  await proxy.close(args.drainMs);
  if (observer !== undefined && telemetry !== undefined) {
    try {
      observer.close();
      serverName.settle(args.target.hostname);
      // Bounded by the exit budget (MCPLENS_EXIT_TIMEOUT_MS); never rejects into the exit.
      await telemetry.flush();
    } catch {
      // Telemetry never changes how the proxy ends.
    }
  }
  return 0;
}
