/**
 * Structural lint of the generated dashboards and provisioning, and the shape rules the
 * issue sets (headline thresholds, every outcome, exemplars, variables, Grafana's
 * provisioning shape for alert rules).
 */
import { describe, expect, it } from '@jest/globals';
import { BREAKER_STATES, GUARD_OUTCOMES, LABEL, METRICS, OUTCOMES, UNKNOWN_LABEL_VALUE } from '../../contract/index.js';
import {
  VAR,
  alertDefinitions,
  dashboardModels,
  grafanaAlertFile,
  recordingDefinitions,
  resolveOptions,
  createDefaultOptions,
} from '../../dashboards/index.js';
import { NO_DATA_WITHOUT_COLLECTOR } from '../../dashboards/defaults.js';
import { lintDashboard, metricNamesIn } from '../../dashboards/lint.js';
import { datasourcesFile } from '../../dashboards/provisioning.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const o = resolveOptions();
const models = dashboardModels(o);
const byUid = (uid: string): Json => {
  const m = models.find((x) => x.model.uid === uid);
  if (!m) throw new Error(`no dashboard ${uid}`);
  return m.model as Json;
};
const panels = (uid: string): Json[] => byUid(uid).panels as Json[];
const panel = (uid: string, title: string): Json => {
  const p = panels(uid).find((x) => x.title === title);
  if (!p) throw new Error(`no panel ${title} in ${uid}`);
  return p;
};

