import { context as otelContext, diag, type Context } from '@opentelemetry/api';
import type { PendingRequest } from './pending-request.js';
import type { ToolCatalog } from './tool-catalog.js';

/**
 * Grades a tools/call's arguments as they arrived, against the catalog the call was made against:
 * a handler may change its arguments in place and a tool may leave the catalog before the answer.
 * A tool the catalog has is graded now; one it lacks is `unknown_tool` only when the catalog is
 * complete. Otherwise (nothing known yet, stale, or pages the client has not read) the rest is
 * loaded first, in the call's context `ctx`, so the list handler's spans nest there;
 * `pending.gradingDone` then settles once graded. `ctx` may be given as a function, called only
 * when a load is needed (the usual graded-now case then builds no context).
 */
export function gradeOnArrival(
  catalog: ToolCatalog,
  pending: PendingRequest,
  params: Record<string, unknown> | undefined,
  ctx: Context | (() => Context),
): void {
  const args = params?.arguments;
  pending.malformedShape =
    typeof params?.name !== 'string' || (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args)));
  if (catalog.canGrade(params?.name)) {
    gradeArguments(catalog, pending, params);
    return;
  }
  const loading = otelContext.with(typeof ctx === 'function' ? ctx() : ctx, () => catalog.ensureLoaded());
  if (loading === undefined) {
    gradeArguments(catalog, pending, params);
    return;
  }
  // Graded once loaded, which may be after the answer: on a copy taken now, since the handler
  // (or, over an in-memory transport, the client) may change the arguments before then.
  let asArrived = params;
  try {
    if (params !== undefined) asArrived = { name: params.name, arguments: structuredClone(params.arguments) };
  } catch {
    // Not cloneable (an in-process value no JSON transport carries): graded as they are then.
  }
  pending.gradingDone = loading.then(() => gradeArguments(catalog, pending, asArrived));
}

function gradeArguments(catalog: ToolCatalog, pending: PendingRequest, params: Record<string, unknown> | undefined): void {
  try {
    pending.grading = catalog.grade(params ?? {});
  } catch (err) {
    diag.error('mcplens: grading a tools/call failed', err);
  }
}
