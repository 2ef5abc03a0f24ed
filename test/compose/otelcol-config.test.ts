/**
 * The OpenTelemetry Collector configurations shipped in compose/otelcol, checked for structure
 * only: no collector binary can run here, so nothing proves the collector itself accepts them.
 * Checked: the YAML parses, every component is one the pinned contrib release documents, each
 * has the keys its documentation requires, pipelines reference only defined components, and the
 * names that matter (session key, buckets, metric and label names) come from the contract.
 */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { OUTPUT_PATHS } from '../../dashboards/index.js';
import { OTELCOL_VERSION } from '../../dashboards/otelcol.js';
import { ATTR, ATTRIBUTE_TO_LABEL, CALL_LABELS, DURATION_BUCKETS_SECONDS, LABEL, MCP_METHOD, METRICS } from '../../contract/index.js';

const COMPOSE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../compose');

/**
 * Components these files may use, by kind, as documented for the contrib distribution at
 * OTELCOL_VERSION (component READMEs of opentelemetry-collector-contrib and -collector). The
 * distribution holds many more; this is the subset a config here may name.
 */
const PINNED = {
  version: '0.162.0',
  receivers: ['otlp'],
  processors: ['batch', 'filter', 'transform', 'memory_limiter'],
  exporters: ['otlp', 'otlphttp', 'loadbalancing', 'prometheus', 'debug'],
  connectors: ['spanmetrics', 'routing'],
} as const;
type Kind = 'receivers' | 'processors' | 'exporters' | 'connectors';
const KINDS: readonly Kind[] = ['receivers', 'processors', 'exporters', 'connectors'];
const SIGNALS = ['traces', 'metrics', 'logs'] as const;

type Obj = Record<string, unknown>;
interface Config extends Partial<Record<Kind, Obj>> {
  service?: { pipelines?: Record<string, { receivers?: string[]; processors?: string[]; exporters?: string[] }> };
}

function obj(x: unknown): Obj {
  return x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Obj) : {};
}
function strings(x: unknown): string[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'string') ? x : [];
}
const typeOf = (id: string): string => id.split('/')[0] ?? '';

/** Required keys per component type, as their documentation states them; returns the problems. */
function componentProblems(kind: Kind, id: string, raw: unknown): string[] {
  const c = obj(raw);
  const p: string[] = [];
  const need = (ok: boolean, what: string): void => {
    if (!ok) p.push(`${kind}.${id}: ${what}`);
  };
  switch (`${kind}:${typeOf(id)}`) {
    case 'receivers:otlp': {
      const protocols = obj(c['protocols']);
      need('grpc' in protocols || 'http' in protocols, 'protocols needs grpc or http');
      break;
    }
    case 'exporters:loadbalancing': {
      const otlp = obj(obj(c['protocol'])['otlp']);
      need('protocol' in c && 'otlp' in obj(c['protocol']), 'protocol.otlp is required');
      need(!('endpoint' in otlp), 'protocol.otlp.endpoint must not be set (the resolver fills it)');
      const resolver = obj(c['resolver']);
      const resolvers = ['static', 'dns', 'k8s', 'aws_cloud_map'].filter((r) => r in resolver);
      need(resolvers.length === 1, `exactly one resolver, got ${JSON.stringify(resolvers)}`);
      if ('static' in resolver) need(strings(obj(resolver['static'])['hostnames']).length > 0, 'resolver.static.hostnames is empty');
      if ('dns' in resolver) need(typeof obj(resolver['dns'])['hostname'] === 'string', 'resolver.dns.hostname is required');
      const key = c['routing_key'] ?? 'traceID';
      need(['traceID', 'service', 'attributes', 'resource', 'metric', 'streamID'].includes(String(key)), `routing_key ${String(key)}`);
      if (key === 'attributes') need(strings(c['routing_attributes']).length > 0, 'routing_attributes required with routing_key attributes');
      break;
    }
    case 'exporters:otlphttp':
      need(typeof c['endpoint'] === 'string' || typeof c['traces_endpoint'] === 'string', 'endpoint is required');
      break;
    case 'exporters:otlp':
    case 'exporters:prometheus':
      need(typeof c['endpoint'] === 'string', 'endpoint is required');
      break;
    case 'processors:filter': {
      const span = obj(c['traces'])['span'];
      need(strings(span).length > 0, 'traces.span needs at least one OTTL condition');
      break;
    }
    case 'processors:transform': {
      const groups = [c['trace_statements'], c['metric_statements'], c['log_statements']].filter(Array.isArray) as unknown[][];
      need(groups.length > 0, 'no *_statements');
      for (const g of groups.flat()) {
        need(['resource', 'scope', 'span', 'spanevent', 'metric', 'datapoint', 'log'].includes(String(obj(g)['context'])), 'bad context');
        need(strings(obj(g)['statements']).length > 0, 'empty statements');
      }
      break;
    }
    case 'connectors:spanmetrics': {
      const histogram = obj(c['histogram']);
      need(!('explicit' in histogram && 'exponential' in histogram), 'histogram takes explicit or exponential, not both');
      need(['ms', 's'].includes(String(histogram['unit'] ?? 'ms')), 'histogram.unit is ms or s');
      for (const d of Array.isArray(c['dimensions']) ? c['dimensions'] : []) need(typeof obj(d)['name'] === 'string', 'dimension without name');
      const limit = c['aggregation_cardinality_limit'];
      need(limit === undefined || (Number.isInteger(limit) && (limit as number) >= 0), 'aggregation_cardinality_limit is a count');
      break;
    }
    default:
      break;
  }
  return p;
}

