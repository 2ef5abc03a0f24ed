/**
 * `mcplens collector`: the only place that reads the real argv and environment. Resolves
 * the configuration (defaults < config file < `MCPLENS_COLLECTOR_*` < flags), starts the
 * collector, prints where it listens, and shuts down gracefully on SIGTERM/SIGINT: ingest
 * is refused (503 with Retry-After) while it waits up to `shutdownScrapeWaitMs` for a scrape
 * covering the last acknowledged ingest, then in-flight requests finish and forward queues
 * drain up to `shutdownTimeoutMs`.
 *
 * Also runnable directly: `node dist/collector/main.js --port 4318`.
 */
import { pathToFileURL } from 'node:url';
import { VERSION } from '../instrumentation/version.js';
import { ConfigError, optionsFromEnv, optionsFromFile, parseArgs, resolveConfig, usage, type CollectorOptions } from './config.js';
import { createCollector, type Collector } from './index.js';

/** A running CLI collector. */
export interface RunningCollector {
  collector: Collector;
  url: string;
  /** Resolves when the collector has shut down after a signal (or `collector.close()`). */
  closed: Promise<void>;
}

/**
 * Runs the collector from command-line arguments (without `node` and the script/command
 * names, e.g. `process.argv.slice(3)` for `mcplens collector ...`). On a configuration
 * mistake (an unknown option included) it prints the message (naming the bad value) and sets
 * `process.exitCode = 2`; on `--help` it prints the options, on `--version` the version, both
 * to stdout. Returns the running collector, or undefined when it did not start.
 */
export async function runCollectorCli(argv: readonly string[]): Promise<RunningCollector | undefined> {
  let options: CollectorOptions;
  try {
    const args = parseArgs(argv);
    if (args.help) {
      process.stdout.write(`${usage()}\n`);
      return undefined;
    }
    if (args.version) {
      process.stdout.write(`${VERSION}\n`);
      return undefined;
    }
    const env = optionsFromEnv(process.env);
    const file = args.configFile ?? process.env['MCPLENS_COLLECTOR_CONFIG'];
    const fromFile = file !== undefined ? optionsFromFile(file) : {};
    options = { ...fromFile, ...env, ...args.options };
    resolveConfig(options, 'configuration');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mcplens collector: ${err.message}\n`);
      process.exitCode = 2;
      return undefined;
    }
    throw err;
  }

  const collector = createCollector(options);
  let address;
  try {
    address = await collector.listen();
  } catch (err) {
    process.stderr.write(
      `mcplens collector: cannot listen on ${collector.config.host}:${collector.config.port}: ${(err as Error).message}\n`,
    );
    process.exitCode = 1;
    await collector.close();
    return undefined;
  }
  process.stdout.write(
    `mcplens collector listening on ${address.url} (OTLP/HTTP ${address.url}/v1/traces, metrics ${address.url}/metrics, status page ${address.url}/)\n`,
  );

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const shutdown = (signal: string): void => {
    process.stdout.write(`mcplens collector: ${signal}, refusing new ingest, waiting for a last scrape\n`);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    const stop = async (): Promise<void> => {
      const outcome = await collector.drain();
      process.stdout.write(`mcplens collector: last scrape ${outcome}; finishing in-flight requests\n`);
      await collector.close();
    };
    stop().then(
      () => {
        process.stdout.write('mcplens collector: stopped\n');
        resolveClosed();
      },
      (err: unknown) => {
        process.stderr.write(`mcplens collector: error while stopping: ${String(err)}\n`);
        process.exitCode = 1;
        resolveClosed();
      },
    );
  };
  const onTerm = (): void => shutdown('SIGTERM');
  const onInt = (): void => shutdown('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return { collector, url: address.url, closed };
}

// Run when executed directly (not when imported).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCollectorCli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`mcplens collector: ${String(err)}\n`);
    process.exitCode = 1;
  });
}
