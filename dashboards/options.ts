import { durationSeconds } from './promql.js';
import { ConfigError } from '../contract/config-error.js';
import { CATALOG_COST } from '../contract/catalog-cost.js';

/**
 * Options of the dashboards and alerts generator, with their defaults in exactly one
 * place ({@link createDefaultOptions}) and validation separate from merging.
 */

/** Thresholds and durations of the alert rules. Every field is optional. */
export interface AlertOptions {
  /**
   * Malformed-call ratio above which the malformed-ratio alerts fire: per provider (server view)
   * and per provider and server (client view). Default 0.05 (5%).
   */
  malformedRatioThreshold?: number;
  /** How long the malformed ratio must stay above the threshold (both views). Default `10m`. */
  malformedRatioFor?: string;
  /** How long calls to unknown tools must keep happening before the alert fires. Default `1m`. */
  unknownToolFor?: string;
  /** Error ratio (outcomes `tool_error`, `error`, `timeout`, `circuit_open`: the contract's ERROR_OUTCOMES) per tool above which the alert fires. Default 0.1 (10%). */
  toolErrorRatioThreshold?: number;
  /** Default `10m`. */
  toolErrorRatioFor?: string;
  /** p95 latency per tool (seconds) above which the alert fires. Default 2. */
  toolLatencyP95Seconds?: number;
  /** Default `10m`. */
  toolLatencyFor?: string;
  /** How long a tool's circuit breaker must stay open (in at least one replica) before the alert fires. Default `5m`. */
  circuitOpenFor?: string;
  /** Share of a tool's calls that end in outcome `timeout` (a guard's per-tool timeout) above which the alert fires. Default 0.05 (5%). */
  timeoutRatioThreshold?: number;
  /** How long the timeout ratio must stay above the threshold. Default `5m`. */
  timeoutRatioFor?: string;
  /** Calls per second refused by the authorization guard for one client name above which the alert fires. Default 0.1. */
  deniedCallsPerSecond?: number;
  /** How long the denied-call rate must stay above the threshold. Default `10m`. */
  deniedCallsFor?: string;
  /** Share of a tool's calls answered from the idempotency store (outcome `replayed`) above which the alert fires: a model retrying too much. Default 0.2 (20%). */
  replayRatioThreshold?: number;
  /** How long the replay ratio must stay above the threshold. Default `10m`. */
  replayRatioFor?: string;
  /** How long the collector must keep rejecting spans or dropping series before the alert fires. Default `5m`. */
  collectorDropFor?: string;
  /** Range of the `rate()`/`increase()` windows in alert and recording rules. Default `5m`. */
  rateWindow?: string;
  /** Evaluation interval of the rule groups (Prometheus and Grafana). Default `1m`. */
  evaluationInterval?: string;
}

/** What {@link generateAll} and its parts accept. Every field is optional. */
export interface GeneratorOptions extends AlertOptions {
  /** Directory the files are written to (the `compose/` directory of the repository for the committed stack). */
  outDir?: string;
  /** Public URL of Grafana, used in the dashboard links of alert annotations. Default `http://localhost:3000`. */
  grafanaUrl?: string;
  /** URL Grafana reaches Prometheus at. Default `http://prometheus:9090` (the compose service). */
  prometheusUrl?: string;
  /** URL Grafana reaches Tempo at. Default `http://tempo:3200` (the compose service). */
  tempoUrl?: string;
  /** Uid of the provisioned Prometheus datasource (the dashboards' datasource variable defaults to it). Default `prometheus`. */
  prometheusDatasourceUid?: string;
  /** Uid of the provisioned Tempo datasource that exemplar trace ids link to. Default `tempo`. */
  tempoDatasourceUid?: string;
  /** Path inside the Grafana container the dashboard JSON is mounted at. Default `/var/lib/grafana/dashboards/mcplens`. */
  dashboardsPath?: string;
  /** Grafana folder of the dashboards and Grafana-managed alert rules. Default `mcplens`. */
  folder?: string;
  /**
   * Also provision the Grafana-managed alert rules (into `grafana/provisioning/alerting/`).
   * Default false: the compose stack pages through Prometheus and Alertmanager, and
   * loading both would page twice. The Grafana rules are always written to
   * `grafana/alert-rules/` for teams on Grafana alerting to copy.
   */
  grafanaAlerting?: boolean;
  /** Default of the dashboards' price per million input tokens variable (USD). Default 3. */
  pricePerMillionTokens?: number;
  /** Default of the dashboards' LLM requests per day variable. Default 10000. */
  requestsPerDay?: number;
}

/** Options with every default filled in. */
export type ResolvedOptions = Required<Omit<GeneratorOptions, 'outDir'>> & { outDir: string | undefined };

