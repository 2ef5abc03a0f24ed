/**
 * A stdio MCP server under `node --import mcplens/register`, run the way hosts run it:
 * spawned with pipes, a short session (initialize and initialized only; or with tools/list;
 * or with tools/list and some tools/call), then stdin closes. Hosts then wait about 2 s, SIGTERM and SIGKILL: the server
 * must end by itself before that, whatever state the collector is in, with its spans
 * delivered when the collector is up, and stdout holding nothing but JSON-RPC.
 *
 * Servers: our SDK v1 fixture and the published `@modelcontextprotocol/server-memory` (its
 * own SDK copy, installed by `npm run fixtures`). Collectors: see harness/collector-variants.ts.
 * Sessions run a few at a time in beforeAll; each test awaits its own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ATTR, MCP_METHOD, TOKENS_NOT_COUNTED_REASONS } from '../../contract/index.js';
import type { ReceivedSpan } from '../../harness/otlp-receiver.js';
import { startCollectorVariant, type CollectorCounts, type CollectorKind } from '../../harness/collector-variants.js';
import {
  FIXTURE_V1,
  runLimited,
  runStdioSession,
  SERVER_MEMORY,
  type StdioServerSpec,
  type StdioSessionResult,
} from '../../harness/stdio-session.js';

/** The exit budget given to mcplens; every bound below is read from it. */
const SESSION_ENV = { MCPLENS_EXIT_TIMEOUT_MS: '1000' } as const;
const EXIT_BUDGET_MS = Number(SESSION_ENV.MCPLENS_EXIT_TIMEOUT_MS);
/** Slack for a loaded 2-core machine running several sessions at once. */
const TOLERANCE_MS = 1500;
/** Longest an instrumented server may take to exit after stdin closed, whatever the collector does. */
const EXIT_BOUND_MS = EXIT_BUDGET_MS + TOLERANCE_MS;
/** With a live collector: at most this much later than the bare server (plus the tolerance). */
const LIVE_COLLECTOR_MARGIN_MS = 300;
/** After this the harness kills the server and reports that it did not exit. */
const KILL_AFTER_MS = EXIT_BOUND_MS + 2000;
/** tools/call requests of a session "with calls". */
const CALLS = 3;
/**
 * Sessions at a time, one per core of a 2-core machine: an instrumented server's start-up
 * takes more than a second of CPU, and exits measured beside other sessions' start-ups
 * stretch (4 at a time: 1.6-2.9 s where the same sessions alone took 0.5-1.5 s).
 */
const CONCURRENCY = 2;

const SERVERS: readonly StdioServerSpec[] = [FIXTURE_V1, SERVER_MEMORY];
/** A session's shape: initialize only, initialize + tools/list (idle), or with tools/call too. */
interface Mode {
  readonly id: string;
  readonly label: string;
  readonly listTools: boolean;
  readonly calls: number;
}
const MODES: readonly Mode[] = [
  { id: 'init', label: 'initialize only', listTools: false, calls: 0 },
  { id: 'idle', label: 'idle (tools/list, no tools/call)', listTools: true, calls: 0 },
  { id: 'calls', label: `after tools/list and ${CALLS} tools/call`, listTools: true, calls: CALLS },
];
/**
 * Collector conditions per server and mode. 503 behaves as 429 for the exporter, so one server
 * is enough for it; an initialize-only session differs from an idle one in what the process
 * started (no token counting yet), not in what the exporter meets, so up and down cover it.
 */
function collectorsOf(server: StdioServerSpec, mode: Mode): readonly CollectorKind[] {
  if (mode.id === 'init') return ['up', 'down'];
  return server === SERVER_MEMORY ? ['up', 'down', 'silent', '429', '503'] : ['up', 'down', 'silent', '429'];
}
const COLLECTOR_LABEL: Readonly<Record<CollectorKind, string>> = {
  up: 'collector up',
  collector: 'real collector up',
  down: 'collector down (closed port)',
  silent: 'collector silent (accepts, never answers)',
  '429': 'collector answering 429',
  '503': 'collector answering 503',
};
const NOT_COUNTED_REASONS: ReadonlySet<unknown> = new Set(Object.values(TOKENS_NOT_COUNTED_REASONS));

/** One planned session: `collector` undefined for the bare server. */
interface Plan {
  readonly key: string;
  readonly server: StdioServerSpec;
  readonly mode: Mode;
  readonly collector: CollectorKind | undefined;
}
interface Outcome {
  readonly session: StdioSessionResult;
  /** Spans the collector had once the server exited (`up` only). */
  readonly spans: readonly ReceivedSpan[];
  readonly counts: CollectorCounts | undefined;
}