describe('generated dashboards pass the structural lint', () => {
  it.each(models.map((m) => [m.path, m.model] as const))('%s', (_path, model) => {
    expect(lintDashboard(model)).toEqual([]);
  });

  it('generates three dashboards with distinct uids', () => {
    expect(new Set(models.map((m) => m.model.uid)).size).toBe(3);
  });

  it('every query reads only metrics of the contract (histograms by _bucket)', () => {
    const names = new Set<string>();
    for (const { model } of models)
      for (const p of (model as Json).panels) for (const t of p.targets) for (const n of metricNamesIn(t.expr)) names.add(n);
    expect([...names].sort()).toEqual(
      [
        METRICS.TOOL_CALLS.name,
        METRICS.TOOL_SCHEMA_VIOLATIONS.name,
        `${METRICS.SERVER_OPERATION_DURATION.name}_bucket`,
        METRICS.TOOL_TOKENS.name,
        METRICS.TOOL_CATALOG_TOKENS.name,
        METRICS.TOOL_SELF_CORRECTIONS.name,
        METRICS.CLIENT_TOOL_CALLS.name,
        METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name,
        METRICS.TOOL_CIRCUIT_BREAKER_STATE.name,
        METRICS.TOOL_UNAUTHORIZED_CALLS.name,
      ].sort(),
    );
  });

  it('every query aggregates across collector instances, and gauges with max, never sum (a sum would count each replica)', () => {
    const gauges = Object.values(METRICS)
      .filter((m) => m.type === 'gauge')
      .map((m) => m.name);
    let gaugeQueries = 0;
    for (const { model } of models) {
      for (const p of (model as Json).panels) {
        for (const t of p.targets) {
          const expr = t.expr as string;
          // Aggregated at the outside: the instance label never splits a series in a panel.
          expect({ expr, aggregated: /^(\(|sum|max|count|histogram_quantile|topk\(\d+, (sum|max))/.test(expr) }).toEqual({
            expr,
            aggregated: true,
          });
          for (const g of gauges) {
            if (!metricNamesIn(expr).includes(g)) continue;
            gaugeQueries++;
            expect({ expr, summed: new RegExp(`sum(\\s+by\\s*\\([^)]*\\))?\\s*\\(\\s*${g}\\b`).test(expr) }).toEqual({
              expr,
              summed: false,
            });
            expect(expr).toMatch(new RegExp(`max(\\s+by\\s*\\([^)]*\\))?\\s*\\(\\s*${g}\\b`));
          }
        }
      }
    }
    expect(gaugeQueries).toBeGreaterThanOrEqual(3);
  });

  it('panels only the mcplens collector can fill say so instead of a bare "No data"; the others keep the default', () => {
    // What spanmetrics-only collection (compose/otelcol/spanmetrics.yaml) produces.
    const spanmetrics = new Set([
      METRICS.TOOL_CALLS.name,
      METRICS.TOOL_SCHEMA_VIOLATIONS.name,
      `${METRICS.SERVER_OPERATION_DURATION.name}_bucket`,
    ]);
    const marked: string[] = [];
    for (const { model } of models) {
      for (const p of (model as Json).panels) {
        const targets = p.targets as Json[];
        const collectorOnly = targets.every(
          (t) => metricNamesIn(t.expr).some((n) => !spanmetrics.has(n)) && !/or vector\(0\)$/.test(t.expr),
        );
        const noValue = p.fieldConfig?.defaults?.noValue;
        expect({ title: p.title, noValue }).toEqual({ title: p.title, noValue: collectorOnly ? NO_DATA_WITHOUT_COLLECTOR : undefined });
        if (collectorOnly) marked.push(p.title);
      }
    }
    expect(marked.length).toBeGreaterThanOrEqual(8);
  });

  it('range-vector queries use $__rate_interval (time series) or $__range (instant tables), never a fixed window', () => {
    for (const { model } of models) {
      for (const p of (model as Json).panels) {
        for (const t of p.targets) {
          for (const m of (t.expr as string).matchAll(/\[([^\]]+)\]/g)) expect(['$__rate_interval', '$__range']).toContain(m[1]);
        }
      }
    }
  });
});

describe('the lint catches what it claims to', () => {
  it('reports duplicate ids, missing refId, unit, description, datasource and unknown metrics', () => {
    const bad = JSON.parse(JSON.stringify(byUid('mcplens-overview'))) as Json;
    bad.panels[1].id = bad.panels[0].id;
    delete bad.panels[2].targets[0].refId;
    delete bad.panels[3].fieldConfig.defaults.unit;
    delete bad.panels[4].description;
    bad.panels[5].datasource = { type: 'prometheus', uid: 'prometheus' };
    bad.panels[6].targets[0].expr = 'sum(rate(mcp_tool_callz_total[$__rate_interval]))';
    bad.panels[7].targets[0].expr = 'sum(rate(mcp_tool_calls_total{server_name=~"$nope"}[$__rate_interval]))';
    const problems = lintDashboard(bad).join('\n');
    expect(problems).toMatch(/variable \$nope is not defined/);
    expect(problems).toMatch(/duplicate id/);
    expect(problems).toMatch(/target without refId/);
    expect(problems).toMatch(/no unit/);
    expect(problems).toMatch(/no description/);
    expect(problems).toMatch(/datasource is not the \$\{datasource\} variable/);
    expect(problems).toMatch(/metric mcp_tool_callz_total is not in the contract's catalog/);
  });

  it('finds metric names but not functions, labels, keywords or durations', () => {
    expect(
      metricNamesIn('histogram_quantile(0.95, sum by (le, gen_ai_tool_name) (rate(a_bucket{x="y"}[5m]))) > 2 or b * 0 and on(c) d'),
    ).toEqual(['a_bucket', 'b', 'd']);
  });
});

describe('MCP overview', () => {
  it('has the datasource, service, provider, model and tool variables, the server of the client view, plus price and requests per day', () => {
    const list = byUid('mcplens-overview').templating.list as Json[];
    expect(list.map((v) => v.name)).toEqual([
      VAR.DATASOURCE,
      VAR.SERVICE,
      VAR.PROVIDER,
      VAR.MODEL,
      VAR.TOOL,
      VAR.SERVER,
      VAR.PRICE_PER_MILLION,
      VAR.REQUESTS_PER_DAY,
    ]);
    const server = list.find((v) => v.name === VAR.SERVER) as Json;
    expect(server.query).toBe(`label_values(${METRICS.CLIENT_TOOL_CALLS.name}, ${LABEL.SERVER_NAME})`);
    expect([server.multi, server.includeAll, server.allValue]).toEqual([true, true, '.*']);
  });

  describe('client view', () => {
    const clientPanels = (): Json[] => panels('mcplens-overview').filter((p) => (p.title as string).startsWith('Client view: '));
    const exprs = (p: Json): string[] => (p.targets as Json[]).map((t) => t.expr as string);

    it('has three panels in one row below the server view, reading only the client metrics', () => {
      const ps = clientPanels();
      expect(ps.map((p) => p.title)).toEqual([
        'Client view: malformed-call ratio by provider and model',
        'Client view: malformed-call ratio by server',
        'Client view: outcomes',
      ]);
      const serverBottom = Math.max(
        ...panels('mcplens-overview')
          .filter((p) => !ps.includes(p))
          .map((p) => p.gridPos.y + p.gridPos.h),
      );
      for (const p of ps) {
        expect(p.gridPos.y).toBe(serverBottom);
        const names = new Set(exprs(p).flatMap((e) => metricNamesIn(e)));
        expect(names.has(METRICS.CLIENT_TOOL_CALLS.name)).toBe(true);
        for (const n of names) expect([METRICS.CLIENT_TOOL_CALLS.name, METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name]).toContain(n);
      }
    });

    it('says on both views that they count the same calls and must not be added', () => {
      for (const p of clientPanels()) expect(p.description).toMatch(/same calls.*never add them/);
      for (const title of ['Malformed-call ratio by provider', 'Malformed-call ratio over time', 'Outcomes'])
        expect(panel('mcplens-overview', title).description).toMatch(/same calls.*never add the two/);
    });

    it('malformed ratios: client violations over client calls, by provider and model and by server, thresholds at 1% and 5%', () => {
      const byModel = panel('mcplens-overview', 'Client view: malformed-call ratio by provider and model');
      const byServer = panel('mcplens-overview', 'Client view: malformed-call ratio by server');
      const by = (labels: string): string =>
        `sum by (${labels}) (rate(${METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name}{${LABEL.SERVER_NAME}=~"$${VAR.SERVER}"`;
      expect(exprs(byModel)[0]).toContain(by(`${LABEL.GEN_AI_PROVIDER_NAME}, ${LABEL.GEN_AI_REQUEST_MODEL}`));
      expect(exprs(byModel)[0]).toContain(
        `/ sum by (${LABEL.GEN_AI_PROVIDER_NAME}, ${LABEL.GEN_AI_REQUEST_MODEL}) (rate(${METRICS.CLIENT_TOOL_CALLS.name}`,
      );
      expect(exprs(byServer)[0]).toContain(by(LABEL.SERVER_NAME));
      expect(byServer.targets[0].legendFormat).toBe(`{{${LABEL.SERVER_NAME}}}`);
      for (const p of [byModel, byServer]) {
        expect(p.fieldConfig.defaults.unit).toBe('percentunit');
        expect(p.fieldConfig.defaults.thresholds.steps.map((s: Json) => s.value)).toEqual([null, 0.01, 0.05]);
        // The agent's service is not the servers' service the $service variable lists.
        for (const e of exprs(p)) expect(e).not.toContain(`$${VAR.SERVICE}`);
      }
    });

    it('outcomes: one query per outcome of the contract on the client calls, each reading 0 when absent', () => {
      const p = panel('mcplens-overview', 'Client view: outcomes');
      expect(p.targets.map((t: Json) => t.legendFormat)).toEqual([...OUTCOMES]);
      for (const e of exprs(p)) {
        expect(e).toContain(METRICS.CLIENT_TOOL_CALLS.name);
        expect(e).toMatch(/or vector\(0\)$/);
      }
    });
  });

  it('headline malformed-ratio panel: percent, thresholds at 1% and 5%, violations over calls by provider', () => {
    const p = panel('mcplens-overview', 'Malformed-call ratio by provider');
    expect(p.fieldConfig.defaults.unit).toBe('percentunit');
    expect(p.fieldConfig.defaults.thresholds.steps.map((s: Json) => s.value)).toEqual([null, 0.01, 0.05]);
    const expr = p.targets[0].expr as string;
    expect(expr).toContain(`sum by (${LABEL.GEN_AI_PROVIDER_NAME}) (rate(${METRICS.TOOL_SCHEMA_VIOLATIONS.name}`);
    expect(expr).toContain(`/ sum by (${LABEL.GEN_AI_PROVIDER_NAME}) (rate(${METRICS.TOOL_CALLS.name}`);
    expect(p.targets[0].legendFormat).toBe(`{{${LABEL.GEN_AI_PROVIDER_NAME}}}`);
  });

  it('outcome breakdown has one query per outcome of the contract, each reading 0 when absent', () => {
    const p = panel('mcplens-overview', 'Outcomes');
    expect(p.targets.map((t: Json) => t.legendFormat)).toEqual([...OUTCOMES]);
    expect(p.targets.map((t: Json) => t.refId)).toEqual(OUTCOMES.map((_, i) => String.fromCharCode(65 + i)));
    for (const t of p.targets) expect(t.expr).toMatch(/or vector\(0\)$/);
  });

  it('latency panel asks for exemplars on p50, p95 and p99', () => {
    const p = panel('mcplens-overview', 'Tool-call latency');
    expect(p.targets.map((t: Json) => [t.legendFormat, t.exemplar])).toEqual([
      ['p50', true],
      ['p95', true],
      ['p99', true],
    ]);
    expect(p.fieldConfig.defaults.unit).toBe('s');
  });

  it('monthly cost multiplies catalog tokens by the two variables', () => {
    const p = panel('mcplens-overview', 'Estimated monthly catalog cost');
    expect(p.targets[0].expr).toContain(METRICS.TOOL_CATALOG_TOKENS.name);
    expect(p.targets[0].expr).toContain(`$${VAR.REQUESTS_PER_DAY}`);
    expect(p.targets[0].expr).toContain(`$${VAR.PRICE_PER_MILLION}`);
    expect(p.fieldConfig.defaults.unit).toBe('currencyUSD');
  });

  it('panels do not overlap on the grid', () => {
    const overlaps: string[] = [];
    for (const { model } of models) {
      const cells = new Map<string, number>();
      for (const p of (model as Json).panels) {
        const g = p.gridPos;
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let y = g.y; y < g.y + g.h; y++) {
            const other = cells.get(`${x},${y}`);
            if (other !== undefined) overlaps.push(`${String(model.uid)}: panels ${other} and ${p.id} at ${x},${y}`);
            cells.set(`${x},${y}`, p.id);
          }
        }
      }
    }
    expect(overlaps).toEqual([]);
  });

  it('carries the built-in annotation list Grafana expects', () => {
    for (const { model } of models) expect((model as Json).annotations.list[0].builtIn).toBe(1);
  });
});

