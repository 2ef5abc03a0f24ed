/**
 * `mcplens dashboards --out DIR [--grafana-url URL] [--malformed-ratio 0.05] ...`:
 * the command-line face of {@link generateAll}. Writes progress to stderr only.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../contract/config-error.js';
import { generateAll } from './generate.js';
import type { GeneratorOptions } from './options.js';

const USAGE = `Usage: mcplens dashboards --out DIR [options]

Writes Grafana dashboards, Grafana provisioning (datasources, dashboards, alert rules),
a Prometheus rule file and OpenTelemetry Collector configurations under DIR.

  --out DIR                     output directory (required)
  --grafana-url URL             Grafana URL for alert dashboard links (default http://localhost:3000)
  --prometheus-url URL          Prometheus URL for the Grafana datasource (default http://prometheus:9090)
  --tempo-url URL               Tempo URL for the Grafana datasource (default http://tempo:3200)
  --malformed-ratio N           malformed-call ratio alert threshold, server and client view (default 0.05)
  --malformed-for DURATION      ... held for (default 10m)
  --tool-error-ratio N          tool error ratio alert threshold (default 0.1)
  --latency-p95 SECONDS         tool p95 latency bound (default 2)
  --circuit-open-for DURATION   alert when a tool's circuit breaker stays open this long (default 5m)
  --timeout-ratio N             per-tool timeout ratio alert threshold (default 0.05)
  --timeout-for DURATION        ... held for (default 5m)
  --denied-rate N               denied calls per second per client name alert threshold (default 0.1)
  --denied-for DURATION         ... held for (default 10m)
  --replay-ratio N              per-tool idempotent replay ratio alert threshold (default 0.2)
  --replay-for DURATION         ... held for (default 10m)
  --rate-window DURATION        rate window of the rules (default 5m)
  --evaluation-interval DUR     rule evaluation interval (default 1m)
  --grafana-alerting            also provision the Grafana-managed alert rules
  -h, --help                    this text
`;

const NUMBER_FLAGS: Record<string, keyof GeneratorOptions> = {
  'malformed-ratio': 'malformedRatioThreshold',
  'tool-error-ratio': 'toolErrorRatioThreshold',
  'latency-p95': 'toolLatencyP95Seconds',
  'timeout-ratio': 'timeoutRatioThreshold',
  'denied-rate': 'deniedCallsPerSecond',
  'replay-ratio': 'replayRatioThreshold',
};
const STRING_FLAGS: Record<string, keyof GeneratorOptions> = {
  'grafana-url': 'grafanaUrl',
  'prometheus-url': 'prometheusUrl',
  'tempo-url': 'tempoUrl',
  'malformed-for': 'malformedRatioFor',
  'circuit-open-for': 'circuitOpenFor',
  'timeout-for': 'timeoutRatioFor',
  'denied-for': 'deniedCallsFor',
  'replay-for': 'replayRatioFor',
  'rate-window': 'rateWindow',
  'evaluation-interval': 'evaluationInterval',
};

/**
 * Runs the command with `argv` (the arguments after `dashboards`). Returns the exit code:
 * 0 on success, 2 on a usage or option error (a {@link ConfigError}; the message names the bad
 * value), 1 when the files cannot be written.
 */
export async function runDashboardsCli(argv: readonly string[], stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    out: { type: 'string' },
    'grafana-alerting': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const f of [...Object.keys(NUMBER_FLAGS), ...Object.keys(STRING_FLAGS)]) options[f] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | boolean | undefined
    >;
  } catch (err) {
    stderr.write(`mcplens dashboards: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    stderr.write(USAGE);
    return 0;
  }
  const out = values.out;
  if (typeof out !== 'string' || out === '') {
    stderr.write(`mcplens dashboards: --out DIR is required\n\n${USAGE}`);
    return 2;
  }
  const gen: GeneratorOptions = {};
  const set = gen as Record<string, unknown>;
  for (const [flag, key] of Object.entries(NUMBER_FLAGS)) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) {
      stderr.write(`mcplens dashboards: --${flag} ${JSON.stringify(raw)} is not a number\n`);
      return 2;
    }
    set[key] = n;
  }
  for (const [flag, key] of Object.entries(STRING_FLAGS)) {
    if (typeof values[flag] === 'string') set[key] = values[flag];
  }
  if (values['grafana-alerting'] === true) gen.grafanaAlerting = true;
  try {
    const written = await generateAll({ ...gen, outDir: out });
    for (const f of written) stderr.write(`wrote ${f}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr.write(`${err.message}\n`);
      return 2;
    }
    stderr.write(`mcplens dashboards: cannot write to ${out}: ${(err as Error).message}\n`);
    return 1;
  }
}
