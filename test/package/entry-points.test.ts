/**
 * The public API, pinned: the runtime export names of every entry point of package.json's
 * `exports` map, as an application importing the built package sees them. Adding an export
 * (or an entry point) makes it public API, so it is a deliberate change to this list.
 * Type-only exports leave no runtime name; `stripInternal` keeps `@internal` members out of the
 * declarations.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };

const PINNED: Record<string, string[]> = {
  '.': [
    'DEFAULT_PROVIDER_HEADERS',
    'MemoryIdempotencyStore',
    'RedisIdempotencyStore',
    'createAdjustedCountSampler',
    'flush',
    'instrumentClient',
    'instrumentServer',
    'withModel',
  ],
  './register': [],
  './contract': [
    'ATTR',
    'ATTRIBUTE_TO_LABEL',
    'BAGGAGE_KEYS',
    'BREAKER_STATES',
    'CALL_LABELS',
    'CALL_TOKEN_KINDS',
    'CATALOG_COST',
    'CLIENT_CALL_LABELS',
    'DURATION_BUCKETS_SECONDS',
    'ERROR_OUTCOMES',
    'ERROR_TYPE_EXCEPTION',
    'ERROR_TYPE_NO_RESPONSE',
    'ERROR_TYPE_TOOL_ERROR',
    'EVENT',
    'EXEMPLAR_LABEL',
    'FORWARD_DROP_REASONS',
    'GUARD_OUTCOMES',
    'LABEL',
    'LABEL_VALUE_LIMIT',
    'LABEL_VALUE_REWRITE_REASONS',
    'MALFORMED_RATIO_LEVELS',
    'MAX_TOKEN_COUNT',
    'MCP_METHOD',
    'META_KEYS',
    'METRICS',
    'NETWORK_TRANSPORT',
    'OPERATION_EXECUTE_TOOL',
    'OTEL_METRICS',
    'OUTCOMES',
    'OVERFLOW_LABEL_VALUE',
    'PROTOCOL_VERSION_HEADER',
    'PROVIDERS',
    'PROVIDER_SOURCES',
    'SPAN_NAME',
    'SPAN_REJECT_REASONS',
    'TOKENS_NOT_COUNTED_REASONS',
    'TOKEN_ATTRIBUTE',
    'TOKEN_KINDS',
    'UNKNOWN_LABEL_VALUE',
    'UNKNOWN_PROVIDER',
    'VALUE_REJECT_REASONS',
    'VIOLATION_KINDS',
    'monthlyCatalogCost',
  ],
  './collector': ['ConfigError', 'createCollector'],
  './dashboards': [
    'ConfigError',
    'DASHBOARD_UID',
    'OUTPUT_PATHS',
    'RULE_GROUPS',
    'VAR',
    'alertDefinitions',
    'alertExpr',
    'createDefaultOptions',
    'dashboardModels',
    'generateAll',
    'grafanaAlertFile',
    'overviewDashboard',
    'prometheusRuleFile',
    'providerDashboard',
    'recordingDefinitions',
    'renderAll',
    'resolveOptions',
    'runDashboardsCli',
    'toolsDashboard',
  ],
};

// The package as an application sees it: node_modules/mcplens -> this repository (built).
const app = mkdtempSync(join(tmpdir(), 'mcplens-entries-'));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules', 'mcplens'), 'dir');
afterAll(() => rmSync(app, { recursive: true, force: true }));

/** Entry points that are modules (not `./package.json`), by their specifier. */
const entries = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object')
  .map(([key]) => (key === '.' ? 'mcplens' : `mcplens/${key.slice(2)}`));

/** Sorted export names of each entry, imported in a child process (`register` installs module hooks). */
function exportNames(): Record<string, string[]> {
  const code = `const out = {};
    for (const spec of ${JSON.stringify(entries)}) out[spec] = Object.keys(await import(spec)).sort();
    process.stdout.write(JSON.stringify(out));
    process.exit(0);`;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: app,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, OTEL_SDK_DISABLED: 'true' },
  });
  return JSON.parse(stdout) as Record<string, string[]>;
}

describe('the public API', () => {
  it('has exactly the pinned entry points', () => {
    expect(Object.keys(pkg.exports).sort()).toEqual([...Object.keys(PINNED), './package.json'].sort());
  });

  it('exports exactly the pinned names from every entry point', () => {
    const pinned = Object.fromEntries(
      Object.entries(PINNED).map(([key, names]) => [key === '.' ? 'mcplens' : `mcplens/${key.slice(2)}`, names]),
    );
    for (const names of Object.values(pinned)) expect(names).toEqual([...names].sort()); // the literal lists stay sorted
    expect(exportNames()).toEqual(pinned);
  });
});