describe('tools and provider dashboards', () => {
  it('tools table has calls, error %, malformed %, p95 and tokens as instant table queries', () => {
    const p = panel('mcplens-tools', 'Tools');
    expect(p.type).toBe('table');
    expect(p.targets.map((t: Json) => [t.refId, t.legendFormat, t.instant, t.format])).toEqual([
      ['A', 'Calls', true, 'table'],
      ['B', 'Error %', true, 'table'],
      ['C', 'Malformed %', true, 'table'],
      ['D', 'p95', true, 'table'],
      ['E', 'Tokens', true, 'table'],
    ]);
  });

  it('unknown-tool panel counts the unknown_tool violation kind, not a tool label', () => {
    const p = panel('mcplens-tools', 'Calls to unknown tools');
    expect(p.targets[0].expr).toContain(`${LABEL.VIOLATION_KIND}="unknown_tool"`);
    expect(p.targets[0].expr).not.toContain(LABEL.GEN_AI_TOOL_NAME);
  });

  it('provider drill-down: provider is a single choice, each comparison has the selection and the rest', () => {
    const vars = byUid('mcplens-provider').templating.list as Json[];
    expect(vars.find((v) => v.name === VAR.PROVIDER)?.multi).toBeFalsy();
    expect(vars.find((v) => v.name === VAR.MODEL)?.multi).toBe(true);
    for (const title of [
      'Malformed-call ratio: this provider vs the rest',
      'p95 latency: this provider vs the rest',
      'Error ratio: this provider vs the rest',
    ]) {
      expect(panel('mcplens-provider', title).targets.map((t: Json) => t.refId)).toEqual(['A', 'B']);
    }
  });
});

