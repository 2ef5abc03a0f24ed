import { diag } from '@opentelemetry/api';

/**
 * Set (non-empty) in a server's environment by a host that observes the server from outside its
 * process: `mcplens wrap` sets `MCPLENS_OBSERVED_BY=wrap` for its child. In such a process the
 * in-process hosts (`--import mcplens/register`, `instrumentServer`) stand aside, so each request
 * yields one span, the outside host's: it sees what the client sent, before the server's process
 * could change or drop anything, and the server's own children inherit the variable.
 */
export const OBSERVED_BY_ENV = 'MCPLENS_OBSERVED_BY';

/**
 * The HTTP request header `mcplens proxy` adds to every request it forwards: an instrumented server
 * behind the proxy gives such a request no span of its own (the proxy's span counts it), so each
 * request is counted once. Lower-case, as Node and the Fetch API give header names.
 */
export const OBSERVED_BY_HEADER = 'mcplens-observed-by';

let reported = false;

/**
 * The host observing this process from outside (the variable's value), or undefined when there is
 * none. The first time it is found, one `diag.info` line says that in-process instrumentation stands aside.
 */
export function observedFromOutside(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env[OBSERVED_BY_ENV];
  if (host === undefined || host === '') return undefined;
  if (!reported) {
    reported = true;
    diag.info(`mcplens: ${OBSERVED_BY_ENV}=${host}: this process is observed from outside it; in-process instrumentation is off`);
  }
  return host;
}
