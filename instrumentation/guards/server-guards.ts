/**
 * Puts the guards of tool-guards.ts around an SDK server's tools/call handler (v1 and v2):
 * the handler the server registers, whenever it registers it, is looked up through the
 * protocol's handler map, and mcplens answers in its place when a guard decides.
 */
import { MCP_METHOD } from '../../contract/index.js';
import { CALLER_FAULT_CODES } from '../outcome.js';
import type { AuthInfoLike, Authorization, CallerSource } from './authorization.js';
import { isToolError } from './guard-answers.js';
import { UNFILTERED_LISTING } from './guard-support.js';
import type { ToolGuards, GuardRecorder } from './tool-guards.js';

type RequestHandler = (request: unknown, extra: unknown) => unknown;

/** What the guards need of the low-level protocol object. */
export interface GuardedProtocol {
  _requestHandlers?: Map<string, RequestHandler>;
}

const { TOOLS_CALL, TOOLS_LIST } = MCP_METHOD;

const GUARDED = Symbol.for('mcplens.guards');
// Set on the `extra` mcplens hands the handler, so that McpServer's executeToolHandler can say
// the tool threw (McpServer turns a thrown error into an isError result, which is otherwise
// indistinguishable from a tool error the handler returns on purpose).
const CALL_STATE = Symbol('mcplens.guardedCall');

interface CallState {
  threw: boolean;
}

/**
 * Guards `protocol`'s tools/call handler with `guards`. `server` is what the application
 * instrumented (an McpServer, whose tool executor is watched for thrown errors, or the Server
 * itself). `recorderFor` finds the span of a request by its id. Returns false when the server
 * has no handler map this version of mcplens knows.
 */
export function guardToolCalls(
  server: object,
  protocol: GuardedProtocol,
  guards: ToolGuards,
  recorderFor: (requestId: unknown) => GuardRecorder | undefined,
  seenFromImport = false,
): boolean {
  const handlers = protocol._requestHandlers;
  if (!(handlers instanceof Map) || (handlers as { [GUARDED]?: true })[GUARDED] === true) return handlers instanceof Map;
  const wrapped = new WeakMap<RequestHandler, RequestHandler>();
  // Thrown errors are visible when McpServer's executor is watched, or when the application
  // instrumented a low-level Server itself (its handler rejects). Under `--import` only the
  // Server is seen, and McpServer turns throws into isError results.
  const watched = watchToolExecutor(server) || (server === protocol && !seenFromImport);
  const get = handlers.get;
  // The Map instance's own `get`: McpServer registers its tools/call handler lazily (at the first
  // registerTool), and a server may replace it; every lookup of the SDK goes through `get`.
  Object.defineProperty(handlers, 'get', {
    configurable: true,
    value(this: Map<string, RequestHandler>, method: string): RequestHandler | undefined {
      const handler = get.call(this, method);
      if (handler === undefined) return handler;
      const hide = method === TOOLS_LIST && guards.authorization?.hideUnauthorizedTools === true;
      if (method !== TOOLS_CALL && !hide) return handler;
      let guarded = wrapped.get(handler);
      if (guarded === undefined) {
        guarded = hide ? filteredList(handler, guards.authorization!, recorderFor) : guardedHandler(handler, guards, recorderFor, watched);
        wrapped.set(handler, guarded);
      }
      return guarded;
    },
  });
  Object.defineProperty(handlers, GUARDED, { value: true });
  return true;
}

/**
 * tools/list without the tools the caller may not call. mcplens' own listing (to grade calls of
 * tools a client has not listed) passes {@link UNFILTERED_LISTING} and sees them all; the
 * observer is handed the whole answer too, so the catalog it records is the server's.
 */
function filteredList(
  handler: RequestHandler,
  authorization: Authorization,
  recorderFor: (requestId: unknown) => GuardRecorder | undefined,
): RequestHandler {
  return async function toolsListForCaller(request: unknown, extra: unknown): Promise<unknown> {
    const result = await handler(request, extra);
    if (extra === null || typeof extra !== 'object' || (extra as { [UNFILTERED_LISTING]?: true })[UNFILTERED_LISTING] === true)
      return result;
    const tools = (result as { tools?: unknown } | null)?.tools;
    if (!Array.isArray(tools)) return result;
    let scopes: readonly string[] | ReadonlySet<string> = [];
    try {
      scopes = (await authorization.resolveCaller(credentialsOf(extra, sdkView(extra).v2))).scopes;
    } catch {
      // No valid credentials: only the tools that need no scope are shown.
    }
    const visible = authorization.visibleTools(tools as Array<{ name: string }>, scopes);
    if (visible.length === tools.length) return result;
    recorderFor(sdkView(extra).requestId)?.listedInFull?.(result);
    return { ...(result as object), tools: visible };
  };
}

