/**
 * The capacity model of docs/scaling.md ("## Capacity model"): how many mcplens collectors,
 * OpenTelemetry Collector instances and what Prometheus for a given rate of tool calls, from
 * measured figures (constants below, each with its source), published figures (cited) and the
 * contract (series per call label set, counted from contract/telemetry.ts).
 *
 * `node dist/bench/capacity-model.js` prints the markdown tables the doc holds (between its
 * capacity-model markers); test/bench/capacity-model.test.ts fails when they differ.
 * `node --expose-gc dist/bench/capacity-model.js --measure` measures the collector's heap per
 * series again (a real Tally, in this process) and prints it; copy it into MEASURED by hand.
 */
import { pathToFileURL } from 'node:url';
import {
  ATTR,
  CALL_LABELS,
  CALL_TOKEN_KINDS,
  CLIENT_CALL_LABELS,
  DURATION_BUCKETS_SECONDS,
  LABEL,
  MCP_METHOD,
  METRICS,
  OUTCOMES,
  TOKENS_NOT_COUNTED_REASONS,
  VIOLATION_KINDS,
  type MetricDefinition,
} from '../contract/index.js';
import { DEFAULT_CONFIG } from '../collector/config.js';
import { OTLP_SPAN_KIND, OTLP_STATUS_CODE, type SpanView } from '../collector/span-view.js';
import { createBenchTally } from './collector-ingest.js';

/** A figure with where it comes from. */
export interface SourcedFigure {
  readonly value: number;
  readonly source: string;
}

/** Figures measured in this repository. */
export const MEASURED = {
  /** Spans per CPU-second, OTLP/protobuf decode + the collector's Tally (one core: the collector is one Node thread). */
  ingestProtobufSpansPerCpuSecond: {
    value: 311_628,
    source:
      'bench/collector-ingest.ts, row "protobuf: mcplens reader + tally", `npm run bench`, 2026-11-25, Node v20.20.2, 2 vCPU AMD EPYC VM (bench/README.md)',
  },
  /** Spans per CPU-second, OTLP/JSON decode + Tally. */
  ingestJsonSpansPerCpuSecond: {
    value: 91_839,
    source: 'bench/collector-ingest.ts, row "json: decode + tally", same run as above',
  },
  /** Collector JS heap per series it holds (every per-call metric of a call label set filled), after GC. */
  collectorBytesPerSeries: {
    value: 564,
    source:
      '`node --expose-gc dist/bench/capacity-model.js --measure` (800 call label sets, 24,800 series), 2026-12-05, Node v20.20.2, 2 vCPU AMD EPYC VM',
  },
  /** Collector RSS with no series (express, prom-client and the collector loaded). */
  collectorIdleRssBytes: {
    value: 61.1 * 2 ** 20,
    source: 'bench/collector-ingest.ts runRssAtCapBench, "RSS idle", 2026-11-25 (bench/README.md)',
  },
} as const satisfies Record<string, SourcedFigure>;

/** Figures published elsewhere (cited in docs/scaling.md). */
export const PUBLISHED = {
  /** Prometheus head memory per active series, samples of a usual scrape interval included. */
  prometheusBytesPerActiveSeries: {
    value: 3_000,
    source: 'Robust Perception, "Why does Prometheus use so much RAM?": about 3 kB per series in the head as of Prometheus 2.20',
  },
  /** Prometheus disk per sample (compressed blocks; the docs say 1 to 2 bytes: the upper end). */
  prometheusBytesPerSample: {
    value: 2,
    source: 'prometheus.io/docs/prometheus/latest/storage/ "Operational aspects": on average 1-2 bytes per sample',
  },
  /** OpenTelemetry Collector spans per second per CPU core (traces, gateway mode). */
  otelCollectorSpansPerCore: {
    value: 15_000,
    source: 'Splunk Distribution of the OpenTelemetry Collector, "Sizing and scaling": 15,000 spans/s per CPU core',
  },
} as const satisfies Record<string, SourcedFigure>;

/** Assumptions of the model (not measured): stated in the doc next to the tables. */
export const ASSUMPTIONS = {
  /** Share of a core a collector may spend on decode + tally: the rest is HTTP, gzip, scrapes and GC, which the bench leaves out. */
  collectorCpuShare: 0.5,
  /** SERVER tools/call spans per call (client-side spans would double it, and add the client view's series). */
  spansPerCall: 1,
  /** Distinct `error_type` values per (service, tool, provider) in the duration histogram: none (success) plus two. */
  errorTypesPerTool: 3,
  /** Prometheus scrape interval, seconds. */
  scrapeIntervalSeconds: 15,
  /** Prometheus retention, days (Prometheus' default). */
  retentionDays: 15,
  /** The collector's default cardinality cap (series per metric), `cardinalityLimit`. */
  cardinalityLimit: DEFAULT_CONFIG.cardinalityLimit,
} as const;

