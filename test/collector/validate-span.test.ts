/**
 * The validation stage between decode and tally (collector/validate-span.ts), table-driven:
 * what a span view is rejected for, and the checked values an accepted one hands the tally.
 */
import { describe, expect, it } from '@jest/globals';
import { OTLP_SPAN_KIND, type Attributes, type SpanView } from '../../collector/span-view.js';
import { MAX_ADJUSTED_COUNT, validateSpan, type ValidSpan } from '../../collector/validate-span.js';
import {
  ATTR,
  EVENT,
  MAX_TOKEN_COUNT,
  MCP_METHOD,
  SPAN_REJECT_REASONS,
  TOKENS_NOT_COUNTED_REASONS,
  UNKNOWN_LABEL_VALUE,
} from '../../contract/index.js';

const START = 1_767_000_000_000_000_000;

/** A well-formed SERVER tools/call span with both token counts, changed by `patch`. */
function span(patch: Partial<SpanView> = {}, attributes: Attributes = {}): SpanView {
  return {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: '',
    name: 'tools/call search',
    kind: OTLP_SPAN_KIND.SERVER,
    startTimeUnixNano: START,
    endTimeUnixNano: START + 20_000_000,
    durationNano: 20_000_000,
    statusCode: 0,
    attributes: { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_CALL, [ATTR.TOKENS_ARGUMENTS]: 12, [ATTR.TOKENS_RESULT]: 340, ...attributes },
    events: [],
    resource: { [ATTR.SERVICE_NAME]: 'svc' },
    ...patch,
  };
}

/** What an accepted tools/call span hands the tally, changed by `patch`. */
function call(patch: Partial<ValidSpan> = {}): ValidSpan {
  return {
    method: MCP_METHOD.TOOLS_CALL,
    weight: 1,
    notCounted: undefined,
    tokens: { arguments: 12, result: 340 },
    catalogTotal: undefined,
    catalogTools: undefined,
    invalidTokenCounts: 0,
    client: undefined,
    breaker: undefined,
    ...patch,
  };
}

const I = SPAN_REJECT_REASONS;

