/**
 * The guards around one tools/call, in their order: authorization, idempotency, circuit breaker,
 * timeout. Independent of how the call arrives: the SDK attachment (server-guards.ts) hands it
 * the call and a function that runs the handler with an abort signal.
 */
import { context as otelContext, diag, SpanKind, trace, type Span, type Tracer } from '@opentelemetry/api';
import { ATTR, EVENT, META_KEYS, SPAN_NAME, type GuardOutcome, type Outcome } from '../../contract/index.js';
import type { BearerAnswer } from './bearer-challenge.js';
import { createAuthorization, type Authorization, type Caller, type CallerSource } from './authorization.js';
import { CircuitBreaker, type BreakerTransition } from './circuit-breaker.js';
import { circuitOpen, isToolError, timedOut, toolError, type ToolErrorResult } from './guard-answers.js';
import { DEFAULT_TIMEOUT_MS, resolveToolGuards, type GuardsConfig, type ResolvedToolGuards } from './guard-config.js';
import { beginIdempotent, type IdempotentRun, type JsonValue } from './idempotency/index.js';
import { conflict, createIdempotencyGuard, inProgress, storeUnavailable, type IdempotencyGuard } from './idempotency-guard.js';
import { TokenVerificationUnavailableError } from './token-verifier.js';

/** Where a guard writes its decisions: the span of the call (see `guardOutcome` in pending-request.ts). */
export interface GuardRecorder {
  /** The call's outcome as a guard decided it (it wins over what the answer says, cancellation aside). */
  decide(outcome: GuardOutcome, attributes?: Readonly<Record<string, string | number | string[]>>): void;
  /** The call's span, for breaker events and the late-completion span; undefined when it has none. */
  readonly span: Span | undefined;
  /**
   * A tools/list answer before `hideUnauthorizedTools` filtered it: the observer records the
   * server's whole catalog, not one caller's view of it.
   */
  listedInFull?(result: unknown): void;
}

/** One call as the guards see it. */
export interface GuardedCall {
  tool: string;
  args: unknown;
  /** The caller's credentials (HTTP transports): the SDK's `authInfo`, the `Authorization` header. */
  credentials: CallerSource;
  /** The client's cancellation signal (the SDK's), when there is one. */
  signal: AbortSignal | undefined;
  recorder: GuardRecorder | undefined;
  /**
   * Told the HTTP answer of an authorization refusal (401, 403 with its challenge, 503), for a
   * host that answers on HTTP itself (`mcplens proxy`); the call still resolves with the tool error.
   */
  onHttpRefusal?: (answer: BearerAnswer) => void;
}

/** How a handler's run ended, for the breaker: a failure (it threw, or outside the process an error answer) or not. */
export type FailureTest<R> = (settled: Settled<R>) => boolean;
type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };
/**
 * Runs the handler with the call's abort signal: the client's own, or the guard's (a function that
 * makes it on first use, see `withTimeout`); undefined when there is none.
 */
export type Run<R> = (signal: AbortSignal | (() => AbortSignal) | undefined) => Promise<R>;

/** The signal a {@link Run} was given, made now if it is made on first use. */
export function signalOf(signal: AbortSignal | (() => AbortSignal) | undefined): AbortSignal | undefined {
  return typeof signal === 'function' ? signal() : signal;
}

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

const UNVERIFIABLE = 'Authorization could not be checked (the signing keys are unreachable); nothing was done; retry later.';

export class ToolGuards {
  private readonly tools = new Map<string, ToolState>();
  private readonly shared: ToolState;
  readonly authorization: Authorization | undefined;
  private readonly idempotency: IdempotencyGuard | undefined;

  constructor(
    private readonly config: GuardsConfig,
    private readonly options: ToolGuardsOptions,
  ) {
    // Tools past the bound share one state (one breaker): bounded memory, still guarded.
    this.shared = this.stateFor('');
    this.authorization = config.authorization === undefined ? undefined : createAuthorization(config.authorization, 'guards.authorization');
    this.idempotency = config.idempotency === undefined ? undefined : createIdempotencyGuard(config.idempotency, longestTimeout(config));
  }