/** Series one label value adds, for each label a per-call metric adds to the call labels. */
function fanOutOf(label: string | undefined): number {
  switch (label) {
    case undefined:
      return 1;
    case LABEL.OUTCOME:
      return OUTCOMES.length;
    // Every kind is created at zero, plus one series for kinds this contract does not know.
    case LABEL.VIOLATION_KIND:
      return VIOLATION_KINDS.length + 1;
    case LABEL.TOKEN_KIND:
      return CALL_TOKEN_KINDS.length;
    // Every reason, plus one series for reasons this contract does not know.
    case LABEL.REASON:
      return Object.keys(TOKENS_NOT_COUNTED_REASONS).length + 1;
    default:
      throw new Error(`capacity model: no fan-out known for label ${label}; add it`);
  }
}

/** A per-call metric: its labels are a view's call labels plus at most one more. */
function perCallExtraLabel(metric: MetricDefinition, callLabels: readonly string[]): { extra: string | undefined } | undefined {
  if (metric.labels.length < callLabels.length || !callLabels.every((l, i) => metric.labels[i] === l)) return undefined;
  const rest = metric.labels.slice(callLabels.length);
  if (rest.length > 1) throw new Error(`capacity model: ${metric.name} adds more than one label to the call labels`);
  return { extra: rest[0] };
}

/** Series per call label set, by metric, for the server view (CALL_LABELS) or the client view (CLIENT_CALL_LABELS). */
export function seriesPerCallLabelSetByMetric(view: 'server' | 'client' = 'server'): Record<string, number> {
  const callLabels: readonly string[] = view === 'server' ? CALL_LABELS : CLIENT_CALL_LABELS;
  const out: Record<string, number> = {};
  for (const m of Object.values(METRICS) as MetricDefinition[]) {
    const per = perCallExtraLabel(m, callLabels);
    if (per) out[m.name] = fanOutOf(per.extra);
  }
  return out;
}

/** Series per call label set: the sum over the per-call metrics. */
export function seriesPerCallLabelSet(view: 'server' | 'client' = 'server'): number {
  return Object.values(seriesPerCallLabelSetByMetric(view)).reduce((a, b) => a + b, 0);
}

/** Prometheus series per duration-histogram label set: one per bucket, `+Inf`, `_sum` and `_count`. */
export const HISTOGRAM_SERIES_PER_LABEL_SET = DURATION_BUCKETS_SECONDS.length + 3;

/**
 * Call label sets one collector admits at a cap: a set is admitted only while every per-call
 * metric has room for its whole fan-out, so the widest fan-out decides.
 */
export function admittedCallLabelSets(limit: number): number {
  return Math.min(...Object.values(seriesPerCallLabelSetByMetric()).map((f) => Math.floor(limit / f)));
}

/** A workload: a rate of calls and the label values they spread over. */
export interface Workload {
  callsPerSecond: number;
  services: number;
  toolsPerService: number;
  providers: number;
  modelsPerProvider: number;
}

/** What a workload costs. */
export interface Capacity {
  callLabelSets: number;
  /** Call label sets each collector holds (all of them: session routing does not split label sets), after the cap when one applies. */
  labelSetsPerCollector: number;
  collectors: number;
  /** The same for OTLP/JSON. */
  collectorsJson: number;
  collectorMemoryBytes: number;
  otelCollectorCores: number;
  prometheusSeries: number;
  prometheusMemoryBytes: number;
  samplesPerSecond: number;
  diskBytesPerDay: number;
  diskBytesRetention: number;
}

/** Knobs applied to a workload. */
export interface Knobs {
  /** Head-sampling ratio with adjusted counts (1 = every call). */
  sampling?: number;
  /** Drop the model label (every model of a provider becomes one label set). */
  dropModel?: boolean;
  /** Apply the collector's cardinality cap (label sets past it go to one overflow set). */
  cap?: number;
}

