/**
 * The process side of `mcplens wrap`: runs a server command as a child process and relays
 * bytes between it and the host. The host's stdin goes to the child's stdin and the child's
 * stdout to stdout, unchanged and in order, each chunk forwarded as it arrives (partial lines
 * too); the child's stderr is the host's stderr (inherited, never read). Taps see each chunk
 * after it has been forwarded; a tap that throws is reported once and never stops the relay.
 */
import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { LineSplitter } from './line-splitter.js';

/** What {@link startChildRelay} needs. */
export interface ChildRelayOptions {
  /** The command, looked up on PATH as a shell would (no shell is involved). */
  command: string;
  args: readonly string[];
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** What the host writes (wrap's stdin, handed over by the process that runs it). */
  input: Readable;
  /** Where the child's output goes (wrap's stdout, handed over likewise). */
  output: Writable;
  /** Sees every chunk the host sent, after it went to the child. */
  onClientBytes?: (chunk: Buffer) => void;
  /** Sees every chunk the child wrote to stdout, after it went to the host. */
  onServerBytes?: (chunk: Buffer) => void;
  /**
   * The host's stdin ended: a promise here holds the child's EOF until it settles (wrap's own
   * requests still in flight must reach the server before it sees its input end).
   */
  beforeChildEof?: () => Promise<unknown> | undefined;
  /**
   * Set: the host's stream goes to the child whole lines at a time (a partial line is held until
   * its newline), and a line the gate claims is not forwarded (the gate forwards it later, or
   * answers it, itself: the guards). The client tap sees each chunk before the gate does.
   */
  clientLineGate?: (line: Buffer) => boolean;
  /**
   * Set: the child's stream goes to the host whole lines at a time, and a line the gate claims is
   * not forwarded (an answer the guards have already given in its place).
   */
  serverLineGate?: (line: Buffer) => boolean;
  /** Reports a failing tap or a broken pipe (default: one line on stderr). */
  onProblem?: (message: string) => void;
}

/** How the child ended: its exit code or signal, or the shell's 127/126 when it never started. */
export type ChildExit =
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'signalled'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'not-started'; readonly code: 126 | 127; readonly message: string };

/** A running relay. */
export interface ChildRelay {
  readonly pid: number | undefined;
  /** Settles once the child has exited and its stdout has been relayed to the end (bounded). */
  readonly exited: Promise<ChildExit>;
  /** Sends a signal to the child (a no-op once it has exited). */
  kill(signal: NodeJS.Signals): void;
  /**
   * Writes one line of wrap's own to the child's stdin, at a line boundary of the host's
   * stream (held until the host's current line is complete), so messages never interleave.
   */
  sendToChild(line: Buffer): void;
  /**
   * While set, the child's stdout is forwarded whole lines at a time (a partial line is held
   * until its newline), and lines the filter claims are not forwarded: the answers to wrap's
   * own requests. Unset, bytes flow through as they come again.
   */
  setServerLineFilter(filter: ((line: Buffer) => boolean) | undefined): void;
  /** Writes one line of wrap's own to the host (only with a server line gate: the child's stream is then whole lines). */
  sendToHost(line: Buffer): void;
}

const NEWLINE = 0x0a;
/** After the child exits, how long its stdout may still deliver bytes (a grandchild may hold it open). */
const STDOUT_DRAIN_MS = 200;