describe('provisioning', () => {
  it('Prometheus datasource links exemplar trace ids to the Tempo datasource', () => {
    const ds = datasourcesFile(o) as Json;
    const prom = ds.datasources.find((d: Json) => d.type === 'prometheus');
    const tempo = ds.datasources.find((d: Json) => d.type === 'tempo');
    expect(prom.uid).toBe(o.prometheusDatasourceUid);
    expect(prom.jsonData.exemplarTraceIdDestinations).toEqual([{ name: 'trace_id', datasourceUid: tempo.uid }]);
  });

  it('Grafana alert rules are in the file-provisioning shape, not the HTTP API shape', () => {
    const file = grafanaAlertFile(o) as Json;
    expect(file.apiVersion).toBe(1);
    expect(file.groups).toHaveLength(1);
    const g = file.groups[0];
    expect(Object.keys(g).sort()).toEqual(['folder', 'interval', 'name', 'orgId', 'rules']);
    expect(g.rules).toHaveLength(alertDefinitions(o).length);
    for (const r of g.rules) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(['uid', 'title', 'condition', 'data', 'for', 'labels', 'annotations', 'noDataState', 'execErrState']),
      );
      expect(r).not.toHaveProperty('folderUID');
      expect(r).not.toHaveProperty('orgID');
      expect(r).not.toHaveProperty('ruleGroup');
      expect(r.data.map((q: Json) => q.refId)).toEqual(['A', 'B', 'C']);
      expect(r.condition).toBe('C');
      expect(r.data[0].datasourceUid).toBe(o.prometheusDatasourceUid);
      expect(r.data[2].model.conditions[0].evaluator.type).toBe('gt');
      expect(r.annotations.summary).toMatch(/\{\{ \$labels\.\w+ \}\}|\{\{ humanize/);
      expect(r.annotations.description).toMatch(/\$values\.B\.Value/);
      expect(r.annotations.dashboard_url).toMatch(/^http:\/\/localhost:3000\/d\/mcplens-/);
    }
    const malformed = g.rules.find((r: Json) => r.uid === 'mcplens-malformed-ratio');
    expect(malformed.for).toBe('10m');
    expect(malformed.data[2].model.conditions[0].evaluator.params).toEqual([0.05]);
    expect(malformed.annotations.summary).toContain(`{{ $labels.${LABEL.GEN_AI_PROVIDER_NAME} }}`);
    const client = g.rules.find((r: Json) => r.title === 'MCPClientMalformedCallRatioHigh');
    expect(client.for).toBe(malformed.for);
    expect(client.data[2].model.conditions[0].evaluator.params).toEqual([0.05]);
    expect(client.data[0].model.expr).toContain(`rate(${METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name}[`);
    expect(client.data[0].model.expr).toContain(`sum by (${LABEL.GEN_AI_PROVIDER_NAME}, ${LABEL.SERVER_NAME})`);
    expect(client.annotations.dashboard_url).toContain(`var-${VAR.SERVER}={{ $labels.${LABEL.SERVER_NAME} }}`);
  });

  it('the client alert and its recording rule read the client metrics only, the server alert the server metrics only', () => {
    const defs = alertDefinitions(o);
    const server = defs.find((d) => d.name === 'MCPMalformedCallRatioHigh');
    const client = defs.find((d) => d.name === 'MCPClientMalformedCallRatioHigh');
    expect(metricNamesIn(client?.query ?? '').sort()).toEqual(
      [METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name, METRICS.CLIENT_TOOL_CALLS.name].sort(),
    );
    expect(metricNamesIn(server?.query ?? '').sort()).toEqual([METRICS.TOOL_SCHEMA_VIOLATIONS.name, METRICS.TOOL_CALLS.name].sort());
    expect(recordingDefinitions(o).map((r) => r.expr)).toContain(client?.query);
  });

  it('per-tool alerts leave calls to unknown tools to their own alert', () => {
    for (const d of alertDefinitions(o).filter((x) => x.by.includes(LABEL.GEN_AI_TOOL_NAME))) {
      expect(d.query).toContain(`${LABEL.GEN_AI_TOOL_NAME}!="${UNKNOWN_LABEL_VALUE}"`);
    }
  });
});