/** The model: collectors by ingest, series by label sets x collectors (every collector sees every label set). */
export function capacity(w: Workload, knobs: Knobs = {}): Capacity {
  const sampling = knobs.sampling ?? 1;
  const models = knobs.dropModel ? 1 : w.modelsPerProvider;
  const callLabelSets = w.services * w.toolsPerService * w.providers * models;
  const spansPerSecond = w.callsPerSecond * ASSUMPTIONS.spansPerCall * sampling;
  const perCollector = MEASURED.ingestProtobufSpansPerCpuSecond.value * ASSUMPTIONS.collectorCpuShare;
  const collectors = Math.max(1, Math.ceil(spansPerSecond / perCollector));
  const collectorsJson = Math.max(
    1,
    Math.ceil(spansPerSecond / (MEASURED.ingestJsonSpansPerCpuSecond.value * ASSUMPTIONS.collectorCpuShare)),
  );
  // Past the cap: the admitted sets plus the one overflow set.
  const labelSetsPerCollector = knobs.cap === undefined ? callLabelSets : Math.min(callLabelSets, admittedCallLabelSets(knobs.cap) + 1);
  const histogramSets = Math.min(
    w.services * w.toolsPerService * w.providers * ASSUMPTIONS.errorTypesPerTool,
    knobs.cap === undefined ? Infinity : knobs.cap + 1,
  );
  const collectorSeries = labelSetsPerCollector * seriesPerCallLabelSet() + histogramSets;
  const collectorMemoryBytes = MEASURED.collectorIdleRssBytes.value + collectorSeries * MEASURED.collectorBytesPerSeries.value;
  const promSeriesPerCollector = labelSetsPerCollector * seriesPerCallLabelSet() + histogramSets * HISTOGRAM_SERIES_PER_LABEL_SET;
  const prometheusSeries = promSeriesPerCollector * collectors;
  const samplesPerSecond = prometheusSeries / ASSUMPTIONS.scrapeIntervalSeconds;
  const diskBytesPerDay = samplesPerSecond * 86_400 * PUBLISHED.prometheusBytesPerSample.value;
  return {
    callLabelSets,
    labelSetsPerCollector,
    collectors,
    collectorsJson,
    collectorMemoryBytes,
    otelCollectorCores: Math.max(1, Math.ceil(spansPerSecond / PUBLISHED.otelCollectorSpansPerCore.value)),
    prometheusSeries,
    prometheusMemoryBytes: prometheusSeries * PUBLISHED.prometheusBytesPerActiveSeries.value,
    samplesPerSecond,
    diskBytesPerDay,
    diskBytesRetention: diskBytesPerDay * ASSUMPTIONS.retentionDays,
  };
}

/**
 * Prometheus series one call label set costs in one collector's output, the duration histogram's
 * share included (its label sets have no model: they are shared by the models of a provider).
 */
export function prometheusSeriesPerCallLabelSet(modelsPerProvider: number): number {
  return seriesPerCallLabelSet() + (HISTOGRAM_SERIES_PER_LABEL_SET * ASSUMPTIONS.errorTypesPerTool) / modelsPerProvider;
}

/** Call label sets (services x tools x providers x models) a Prometheus memory budget affords with a number of collectors. */
export function affordableCallLabelSets(memoryBytes: number, collectors: number, modelsPerProvider: number): number {
  return Math.floor(
    memoryBytes / PUBLISHED.prometheusBytesPerActiveSeries.value / collectors / prometheusSeriesPerCallLabelSet(modelsPerProvider),
  );
}

/** Prometheus memory budgets and collector counts of the doc's budget table. */
export const BUDGET_MEMORY_GIB: readonly number[] = [4, 16, 64];
export const BUDGET_COLLECTORS: readonly number[] = [1, 4, 16, 64];
/** Models per provider the budget table assumes (for the histogram's share). */
export const BUDGET_MODELS_PER_PROVIDER = 2;

/** The three scales of the doc, each with a label spread that grows with it. */
export const WORKLOADS: readonly Workload[] = [
  { callsPerSecond: 1_000, services: 5, toolsPerService: 10, providers: 2, modelsPerProvider: 2 },
  { callsPerSecond: 100_000, services: 20, toolsPerService: 10, providers: 3, modelsPerProvider: 2 },
  { callsPerSecond: 10_000_000, services: 100, toolsPerService: 20, providers: 4, modelsPerProvider: 3 },
];