  /**
   * Runs `run` under the tool's guards, in order: authorization, idempotency, circuit breaker,
   * timeout. Resolves with the handler's value, or a guard's tool-error answer in its place
   * (the recorder learns which guard decided). Rejects only when the handler itself rejected in time.
   */
  async call<R>(call: GuardedCall, run: Run<R>, failed: FailureTest<R>): Promise<R | ToolErrorResult> {
    let caller: Caller | undefined;
    if (this.authorization !== undefined) {
      const decided = await this.authorize(call, this.authorization);
      if ('refusal' in decided) return decided.refusal;
      caller = decided.caller;
    }
    const idempotency = this.idempotency;
    const key = idempotency?.keyOf(call.tool, call.args);
    if (idempotency === undefined || key === undefined) return await this.guarded(call, run, failed, undefined);
    const scope = caller?.subject ?? caller?.clientId;
    const begun = await beginIdempotent(
      idempotency.store,
      { scope, tool: call.tool, key, args: call.args },
      { waitMs: idempotency.waitMs },
    );
    switch (begun.kind) {
      case 'run':
        return await this.guarded(call, run, failed, begun);
      case 'replay':
        call.recorder?.decide('replayed');
        return replayed(begun.result, begun.isError) as R;
      case 'conflict':
        call.recorder?.decide('idempotency_conflict');
        return conflict(key);
      case 'in_progress':
        call.recorder?.decide('in_progress');
        return inProgress(key);
      case 'unavailable':
        diag.warn(`mcplens: idempotency store unavailable (${begun.error.message})`);
        return idempotency.failOpen ? await this.guarded(call, run, failed, undefined) : storeUnavailable();
    }
  }

  /** The caller, or the refusal when they may not call the tool. */
  private async authorize(call: GuardedCall, authorization: Authorization): Promise<{ caller: Caller } | { refusal: ToolErrorResult }> {
    let caller: Caller;
    try {
      caller = await authorization.resolveCaller(call.credentials);
    } catch (error) {
      call.onHttpRefusal?.(authorization.answerFor(error));
      // Keys unreachable: the server's fault, answered as a tool error (no guard outcome).
      if (error instanceof TokenVerificationUnavailableError) return { refusal: toolError(UNVERIFIABLE) };
      call.recorder?.decide('unauthorized');
      return { refusal: toolError(`Unauthorized: ${error instanceof Error ? error.message : 'invalid credentials'}.`) };
    }
    const decision = authorization.authorize(call.tool, caller.scopes);
    if (decision.allowed) return { caller };
    call.recorder?.decide('unauthorized', { [ATTR.MISSING_SCOPES]: [...decision.missing] });
    const denial = authorization.denial(call.tool, decision);
    call.onHttpRefusal?.(denial.http);
    return { refusal: toolError(denial.message) };
  }

  /** Breaker and timeout around the handler; the idempotency claim, if any, gets the handler's own answer. */
  private async guarded<R>(
    call: GuardedCall,
    run: Run<R>,
    failed: FailureTest<R>,
    claim: IdempotentRun | undefined,
  ): Promise<R | ToolErrorResult> {
    const state = this.state(call.tool);
    const breaker = state.breaker;
    let trial = false;
    if (breaker !== undefined) {
      const admission = breaker.admit();
      if (!admission.admitted) {
        call.recorder?.decide('circuit_open');
        settleClaim(claim, undefined);
        return circuitOpen(call.tool, admission.retryInMs);
      }
      trial = admission.trial;
      transition(call.recorder, admission.transition);
    }
    const counted = (settled: Settled<R>): void =>
      transition(call.recorder, failed(settled) ? breaker?.failed(trial) : breaker?.succeeded(trial));
    const answered = (settled: Settled<R>): void => settleClaim(claim, settled);
    const timeoutMs = state.guards.timeoutMs;
    if (timeoutMs > 0) return await this.withTimeout(call, timeoutMs, run, counted, answered, claim !== undefined);
    try {
      const value = await run(call.signal);
      answered({ ok: true, value });
      counted({ ok: true, value });
      return value;
    } catch (error) {
      answered({ ok: false, error });
      counted({ ok: false, error });
      throw error;
    }
  }

