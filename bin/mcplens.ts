#!/usr/bin/env node
/**
 * The `mcplens` command: `collector`, `dashboards`, `demo`. Each subcommand lives in its
 * part and is loaded only when asked for, so `mcplens collector` does not load the demo.
 */
const USAGE = `usage: mcplens <command> [options]

commands:
  collector    run the collector (OTLP/HTTP in, Prometheus out)   mcplens collector --help
  dashboards   write Grafana dashboards, provisioning and alert rules   mcplens dashboards --out DIR
  demo         collector + instrumented example server + simulated traffic   mcplens demo --help
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
      return (await import('../demo/run-demo.js')).runDemo(rest);
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

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mcplens: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
