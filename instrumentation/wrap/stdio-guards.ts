/**
 * The guards of tool-guards.ts outside the server's process, on the lines `mcplens wrap` relays:
 * a tools/call request is held back from the server until the guards let it run (authorization,
 * idempotency, circuit breaker), then forwarded; the server's answer with its id settles the run.
 * A guard's own answer (refusal, replay, timeout) goes to the client as the JSON-RPC result of
 * the request's id. At a timeout the server is sent `notifications/cancelled` for the id; its
 * answer, if it still sends one, is not forwarded (the client has one already), but the guards
 * record it (a late-completion span, the answer stored for the idempotency key). An SDK server
 * usually drops the answer of a cancelled request: then nothing late is recorded.
 */
import { MCP_METHOD } from '../../contract/index.js';
import { timeoutCancellation } from '../guards/guard-answers.js';
import { signalOf, type GuardRecorder, type ToolGuards } from '../guards/tool-guards.js';
import { isRecord } from '../is-record.js';
import { outsideFailure } from '../guards/outside-failure.js';

/** Where the guarded lines go, and who records the decisions. */
export interface StdioGuardsIo {
  /** A line for the server (a whole line; wrap's relay writes it at once). */
  toServer(line: Buffer): void;
  /** A line for the client, in place of the server's answer. */
  toClient(line: Buffer): void;
  /** The span recorder of a request the client sent (looked up when a guard decides). */
  recorder(id: unknown): GuardRecorder | undefined;
  /** An answer for the observer: a guard's own (it never passes the server's stdout), or the server's once the guards have settled it. */
  answered?(message: Record<string, unknown>): void;
}

/** The server's answer to a guarded call: its result, or a JSON-RPC error (the run rejects with it). */
export class ServerErrorAnswer extends Error {
  constructor(readonly message_: Record<string, unknown>) {
    super('the server answered with a JSON-RPC error');
  }
}

/** The client cancelled the call before it was forwarded: nothing is sent to the server, nothing answered. */
const CANCELLED_BEFORE_FORWARD = new Error('cancelled before it was forwarded');

interface Pending {
  readonly id: string | number;
  /** Set once the run forwarded the request: settles it with the server's answer. */
  settle?: (message: Record<string, unknown>) => void;
  /** Who answered the client first. */
  answeredBy?: 'server' | 'guard';
  /** The server's answer in time: the observer gets it once the guards have counted it. */
  serverAnswer?: Record<string, unknown>;
  readonly cancel: AbortController;
}

const NEWLINE = '\n';
/** JSON-RPC 2.0 Invalid Request. */
const INVALID_REQUEST = -32600;
const BATCH_REFUSED = 'mcplens: with guards on, a tools/call must be sent alone, not in a batch';
/** Bound on the calls kept: past it, the oldest already answered by a guard stop waiting for a late answer. */
const MAX_PENDING = 10_000;

/** Guards the tools/call requests of one relayed stdio session. */
export class StdioGuards {
  /** Guarded requests the client is waiting on, by JSON id. */
  private readonly pending = new Map<string, Pending>();
  /** Answers of the server the observer waits for (see {@link holdsAnswer}). */
  private readonly heldForObserver = new Set<string>();

  constructor(
    private readonly guards: ToolGuards,
    private readonly io: StdioGuardsIo,
  ) {}

  /** A line from the client: true when it is a tools/call the guards hold (it must not be forwarded now). */
  clientLine(line: Buffer): boolean {
    const value = parse(line);
    if (Array.isArray(value)) return this.refuseBatch(value);
    const message = isRecord(value) ? value : undefined;
    if (message === undefined) return false;
    if (message.method === MCP_METHOD.CANCELLED) {
      const params = isRecord(message.params) ? message.params : {};
      this.pending.get(keyOf(params.requestId))?.cancel.abort(new DOMException('cancelled by the client', 'AbortError'));
      return false;
    }
    const id = message.id;
    if (message.method !== MCP_METHOD.TOOLS_CALL || (typeof id !== 'string' && typeof id !== 'number')) return false;
    const params = isRecord(message.params) ? message.params : undefined;
    if (params === undefined || typeof params.name !== 'string') return false;
    const key = keyOf(id);
    // An id reused while its call is pending: the server sorts that out, unguarded.
    if (this.pending.has(key)) return false;
    const entry: Pending = { id, cancel: new AbortController() };
    this.pending.set(key, entry);
    if (this.pending.size > MAX_PENDING) this.forgetLate();
    const recorder = this.recorderOf(id);
    void this.guards
      .call(
        { tool: params.name, args: params.arguments, credentials: {}, signal: entry.cancel.signal, recorder },
        // Outside the process the signal is always listened to (it sends the cancellation).
        (signal) => this.forward(entry, line, signalOf(signal)),
        (settled) => (settled.ok ? outsideFailure({ result: settled.value }) : outsideFailure(errorMessageOf(settled.error))),
      )
      .then(
        (value) => this.finish(entry, value),
        (error: unknown) => this.finish(entry, undefined, error),
      );
    return true;
  }