/** Every structural problem of a config: unknown components, missing keys, bad pipeline references. */
function configProblems(config: Config): string[] {
  const problems: string[] = [];
  const defined = new Map<string, Kind>();
  for (const kind of KINDS) {
    for (const [id, body] of Object.entries(config[kind] ?? {})) {
      if (!(PINNED[kind] as readonly string[]).includes(typeOf(id))) problems.push(`${kind}.${id}: not a ${kind.slice(0, -1)} of ${PINNED.version}`);
      defined.set(`${kind}:${id}`, kind);
      problems.push(...componentProblems(kind, id, body));
    }
  }
  const pipelines = config.service?.pipelines ?? {};
  if (Object.keys(pipelines).length === 0) problems.push('service.pipelines is empty');
  const used = new Set<string>();
  for (const [name, pl] of Object.entries(pipelines)) {
    if (!(SIGNALS as readonly string[]).includes(typeOf(name))) problems.push(`pipeline ${name}: unknown signal`);
    if ((pl.receivers ?? []).length === 0 || (pl.exporters ?? []).length === 0) problems.push(`pipeline ${name}: needs receivers and exporters`);
    for (const [role, kinds] of [
      ['receivers', ['receivers', 'connectors']],
      ['processors', ['processors']],
      ['exporters', ['exporters', 'connectors']],
    ] as const) {
      for (const id of pl[role] ?? []) {
        const kind = kinds.find((k) => defined.has(`${k}:${id}`));
        if (kind === undefined) problems.push(`pipeline ${name}: ${role} ${id} is not defined`);
        else used.add(`${kind}:${id}:${role}`);
      }
    }
  }
  for (const id of Object.keys(config.connectors ?? {})) {
    if (!used.has(`connectors:${id}:exporters`) || !used.has(`connectors:${id}:receivers`))
      problems.push(`connector ${id} must be an exporter in one pipeline and a receiver in another`);
  }
  for (const key of defined.keys()) {
    const [kind, id] = key.split(':') as [Kind, string];
    if (kind !== 'connectors' && ![...used].some((u) => u.startsWith(`${kind}:${id}:`))) problems.push(`${kind}.${id}: defined, never used`);
  }
  return problems;
}

function load(rel: string): Config {
  return parse(readFileSync(join(COMPOSE_DIR, rel), 'utf8')) as Config;
}

