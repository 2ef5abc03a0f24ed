/**
 * The guards of tool-guards.ts in `mcplens proxy`: a POST on the MCP endpoint is read whole
 * first; a single tools/call request runs under the guards, with the `Authorization` header as
 * the caller's credentials, and is forwarded only when they let it run. The server's answer is
 * read whole (a JSON body or an event stream), then passed on unchanged. A guard's own answer is
 * the JSON-RPC result of the request's id (application/json), except an authorization refusal:
 * 401 or 403 with the guard's `WWW-Authenticate` challenge (503 when the keys are unreachable).
 * At a timeout the server is sent `notifications/cancelled` (a POST of its own in the call's
 * session); an answer it still sends is not passed on, but recorded by the guards.
 * A batch holding a tools/call is refused (400): the guards decide one call per POST.
 * With `hideUnauthorizedTools`, a POST with a tools/list request is forwarded with the rewrite of
 * tools-list-filter.ts, for the caller its `Authorization` header names.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MCP_METHOD } from '../../contract/index.js';
import { timeoutCancellation } from '../guards/guard-answers.js';
import type { Authorization } from '../guards/authorization.js';
import type { BearerAnswer } from '../guards/bearer-challenge.js';
import { outsideFailure } from '../guards/outside-failure.js';
import { signalOf, type ToolGuards } from '../guards/tool-guards.js';
import { isRecord } from '../is-record.js';
import { OBSERVED_BY_HEADER } from '../observed-by.js';
import { answerMessages } from './answer-messages.js';
import { fail, parseJson, requestHeaders, responseHeaders } from './forward-headers.js';
import type { Exchange } from './http-observer.js';
import { toolsListIds, toolsListRewrite, type AnswerRewriteFactory } from './tools-list-filter.js';

/** What the guarded path needs of the proxy. */
export interface GuardedPostOptions {
  target: URL;
  maxBodyBytes: number;
  /** The longest wait for the server's answer to begin; 0: no limit. */
  timeoutMs: number;
  guards: ToolGuards;
}

/** The server's whole answer to one POST. */
interface UpstreamAnswer {
  status: number;
  statusMessage: string | undefined;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Its JSON-RPC messages (a JSON body's, or the events'). */
  messages: unknown[];
}

/** The server answered the call without a result: a JSON-RPC error, or no answer to its id at all. */
class UpstreamRefusal extends Error {
  constructor(
    readonly answer: UpstreamAnswer,
    readonly message_: Record<string, unknown> | undefined,
  ) {
    super('the server answered without a result');
  }
}

/**
 * Reads the POST's body, then guards it when it is a tools/call; anything else goes on through
 * `forwardBody` (the proxy's ordinary path, with the body already read and parsed), a tools/list with the
 * rewrite of its answer when unauthorized tools are hidden. With guards on, a body past the size
 * limit is refused (413): it cannot be read, and must not pass unguarded.
 */
export function guardedPost(
  req: IncomingMessage,
  res: ServerResponse,
  options: GuardedPostOptions,
  exchange: Exchange | undefined,
  forwardBody: (body: Buffer, message: unknown, rewrite?: AnswerRewriteFactory) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= options.maxBodyBytes) chunks.push(chunk);
    else chunks.length = 0;
  });
  req.on('end', () => {
    if (size > options.maxBodyBytes) {
      fail(res, 413, `with guards on, a request body may be at most ${options.maxBodyBytes} bytes`);
      exchange?.end(false);
      return;
    }
    const body = Buffer.concat(chunks);
    const message = parseJson(body.toString('utf8'));
    // The guards decide one call per POST: a tools/call inside a batch would pass unguarded.
    if (Array.isArray(message) && message.some((m) => isRecord(m) && m.method === MCP_METHOD.TOOLS_CALL)) {
      fail(res, 400, 'with guards on, a tools/call must be sent alone, not in a batch');
      exchange?.end(false);
      return;
    }
    const id = isRecord(message) ? message.id : undefined;
    const params = isRecord(message) && isRecord(message.params) ? message.params : undefined;
    if (
      !isRecord(message) ||
      message.method !== MCP_METHOD.TOOLS_CALL ||
      (typeof id !== 'string' && typeof id !== 'number') ||
      typeof params?.name !== 'string'
    ) {
      const authorization = options.guards.authorization;
      const listed = authorization?.hideUnauthorizedTools === true ? toolsListIds(message) : undefined;
      if (listed === undefined || listed.size === 0) forwardBody(body, message);
      else {
        void forCaller(req, authorization!).then((visible) => {
          // The client left while its token was checked.
          if (res.destroyed) exchange?.end(true);
          else forwardBody(body, message, toolsListRewrite(listed, visible));
        });
      }
      return;
    }
    exchange?.requestMessages([message]);
    void guardCall(req, res, options, exchange, body, { id, tool: params.name, args: params.arguments });
  });
}

/**
 * The tools the request's caller may call, as in the server's process: a caller without valid
 * credentials sees only the tools that need no scope (a tools/list is not refused).
 */
async function forCaller(
  req: IncomingMessage,
  authorization: Authorization,
): Promise<(tools: Array<{ name: string }>) => Array<{ name: string }>> {
  let scopes: readonly string[] | ReadonlySet<string> = [];
  try {
    scopes = (await authorization.resolveCaller({ authorization: req.headers.authorization })).scopes;
  } catch {
    // Missing, invalid or unverifiable: no scope.
  }
  return (tools) => authorization.visibleTools(tools, scopes);
}