function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The markdown the doc holds between its markers: every table of the model. */
export function formatCapacityModel(): string {
  const byMetric = seriesPerCallLabelSetByMetric();
  const clientByMetric = seriesPerCallLabelSetByMetric('client');
  const admitted = admittedCallLabelSets(ASSUMPTIONS.cardinalityLimit);
  const out: string[] = [];

  out.push('Series per call label set (service, tool, provider, model), from the contract:', '');
  out.push(
    table(
      ['metric', 'series per label set'],
      [
        ...Object.entries(byMetric).map(([name, n]) => [`\`${name}\``, String(n)]),
        ['**server view, total**', `**${seriesPerCallLabelSet()}**`],
        ...Object.entries(clientByMetric).map(([name, n]) => [`\`${name}\` (client view, per client label set)`, String(n)]),
        [
          '`mcp_server_operation_duration_seconds` (per service, tool, provider, error type: no model)',
          `${HISTOGRAM_SERIES_PER_LABEL_SET} in Prometheus, 1 against the cap`,
        ],
      ],
    ),
  );
  out.push(
    '',
    `At the default cap of ${int(ASSUMPTIONS.cardinalityLimit)} series per metric, one collector admits ${int(admitted)} call label sets ` +
      `(${int(ASSUMPTIONS.cardinalityLimit)} / ${Math.max(...Object.values(byMetric))}, the widest fan-out); the rest share one overflow set.`,
    '',
  );

  out.push('Capacity per scale (no sampling, no cap, every label):', '');
  out.push(
    table(
      [
        'tool calls/s',
        'services x tools x providers x models',
        'call label sets',
        'mcplens collectors (protobuf / JSON)',
        'memory per collector',
        'OTel Collector cores',
        'Prometheus series',
        'Prometheus memory',
        'samples/s',
        'disk per day',
        `disk, ${ASSUMPTIONS.retentionDays} days`,
      ],
      WORKLOADS.map((w) => {
        const c = capacity(w);
        return [
          int(w.callsPerSecond),
          `${w.services} x ${w.toolsPerService} x ${w.providers} x ${w.modelsPerProvider}`,
          int(c.callLabelSets),
          `${int(c.collectors)} / ${int(c.collectorsJson)}`,
          bytes(c.collectorMemoryBytes),
          int(c.otelCollectorCores),
          int(c.prometheusSeries),
          bytes(c.prometheusMemoryBytes),
          int(c.samplesPerSecond),
          bytes(c.diskBytesPerDay),
          bytes(c.diskBytesRetention),
        ];
      }),
    ),
  );

  out.push(
    '',
    `Cardinality budget: call label sets (services x tools x providers x models) a Prometheus memory budget affords, ` +
      `${prometheusSeriesPerCallLabelSet(BUDGET_MODELS_PER_PROVIDER)} series each per collector ` +
      `(${seriesPerCallLabelSet()} per-call plus the duration histogram's share at ${BUDGET_MODELS_PER_PROVIDER} models per provider); ` +
      `past ${int(admitted)} per collector the default cap folds the rest into its overflow set unless \`cardinalityLimit\` is raised:`,
    '',
  );
  out.push(
    table(
      ['Prometheus memory', ...BUDGET_COLLECTORS.map((c) => `${c} collector${c === 1 ? '' : 's'}`)],
      BUDGET_MEMORY_GIB.map((gib) => [
        `${gib} GiB`,
        ...BUDGET_COLLECTORS.map((c) => int(affordableCallLabelSets(gib * 2 ** 30, c, BUDGET_MODELS_PER_PROVIDER))),
      ]),
    ),
  );

  const knobs: readonly [string, Knobs][] = [
    ['none', {}],
    ['sampling 10% (adjusted counts)', { sampling: 0.1 }],
    ['sampling 1% (adjusted counts)', { sampling: 0.01 }],
    ['drop the model label', { dropModel: true }],
    [`cap ${int(ASSUMPTIONS.cardinalityLimit)} (default)`, { cap: ASSUMPTIONS.cardinalityLimit }],
    ['sampling 1% + drop model', { sampling: 0.01, dropModel: true }],
  ];
  for (const w of WORKLOADS.slice(1)) {
    out.push('', `Knobs at ${int(w.callsPerSecond)} tool calls/s:`, '');
    const base = capacity(w);
    out.push(
      table(
        [
          'knob',
          'mcplens collectors',
          'OTel Collector cores',
          'label sets per collector',
          'Prometheus series',
          'Prometheus memory',
          'disk per day',
        ],
        knobs.map(([name, k]) => {
          const c = capacity(w, k);
          const pct = (v: number, b: number): string =>
            v === b ? '' : ` (${v < b ? '-' : '+'}${Math.round((Math.abs(b - v) / b) * 100)}%)`;
          return [
            name,
            int(c.collectors) + pct(c.collectors, base.collectors),
            int(c.otelCollectorCores) + pct(c.otelCollectorCores, base.otelCollectorCores),
            int(c.labelSetsPerCollector),
            int(c.prometheusSeries) + pct(c.prometheusSeries, base.prometheusSeries),
            bytes(c.prometheusMemoryBytes),
            bytes(c.diskBytesPerDay),
          ];
        }),
      ),
    );
  }
  return out.join('\n');
}