const keyOf = (server: StdioServerSpec, mode: Mode, collector: CollectorKind | undefined): string =>
  `${server.label}/${mode.id}/${collector ?? 'bare'}`;
const plans: Plan[] = [];
for (const server of SERVERS) {
  for (const mode of MODES) {
    plans.push({ key: keyOf(server, mode, undefined), server, mode, collector: undefined });
    for (const collector of collectorsOf(server, mode)) plans.push({ key: keyOf(server, mode, collector), server, mode, collector });
  }
}
const outcomes = new Map<string, Promise<Outcome>>();
/** Collector variants whose counts prove the exporter reached them. */
const STAND_INS: ReadonlySet<CollectorKind | undefined> = new Set<CollectorKind | undefined>(['silent', '429', '503']);

async function runPlan(plan: Plan): Promise<Outcome> {
  const collector = await startCollectorVariant(plan.collector ?? 'down');
  try {
    const session = await runStdioSession({
      server: plan.server,
      instrumented: plan.collector !== undefined,
      listTools: plan.mode.listTools,
      calls: plan.mode.calls,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, ...SESSION_ENV },
      exitTimeoutMs: KILL_AFTER_MS,
    });
    if (plan.collector === 'up') {
      // An export the server waited for has fully arrived; give this process' event loop a moment to decode it.
      await collector.waitForSpans((spans) => spans.length >= session.requests.length, 1000).catch(() => undefined);
    }
    let counts = await collector.counts();
    // The child sent its export before it exited, but this (busy) process may not have handled the
    // stand-in's request or connection yet: give its event loop a bounded moment.
    for (
      let waited = 0;
      counts.requests === 0 && counts.connections === 0 && STAND_INS.has(plan.collector) && waited < 1000;
      waited += 50
    ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      counts = await collector.counts();
    }
    return { session, spans: [...collector.spans], counts };
  } finally {
    await collector.close();
  }
}

beforeAll(() => {
  const started = runLimited(
    plans.map((plan) => () => runPlan(plan)),
    CONCURRENCY,
  );
  plans.forEach((plan, i) => {
    const outcome = started[i]!;
    outcome.catch(() => undefined); // awaited by its test; never an unhandled rejection
    outcomes.set(plan.key, outcome);
  });
});

afterAll(async () => {
  // No child outlives the file: every session ends (or is killed) inside runStdioSession.
  await Promise.allSettled(outcomes.values());
});

function outcomeOf(server: StdioServerSpec, mode: Mode, collector: CollectorKind | undefined): Promise<Outcome> {
  const outcome = outcomes.get(keyOf(server, mode, collector));
  if (outcome === undefined) throw new Error(`no session planned for ${keyOf(server, mode, collector)}`);
  return outcome;
}

/** One line saying how the process ended, compared as a whole so a failure reads as a sentence. */
function exitVerdict(session: StdioSessionResult, boundMs: number): string {
  if (!session.exited)
    return `did not exit by itself within ${KILL_AFTER_MS} ms of stdin closing (killed; exit code ${session.exitCode}, signal ${session.exitSignal})`;
  const ms = Math.round(session.exitMs!);
  if (session.exitSignal !== null || session.exitCode !== 0)
    return `exited after ${ms} ms with code ${session.exitCode}, signal ${session.exitSignal}`;
  return ms <= boundMs ? `exited with code 0 within ${boundMs} ms` : `exited with code 0 after ${ms} ms (bound ${boundMs} ms)`;
}

/** The session ran as planned: every request answered, without error. */
function sessionProblems(session: StdioSessionResult, server: StdioServerSpec, mode: Mode): string[] {
  const problems = session.problems.filter((p) => !p.startsWith('did not exit'));
  for (const request of session.requests) {
    if (request.answer === undefined) continue; // already a problem
    if (request.answer.error !== undefined)
      problems.push(`${request.method} (id ${request.id}) answered error ${JSON.stringify(request.answer.error)}`);
    if ((request.answer.result as { isError?: unknown } | undefined)?.isError === true)
      problems.push(`tools/call ${request.tool} answered isError`);
  }
  const missing = mode.listTools ? server.tools.filter((tool) => !session.tools.includes(tool)) : [];
  if (missing.length > 0) problems.push(`tools/list lacks ${missing.join(', ')}`);
  return problems;
}

/** `id method [tool]` of each request, and of each span that names one. */
const requestKeys = (session: StdioSessionResult): string[] =>
  session.requests.map((r) => `${r.id} ${r.method}${r.tool === undefined ? '' : ` ${r.tool}`}`);
