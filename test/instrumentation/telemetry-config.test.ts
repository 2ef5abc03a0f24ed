import { describe, expect, it } from '@jest/globals';
import { DiagLogLevel } from '@opentelemetry/api';
import { DEFAULT_OTLP_ENDPOINT, readTelemetryConfig } from '../../instrumentation/telemetry-bootstrap.js';

describe('readTelemetryConfig (the variables `mcplens/register` honours)', () => {
  it('defaults: protobuf to the local collector, ParentBased(AlwaysOn), diag at WARN, no metrics or logs', () => {
    expect(readTelemetryConfig({})).toEqual({
      disabled: false,
      protocol: 'http/protobuf',
      tracesUrl: `${DEFAULT_OTLP_ENDPOINT}/v1/traces`,
      exportTraces: true,
      sampler: { kind: 'always_on', parentBased: true },
      metricsFromEnv: false,
      logsFromEnv: false,
      logLevel: DiagLogLevel.WARN,
      serviceNameFromEnv: false,
      exitTimeoutMs: 1000,
      moduleHooks: 'auto',
    });
    expect(DEFAULT_OTLP_ENDPOINT).toBe('http://127.0.0.1:4318');
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, { tracesUrl: undefined }],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, { tracesUrl: undefined }],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, { protocol: 'http/json' }],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, { protocol: 'http/json' }],
    [{ OTEL_SDK_DISABLED: 'TRUE' }, { disabled: true }],
    [{ OTEL_SDK_DISABLED: 'false' }, { disabled: false }],
    [{ OTEL_TRACES_EXPORTER: 'none' }, { exportTraces: false }],
    [
      { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' },
      { sampler: { kind: 'traceidratio', parentBased: false, ratio: 0.1 } },
    ],
    [{ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio' }, { sampler: { kind: 'traceidratio', parentBased: true, ratio: 1 } }],
    [{ OTEL_TRACES_SAMPLER: 'always_off' }, { sampler: { kind: 'always_off', parentBased: false } }],
    [{ OTEL_METRICS_EXPORTER: 'otlp' }, { metricsFromEnv: true }],
    [{ OTEL_METRICS_EXPORTER: 'none' }, { metricsFromEnv: false }],
    [{ OTEL_SERVICE_NAME: 'billing' }, { serviceNameFromEnv: true }],
    [{ OTEL_RESOURCE_ATTRIBUTES: 'team=a, service.name=billing' }, { serviceNameFromEnv: true }],
    [{ MCPLENS_EXIT_TIMEOUT_MS: '250' }, { exitTimeoutMs: 250 }],
    [{ MCPLENS_MODULE_HOOKS: 'LOADER' }, { moduleHooks: 'loader' }],
    [{ OTEL_LOG_LEVEL: 'debug' }, { logLevel: DiagLogLevel.DEBUG }],
  ])('%p', (env, expected) => {
    expect(readTelemetryConfig(env)).toMatchObject(expected);
  });

  it.each([
    [{ OTEL_TRACES_SAMPLER: 'traceidratoi' }, 'OTEL_TRACES_SAMPLER="traceidratoi"'],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' }, 'OTEL_TRACES_SAMPLER_ARG="1.5"'],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: 'ten percent' }, 'OTEL_TRACES_SAMPLER_ARG="ten percent"'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL="grpc"'],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/xml' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/xml"'],
    // Console exporters write to stdout, which a stdio MCP server owns.
    [{ OTEL_TRACES_EXPORTER: 'console' }, 'OTEL_TRACES_EXPORTER="console"'],
    [{ OTEL_METRICS_EXPORTER: 'otlp,console' }, 'OTEL_METRICS_EXPORTER="otlp,console"'],
    [{ OTEL_LOG_LEVEL: 'loud' }, 'OTEL_LOG_LEVEL="loud"'],
    [{ MCPLENS_EXIT_TIMEOUT_MS: '1.5s' }, 'MCPLENS_EXIT_TIMEOUT_MS="1.5s"'],
    [{ MCPLENS_EXIT_TIMEOUT_MS: '60000' }, 'MCPLENS_EXIT_TIMEOUT_MS="60000"'],
    [{ MCPLENS_MODULE_HOOKS: 'loadr' }, 'MCPLENS_MODULE_HOOKS="loadr"'],
  ])('refuses %p, naming the variable and value', (env, message) => {
    expect(() => readTelemetryConfig(env)).toThrow(message);
  });
});