  /**
   * Runs the handler with a signal that fires on the client's cancellation and at the timeout, when the client is answered "timed out".
   * The signal (an AbortController, and the listener on the client's) is made only when the handler reads it: most never do, and it
   * is the dearest part of a call that ends in time. Made after either event, it is already aborted with that event's reason.
   */
  private withTimeout<R>(
    call: GuardedCall,
    timeoutMs: number,
    run: Run<R>,
    counted: (settled: Settled<R>) => void,
    answered: (settled: Settled<R>) => void,
    idempotent: boolean,
  ): Promise<R | ToolErrorResult> {
    const clientSignal = call.signal;
    let controller: AbortController | undefined;
    let onClientAbort: (() => void) | undefined;
    // The timeout's reason when it fired before the signal was made and before the client cancelled.
    let timeoutReason: DOMException | undefined;
    const signal = (): AbortSignal => {
      if (controller !== undefined) return controller.signal;
      const made = new AbortController();
      controller = made;
      if (timeoutReason !== undefined) made.abort(timeoutReason);
      else if (clientSignal?.aborted === true) made.abort(clientSignal.reason);
      else if (clientSignal !== undefined) {
        onClientAbort = (): void => made.abort(clientSignal.reason);
        clientSignal.addEventListener('abort', onClientAbort, { once: true });
      }
      return made.signal;
    };
    return new Promise<R | ToolErrorResult>((resolve, reject) => {
      let timedOutAt = 0;
      const timer = setTimeout(() => {
        timedOutAt = Date.now();
        call.recorder?.decide('timeout', { [ATTR.TIMEOUT_MS]: timeoutMs });
        // The breaker counts the timeout now; the idempotency claim waits for the handler's own answer.
        counted({ ok: false, error: TIMED_OUT });
        resolve(timedOut(timeoutMs, idempotent));
        const reason = new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError');
        if (controller !== undefined) controller.abort(reason);
        else if (clientSignal?.aborted !== true) timeoutReason = reason;
      }, timeoutMs);
      // A pending guard timer must not keep an otherwise finished process alive.
      timer.unref();
      const settle = (settled: Settled<R>): void => {
        if (onClientAbort !== undefined) clientSignal?.removeEventListener('abort', onClientAbort);
        // Late or not, the handler's own answer is what a retry with the same key gets.
        answered(settled);
        if (timedOutAt !== 0) {
          this.lateCompletion(call, timedOutAt, settled);
          return;
        }
        clearTimeout(timer);
        counted(settled);
        if (settled.ok) resolve(settled.value);
        else reject(settled.error);
      };
      let running: Promise<R>;
      try {
        running = run(signal);
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
  private lateCompletion<R>(call: GuardedCall, timedOutAt: number, settled: Settled<R>): void {
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

/** The error a timed-out run is counted with (the breaker's failure test sees it). */
const TIMED_OUT = new Error('timed out');

/** Longest timeout the configuration names: a claim's lease must outlast it. */
function longestTimeout(config: GuardsConfig): number {
  const all = [config.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...Object.values(config.tools ?? {}).map((t) => t.timeoutMs ?? 0)];
  return Math.max(...all);
}

/**
 * Stores the handler's answer for its idempotency key: a result (errors included); when the
 * handler threw or never ran (`settled` undefined), frees the key so that a retry runs.
 */
function settleClaim(claim: IdempotentRun | undefined, settled: { ok: boolean; value?: unknown } | undefined): void {
  if (claim === undefined) return;
  const stored =
    settled?.ok === true && settled.value !== undefined
      ? claim.complete(settled.value as JsonValue, isToolError(settled.value))
      : claim.release();
  stored.catch((err: unknown) =>
    diag.warn(`mcplens: storing an idempotent answer failed (${(err as Error).message}); a retry will run again`),
  );
}

/** A stored answer given again, marked in its `_meta` so the client can tell. */
function replayed(result: JsonValue, isError: boolean): JsonValue {
  if (result === null || typeof result !== 'object' || Array.isArray(result)) return result;
  const meta = result._meta !== null && typeof result._meta === 'object' && !Array.isArray(result._meta) ? result._meta : {};
  return { ...result, ...(isError ? { isError: true } : {}), _meta: { ...meta, [META_KEYS.IDEMPOTENT_REPLAY]: true } };
}

function transition(recorder: GuardRecorder | undefined, change: BreakerTransition | undefined): void {
  if (change === undefined || recorder?.span === undefined) return;
  recorder.span.addEvent(EVENT.BREAKER_TRANSITION, { [ATTR.BREAKER_STATE]: change.to, [ATTR.BREAKER_PREVIOUS_STATE]: change.from });
}
