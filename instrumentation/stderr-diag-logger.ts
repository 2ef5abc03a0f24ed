import { format } from 'node:util';
import type { DiagLogger } from '@opentelemetry/api';

/**
 * An OpenTelemetry `DiagLogger` that writes to stderr only. OTel's own
 * `DiagConsoleLogger` prints info, debug and verbose on standard output, which a
 * stdio MCP server owns: one stray line there corrupts the JSON-RPC stream.
 */
export class StderrDiagLogger implements DiagLogger {
  error(message: string, ...args: unknown[]): void {
    write('error', message, args);
  }
  warn(message: string, ...args: unknown[]): void {
    write('warn', message, args);
  }
  info(message: string, ...args: unknown[]): void {
    write('info', message, args);
  }
  debug(message: string, ...args: unknown[]): void {
    write('debug', message, args);
  }
  verbose(message: string, ...args: unknown[]): void {
    write('verbose', message, args);
  }
}

function write(level: string, message: string, args: unknown[]): void {
  try {
    process.stderr.write(`mcplens ${level}: ${format(message, ...args)}\n`);
  } catch {
    // stderr closed: nowhere left to report, and the host must not notice.
  }
}
