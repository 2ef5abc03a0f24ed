/**
 * The messages between the bench parent and its children, and the figures the parent
 * assembles from them. Shared by both sides so the shape is typed once.
 */

/** The telemetry set-ups the bench knows; `mcplens-lean` (tokens, call log and metrics off) is a diagnostic, not run by default. */
export const VARIANT_NAMES = ['bare', 'bare-span', 'mcplens', 'sentry', 'mcplens-lean', 'mcplens-client'] as const;
/** One telemetry set-up. */
export type VariantName = (typeof VARIANT_NAMES)[number];
/** The variants a run compares unless told otherwise. */
export const DEFAULT_VARIANTS: readonly VariantName[] = ['bare', 'bare-span', 'mcplens', 'sentry', 'mcplens-client'];

/** The MCP transports compared. */
export const TRANSPORT_NAMES = ['memory', 'http'] as const;
/** `memory`: InMemoryTransport linked pair; `http`: Streamable HTTP on 127.0.0.1. */
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** Tool result sizes measured. */
export const RESULT_SIZES = ['100B', '10KB'] as const;
/** A tool result size. */
export type ResultSize = (typeof RESULT_SIZES)[number];

/** Sequential calls with one result size: latency and CPU. */
export interface SequentialFigures {
  calls: number;
  /** Client-side round-trip latency per call, microseconds. */
  medianUs: number;
  p99Us: number;
  /** process CPU (user + system) per call over the loop plus the drain, microseconds. */
  cpuUs: number;
  /** tools/call spans exported for these calls (after the drain). */
  spans: number;
}

/** Calls made against spans exported in one load phase. */
export interface LoadFigures {
  calls: number;
  spans: number;
  /** Achieved call rate, calls per second. */
  rate: number;
  /** Client-side latency, microseconds (from issue to answer). */
  medianUs: number;
  p99Us: number;
}

/** One block of sequential calls of one result size, as a child measured it. */
export interface BlockFigures {
  /** Client round trip of each call, ms. */
  latenciesMs: number[];
  /** Process CPU over the block and its drain, µs. */
  cpuTotalUs: number;
  /** tools/call spans exported for the block's calls. */
  spans: number;
}

/** Parent -> child. */
export type ParentCommand =
  { type: 'warmup' } | { type: 'block'; size: ResultSize; calls: number; maxMs: number } | { type: 'load' } | { type: 'finish' };

/** Child -> parent: `ready` once set up, then one answer per command. */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'warmed' }
  | { type: 'block'; figures: BlockFigures }
  | { type: 'load'; burst: ChildFigures['burst']; paced: ChildFigures['paced'] }
  | { type: 'done'; allSpans: number };

/** Everything one child measured in one round. */
export interface ChildFigures {
  variant: VariantName;
  transport: TransportName;
  node: string;
  /** All of the round's blocks of one size together. */
  sequential: Record<ResultSize, SequentialFigures>;
  /** Median latency of each block (µs), in turn order: block i was measured in the same cycle as every other variant's block i. */
  blockMediansUs: Record<ResultSize, number[]>;
  /** `concurrency` calls in flight, as fast as the process can go, for a fixed time (100 B results). */
  burst: LoadFigures & { concurrency: number };
  /** A steady rate (default 1,000 calls/s) for a few seconds (100 B results); `sustained` false when the process fell behind and issuing stopped. */
  paced: LoadFigures & { targetRate: number; sustained: boolean };
  /** Spans of any kind the variant exported in total (Sentry adds http.server spans over HTTP). */
  allSpans: number;
}
