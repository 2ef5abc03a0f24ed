#!/usr/bin/env node
/**
 * The `mcplens` command: `collector`, `dashboards`, `demo`, `wrap`, `proxy`, and `--version`. Each subcommand
 * lives in its part and is loaded only when asked for, so `mcplens collector` does not load the demo.
 */
const USAGE = `usage: mcplens <command> [options]

commands:
  collector    run the collector (OTLP/HTTP in, Prometheus out)   mcplens collector --help
  dashboards   write Grafana dashboards, provisioning and alert rules   mcplens dashboards --out DIR
  demo         collector + instrumented example server + simulated traffic   mcplens demo --help
  catalog      tokens and cost of a server's tool catalog, for every LLM request   mcplens catalog -- <command>
  wrap         run a stdio MCP server in any language, relayed byte for byte   mcplens wrap -- <command> [args...]
  proxy        reverse proxy for a Streamable HTTP MCP server in any language   mcplens proxy --target URL

  mcplens --version   print the version of mcplens
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'collector':
      // Runs until SIGTERM/SIGINT; sets process.exitCode itself on a configuration error.
      await (await import('../collector/main.js')).runCollectorCli(rest);
      return 0;
    case 'dashboards':
      return (await import('../dashboards/cli.js')).runDashboardsCli(rest);
    case 'demo':
      return (await importDemo()).runDemo(rest);
    case 'catalog':
      return (await import('../instrumentation/catalog/cli.js')).runCatalogCli(rest, process.stdout);
    case 'wrap':
      return (await import('../instrumentation/wrap/cli.js')).runWrapCli(rest, { input: process.stdin, output: process.stdout });
    case 'proxy':
      return (await import('../instrumentation/proxy/cli.js')).runProxyCli(rest);
    case '--version':
      process.stdout.write(`${(await import('../instrumentation/version.js')).VERSION}\n`);
      return 0;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`mcplens: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

/** The demo uses the MCP SDK and zod, development dependencies of mcplens: say so when they are missing. */
async function importDemo(): Promise<typeof import('../demo/run-demo.js')> {
  try {
    return await import('../demo/run-demo.js');
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(
        `the demo needs packages that are not installed (${(err as Error).message.split('\n')[0]}); run it from a clone of the repository with 'npm ci && npm start', or install @modelcontextprotocol/sdk and zod`,
        { cause: err },
      );
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mcplens: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