/**
 * Spans that fill every per-call series of `labelSets` call label sets (tool `tool_<i>`): one call
 * per outcome, per violation kind (and one unknown kind), per not-counted reason (and one unknown
 * reason), token counts on the rest, and a well-formed call after malformed ones in the same session.
 */
export function labelSetSpans(labelSets: number): SpanView[] {
  const spans: SpanView[] = [];
  let n = 0;
  const hex = (v: number, width: number): string => (v + 1).toString(16).padStart(width, '0');
  const reasons = [...Object.values(TOKENS_NOT_COUNTED_REASONS), 'not_a_reason'];
  const kinds = [...VIOLATION_KINDS.slice(1), 'not_a_kind'];
  const variants = Math.max(OUTCOMES.length, reasons.length, kinds.length) + 1;
  for (let set = 0; set < labelSets; set++) {
    for (let i = 0; i < variants; i++) {
      n++;
      const start = 1_767_000_000_000_000_000 + n * 1_000_000;
      const attributes: Record<string, string | number> = {
        [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL,
        [ATTR.GEN_AI_TOOL_NAME]: `tool_${set}`,
        [ATTR.GEN_AI_PROVIDER_NAME]: 'anthropic',
        [ATTR.GEN_AI_REQUEST_MODEL]: 'claude-sonnet-4-5',
        [ATTR.OUTCOME]: OUTCOMES[i % OUTCOMES.length]!,
        [ATTR.SESSION_KEY]: `s-${set}`,
      };
      if (i < reasons.length) attributes[ATTR.TOKENS_NOT_COUNTED] = reasons[i]!;
      else Object.assign(attributes, { [ATTR.TOKENS_ARGUMENTS]: 12, [ATTR.TOKENS_RESULT]: 140 });
      if (i < kinds.length) attributes[ATTR.VIOLATION_KIND] = kinds[i]!;
      spans.push({
        traceId: hex(n, 32),
        spanId: hex(n, 16),
        parentSpanId: '',
        name: 'tools/call',
        kind: OTLP_SPAN_KIND.SERVER,
        startTimeUnixNano: start,
        endTimeUnixNano: start + 5_000_000,
        durationNano: 5_000_000,
        statusCode: OTLP_STATUS_CODE.UNSET,
        attributes,
        events: [],
        resource: { [ATTR.SERVICE_NAME]: 'capacity' },
      });
    }
  }
  return spans;
}

/** Heap per series of a real Tally filled with `labelSets` call label sets (see {@link labelSetSpans}). */
export async function measureBytesPerSeries(
  labelSets = 800,
): Promise<{ labelSets: number; series: number; heapBytes: number; bytesPerSeries: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const { registry, tally } = createBenchTally();
  const spans = labelSetSpans(labelSets);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < spans.length; i += 512) tally.record(spans.slice(i, i + 512), 'protobuf');
  gc();
  const heapBytes = process.memoryUsage().heapUsed - before;
  const perCall = new Set(Object.keys(seriesPerCallLabelSetByMetric()));
  perCall.add(METRICS.SERVER_OPERATION_DURATION.name);
  let series = 0;
  // A histogram label set counts once (its _count sample), as the cap counts it.
  for (const m of await registry.getMetricsAsJSON()) {
    if (!perCall.has(m.name)) continue;
    const values = m.values as readonly { metricName?: string }[];
    series +=
      m.name === METRICS.SERVER_OPERATION_DURATION.name ? values.filter((v) => v.metricName?.endsWith('_count')).length : values.length;
  }
  return { labelSets, series, heapBytes, bytesPerSeries: Math.round(heapBytes / series) };
}

/** Prints the tables (or, with `--measure`, the heap per series). */
export async function mainCapacityModel(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(
      'usage: node dist/bench/capacity-model.js [--measure]\n  --measure  heap per series of a real Tally (needs node --expose-gc)\n',
    );
    return;
  }
  if (argv.includes('--measure')) {
    process.stdout.write(`${JSON.stringify(await measureBytesPerSeries(), null, 2)}\n`);
    return;
  }
  process.stdout.write(`${formatCapacityModel()}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  mainCapacityModel(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`capacity model failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