describe('guard panels and alerts', () => {
  const guardPanels = (): Json[] => panels('mcplens-tools').filter((p) => (p.title as string).startsWith('Guards: '));
  const exprs = (p: Json): string[] => (p.targets as Json[]).map((t) => t.expr as string);

  it('has seven guard panels on the tools dashboard below the others, each reading only guard signals', () => {
    const guard = guardPanels();
    expect(guard.map((p) => p.id)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    const others = panels('mcplens-tools').filter((p) => !guard.includes(p));
    const bottom = Math.max(...others.map((p) => p.gridPos.y + p.gridPos.h));
    for (const p of guard) expect(p.gridPos.y).toBeGreaterThanOrEqual(bottom);
  });

  it('breaker panels take the max of the state gauge per service, replica and tool, never a sum', () => {
    const breakers = guardPanels().filter((p) => exprs(p).some((e) => e.includes(METRICS.TOOL_CIRCUIT_BREAKER_STATE.name)));
    expect(breakers.map((p) => p.type).sort()).toEqual(['stat', 'state-timeline']);
    for (const e of breakers.flatMap(exprs)) {
      expect(e).toContain(
        `max by (${LABEL.SERVICE_NAME}, ${LABEL.SERVICE_INSTANCE_ID}, ${LABEL.GEN_AI_TOOL_NAME}) (${METRICS.TOOL_CIRCUIT_BREAKER_STATE.name}{`,
      );
      expect(e).not.toMatch(/\bsum\b/);
    }
    const count = panel('mcplens-tools', 'Guards: circuit breakers open or half-open');
    expect(exprs(count).map((e) => e.match(/== (\d)\) or vector\(0\)$/)?.[1])).toEqual([
      String(BREAKER_STATES.indexOf('open')),
      String(BREAKER_STATES.indexOf('half_open')),
    ]);
    const mapping = panel('mcplens-tools', 'Guards: circuit breaker state').fieldConfig.defaults.mappings[0].options as Json;
    expect(Object.entries(mapping).map(([v, r]) => [Number(v), r.text])).toEqual(BREAKER_STATES.map((st, i) => [i, st]));
  });

  it('timeouts and replays per tool read 0 for tools without them; the replay ratio too', () => {
    for (const [title, outcome] of [
      ['Guards: timeouts per tool', 'timeout'],
      ['Guards: replays per tool', 'replayed'],
      ['Guards: replay ratio per tool', 'replayed'],
    ] as const) {
      const [e] = exprs(panel('mcplens-tools', title));
      expect(e).toContain(`${LABEL.OUTCOME}=~"${outcome}"`);
      expect(e).toMatch(
        / or sum by \(service_name, gen_ai_tool_name\) \(rate\(mcp_tool_calls_total\{[^}]*\}\[\$__rate_interval\]\)\) \* 0/,
      );
    }
    const ratio = panel('mcplens-tools', 'Guards: replay ratio per tool');
    expect(ratio.fieldConfig.defaults.thresholds.steps[1].value).toBe(o.replayRatioThreshold);
  });

  it('refused calls: one query per refusal outcome of the contract (the guard errors but timeout, and the caller faults), 0 when absent', () => {
    const p = panel('mcplens-tools', 'Guards: refused calls by outcome');
    const want = [...GUARD_OUTCOMES.ERRORS, ...GUARD_OUTCOMES.CALLER_FAULTS].filter((x) => x !== 'timeout');
    expect((p.targets as Json[]).map((t) => t.legendFormat)).toEqual(want);
    for (const [i, e] of exprs(p).entries()) {
      expect(e).toContain(`${LABEL.OUTCOME}="${want[i]}"`);
      expect(e.endsWith('or vector(0)')).toBe(true);
    }
  });

  it('denied calls are the unauthorized counter by client name', () => {
    const [e] = exprs(panel('mcplens-tools', 'Guards: denied calls by client'));
    expect(e).toMatch(new RegExp(`^sum by \\(${LABEL.CLIENT_NAME}\\) \\(rate\\(${METRICS.TOOL_UNAUTHORIZED_CALLS.name}\\{`));
  });

  it('alerts: breaker open by max over replicas, timeout and replay ratios per tool, denied rate per client, with their options', () => {
    const defs = alertDefinitions(
      resolveOptions({
        circuitOpenFor: '7m',
        timeoutRatioThreshold: 0.15,
        timeoutRatioFor: '2m',
        deniedCallsPerSecond: 0.5,
        deniedCallsFor: '4m',
        replayRatioThreshold: 0.3,
        replayRatioFor: '6m',
      }),
    );
    const by = (name: string): Json => {
      const d = defs.find((x) => x.name === name);
      if (!d) throw new Error(`no alert ${name}`);
      return d as unknown as Json;
    };
    const circuit = by('MCPToolCircuitOpen');
    expect(circuit.query).toMatch(
      new RegExp(`^max by \\(${LABEL.SERVICE_NAME}, ${LABEL.GEN_AI_TOOL_NAME}\\) \\(${METRICS.TOOL_CIRCUIT_BREAKER_STATE.name}`),
    );
    expect([circuit.threshold, circuit.for]).toEqual([BREAKER_STATES.indexOf('open') - 1, '7m']);
    expect([by('MCPToolTimeoutRatioHigh').threshold, by('MCPToolTimeoutRatioHigh').for]).toEqual([0.15, '2m']);
    expect(by('MCPToolTimeoutRatioHigh').query).toContain(`${LABEL.OUTCOME}=~"timeout"`);
    expect([by('MCPClientDeniedCallsHigh').threshold, by('MCPClientDeniedCallsHigh').for]).toEqual([0.5, '4m']);
    expect(by('MCPClientDeniedCallsHigh').by).toEqual([LABEL.CLIENT_NAME]);
    expect([by('MCPToolReplayRatioHigh').threshold, by('MCPToolReplayRatioHigh').for]).toEqual([0.3, '6m']);
    expect(by('MCPToolReplayRatioHigh').query).toContain(`${LABEL.OUTCOME}=~"replayed"`);
  });

  it('rejects bad guard alert options, naming them', () => {
    expect(() => resolveOptions({ timeoutRatioThreshold: 1.5 })).toThrow(/timeoutRatioThreshold=1.5/);
    expect(() => resolveOptions({ replayRatioThreshold: 0 })).toThrow(/replayRatioThreshold=0/);
    expect(() => resolveOptions({ deniedCallsPerSecond: -1 })).toThrow(/deniedCallsPerSecond=-1/);
    expect(() => resolveOptions({ circuitOpenFor: '5 min' })).toThrow(/circuitOpenFor="5 min"/);
  });
});