const spanKeys = (spans: readonly ReceivedSpan[]): string[] =>
  spans
    .map((s) => {
      const tool = s.attributes[ATTR.GEN_AI_TOOL_NAME];
      return `${String(s.attributes[ATTR.JSONRPC_REQUEST_ID])} ${String(s.attributes[ATTR.MCP_METHOD_NAME])}${tool === undefined ? '' : ` ${String(tool)}`}`;
    })
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));

/** Spans that should carry token counts and carry neither counts nor a known not-counted reason. */
function spansWithoutTokens(spans: readonly ReceivedSpan[]): string[] {
  const lacking: string[] = [];
  for (const span of spans) {
    const method = span.attributes[ATTR.MCP_METHOD_NAME];
    const required =
      method === MCP_METHOD.TOOLS_CALL
        ? [ATTR.TOKENS_ARGUMENTS, ATTR.TOKENS_RESULT]
        : method === MCP_METHOD.TOOLS_LIST
          ? [ATTR.TOKENS_CATALOG]
          : [];
    if (required.length === 0) continue;
    const counted = required.every((key) => typeof span.attributes[key] === 'number');
    const reason = span.attributes[ATTR.TOKENS_NOT_COUNTED];
    if (counted || NOT_COUNTED_REASONS.has(reason)) continue;
    lacking.push(
      `${span.name}: ${reason === undefined ? `neither ${required.join(' + ')} nor ${ATTR.TOKENS_NOT_COUNTED}` : `unknown ${ATTR.TOKENS_NOT_COUNTED} ${JSON.stringify(reason)}`}`,
    );
  }
  return lacking;
}

/** The last lines of a child's stderr, for failure messages. */
const stderrTail = (session: StdioSessionResult): string => session.stderr.split('\n').slice(-15).join('\n');

const SESSION_TIMEOUT_MS = 180_000;

for (const server of SERVERS) {
  describe(`${server.label}: exit after stdin closes`, () => {
    for (const mode of MODES) {
      it(
        `bare (reference), ${mode.label}: exits by itself, stdout only JSON-RPC`,
        async () => {
          const { session } = await outcomeOf(server, mode, undefined);
          expect(sessionProblems(session, server, mode)).toEqual([]);
          expect(exitVerdict(session, EXIT_BOUND_MS)).toBe(`exited with code 0 within ${EXIT_BOUND_MS} ms`);
          expect(session.nonJsonRpcLines).toEqual([]);
        },
        SESSION_TIMEOUT_MS,
      );

      for (const collector of collectorsOf(server, mode)) {
        it(
          `--import, ${COLLECTOR_LABEL[collector]}, ${mode.label}: exits by itself within the budget, stdout only JSON-RPC`,
          async () => {
            const { session, counts } = await outcomeOf(server, mode, collector);
            const context = `\nproblems: ${JSON.stringify(session.problems)}\nchild stderr (tail):\n${stderrTail(session)}`;
            expect({ problems: sessionProblems(session, server, mode), context }).toEqual({ problems: [], context });
            expect({ exit: exitVerdict(session, EXIT_BOUND_MS), context }).toEqual({
              exit: `exited with code 0 within ${EXIT_BOUND_MS} ms`,
              context,
            });
            expect(session.nonJsonRpcLines).toEqual([]);
            // The variant was exercised: the exporter did reach the stand-in (a closed port cannot tell).
            if (collector === 'silent') expect(counts?.connections).toBeGreaterThan(0);
            if (collector === '429' || collector === '503') expect(counts?.requests).toBeGreaterThan(0);
            if (collector === 'up') {
              const bare = (await outcomeOf(server, mode, undefined)).session;
              if (bare.exitMs !== undefined) {
                const bound = Math.round(bare.exitMs + LIVE_COLLECTOR_MARGIN_MS + TOLERANCE_MS);
                expect({ exit: exitVerdict(session, bound), context }).toEqual({ exit: `exited with code 0 within ${bound} ms`, context });
              }
            }
          },
          SESSION_TIMEOUT_MS,
        );
      }

      it(
        `--import, collector up, ${mode.label}: the collector received one span per request, token counts or a not-counted reason on each`,
        async () => {
          const { session, spans } = await outcomeOf(server, mode, 'up');
          const planned = mode.listTools
            ? [MCP_METHOD.INITIALIZE, MCP_METHOD.TOOLS_LIST, ...Array<string>(mode.calls).fill(MCP_METHOD.TOOLS_CALL)]
            : [MCP_METHOD.INITIALIZE];
          expect(session.requests.map((r) => r.method)).toEqual(planned);
          expect(spanKeys(spans)).toEqual(requestKeys(session));
          expect(spansWithoutTokens(spans)).toEqual([]);
        },
        SESSION_TIMEOUT_MS,
      );
    }
  });
}
