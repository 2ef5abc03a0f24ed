/**
 * promtool proves the PromQL: every dashboard query (variables and macros substituted)
 * and every generated rule parses, and generated unit tests show each alert fires on
 * synthetic series where it should and stays silent where it should not.
 * Needs promtool (Debian package `prometheus`); fails, never skips, without it.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { OUTPUT_PATHS, dashboardModels, prometheusRuleFile, resolveOptions, type GeneratorOptions } from '../../dashboards/index.js';
import { promtoolTestFile } from '../../dashboards/rule-tests.js';
import { defaultSubstitutions, substituteVariables } from '../../dashboards/template-vars.js';
import { METRICS } from '../../contract/index.js';
import { REPO_ROOT, promtool, tempDir } from './helpers.js';

/** The option sets the rules are proven with: defaults, custom thresholds, and the e2e rendering (for 0s, 1 s interval). */
const OPTION_SETS: Array<[string, GeneratorOptions]> = [
  ['defaults', {}],
  [
    'custom thresholds',
    {
      malformedRatioThreshold: 0.2,
      malformedRatioFor: '3m',
      toolErrorRatioThreshold: 0.3,
      toolLatencyP95Seconds: 0.5,
      rateWindow: '2m',
      unknownToolFor: '0s',
      circuitOpenFor: '15m',
      timeoutRatioThreshold: 0.5,
      timeoutRatioFor: '1m',
      deniedCallsPerSecond: 3,
      deniedCallsFor: '2m',
      replayRatioThreshold: 0.02,
      replayRatioFor: '0s',
    },
  ],
  [
    'e2e (for 0s, 1s interval)',
    {
      malformedRatioFor: '0s',
      unknownToolFor: '0s',
      toolErrorRatioFor: '0s',
      toolLatencyFor: '0s',
      collectorDropFor: '0s',
      circuitOpenFor: '0s',
      timeoutRatioFor: '0s',
      deniedCallsFor: '0s',
      replayRatioFor: '0s',
      rateWindow: '10s',
      evaluationInterval: '1s',
    },
  ],
];

let dir: string;

beforeAll(async () => {
  // Fails loudly with what to install when promtool is missing.
  const version = await promtool(['--version']);
  expect(version.code).toBe(0);
  dir = await tempDir('mcplens-promtool-');
});

async function writeYaml(name: string, doc: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(doc, { lineWidth: 0 }));
  return path;
}

