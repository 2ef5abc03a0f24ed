/**
 * `mcplens wrap [options] -- <command> [args...]`: runs a stdio MCP server written in any
 * language as a child process, relays its bytes unchanged and ends the way the child ends:
 * its exit code, or the signal it died of re-raised; 127 (not found) or 126 (not executable)
 * when it cannot start, as a shell does. SIGINT, SIGTERM and SIGHUP are passed to the child.
 * mcplens writes nothing to stdout; its own lines go to stderr.
 */
import { constants as osConstants } from 'node:os';
import { startChildRelay, type ChildExit } from './child-relay.js';

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export const WRAP_USAGE = `usage: mcplens wrap [options] -- <command> [args...]

Runs a stdio MCP server (any language) and relays its stdin and stdout byte for byte.
A host entry such as "python server.py" becomes "mcplens wrap -- python server.py".

options:
  -h, --help   print this help
`;

/** What the command line asked for. */
export interface WrapArgs {
  command: string;
  args: string[];
}

/** Splits `[options] -- command args`; a usage mistake throws with a message naming it. */
export function parseWrapArgs(argv: readonly string[]): WrapArgs | 'help' {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? argv : argv.slice(0, dashes);
  if (own.includes('-h') || own.includes('--help')) return 'help';
  const unknown = own[0];
  if (unknown !== undefined) throw new Error(`unknown option '${unknown}'`);
  const [command, ...args] = dashes === -1 ? [] : argv.slice(dashes + 1);
  if (command === undefined || command === '') throw new Error("no command: put it after '--'");
  return { command, args };
}

/**
 * Runs the wrap command to the end. Resolves with the exit code to use; when the child died
 * of a signal, re-raises it on this process first (the promise then usually never settles).
 */
export async function runWrapCli(argv: readonly string[]): Promise<number> {
  let parsed: WrapArgs | 'help';
  try {
    parsed = parseWrapArgs(argv);
  } catch (err) {
    process.stderr.write(`mcplens wrap: ${(err as Error).message}\n\n${WRAP_USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    process.stderr.write(WRAP_USAGE);
    return 0;
  }

  const relay = startChildRelay({ command: parsed.command, args: parsed.args });
  const forward = (signal: NodeJS.Signals): void => relay.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  const exit = await relay.exited;
  for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  return endLike(exit);
}

/** The exit code that mirrors the child's end; a signal is re-raised on this process. */
function endLike(exit: ChildExit): number {
  switch (exit.kind) {
    case 'exited':
      return exit.code;
    case 'not-started':
      process.stderr.write(`mcplens wrap: ${exit.message}\n`);
      return exit.code;
    case 'signalled': {
      // Default action for the signal, as if this process had received it. If it is ignored
      // or handled elsewhere, fall back to the shell's convention 128 + signal number.
      process.kill(process.pid, exit.signal);
      return 128 + (osConstants.signals[exit.signal] ?? 0);
    }
  }
}