/** Spawns the command and starts relaying. Never throws: a command that cannot start settles `exited`. */
export function startChildRelay(options: ChildRelayOptions): ChildRelay {
  const { input, output } = options;
  const problem = options.onProblem ?? ((message: string) => void process.stderr.write(`mcplens wrap: ${message}\n`));
  const child = spawn(options.command, [...options.args], { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  const childIn = child.stdin;
  const childOut = child.stdout;

  let settle!: (exit: ChildExit) => void;
  const exited = new Promise<ChildExit>((resolve) => (settle = resolve));
  let settled = false;
  const finish = (exit: ChildExit): void => {
    if (settled) return;
    settled = true;
    input.off('data', onInput);
    input.off('end', onInputEnd);
    input.pause();
    settle(exit);
  };

  // Host -> child. stdin EOF is passed on; writes to a child that is gone are dropped (EPIPE).
  let childInBroken = false;
  childIn.on('error', () => {
    childInBroken = true;
  });
  const toChild = (bytes: Buffer): void => {
    if (childInBroken || bytes.length === 0) return;
    if (!childIn.write(bytes) && !input.isPaused()) {
      input.pause();
      childIn.once('drain', () => input.resume());
    }
  };
  // Wrap's own lines wait for the end of the host's current line.
  let clientAtLineStart = true;
  let ownLines: Buffer[] = [];
  const writeOwnLines = (): void => {
    const lines = ownLines;
    ownLines = [];
    for (const line of lines) toChild(line);
  };
  const clientGate = options.clientLineGate;
  // A failing gate forwards the line unguarded rather than losing it.
  const clientLines =
    clientGate === undefined
      ? undefined
      : new LineSplitter((line) => {
          if (!claims(clientGate, line)) toChild(line);
        });
  const onInput = (chunk: Buffer): void => {
    if (clientLines !== undefined) {
      // Seen first here: a guard that decides at once writes on the request's span, which the
      // observer opens when it sees the request. Only whole lines reach the child, so wrap's own
      // lines may go at any time.
      tap(options.onClientBytes, chunk, 'client');
      clientLines.push(chunk);
      return;
    }
    const newline = ownLines.length > 0 ? chunk.indexOf(NEWLINE) : -1;
    if (newline === -1) {
      toChild(chunk);
    } else {
      toChild(chunk.subarray(0, newline + 1));
      writeOwnLines();
      toChild(chunk.subarray(newline + 1));
    }
    if (chunk.length > 0) clientAtLineStart = chunk[chunk.length - 1] === NEWLINE;
    tap(options.onClientBytes, chunk, 'client');
  };
  const onInputEnd = (): void => {
    // The host's last line had no newline: it still reaches the child.
    if (clientLines !== undefined) toChild(clientLines.takeRest());
    let hold: Promise<unknown> | undefined;
    try {
      hold = options.beforeChildEof?.();
    } catch {
      hold = undefined;
    }
    if (hold === undefined) childIn.end();
    else void hold.finally(() => childIn.end());
  };
  input.on('data', onInput);
  input.on('end', onInputEnd);

  // Child -> host. If the host stops reading (EPIPE), the child's output is still drained
  // (and still observed), so the child never blocks on a full pipe.
  let outputBroken = false;
  const onOutputError = (err: Error): void => {
    if (!outputBroken) problem(`stdout is closed (${err.message}); the server's output is dropped`);
    outputBroken = true;
    childOut.resume();
  };
  output.on('error', onOutputError);
  const toHost = (bytes: Buffer): void => {
    if (outputBroken || bytes.length === 0) return;
    if (!output.write(bytes) && !childOut.isPaused()) {
      childOut.pause();
      output.once('drain', () => childOut.resume());
    }
  };
  // While wrap waits for answers of its own: whole lines, and not those answers.
  const serverGate = options.serverLineGate;
  let lineFilter: ((line: Buffer) => boolean) | undefined;
  // A failing filter or gate forwards the line: the host's bytes come first.
  const serverLines = new LineSplitter((line) => {
    if (!claims(lineFilter, line) && !claims(serverGate, line)) toHost(line);
  });
  childOut.on('end', () => {
    // The child's last line had no newline: it still reaches the host.
    toHost(serverLines.takeRest());
  });
  childOut.on('data', (chunk: Buffer) => {
    if (lineFilter === undefined && serverGate === undefined) toHost(chunk);
    else serverLines.push(chunk);
    tap(options.onServerBytes, chunk, 'server');
  });

  const tapsFailed = new Set<string>();
  function tap(fn: ((chunk: Buffer) => void) | undefined, chunk: Buffer, side: string): void {
    if (fn === undefined) return;
    try {
      fn(chunk);
    } catch (err) {
      if (tapsFailed.has(side)) return;
      tapsFailed.add(side);
      problem(`observing the ${side}'s messages failed (${err instanceof Error ? err.message : String(err)}); bytes are still relayed`);
    }
  }

  child.once('error', (err: NodeJS.ErrnoException) => {
    // Only a failed spawn has no pid; later errors (a failed kill) change nothing here.
    if (child.pid !== undefined) return;
    const notFound = err.code === 'ENOENT';
    const reason = notFound ? 'command not found' : err.code === 'EACCES' ? 'permission denied' : err.message;
    finish({ kind: 'not-started', code: notFound ? 127 : 126, message: `cannot run '${options.command}': ${reason}` });
  });

  child.once('exit', (code, signal) => {
    const exit: ChildExit = signal !== null ? { kind: 'signalled', signal } : { kind: 'exited', code: code ?? 0 };
    if (childOut.readableEnded) return finish(exit);
    const timer = setTimeout(() => finish(exit), STDOUT_DRAIN_MS);
    childOut.once('end', () => {
      clearTimeout(timer);
      finish(exit);
    });
  });

  return {
    pid: child.pid,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill(signal);
    },
    sendToChild(line) {
      if (clientAtLineStart && ownLines.length === 0) toChild(line);
      else ownLines.push(line);
    },
    sendToHost(line) {
      toHost(line);
    },
    setServerLineFilter(filter) {
      lineFilter = filter;
      if (filter === undefined && serverGate === undefined && serverLines.holding) toHost(serverLines.takeRest());
    },
  };
}

/** Whether `gate` claims the line; a gate that is unset or throws claims nothing. */
function claims(gate: ((line: Buffer) => boolean) | undefined, line: Buffer): boolean {
  if (gate === undefined) return false;
  try {
    return gate(line);
  } catch {
    return false;
  }
}
