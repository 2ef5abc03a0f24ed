/**
 * The guards around one tools/call, in their order: authorization, idempotency, circuit breaker,
 * timeout. Independent of how the call arrives: the SDK attachment (server-guards.ts) hands it
 * the call and a function that runs the handler with an abort signal.
 */
import { context as otelContext, SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR, EVENT, SPAN_NAME, type GuardOutcome, type Outcome } from '../../contract/index.js';
import { CircuitBreaker, type BreakerTransition } from './circuit-breaker.js';
import { circuitOpen, timedOut, type ToolErrorResult } from './guard-answers.js';
import { resolveToolGuards, type GuardsConfig, type ResolvedToolGuards } from './guard-config.js';

/** Where a guard writes its decisions: the span of the call (see GuardMark in pending-request.ts). */
export interface GuardRecorder {
  /** The call's outcome as a guard decided it (it wins over what the answer says, cancellation aside). */
  decide(outcome: GuardOutcome, attributes?: Readonly<Record<string, string | number | string[]>>): void;
  /** The call's span, for breaker events and the late-completion span; undefined when it has none. */
  readonly span: Span | undefined;
}

/** One call as the guards see it. */
export interface GuardedCall {
  tool: string;
  /** The client's cancellation signal (the SDK's), when there is one. */
  signal: AbortSignal | undefined;
  recorder: GuardRecorder | undefined;
}

/** How a handler's run ended, for the breaker: a failure (it threw, or outside the process an error answer) or not. */
export type FailureTest<R> = (settled: { ok: true; value: R } | { ok: false; error: unknown }) => boolean;

interface ToolState {
  readonly guards: ResolvedToolGuards;
  readonly breaker: CircuitBreaker | undefined;
}

export interface ToolGuardsOptions {
  /** The clock of the breakers (a test's controllable one). Default `Date.now`. */
  now?: () => number;
  /** Tracer of the late-completion spans. */
  tracer: () => Tracer;
}

/** Bound on the per-tool states kept: tool names come from callers (an unknown name gets no state of its own). */
const MAX_TOOLS = 1000;

export class ToolGuards {
  private readonly tools = new Map<string, ToolState>();
  private readonly shared: ToolState;

  constructor(
    private readonly config: GuardsConfig,
    private readonly options: ToolGuardsOptions,
  ) {
    // Tools past the bound share one state (one breaker): bounded memory, still guarded.
    this.shared = this.stateFor('');
  }

  /**
   * Runs `run` under the tool's guards. Resolves with the handler's value, or a guard's
   * tool-error answer in its place (the recorder learns which guard decided). Rejects only
   * when the handler itself rejected in time.
   */
  async call<R>(
    call: GuardedCall,
    run: (signal: AbortSignal | undefined) => Promise<R>,
    failed: FailureTest<R>,
  ): Promise<R | ToolErrorResult> {
    const state = this.state(call.tool);
    const breaker = state.breaker;
    let trial = false;
    if (breaker !== undefined) {
      const admission = breaker.admit();
      if (!admission.admitted) {
        call.recorder?.decide('circuit_open');
        return circuitOpen(call.tool, admission.retryInMs);
      }
      trial = admission.trial;
      transition(call.recorder, admission.transition);
    }
    const timeoutMs = state.guards.timeoutMs;
    if (timeoutMs === 0) {
      try {
        const value = await run(call.signal);
        transition(call.recorder, failed({ ok: true, value }) ? breaker?.failed(trial) : breaker?.succeeded(trial));
        return value;
      } catch (error) {
        transition(call.recorder, failed({ ok: false, error }) ? breaker?.failed(trial) : breaker?.succeeded(trial));
        throw error;
      }
    }
    return await this.withTimeout(call, state, trial, timeoutMs, run, failed);
  }

  private withTimeout<R>(
    call: GuardedCall,
    state: ToolState,
    trial: boolean,
    timeoutMs: number,
    run: (signal: AbortSignal | undefined) => Promise<R>,
    failed: FailureTest<R>,
  ): Promise<R | ToolErrorResult> {
    const breaker = state.breaker;
    const controller = new AbortController();
    const clientSignal = call.signal;
    const onClientAbort = (): void => controller.abort(clientSignal?.reason);
    if (clientSignal !== undefined) {
      if (clientSignal.aborted) controller.abort(clientSignal.reason);
      else clientSignal.addEventListener('abort', onClientAbort, { once: true });
    }
    return new Promise<R | ToolErrorResult>((resolve, reject) => {
      let timedOutAt = 0;
      const timer = setTimeout(() => {
        timedOutAt = Date.now();
        call.recorder?.decide('timeout', { [ATTR.TIMEOUT_MS]: timeoutMs });
        transition(call.recorder, breaker?.failed(trial));
        resolve(timedOut(timeoutMs, false));
        controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
      }, timeoutMs);
      // A pending guard timer must not keep an otherwise finished process alive.
      timer.unref();
      const settle = (settled: { ok: true; value: R } | { ok: false; error: unknown }): void => {
        clientSignal?.removeEventListener('abort', onClientAbort);
        if (timedOutAt !== 0) {
          this.lateCompletion(call, timedOutAt, settled);
          return;
        }
        clearTimeout(timer);
        transition(call.recorder, failed(settled) ? breaker?.failed(trial) : breaker?.succeeded(trial));
        if (settled.ok) resolve(settled.value);
        else reject(settled.error);
      };
      let running: Promise<R>;
      try {
        running = run(controller.signal);
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (value) => settle({ ok: true, value }),
        (error: unknown) => settle({ ok: false, error }),
      );
    });
  }

  /** The handler finished after its timeout was answered: a child span of the call, from the timeout to now. */
  private lateCompletion(call: GuardedCall, timedOutAt: number, settled: { ok: boolean; value?: unknown }): void {
    const parent = call.recorder?.span;
    if (parent === undefined) return;
    const outcome: Outcome = !settled.ok ? 'error' : isToolError(settled.value) ? 'tool_error' : 'ok';
    const span = this.options
      .tracer()
      .startSpan(
        SPAN_NAME.LATE_COMPLETION,
        { kind: SpanKind.INTERNAL, startTime: timedOutAt, attributes: { [ATTR.GEN_AI_TOOL_NAME]: call.tool, [ATTR.OUTCOME]: outcome } },
        trace.setSpan(otelContext.active(), parent),
      );
    span.end();
  }

  private state(tool: string): ToolState {
    const known = this.tools.get(tool);
    if (known !== undefined) return known;
    if (this.tools.size >= MAX_TOOLS) return this.shared;
    const state = this.stateFor(tool);
    this.tools.set(tool, state);
    return state;
  }

  private stateFor(tool: string): ToolState {
    const guards = resolveToolGuards(this.config, tool);
    const breaker = guards.circuitBreaker === undefined ? undefined : new CircuitBreaker(guards.circuitBreaker, this.options.now);
    return { guards, breaker };
  }
}

function transition(recorder: GuardRecorder | undefined, change: BreakerTransition | undefined): void {
  if (change === undefined || recorder?.span === undefined) return;
  recorder.span.addEvent(EVENT.BREAKER_TRANSITION, { [ATTR.BREAKER_STATE]: change.to, [ATTR.BREAKER_PREVIOUS_STATE]: change.from });
}

function isToolError(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { isError?: unknown }).isError === true;
}