/** The defaults, in one place. */
export function createDefaultOptions(): ResolvedOptions {
  return {
    outDir: undefined,
    malformedRatioThreshold: 0.05,
    malformedRatioFor: '10m',
    unknownToolFor: '1m',
    toolErrorRatioThreshold: 0.1,
    toolErrorRatioFor: '10m',
    toolLatencyP95Seconds: 2,
    toolLatencyFor: '10m',
    circuitOpenFor: '5m',
    timeoutRatioThreshold: 0.05,
    timeoutRatioFor: '5m',
    deniedCallsPerSecond: 0.1,
    deniedCallsFor: '10m',
    replayRatioThreshold: 0.2,
    replayRatioFor: '10m',
    collectorDropFor: '5m',
    rateWindow: '5m',
    evaluationInterval: '1m',
    grafanaUrl: 'http://localhost:3000',
    prometheusUrl: 'http://prometheus:9090',
    tempoUrl: 'http://tempo:3200',
    prometheusDatasourceUid: 'prometheus',
    tempoDatasourceUid: 'tempo',
    dashboardsPath: '/var/lib/grafana/dashboards/mcplens',
    folder: 'mcplens',
    grafanaAlerting: false,
    pricePerMillionTokens: CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS,
    requestsPerDay: CATALOG_COST.DEFAULT_REQUESTS_PER_DAY,
  };
}

// A Prometheus duration: one or more number+unit pairs, e.g. 0s, 90s, 1h30m.
const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const UID = /^[a-zA-Z0-9_-]{1,40}$/;

const DURATION_KEYS = [
  'malformedRatioFor',
  'unknownToolFor',
  'toolErrorRatioFor',
  'toolLatencyFor',
  'circuitOpenFor',
  'timeoutRatioFor',
  'deniedCallsFor',
  'replayRatioFor',
  'collectorDropFor',
  'rateWindow',
  'evaluationInterval',
] as const;
const RATIO_KEYS = ['malformedRatioThreshold', 'toolErrorRatioThreshold', 'timeoutRatioThreshold', 'replayRatioThreshold'] as const;
const POSITIVE_KEYS = ['toolLatencyP95Seconds', 'deniedCallsPerSecond', 'pricePerMillionTokens', 'requestsPerDay'] as const;
const URL_KEYS = ['grafanaUrl', 'prometheusUrl', 'tempoUrl'] as const;
const UID_KEYS = ['prometheusDatasourceUid', 'tempoDatasourceUid'] as const;

/**
 * Merges user options over the defaults and validates them. Throws a ConfigError naming the
 * first unknown key or bad value, so a typo fails at start instead of producing a silent default.
 */
export function resolveOptions(options: GeneratorOptions = {}): ResolvedOptions {
  const defaults = createDefaultOptions();
  for (const key of Object.keys(options)) {
    if (!(key in defaults)) throw new ConfigError(`mcplens dashboards: unknown option "${key}"`);
  }
  const merged: ResolvedOptions = { ...defaults };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  validateOptions(merged);
  return merged;
}

function validateOptions(o: ResolvedOptions): void {
  const bad = (key: string, value: unknown, want: string): never => {
    throw new ConfigError(`mcplens dashboards: option ${key}=${JSON.stringify(value)} is invalid: expected ${want}`);
  };
  for (const key of DURATION_KEYS) {
    if (typeof o[key] !== 'string' || !DURATION.test(o[key])) bad(key, o[key], 'a Prometheus duration such as 30s, 5m or 1h');
  }
  if (durationSeconds(o.rateWindow) <= 0) bad('rateWindow', o.rateWindow, 'a duration above zero');
  if (durationSeconds(o.evaluationInterval) <= 0) bad('evaluationInterval', o.evaluationInterval, 'a duration above zero');
  for (const key of RATIO_KEYS) {
    if (typeof o[key] !== 'number' || !(o[key] > 0 && o[key] < 1)) bad(key, o[key], 'a ratio between 0 and 1 (exclusive)');
  }
  for (const key of POSITIVE_KEYS) {
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key]) || o[key] <= 0) bad(key, o[key], 'a positive number');
  }
  for (const key of URL_KEYS) {
    if (typeof o[key] !== 'string' || !/^https?:\/\/[^\s]+$/.test(o[key])) bad(key, o[key], 'an http(s) URL');
  }
  for (const key of UID_KEYS) {
    if (typeof o[key] !== 'string' || !UID.test(o[key])) bad(key, o[key], 'a datasource uid of letters, digits, - and _ (at most 40)');
  }
  if (typeof o.dashboardsPath !== 'string' || !o.dashboardsPath.startsWith('/'))
    bad('dashboardsPath', o.dashboardsPath, 'an absolute path');
  if (typeof o.folder !== 'string' || o.folder.trim() === '') bad('folder', o.folder, 'a folder name');
  if (typeof o.grafanaAlerting !== 'boolean') bad('grafanaAlerting', o.grafanaAlerting, 'true or false');
  if (o.outDir !== undefined && (typeof o.outDir !== 'string' || o.outDir === '')) bad('outDir', o.outDir, 'a directory path');
}