describe('dashboard queries parse', () => {
  it('every panel query, with variables and macros substituted, passes promtool check rules', async () => {
    const rules: Array<{ record: string; expr: string }> = [];
    for (const { model } of dashboardModels(resolveOptions())) {
      const uid = String(model.uid).replace(/-/g, '_');
      for (const p of model.panels as Array<{ id: number; targets: Array<{ refId: string; expr: string }> }>) {
        for (const t of p.targets)
          rules.push({ record: `check:${uid}:panel${p.id}_${t.refId}`, expr: substituteVariables(t.expr, defaultSubstitutions()) });
      }
    }
    expect(rules.length).toBeGreaterThan(25);
    for (const r of rules) expect(r.expr).not.toMatch(/\$/);
    const file = await writeYaml('dashboard-queries.yaml', { groups: [{ name: 'dashboard-queries', rules }] });
    const res = await promtool(['check', 'rules', file]);
    expect(res.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(res.code).toBe(0);
  });

  it('the same check fails on a broken query (the harness can fail)', async () => {
    const file = await writeYaml('broken.yaml', {
      groups: [{ name: 'broken', rules: [{ record: 'x:y:z', expr: 'sum by (a (rate(m[1m]))' }] }],
    });
    const res = await promtool(['check', 'rules', file]);
    expect(res.code).not.toBe(0);
  });

  it('substitution refuses a variable it has no value for', () => {
    expect(() => substituteVariables('rate(m{a=~"$nope"}[$__rate_interval])', defaultSubstitutions())).toThrow(/\$nope/);
  });
});

describe('generated rules', () => {
  it('the committed Prometheus rule file passes promtool check rules', async () => {
    const res = await promtool(['check', 'rules', join(REPO_ROOT, 'compose', OUTPUT_PATHS.PROMETHEUS_RULES)]);
    expect(res.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(res.code).toBe(0);
  });

  it.each(OPTION_SETS)('unit tests pass for %s', async (name, options) => {
    const o = resolveOptions(options);
    const slug = name.replace(/\W+/g, '-');
    await writeYaml(`${slug}-rules.yaml`, prometheusRuleFile(o));
    const test = promtoolTestFile(o, `${slug}-rules.yaml`);
    expect((test.tests as unknown[]).length).toBe(12);
    const testFile = await writeYaml(`${slug}-test.yaml`, test);
    const check = await promtool(['check', 'rules', join(dir, `${slug}-rules.yaml`)]);
    expect(check.code).toBe(0);
    const res = await promtool(['test', 'rules', testFile], dir);
    expect(res.output).toContain('SUCCESS');
    expect(res.code).toBe(0);
  });

  it('the unit tests bite: raising a threshold, dropping the unknown-tool exclusion, summing breaker states or reading the wrong outcome makes them fail', async () => {
    const o = resolveOptions();
    const text = stringify(prometheusRuleFile(o), { lineWidth: 0 });
    // The client alert's expression line (the recording rule's has no threshold).
    const clientAlertExpr = new RegExp(`^(\\s*expr: .*${METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name}.*)> 0\\.05$`, 'm');
    const mutations: Array<[string, string, RegExp]> = [
      ['threshold', text.replace(/> 0\.05$/m, '> 0.5'), /MCPMalformedCallRatioHigh/],
      ['client threshold', text.replace(clientAlertExpr, '$1> 0.5'), /MCPClientMalformedCallRatioHigh/],
      // Reading the server view instead of the client view must be caught.
      [
        'client metrics',
        text.replace(clientAlertExpr, (line) =>
          line
            .replaceAll(METRICS.CLIENT_TOOL_SCHEMA_VIOLATIONS.name, METRICS.TOOL_SCHEMA_VIOLATIONS.name)
            .replaceAll(METRICS.CLIENT_TOOL_CALLS.name, METRICS.TOOL_CALLS.name),
        ),
        /MCPClientMalformedCallRatioHigh/,
      ],
      ['exclusion', text.replace(/gen_ai_tool_name!="__unknown__"(, )?/g, ''), /MCPToolErrorRatioHigh/],
      ['for', text.replace(/for: 1m/, 'for: 30m'), /MCPUnknownToolCalls/],
      // Adding replicas' breaker states up makes two half-open replicas look open.
      [
        'breaker sum',
        text.replace(
          `max by (service_name, gen_ai_tool_name) (${METRICS.TOOL_CIRCUIT_BREAKER_STATE.name}`,
          `sum by (service_name, gen_ai_tool_name) (${METRICS.TOOL_CIRCUIT_BREAKER_STATE.name}`,
        ),
        /MCPToolCircuitOpen/,
      ],
      ['replay outcome', text.replace(/outcome=~"replayed"/, 'outcome=~"ok"'), /MCPToolReplayRatioHigh/],
    ];
    for (const [name, mutated, failing] of mutations) {
      expect(mutated).not.toBe(text);
      await writeFile(join(dir, `mutated-${name}.yaml`), mutated);
      const testFile = await writeYaml(`mutated-${name}-test.yaml`, promtoolTestFile(o, `mutated-${name}.yaml`));
      const res = await promtool(['test', 'rules', testFile], dir);
      expect(res.code).not.toBe(0);
      expect(res.output).toMatch(failing);
    }
  });

  it('committed rules equal a fresh rendering (so the unit tests above cover what Prometheus loads)', async () => {
    const committed = await readFile(join(REPO_ROOT, 'compose', OUTPUT_PATHS.PROMETHEUS_RULES), 'utf8');
    expect(committed).toContain(stringify(prometheusRuleFile(resolveOptions()), { lineWidth: 0 }));
  });
});
