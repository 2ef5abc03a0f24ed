/**
 * Response encoders checked by independent decoders: protobufjs with the OTLP and
 * google.rpc definitions, and the OTel JS exporters' own response deserializers (what a
 * real client reads from the collector).
 */
import { describe, it, expect } from '@jest/globals';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { encodeExportResponse, encodeStatus } from '../../collector/encode-response.js';
import { loadOtlpTypes } from '../../harness/otlp-proto-types.js';

const LONGS = { longs: Number, defaults: false } as const;

describe('encodeExportResponse', () => {
  it('encodes full success as an empty message', () => {
    const { ExportTraceServiceResponse } = loadOtlpTypes();
    const bytes = encodeExportResponse('protobuf');
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBe(0);
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(bytes), LONGS)).toEqual({});
    expect(ProtobufTraceSerializer.deserializeResponse(bytes)).toEqual({});
    expect(JSON.parse(encodeExportResponse('json'))).toEqual({});
  });

  it('encodes partial success with rejected spans and a message (protobuf)', () => {
    const { ExportTraceServiceResponse } = loadOtlpTypes();
    const message = '3 spans without a trace id – rejected';
    const bytes = encodeExportResponse('protobuf', { rejectedSpans: 3, errorMessage: message });
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(bytes), LONGS)).toEqual({
      partialSuccess: { rejectedSpans: 3, errorMessage: message },
    });
    const big = encodeExportResponse('protobuf', { rejectedSpans: 2 ** 40 + 1, errorMessage: '' });
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(big), LONGS)).toEqual({
      partialSuccess: { rejectedSpans: 2 ** 40 + 1 },
    });
    // What the OTel JS protobuf exporter reads from it.
    const seen = ProtobufTraceSerializer.deserializeResponse(bytes);
    expect(Number(seen.partialSuccess?.rejectedSpans)).toBe(3);
    expect(seen.partialSuccess?.errorMessage).toBe(message);
  });

  it('encodes partial success with zero rejected spans as a warning (present, message only)', () => {
    const { ExportTraceServiceResponse } = loadOtlpTypes();
    const bytes = encodeExportResponse('protobuf', { rejectedSpans: 0, errorMessage: 'warning' });
    const decoded = ExportTraceServiceResponse.decode(bytes) as unknown as { partialSuccess?: object };
    expect(decoded.partialSuccess).toBeDefined();
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(bytes), LONGS)).toEqual({
      partialSuccess: { errorMessage: 'warning' },
    });
  });

  it('encodes partial success in the proto3 JSON mapping (int64 as a string)', () => {
    const text = encodeExportResponse('json', { rejectedSpans: 5, errorMessage: 'bad "spans"' });
    expect(JSON.parse(text)).toEqual({ partialSuccess: { rejectedSpans: '5', errorMessage: 'bad "spans"' } });
    const { ExportTraceServiceResponse } = loadOtlpTypes();
    expect(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.fromObject(JSON.parse(text) as object), LONGS)).toEqual({
      partialSuccess: { rejectedSpans: 5, errorMessage: 'bad "spans"' },
    });
    const seen = JsonTraceSerializer.deserializeResponse(new TextEncoder().encode(text));
    expect(Number(seen.partialSuccess?.rejectedSpans)).toBe(5);
  });

  it('refuses a rejected count that is not a non-negative integer', () => {
    expect(() => encodeExportResponse('protobuf', { rejectedSpans: -1, errorMessage: '' })).toThrow(/rejectedSpans must be an integer/);
    expect(() => encodeExportResponse('json', { rejectedSpans: 1.5, errorMessage: '' })).toThrow(/got 1.5/);
  });
});

describe('encodeStatus', () => {
  it('encodes google.rpc.Status in protobuf', () => {
    const { GoogleRpcStatus } = loadOtlpTypes();
    for (const [code, message] of [
      [3, 'resourceSpans[0].scopeSpans[0].spans[1].traceId: expected 32 hex characters, got 31'],
      [8, 'over capacity'],
      [14, 'ünïcödé 🚀'],
      [2147483647, 'max'],
      [-1, 'negative codes are 10-byte varints'],
      [0, ''],
    ] as const) {
      const bytes = encodeStatus('protobuf', code, message);
      expect(GoogleRpcStatus.toObject(GoogleRpcStatus.decode(bytes), { defaults: true })).toEqual({ code, message, details: [] });
    }
    expect(encodeStatus('protobuf', 0, '').length).toBe(0);
  });

  it('encodes google.rpc.Status in JSON', () => {
    expect(JSON.parse(encodeStatus('json', 3, 'bad body'))).toEqual({ code: 3, message: 'bad body' });
    const { GoogleRpcStatus } = loadOtlpTypes();
    expect(GoogleRpcStatus.toObject(GoogleRpcStatus.fromObject(JSON.parse(encodeStatus('json', 13, 'x')) as object))).toEqual({
      code: 13,
      message: 'x',
    });
  });

  it('refuses a code outside int32', () => {
    expect(() => encodeStatus('json', 2 ** 31, 'x')).toThrow(RangeError);
    expect(() => encodeStatus('protobuf', 1.5, 'x')).toThrow(/code must be an integer/);
  });
});