/** `watched` false: an isError answer counts as a failure of the tool, as outside the process. */
function guardedHandler(
  handler: RequestHandler,
  guards: ToolGuards,
  recorderFor: (id: unknown) => GuardRecorder | undefined,
  watched: boolean,
): RequestHandler {
  return function guardedToolsCall(request: unknown, extra: unknown): Promise<unknown> {
    const tool = toolName(request);
    if (tool === undefined || extra === null || typeof extra !== 'object') return Promise.resolve(handler(request, extra));
    const sdk = sdkView(extra);
    const state: CallState = { threw: false };
    const args = (request as { params: { arguments?: unknown } }).params.arguments;
    // Read only for the authorization guard: on v2 the header is a web Headers lookup per call.
    const credentials = guards.authorization === undefined ? NO_CREDENTIALS : credentialsOf(extra, sdk.v2);
    return guards.call(
      { tool, args, credentials, signal: sdk.signal, recorder: recorderFor(sdk.requestId) },
      (signal) => Promise.resolve(handler(request, withCall(extra, sdk.v2, signal, state))),
      // A thrown caller fault (e.g. -32602 from a low-level handler) is not the tool failing.
      (settled) => (settled.ok ? state.threw || (!watched && isToolError(settled.value)) : !callerFault(settled.error)),
    );
  };
}

const NO_CREDENTIALS: CallerSource = Object.freeze({});

/**
 * The caller's credentials on HTTP transports: the SDK's `authInfo` (its bearer middleware) and
 * the `Authorization` header (v1 `extra.requestInfo.headers`, v2 `ctx.http.req`, a web Request).
 */
function credentialsOf(extra: object, v2: boolean): CallerSource {
  if (v2) {
    const http = (extra as { http?: { authInfo?: AuthInfoLike; req?: { headers?: { get?(name: string): string | null } } } }).http;
    const header = typeof http?.req?.headers?.get === 'function' ? (http.req.headers.get('authorization') ?? undefined) : undefined;
    return { authInfo: http?.authInfo, authorization: header };
  }
  const v1 = extra as { authInfo?: AuthInfoLike; requestInfo?: { headers?: Record<string, string | string[] | undefined> } };
  return { authInfo: v1.authInfo, authorization: v1.requestInfo?.headers?.authorization };
}

/** v1 passes `extra` with `signal` and `requestId`; v2 a context whose `mcpReq` has `id` and `signal`. */
function sdkView(extra: object): { v2: boolean; signal: AbortSignal | undefined; requestId: unknown } {
  const mcpReq = (extra as { mcpReq?: { id?: unknown; signal?: unknown } }).mcpReq;
  if (mcpReq !== undefined && mcpReq !== null) {
    return { v2: true, signal: mcpReq.signal instanceof AbortSignal ? mcpReq.signal : undefined, requestId: mcpReq.id };
  }
  const v1 = extra as { signal?: unknown; requestId?: unknown };
  return { v2: false, signal: v1.signal instanceof AbortSignal ? v1.signal : undefined, requestId: v1.requestId };
}

/**
 * The SDK's `extra` with the guard's signal in place of the SDK's (it fires on the client's
 * cancellation and on the timeout), and the call's state for the executor watch. Derived by
 * prototype, not copied: the SDK's context may hold getters and methods.
 */
function withCall(extra: object, v2: boolean, signal: AbortSignal | (() => AbortSignal) | undefined, state: CallState): object {
  const own: PropertyDescriptorMap = { [CALL_STATE]: { value: state } };
  if (signal !== undefined) {
    // A function makes the guard's signal on first read: a getter, so a handler that never reads it costs nothing.
    const property: PropertyDescriptor =
      typeof signal === 'function' ? { get: signal, enumerable: true } : { value: signal, enumerable: true };
    if (v2) {
      const mcpReq = (extra as { mcpReq: object }).mcpReq;
      own.mcpReq = { value: Object.create(mcpReq, { signal: property }) as object, enumerable: true };
    } else {
      own.signal = property;
    }
  }
  return Object.create(extra, own) as object;
}

/** McpServer (v1 and v2) runs a tool through `executeToolHandler(tool, args, extra)`: note when it throws. Returns whether it is watched. */
function watchToolExecutor(server: object): boolean {
  const execute = (server as { executeToolHandler?: unknown }).executeToolHandler;
  if (typeof execute !== 'function') return false;
  if ((execute as { [GUARDED]?: true })[GUARDED] === true) return true;
  const watched = async function executeToolHandlerWatched(this: unknown, tool: unknown, args: unknown, extra: unknown): Promise<unknown> {
    try {
      return await (execute as (...a: unknown[]) => Promise<unknown>).call(this, tool, args, extra);
    } catch (error) {
      const state = extra !== null && typeof extra === 'object' ? (extra as { [CALL_STATE]?: CallState })[CALL_STATE] : undefined;
      if (state !== undefined) state.threw = true;
      throw error;
    }
  };
  Object.defineProperty(watched, GUARDED, { value: true });
  (server as { executeToolHandler: unknown }).executeToolHandler = watched;
  return true;
}

function callerFault(error: unknown): boolean {
  const code = error !== null && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'number' && CALLER_FAULT_CODES.has(code);
}

function toolName(request: unknown): string | undefined {
  const params = request !== null && typeof request === 'object' ? (request as { params?: { name?: unknown } }).params : undefined;
  return typeof params?.name === 'string' ? params.name : undefined;
}