  /**
   * A JSON-RPC batch (dropped from MCP in 2025-06-18, still sent by some clients): one holding a
   * tools/call is not forwarded, and each request in it is answered with an Invalid Request
   * error, since the guards decide one call per message (as `mcplens proxy` refuses such a batch).
   */
  private refuseBatch(messages: readonly unknown[]): boolean {
    if (!messages.some((m) => isRecord(m) && m.method === MCP_METHOD.TOOLS_CALL)) return false;
    const answers = messages
      .filter(
        (m): m is Record<string, unknown> =>
          isRecord(m) && typeof m.method === 'string' && (typeof m.id === 'string' || typeof m.id === 'number'),
      )
      .map((m) => ({ jsonrpc: '2.0', id: m.id, error: { code: INVALID_REQUEST, message: BATCH_REFUSED } }));
    for (const answer of answers) this.io.answered?.(answer);
    if (answers.length > 0) this.io.toClient(Buffer.from(JSON.stringify(answers) + NEWLINE));
    return true;
  }

  /** A line from the server: true when it is an answer the client must not see (the guard answered already). */
  serverLine(line: Buffer): boolean {
    if (this.pending.size === 0) return false;
    const parsed = parse(line);
    const message = isRecord(parsed) ? parsed : undefined;
    if (message === undefined || message.method !== undefined || !('result' in message || 'error' in message)) return false;
    const entry = this.pending.get(keyOf(message.id));
    if (entry?.settle === undefined) return false;
    this.pending.delete(keyOf(entry.id));
    const late = entry.answeredBy === 'guard';
    if (!late) {
      entry.answeredBy = 'server';
      entry.serverAnswer = message;
      this.heldForObserver.add(keyOf(entry.id));
    }
    entry.settle(message);
    return late;
  }

  /**
   * Whether the observer must leave this answer of the server for later: the guards are still
   * settling the call (a breaker transition goes on its span), and {@link StdioGuardsIo.answered} hands it over then.
   */
  holdsAnswer(message: Record<string, unknown>): boolean {
    return this.heldForObserver.size > 0 && message.method === undefined && this.heldForObserver.has(keyOf(message.id));
  }

  /** Runs the call: forwards the request and settles with the server's answer to its id. */
  private forward(entry: Pending, line: Buffer, signal: AbortSignal | undefined): Promise<unknown> {
    if (signal?.aborted === true) return Promise.reject(CANCELLED_BEFORE_FORWARD);
    return new Promise((resolve, reject) => {
      entry.settle = (message) => (isRecord(message.error) ? reject(new ServerErrorAnswer(message)) : resolve(message.result));
      signal?.addEventListener(
        'abort',
        () => {
          // The client's own cancellation reached the server already; a timeout's is wrap's to send.
          if ((signal.reason as { name?: unknown } | undefined)?.name !== 'TimeoutError') return;
          this.io.toServer(Buffer.from(timeoutCancellation(entry.id, signal.reason) + NEWLINE));
        },
        { once: true },
      );
      this.io.toServer(line);
    });
  }

  /** The guards decided: the server's own answer went through already, or the guard's goes now. */
  private finish(entry: Pending, value: unknown, error?: unknown): void {
    if (entry.answeredBy === 'server') {
      this.heldForObserver.delete(keyOf(entry.id));
      if (entry.serverAnswer !== undefined) this.io.answered?.(entry.serverAnswer);
      return;
    }
    if (error === CANCELLED_BEFORE_FORWARD) {
      this.pending.delete(keyOf(entry.id));
      return;
    }
    // The guard answered first; a late answer of the server is still awaited (and swallowed) if it was forwarded.
    entry.answeredBy = 'guard';
    if (entry.settle === undefined) this.pending.delete(keyOf(entry.id));
    const message: Record<string, unknown> =
      error === undefined
        ? { jsonrpc: '2.0', id: entry.id, result: value }
        : { jsonrpc: '2.0', id: entry.id, error: { code: -32603, message: `mcplens wrap: ${(error as Error).message}` } };
    this.io.toClient(Buffer.from(JSON.stringify(message) + NEWLINE));
    this.io.answered?.(message);
  }

  /** Stops waiting for the late answers of the oldest timed-out calls (a server that never answers them). */
  private forgetLate(): void {
    for (const [key, entry] of this.pending) {
      if (this.pending.size <= MAX_PENDING / 2) return;
      if (entry.answeredBy === 'guard') this.pending.delete(key);
    }
  }

  /** A recorder that finds the request's span when a guard decides (the observer may see the request after the guard). */
  private recorderOf(id: unknown): GuardRecorder {
    const io = this.io;
    // The span is kept once found: a late completion comes after the request's span has ended.
    let span: GuardRecorder['span'];
    const find = (): GuardRecorder | undefined => {
      const found = io.recorder(id);
      span ??= found?.span;
      return found;
    };
    return {
      decide: (outcome, attributes) => find()?.decide(outcome, attributes),
      get span() {
        find();
        return span;
      },
    };
  }
}

function errorMessageOf(error: unknown): Record<string, unknown> {
  if (error instanceof ServerErrorAnswer) return error.message_;
  // Cancelled by the client before it ran is no failure; a timeout is.
  return error === CANCELLED_BEFORE_FORWARD ? { result: {} } : { error: { message: String(error) } };
}

function keyOf(id: unknown): string {
  return JSON.stringify(id) ?? '';
}

function parse(line: Buffer): unknown {
  try {
    return JSON.parse(line.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