describe('options', () => {
  it('thresholds and durations flow into the rules', () => {
    const defs = alertDefinitions(resolveOptions({ malformedRatioThreshold: 0.2, malformedRatioFor: '3m', rateWindow: '2m' }));
    for (const name of ['MCPMalformedCallRatioHigh', 'MCPClientMalformedCallRatioHigh']) {
      const m = defs.find((d) => d.name === name);
      expect(m?.threshold).toBe(0.2);
      expect(m?.for).toBe('3m');
      expect(m?.query).toContain('[2m]');
    }
  });

  it('rejects an unknown key and bad values, naming them', () => {
    expect(() => resolveOptions({ malformedRatioTreshold: 0.1 } as never)).toThrow(/unknown option "malformedRatioTreshold"/);
    expect(() => resolveOptions({ malformedRatioThreshold: 5 })).toThrow(/malformedRatioThreshold=5/);
    expect(() => resolveOptions({ malformedRatioFor: '10 minutes' })).toThrow(/malformedRatioFor="10 minutes"/);
    expect(() => resolveOptions({ grafanaUrl: 'localhost:3000' })).toThrow(/grafanaUrl/);
    expect(() => resolveOptions({ rateWindow: '0s' })).toThrow(/rateWindow/);
    expect(() => resolveOptions({ rateWindow: '0m0s' })).toThrow(/rateWindow/);
    expect(() => resolveOptions({ evaluationInterval: '0h' })).toThrow(/evaluationInterval/);
  });

  it('defaults live in one place', () => {
    expect(resolveOptions()).toEqual(createDefaultOptions());
  });
});