async function guardCall(
  req: IncomingMessage,
  res: ServerResponse,
  options: GuardedPostOptions,
  exchange: Exchange | undefined,
  body: Buffer,
  call: { id: string | number; tool: string; args: unknown },
): Promise<void> {
  const clientGone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) clientGone.abort(new DOMException('the client went away', 'AbortError'));
  });
  let refusal: BearerAnswer | undefined;
  let answered: UpstreamAnswer | undefined;
  let result: unknown;
  const authorization = req.headers.authorization;
  let outcome: { value: unknown } | { error: unknown };
  try {
    const value = await options.guards.call(
      {
        tool: call.tool,
        args: call.args,
        credentials: { authorization },
        signal: clientGone.signal,
        recorder: exchange?.guardRecorder(call.id),
        onHttpRefusal: (answer) => (refusal = answer),
      },
      async (signal) => {
        const answer = await upstream(req, options, body, signalOf(signal), call.id, exchange !== undefined);
        const message = answer.messages.find((m) => isRecord(m) && m.id === call.id && ('result' in m || 'error' in m)) as
          Record<string, unknown> | undefined;
        if (message === undefined || !('result' in message)) throw new UpstreamRefusal(answer, message);
        answered = answer;
        result = message.result;
        return message.result;
      },
      (settled) => {
        if (settled.ok) return outsideFailure({ result: settled.value });
        // A client that went away is no failure of the tool.
        if (clientGone.signal.aborted) return false;
        const error = settled.error;
        if (!(error instanceof UpstreamRefusal)) return true;
        return error.message_ !== undefined ? outsideFailure(error.message_) : error.answer.status >= 500;
      },
    );
    outcome = { value };
  } catch (error) {
    outcome = { error };
  }
  if (res.writableEnded || res.destroyed) return exchange?.end(true);
  if ('value' in outcome && outcome.value === result && answered !== undefined) {
    pass(res, answered, exchange);
  } else if ('error' in outcome && outcome.error instanceof UpstreamRefusal) {
    pass(res, outcome.error.answer, exchange);
  } else if ('error' in outcome) {
    const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    fail(res, 502, `the MCP server at ${options.target.href} could not answer (${reason})`);
  } else {
    answerOwn(res, call.id, outcome.value, refusal, exchange);
  }
  exchange?.end(false);
}

/** The server's answer, as it came; then what it said, to the observer. */
function pass(res: ServerResponse, answer: UpstreamAnswer, exchange: Exchange | undefined): void {
  const headers = responseHeaders(answer.headers);
  delete headers['content-length'];
  res.writeHead(answer.status, answer.statusMessage, { ...headers, 'content-length': String(answer.body.length) });
  res.end(answer.body);
  exchange?.responseHead(answer.status, answer.headers);
  for (const message of answer.messages) exchange?.responseMessage(message);
}

/** A guard's answer: a JSON-RPC result, or the authorization guard's HTTP refusal (the span still ends with the refusal's result). */
function answerOwn(
  res: ServerResponse,
  id: string | number,
  value: unknown,
  refusal: BearerAnswer | undefined,
  exchange: Exchange | undefined,
): void {
  const message = { jsonrpc: '2.0', id, result: value };
  let status = 200;
  let headers: Record<string, string>;
  let text: string;
  if (refusal !== undefined) {
    status = refusal.status;
    // The body of the SDK's bearer middleware: an OAuth error object.
    text = JSON.stringify({ error: refusal.error ?? 'unauthorized', error_description: refusal.description });
    headers = { ...refusal.headers, 'content-type': 'application/json' };
  } else {
    text = JSON.stringify(message);
    headers = { 'content-type': 'application/json' };
  }
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
  exchange?.responseHead(status, headers);
  exchange?.responseMessage(message);
}

/**
 * Forwards the body and reads the server's answer whole. At a timeout of the guards, the server
 * is told to cancel, and the answer is still read (for the late completion); when the client went
 * away, the request is cut.
 */
function upstream(
  req: IncomingMessage,
  options: GuardedPostOptions,
  body: Buffer,
  signal: AbortSignal | undefined,
  id: string | number,
  observed: boolean,
): Promise<UpstreamAnswer> {
  const { target } = options;
  const headers = requestHeaders(req, target);
  // As on the proxy's ordinary path: an instrumented server leaves observing this request to the proxy.
  if (observed) headers[OBSERVED_BY_HEADER] = 'proxy';
  // Read here, so plain bytes: the client gets them as the server sent them, uncompressed.
  headers['accept-encoding'] = 'identity';
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  if (signal?.aborted === true) return Promise.reject(new Error('the client went away'));
  return new Promise((resolve, reject) => {
    const request = send(target, { method: 'POST', path: req.url ?? target.pathname, headers });
    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs > 0) {
      timer = setTimeout(() => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      timer.unref();
    }
    signal?.addEventListener(
      'abort',
      () => {
        if ((signal.reason as { name?: unknown } | undefined)?.name === 'TimeoutError') cancelUpstream(req, target, id, signal.reason);
        else request.destroy(new Error('the client went away'));
      },
      { once: true },
    );
    request.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.on('response', (answer) => {
      clearTimeout(timer);
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('error', reject);
      answer.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({
          status: answer.statusCode ?? 502,
          statusMessage: answer.statusMessage,
          headers: answer.headers,
          body: bytes,
          messages: answerMessages(answer.headers['content-type'], bytes),
        });
      });
    });
    request.end(body);
  });
}

/** `notifications/cancelled` for the call, in its session, with its credentials; its answer is not awaited. */
function cancelUpstream(req: IncomingMessage, target: URL, id: string | number, reason: unknown): void {
  const body = timeoutCancellation(id, reason);
  const headers: Record<string, string | string[]> = {
    ...requestHeaders(req, target),
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  };
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const request = send(target, { method: 'POST', path: req.url ?? target.pathname, headers });
  request.on('error', () => {});
  request.on('response', (answer) => answer.resume());
  request.end(body);
}
