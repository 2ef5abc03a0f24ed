import { describe, expect, it } from '@jest/globals';
import { SpanKind } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { decodeTracesJson } from '../../collector/decode-json.js';
import { decodeTracesProtobuf } from '../../collector/decode-protobuf.js';
import { recordSpans } from '../../harness/otlp-span-fixtures.js';

// 1767000000.123456789 s and 20.0001 ms later: as doubles of nanoseconds these are 256 ns
// coarse, and their naive difference is not 20,000,100.
const START: [number, number] = [1_767_000_000, 123_456_789];
const END: [number, number] = [1_767_000_000, 143_456_889];

describe('span durations', () => {
  const spans = recordSpans({}, 1, (tracer) => {
    tracer.startSpan('tools/call add', { kind: SpanKind.SERVER, startTime: START }).end(END);
  });
  const naive = Number(BigInt(END[0]) * 1_000_000_000n + BigInt(END[1])) - Number(BigInt(START[0]) * 1_000_000_000n + BigInt(START[1]));

  it('are exact from both encodings, where double arithmetic is not', () => {
    expect(naive).not.toBe(20_000_100);
    const fromProtobuf = decodeTracesProtobuf(ProtobufTraceSerializer.serializeRequest(spans)!);
    const fromJson = decodeTracesJson(JsonTraceSerializer.serializeRequest(spans)!);
    expect(fromProtobuf[0]!.durationNano).toBe(20_000_100);
    expect(fromJson[0]!.durationNano).toBe(20_000_100);
  });
});
