import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ATTR,
  EVENT,
  FORWARD_DROP_REASONS,
  LABEL,
  METRICS,
  OUTCOMES,
  PROVIDER_SOURCES,
  SPAN_REJECT_REASONS,
  TOKEN_KINDS,
  TOKENS_NOT_COUNTED_REASONS,
  VALUE_REJECT_REASONS,
  LABEL_VALUE_REWRITE_REASONS,
  VIOLATION_KINDS,
} from '../../contract/index.js';

// dist/test/contract -> repository root
const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(join(root, 'docs/telemetry.md'), 'utf8');

const names = [
  ...Object.values(ATTR),
  ...Object.values(EVENT),
  ...OUTCOMES,
  ...VIOLATION_KINDS,
  ...PROVIDER_SOURCES,
  ...TOKEN_KINDS,
  ...Object.values(LABEL),
  ...Object.values(METRICS).map((m) => m.name),
  ...Object.values(SPAN_REJECT_REASONS),
  ...Object.values(FORWARD_DROP_REASONS),
  ...Object.values(TOKENS_NOT_COUNTED_REASONS),
  ...Object.values(VALUE_REJECT_REASONS),
  ...Object.values(LABEL_VALUE_REWRITE_REASONS),
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

describe('the telemetry contract', () => {
  it.each(names)('documents %s in docs/telemetry.md', (name) => {
    expect(doc).toContain(`\`${name}\``);
  });

  it('documents every metric with its labels', () => {
    for (const metric of Object.values(METRICS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${metric.name}\``));
      expect(row).toBeDefined();
      for (const label of metric.labels) expect(row).toContain(label);
    }
  });

  it('is the only place that spells a span attribute or metric name', () => {
    const spelled = [...Object.values(ATTR), ...Object.values(METRICS).map((m) => m.name)];
    const offenders: string[] = [];
    for (const part of ['instrumentation', 'collector', 'dashboards', 'demo', 'bin']) {
      for (const file of sourceFiles(join(root, part))) {
        const text = readFileSync(file, 'utf8');
        for (const name of spelled) {
          if (text.includes(`'${name}'`) || text.includes(`"${name}"`)) offenders.push(`${file}: ${name}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });

  it('has unique metric names following Prometheus conventions', () => {
    const metricNames = Object.values(METRICS).map((m) => m.name);
    expect(new Set(metricNames).size).toBe(metricNames.length);
    for (const m of Object.values(METRICS)) {
      if (m.type === 'counter') expect(m.name).toMatch(/_total$/);
      else expect(m.name).not.toMatch(/_total$/);
      if (m.unit === 'seconds') expect(m.name).toMatch(/_seconds(_total)?$/);
    }
  });
});