describe('validateSpan', () => {
  const cases: Array<[string, SpanView, ReturnType<typeof validateSpan>]> = [
    ['a valid tools/call span', span(), call()],
    [
      'zero token counts (counted, not dropped)',
      span({}, { [ATTR.TOKENS_ARGUMENTS]: 0, [ATTR.TOKENS_RESULT]: 0 }),
      call({ tokens: { arguments: 0, result: 0 } }),
    ],
    [
      'no token counts (reported as none)',
      span({}, { [ATTR.TOKENS_ARGUMENTS]: undefined as never, [ATTR.TOKENS_RESULT]: undefined as never }),
      call({ tokens: {} }),
    ],
    // Ids
    ['a short trace id', span({ traceId: '0af7651916cd43dd' }), I.INVALID_ID],
    ['an upper-case trace id', span({ traceId: '0AF7651916CD43DD8448EB211C80319C' }), I.INVALID_ID],
    ['an all-zero trace id', span({ traceId: '0'.repeat(32) }), I.INVALID_ID],
    ['a missing span id', span({ spanId: '' }), I.INVALID_ID],
    ['an all-zero span id', span({ spanId: '0'.repeat(16) }), I.INVALID_ID],
    ['a non-hex span id', span({ spanId: 'b7ad6b716920333z' }), I.INVALID_ID],
    // Times
    ['an end before the start', span({ endTimeUnixNano: START - 1, durationNano: -1 }), I.INVALID_TIME],
    ['a duration that is not a number', span({ durationNano: NaN }), I.INVALID_TIME],
    ['a start that is not a number', span({ startTimeUnixNano: Infinity }), I.INVALID_TIME],
    ['a zero duration', span({ endTimeUnixNano: START, durationNano: 0 }), call()],
    // Adjusted counts
    ['an adjusted count of 4', span({}, { [ATTR.ADJUSTED_COUNT]: 4 }), call({ weight: 4 })],
    ['a fractional adjusted count sent as a string', span({}, { [ATTR.ADJUSTED_COUNT]: '3.5' }), call({ weight: 3.5 })],
    ['an adjusted count at the maximum', span({}, { [ATTR.ADJUSTED_COUNT]: MAX_ADJUSTED_COUNT }), call({ weight: MAX_ADJUSTED_COUNT })],
    ['an adjusted count of 0', span({}, { [ATTR.ADJUSTED_COUNT]: 0 }), I.INVALID_ADJUSTED_COUNT],
    ['an adjusted count below 1', span({}, { [ATTR.ADJUSTED_COUNT]: 0.5 }), I.INVALID_ADJUSTED_COUNT],
    ['an adjusted count past the maximum', span({}, { [ATTR.ADJUSTED_COUNT]: MAX_ADJUSTED_COUNT + 1 }), I.INVALID_ADJUSTED_COUNT],
    ['a non-numeric adjusted count', span({}, { [ATTR.ADJUSTED_COUNT]: 'many' }), I.INVALID_ADJUSTED_COUNT],
    ['a boolean adjusted count', span({}, { [ATTR.ADJUSTED_COUNT]: true }), I.INVALID_ADJUSTED_COUNT],
    ['an empty-string adjusted count', span({}, { [ATTR.ADJUSTED_COUNT]: ' ' }), I.INVALID_ADJUSTED_COUNT],
    ['an invalid id before an invalid time', span({ spanId: '', durationNano: -1 }), I.INVALID_ID],
    [
      'an invalid adjusted count on a CLIENT span (rejected all the same)',
      span({ kind: OTLP_SPAN_KIND.CLIENT }, { [ATTR.ADJUSTED_COUNT]: -1 }),
      I.INVALID_ADJUSTED_COUNT,
    ],
    // Token counts: dropped and counted, the span still counts
    ['a negative token count', span({}, { [ATTR.TOKENS_ARGUMENTS]: -1 }), call({ tokens: { result: 340 }, invalidTokenCounts: 1 })],
    ['a fractional token count', span({}, { [ATTR.TOKENS_RESULT]: 1.5 }), call({ tokens: { arguments: 12 }, invalidTokenCounts: 1 })],
    [
      'a token count sent as a string',
      span({}, { [ATTR.TOKENS_RESULT]: '340' }),
      call({ tokens: { arguments: 12 }, invalidTokenCounts: 1 }),
    ],
    [
      'a token count past the maximum',
      span({}, { [ATTR.TOKENS_ARGUMENTS]: MAX_TOKEN_COUNT + 1, [ATTR.TOKENS_RESULT]: NaN }),
      call({ tokens: {}, invalidTokenCounts: 2 }),
    ],
    [
      'a token count at the maximum',
      span({}, { [ATTR.TOKENS_ARGUMENTS]: MAX_TOKEN_COUNT }),
      call({ tokens: { arguments: MAX_TOKEN_COUNT, result: 340 } }),
    ],
    [
      'invalid token counts beside the not-counted marker (not read)',
      span({}, { [ATTR.TOKENS_NOT_COUNTED]: TOKENS_NOT_COUNTED_REASONS.BACKLOG, [ATTR.TOKENS_ARGUMENTS]: -5 }),
      call({ notCounted: TOKENS_NOT_COUNTED_REASONS.BACKLOG, tokens: undefined }),
    ],
    [
      'a not-counted reason outside the contract',
      span({}, { [ATTR.TOKENS_NOT_COUNTED]: 'bored' }),
      call({ notCounted: UNKNOWN_LABEL_VALUE, tokens: undefined }),
    ],
    [
      'invalid token counts on a CLIENT tools/call span (client view: not read)',
      span({ kind: OTLP_SPAN_KIND.CLIENT }, { [ATTR.TOKENS_ARGUMENTS]: -1 }),
      call({ tokens: undefined, client: true }),
    ],
    [
      'a sampled CLIENT tools/call span keeps its weight',
      span({ kind: OTLP_SPAN_KIND.CLIENT }, { [ATTR.ADJUSTED_COUNT]: 4 }),
      call({ weight: 4, tokens: undefined, client: true }),
    ],
    [
      'a CLIENT span of another method (not counted)',
      span({ kind: OTLP_SPAN_KIND.CLIENT }, { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST }),
      call({ method: undefined, tokens: undefined }),
    ],
    [
      'a CLIENT span with a bad adjusted count (rejected like a SERVER span)',
      span({ kind: OTLP_SPAN_KIND.CLIENT }, { [ATTR.ADJUSTED_COUNT]: 0 }),
      I.INVALID_ADJUSTED_COUNT,
    ],
    [
      'a SERVER span without a method (not counted)',
      span({}, { [ATTR.MCP_METHOD_NAME]: '' }),
      call({ method: undefined, tokens: undefined }),
    ],
  ];

  it.each(cases)('%s', (_name, input, expected) => {
    expect(validateSpan(input)).toEqual(expected);
  });

  it('checks a tools/list span: catalog events and total, invalid counts dropped and counted', () => {
    const ev = (attributes: Attributes, name: string = EVENT.CATALOG_TOOL) => ({ name, timeUnixNano: START, attributes });
    const listing = span(
      {
        name: 'tools/list',
        events: [
          ev({ [ATTR.GEN_AI_TOOL_NAME]: 'search', [ATTR.TOKENS_CATALOG]: 120 }),
          ev({ [ATTR.GEN_AI_TOOL_NAME]: 'create', [ATTR.TOKENS_CATALOG]: -3 }),
          // Read (and its invalid count counted) though it names no tool.
          ev({ [ATTR.TOKENS_CATALOG]: 'lots' }),
          ev({ [ATTR.GEN_AI_TOOL_NAME]: 'unnamed-count' }),
          ev({ [ATTR.GEN_AI_TOOL_NAME]: 'other', [ATTR.TOKENS_CATALOG]: -1 }, 'some.other.event'),
        ],
      },
      {
        [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST,
        [ATTR.TOKENS_ARGUMENTS]: undefined as never,
        [ATTR.TOKENS_RESULT]: undefined as never,
        [ATTR.TOKENS_CATALOG]: 1.25,
      },
    );
    expect(validateSpan(listing)).toEqual({
      method: MCP_METHOD.TOOLS_LIST,
      weight: 1,
      notCounted: undefined,
      tokens: undefined,
      catalogTotal: undefined,
      catalogTools: [{ tool: 'search', tokens: 120 }],
      invalidTokenCounts: 3,
    });
  });

  it('with the value checks off (benchmark baseline) takes any finite non-negative count and drops nothing as invalid', () => {
    const input = span({}, { [ATTR.TOKENS_ARGUMENTS]: '7', [ATTR.TOKENS_RESULT]: -1 });
    expect(validateSpan(input, { valueChecks: false })).toEqual(call({ tokens: { arguments: 7 } }));
    // Span-level checks stay on.
    expect(validateSpan(span({ spanId: '' }), { valueChecks: false })).toBe(I.INVALID_ID);
  });

  it("hands over a tools/call span's latest valid breaker transition, by event time", () => {
    // Nanosecond doubles at today's epoch are 256 ns coarse: times a millisecond apart.
    const MS = 1_000_000;
    const transition = (state: string, at: number) => ({
      name: EVENT.BREAKER_TRANSITION,
      timeUnixNano: at,
      attributes: { [ATTR.BREAKER_STATE]: state },
    });
    const events = [
      transition('half_open', START + 30 * MS),
      transition('open', START + 10 * MS),
      transition('ajar', START + 90 * MS),
      transition('closed', Number.NaN),
      { ...transition('closed', START + 80 * MS), name: 'some.other.event' },
    ];
    expect(validateSpan(span({ events }))).toEqual(call({ breaker: { state: 1, timeUnixNano: START + 30 * MS } }));
    // Equal times: the last listed.
    const tie = [transition('half_open', START + 5 * MS), transition('closed', START + 5 * MS)];
    expect(validateSpan(span({ events: tie }))).toEqual(call({ breaker: { state: 0, timeUnixNano: START + 5 * MS } }));
    // Only tools/call spans carry breaker transitions the tally reads.
    const listing = span({ events }, { [ATTR.MCP_METHOD_NAME]: MCP_METHOD.TOOLS_LIST });
    expect((validateSpan(listing) as ValidSpan).breaker).toBeUndefined();
  });
});
