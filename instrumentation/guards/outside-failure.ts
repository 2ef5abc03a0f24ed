/**
 * Whether an answer seen outside the server's process (wrap, proxy) is a failure of the tool for
 * its circuit breaker: a tool error (an isError result) or a JSON-RPC error that is not the
 * caller's fault. Refusals of the caller's arguments (graded `rejected`) are not.
 */
import { CALLER_FAULT_CODES, gradeResponse } from '../outcome.js';

/** `answer`: the JSON-RPC answer (`result` or `error`). */
export function outsideFailure(answer: Record<string, unknown>): boolean {
  const graded = gradeResponse(answer, { malformedShape: false, gradedMalformed: false });
  if (graded.outcome !== 'tool_error' && graded.outcome !== 'error') return false;
  return graded.code === undefined || !CALLER_FAULT_CODES.has(graded.code);
}
