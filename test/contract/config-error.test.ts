/**
 * One error type for configuration mistakes: the collector, the dashboards generator and the
 * `--import` bootstrap throw the same ConfigError, each naming the bad option and value.
 */
import { describe, expect, it } from '@jest/globals';
import { ConfigError as CollectorConfigError, createCollector } from '../../collector/index.js';
import { ConfigError as DashboardsConfigError, resolveOptions } from '../../dashboards/index.js';
import { ConfigError } from '../../contract/config-error.js';
import { readTelemetryConfig } from '../../instrumentation/telemetry-bootstrap.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('ConfigError', () => {
  it('is one class behind every entry point that exports it', () => {
    expect(CollectorConfigError).toBe(ConfigError);
    expect(DashboardsConfigError).toBe(ConfigError);
  });

  it.each([
    ['collector', () => createCollector({ port: -1 }), /port/],
    ['dashboards', () => resolveOptions({ malformedRatioThreshold: 2 }), /malformedRatioThreshold=2/],
    ['--import bootstrap', () => readTelemetryConfig({ OTEL_TRACES_SAMPLER: 'nope' }), /OTEL_TRACES_SAMPLER="nope"/],
  ])('%s throws it, naming the option', (_part, fn, message) => {
    const err = thrown(fn);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).name).toBe('ConfigError');
    expect((err as Error).message).toMatch(message);
  });
});