/** A Go duration (`10ms`, `2s`, `1m`) in seconds. */
function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`not a Go duration: ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
}

const lb = load(OUTPUT_PATHS.OTELCOL_LOADBALANCING);
const sm = load(OUTPUT_PATHS.OTELCOL_SPANMETRICS);

describe(`OpenTelemetry Collector configs for contrib ${PINNED.version}`, () => {
  it('name the release the generator pins', () => {
    expect(OTELCOL_VERSION).toBe(PINNED.version);
    for (const rel of [OUTPUT_PATHS.OTELCOL_LOADBALANCING, OUTPUT_PATHS.OTELCOL_SPANMETRICS])
      expect(readFileSync(join(COMPOSE_DIR, rel), 'utf8')).toContain(`contrib distribution ${PINNED.version}. Untested`);
  });

  it.each([
    ['loadbalancing', lb],
    ['spanmetrics', sm],
  ])('%s: known components, required keys present, pipelines reference only defined components', (_name, config) => {
    expect(configProblems(config)).toEqual([]);
  });

  it('the checker catches a typo, a missing key and a dangling reference, so the passes above mean something', () => {
    const broken = structuredClone(lb) as Config & { exporters: Obj };
    broken.exporters['loadbalancer'] = {};
    delete obj(broken.exporters['loadbalancing/session'])['routing_attributes'];
    const first = Object.values(broken.service?.pipelines ?? {})[0];
    first?.processors?.push('transform/missing');
    const problems = configProblems(broken).join('\n');
    expect(problems).toMatch(/exporters\.loadbalancer: not a exporter/);
    expect(problems).toMatch(/routing_attributes required/);
    expect(problems).toMatch(/processors transform\/missing is not defined/);
  });
});

describe('loadbalancing.yaml', () => {
  const exporters = obj(lb.exporters);
  const pipelines = lb.service?.pipelines ?? {};

  it("routes by the contract's session key, and only spans that carry it reach that exporter", () => {
    const session = obj(exporters['loadbalancing/session']);
    expect(session['routing_key']).toBe('attributes');
    expect(session['routing_attributes']).toEqual([ATTR.SESSION_KEY]);
    const pl = Object.values(pipelines).find((p) => p.exporters?.includes('loadbalancing/session'));
    const filters = (pl?.processors ?? []).map((id) => strings(obj(obj(obj(lb.processors)[id])['traces'])['span'])).flat();
    expect(filters).toEqual([`attributes["${ATTR.SESSION_KEY}"] == nil`]);
  });

  it('sends every span somewhere exactly once per destination: keyed by session, the rest by trace id, all to Tempo', () => {
    const fromOtlp = Object.values(pipelines).filter((p) => p.receivers?.includes('otlp'));
    expect(fromOtlp.flatMap((p) => p.exporters).sort()).toEqual(['loadbalancing/session', 'loadbalancing/trace', 'otlphttp/tempo']);
    const other = fromOtlp.find((p) => p.exporters?.includes('loadbalancing/trace'));
    const filters = (other?.processors ?? []).map((id) => strings(obj(obj(obj(lb.processors)[id])['traces'])['span'])).flat();
    expect(filters).toEqual([`attributes["${ATTR.SESSION_KEY}"] != nil`]);
  });

  it('relays each backend to one mcplens collector over OTLP/HTTP (the load balancer speaks gRPC only)', () => {
    const hostnames = strings(obj(obj(obj(exporters['loadbalancing/session'])['resolver'])['static'])['hostnames']);
    expect(hostnames.length).toBe(2);
    for (const host of hostnames) {
      const port = host.split(':')[1];
      const receiver = Object.entries(obj(lb.receivers)).find(([, r]) => String(obj(obj(obj(r)['protocols'])['grpc'])['endpoint']).endsWith(`:${port}`));
      expect(receiver).toBeDefined();
      const pl = Object.values(pipelines).find((p) => p.receivers?.includes(receiver?.[0] ?? ''));
      expect(pl?.exporters?.map(typeOf)).toEqual(['otlphttp']);
    }
  });
});

describe('spanmetrics.yaml', () => {
  it("counts malformed calls with a second connector: the contract's violation labels, no histogram", () => {
    const violations = obj(obj(sm.connectors)['spanmetrics/violations']);
    expect(obj(violations['histogram'])['disable']).toBe(true);
    const labels = [ATTR.SERVICE_NAME, ...(violations['dimensions'] as unknown[]).map((d) => String(obj(d)['name']))].map((a) => ATTRIBUTE_TO_LABEL[a]);
    expect(labels.sort()).toEqual([...METRICS.TOOL_SCHEMA_VIOLATIONS.labels].sort());
    const pl = Object.values(sm.service?.pipelines ?? {}).find((p) => p.exporters?.includes('spanmetrics/violations'));
    const conditions = (pl?.processors ?? []).flatMap((id) => strings(obj(obj(obj(sm.processors)[id])['traces'])['span']));
    expect(conditions).toContain(`attributes["${ATTR.VIOLATION_KIND}"] == nil`);
    expect(conditions).toContain(`kind != SPAN_KIND_SERVER or attributes["${ATTR.MCP_METHOD_NAME}"] != "${MCP_METHOD.TOOLS_CALL}"`);
  });

  const connector = obj(obj(sm.connectors)['spanmetrics']);

  it('counts SERVER tools/call spans only, through a filter before the connector', () => {
    const pl = Object.values(sm.service?.pipelines ?? {}).find((p) => p.exporters?.includes('spanmetrics'));
    const conditions = (pl?.processors ?? []).flatMap((id) => strings(obj(obj(obj(sm.processors)[id])['traces'])['span']));
    expect(conditions).toEqual([`kind != SPAN_KIND_SERVER or attributes["${ATTR.MCP_METHOD_NAME}"] != "${MCP_METHOD.TOOLS_CALL}"`]);
  });

  it('has seconds, the contract buckets, exemplars and a cardinality limit', () => {
    const histogram = obj(connector['histogram']);
    expect(histogram['unit']).toBe('s');
    expect(strings(obj(histogram['explicit'])['buckets']).map(seconds)).toEqual([...DURATION_BUCKETS_SECONDS]);
    expect(obj(connector['exemplars'])['enabled']).toBe(true);
    expect(connector['aggregation_cardinality_limit']).toEqual(expect.any(Number));
    expect(connector['aggregation_cardinality_limit']).toBeGreaterThan(0);
  });

  it("produces the contract's label names: dimensions cover the call labels and outcome, the transform renames them", () => {
    const dims = (connector['dimensions'] as unknown[]).map((d) => String(obj(d)['name']));
    // service.name is a dimension the connector always adds.
    const labels = [ATTR.SERVICE_NAME, ...dims].map((a) => ATTRIBUTE_TO_LABEL[a]);
    expect(labels).toEqual(expect.arrayContaining([...CALL_LABELS, LABEL.OUTCOME]));
    expect(labels).toEqual(expect.arrayContaining([...METRICS.SERVER_OPERATION_DURATION.labels]));
    const statements = (obj(obj(sm.processors)['transform/contract-names'])['metric_statements'] as unknown[]).flatMap((g) => strings(obj(g)['statements']));
    for (const attribute of [ATTR.SERVICE_NAME, ...dims]) {
      expect(statements).toContain(`set(attributes["${ATTRIBUTE_TO_LABEL[attribute]}"], attributes["${attribute}"]) where attributes["${attribute}"] != nil`);
      expect(statements).toContain(`delete_key(attributes, "${attribute}")`);
    }
  });

  it("renames the connector's metrics so the Prometheus exporter's suffixes give the contract's names", () => {
    const statements = (obj(obj(sm.processors)['transform/contract-names'])['metric_statements'] as unknown[]).flatMap((g) => strings(obj(g)['statements']));
    const renamed = new Map(statements.flatMap((s) => [...s.matchAll(/^set\(name, "([^"]+)"\) where name == "([^"]+)"$/g)].map((m) => [m[2], m[1]])));
    // A monotonic sum gets `_total`, unit `s` gets `_seconds`.
    expect(`${renamed.get('traces.span.metrics.calls')}_total`).toBe(METRICS.TOOL_CALLS.name);
    expect(`${renamed.get('traces.span.metrics.duration')}_seconds`).toBe(METRICS.SERVER_OPERATION_DURATION.name);
    const namespace = String(obj(obj(sm.connectors)['spanmetrics/violations'])['namespace']);
    expect(`${renamed.get(`${namespace}.calls`)}_total`).toBe(METRICS.TOOL_SCHEMA_VIOLATIONS.name);
    const metrics = Object.values(sm.service?.pipelines ?? {}).find((p) => p.receivers?.includes('spanmetrics'));
    expect(metrics?.processors).toContain('transform/contract-names');
    expect(metrics?.exporters).toEqual(['prometheus']);
  });
});
