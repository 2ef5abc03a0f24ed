/**
 * Simulated agent traffic for the demo: one agent per LLM provider, each with its own model
 * and a documented, seeded error profile, calling the order-management server through a real
 * MCP `Client` over a real `InMemoryTransport` pair, with the provider and model as W3C
 * baggage in `params._meta.baggage` (MCP SEP-414).
 *
 * THE TRAFFIC IS SIMULATED: no LLM is called. The profiles imitate failure modes seen in
 * real agents so the telemetry has something to show.
 *
 * Determinism: the sequence of calls (which agent, which tool, which arguments, which
 * malformation) is a pure function of the seed (mulberry32), whatever the rate or timing.
 * {@link planCalls} exposes it so tests can compare what was sent with what was measured.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { BAGGAGE_KEYS, META_KEYS, PROVIDERS, type ViolationKind } from '../contract/index.js';
import {
  CANCEL_REASONS,
  CURRENCIES,
  ORDER_COUNT,
  ORDER_TOOLS,
  SKU_COUNT,
  WAREHOUSES,
  createOrderServer,
  type OrderServerOptions,
} from './order-server.js';
import { createPrng } from './prng.js';

export { createPrng };

/** One simulated agent: an LLM of one provider and its characteristic mistake. */
export interface AgentProfile {
  readonly provider: string;
  readonly model: string;
  /** Share of all calls this agent makes (relative weight). */
  readonly weight: number;
  /** The mistake this agent makes, as the violation kind mcplens should classify it as; null: never wrong. */
  readonly mistake: Extract<ViolationKind, 'missing_required' | 'wrong_type' | 'unknown_tool' | 'not_an_object'> | null;
  /** Probability that a call is malformed. */
  readonly errorRate: number;
  /** Probability that a malformed call is followed by the corrected call to the same tool in the same session. */
  readonly selfCorrectRate: number;
  /** What the profile does, for humans. */
  readonly description: string;
}

/**
 * The documented error profiles. Rates are per call; every malformed call has exactly one
 * intended primary violation kind.
 */
export const AGENT_PROFILES: readonly AgentProfile[] = [
  {
    provider: PROVIDERS.OPENAI,
    model: 'gpt-4.1',
    weight: 3,
    mistake: 'not_an_object',
    errorRate: 0.06,
    selfCorrectRate: 0.8,
    description: 'sometimes sends `arguments` as a JSON string instead of an object (refused by the SDK with -32603)',
  },
  {
    provider: PROVIDERS.ANTHROPIC,
    model: 'claude-sonnet-4-5',
    weight: 3,
    mistake: null,
    errorRate: 0,
    selfCorrectRate: 0,
    description: 'clean: always sends well-formed calls',
  },
  {
    provider: PROVIDERS.GCP_GEMINI,
    model: 'gemini-2.5-flash',
    weight: 2,
    mistake: 'missing_required',
    errorRate: 0.25,
    selfCorrectRate: 0.5,
    description: 'often omits required fields (sku, reason, idempotency_key, amount.currency)',
  },
  {
    provider: PROVIDERS.DEEPSEEK,
    model: 'deepseek-chat',
    weight: 2,
    mistake: 'wrong_type',
    errorRate: 0.3,
    selfCorrectRate: 0.5,
    description: 'sends numbers as strings (amount.value "12.50", quantity "2") on refunds',
  },
  {
    provider: PROVIDERS.MISTRAL_AI,
    model: 'mistral-large-latest',
    weight: 2,
    mistake: 'unknown_tool',
    errorRate: 0.12,
    selfCorrectRate: 0,
    description: 'calls tools that do not exist (check_stock, get_order_status, refund_order)',
  },
];

/** Tool names the `unknown_tool` profile invents. */
export const HALLUCINATED_TOOLS = ['check_stock', 'get_order_status', 'refund_order'] as const;

/** One planned tools/call. */
export interface PlannedCall {
  /** Index in the sequence (0-based). */
  readonly index: number;
  readonly provider: string;
  readonly model: string;
  /** Tool name sent. */
  readonly tool: string;
  /** `arguments` sent: an object, or a JSON string for `not_an_object`. */
  readonly arguments: unknown;
  /** The primary violation kind this call should be classified as; null for a well-formed call. */
  readonly intended: ViolationKind | null;
  /** True when this well-formed call corrects the same agent's previous malformed call to the same tool. */
  readonly correction: boolean;
}

type Rng = () => number;
type Args = Record<string, unknown>;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16));
  hex[12] = '4';
  hex[16] = (8 + Math.floor(rng() * 4)).toString(16);
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

function skuOf(n: number): string {
  return `SKU-${100000 + n}`;
}

function orderOf(rng: Rng): string {
  return `ORD-${20250000 + Math.floor(rng() * ORDER_COUNT)}`;
}

/** A well-formed call: tool and arguments (some valid calls still end as tool errors: shipped orders, unknown SKUs). */
function validCall(rng: Rng, tool: string): Args {
  switch (tool) {
    case ORDER_TOOLS.INVENTORY_LOOKUP: {
      // One lookup in twenty asks for a SKU the catalogue does not have: a tool error, not a malformed call.
      const args: Args = { sku: skuOf(Math.floor(rng() * SKU_COUNT * 1.05)) };
      if (rng() < 0.5) args.warehouse = pick(rng, WAREHOUSES);
      if (rng() < 0.3) args.include_reserved = true;
      return args;
    }
    case ORDER_TOOLS.CANCEL_ORDER: {
      const args: Args = { order_id: orderOf(rng), reason: pick(rng, CANCEL_REASONS), idempotency_key: uuid(rng) };
      if (rng() < 0.5) args.notify_customer = rng() < 0.7;
      return args;
    }
    default: {
      const args: Args = {
        order_id: orderOf(rng),
        amount: { value: Math.round((5 + rng() * 400) * 100) / 100, currency: pick(rng, CURRENCIES) },
        idempotency_key: uuid(rng),
      };
      if (rng() < 0.4) {
        const n = 1 + Math.floor(rng() * 3);
        args.line_items = Array.from({ length: n }, () => ({
          sku: skuOf(Math.floor(rng() * SKU_COUNT)),
          quantity: 1 + Math.floor(rng() * 5),
        }));
      }
      return args;
    }
  }
}

const TOOL_WEIGHTS: ReadonlyArray<readonly [string, number]> = [
  [ORDER_TOOLS.INVENTORY_LOOKUP, 0.55],
  [ORDER_TOOLS.CANCEL_ORDER, 0.3],
  [ORDER_TOOLS.ISSUE_REFUND, 0.15],
];

function pickTool(rng: Rng): string {
  let r = rng();
  for (const [tool, w] of TOOL_WEIGHTS) {
    if ((r -= w) < 0) return tool;
  }
  return ORDER_TOOLS.INVENTORY_LOOKUP;
}

/** Drops one required field (top level or nested) from a valid call. */
function omitRequired(rng: Rng, tool: string, args: Args): Args {
  const out = structuredClone(args);
  if (tool === ORDER_TOOLS.INVENTORY_LOOKUP) delete out.sku;
  else if (tool === ORDER_TOOLS.CANCEL_ORDER) delete out[pick(rng, ['reason', 'idempotency_key', 'order_id'])];
  else if (rng() < 0.5) delete (out.amount as Args).currency;
  else delete out.idempotency_key;
  return out;
}

/** Turns the refund's numbers into strings, the way some models quote every value. */
function stringifyNumbers(args: Args): Args {
  const out = structuredClone(args);
  const amount = out.amount as Args;
  amount.value = (amount.value as number).toFixed(2);
  if (Array.isArray(out.line_items)) for (const item of out.line_items as Args[]) item.quantity = String(item.quantity);
  return out;
}

const HALLUCINATED_FOR: Readonly<Record<string, string>> = {
  [ORDER_TOOLS.INVENTORY_LOOKUP]: 'check_stock',
  [ORDER_TOOLS.CANCEL_ORDER]: 'get_order_status',
  [ORDER_TOOLS.ISSUE_REFUND]: 'refund_order',
};

interface AgentState {
  profile: AgentProfile;
  /** The corrected form of this agent's last malformed call, sent as its next call. */
  pendingCorrection: { tool: string; args: Args } | undefined;
}

/**
 * The deterministic call sequence for a seed: an endless generator. Each step picks an
 * agent by weight; an agent owing a correction sends it next, otherwise it errs with its
 * profile's rate.
 */
export function* callSequence(seed: number, profiles: readonly AgentProfile[] = AGENT_PROFILES): Generator<PlannedCall> {
  if (profiles.length === 0) throw new Error('callSequence needs at least one agent profile');
  const rng = createPrng(seed);
  const agents: AgentState[] = profiles.map((profile) => ({ profile, pendingCorrection: undefined }));
  const totalWeight = profiles.reduce((s, p) => s + p.weight, 0);
  for (let index = 0; ; index++) {
    let r = rng() * totalWeight;
    let agent = agents[agents.length - 1] as AgentState;
    for (const a of agents) {
      if ((r -= a.profile.weight) < 0) {
        agent = a;
        break;
      }
    }
    const { provider, model, mistake, errorRate, selfCorrectRate } = agent.profile;
    const base = { index, provider, model };
    if (agent.pendingCorrection) {
      const { tool, args } = agent.pendingCorrection;
      agent.pendingCorrection = undefined;
      yield { ...base, tool, arguments: args, intended: null, correction: true };
      continue;
    }
    // Deepseek's mistake needs numbers: when it errs, it errs on a refund.
    const errs = mistake !== null && rng() < errorRate;
    const tool = errs && mistake === 'wrong_type' ? ORDER_TOOLS.ISSUE_REFUND : pickTool(rng);
    const args = validCall(rng, tool);
    if (!errs || mistake === null) {
      yield { ...base, tool, arguments: args, intended: null, correction: false };
      continue;
    }
    let sent: { tool: string; args: unknown };
    switch (mistake) {
      case 'missing_required':
        sent = { tool, args: omitRequired(rng, tool, args) };
        break;
      case 'wrong_type':
        sent = { tool, args: stringifyNumbers(args) };
        break;
      case 'not_an_object':
        sent = { tool, args: JSON.stringify(args) };
        break;
      case 'unknown_tool':
        sent = { tool: HALLUCINATED_FOR[tool] ?? 'check_stock', args };
        break;
    }
    // Only a retry of the same tool is a self-correction; an unknown tool is never "corrected" in place.
    if (mistake !== 'unknown_tool' && rng() < selfCorrectRate) agent.pendingCorrection = { tool, args };
    yield { ...base, tool: sent.tool, arguments: sent.args, intended: mistake, correction: false };
  }
}

/** The first `count` calls of the sequence for `seed`. */
export function planCalls(seed: number, count: number, profiles: readonly AgentProfile[] = AGENT_PROFILES): PlannedCall[] {
  const out: PlannedCall[] = [];
  const seq = callSequence(seed, profiles);
  while (out.length < count) out.push(seq.next().value as PlannedCall);
  return out;
}

/** W3C baggage value naming the calling LLM, with the contract's keys. */
export function baggageFor(provider: string, model: string): string {
  return `${BAGGAGE_KEYS.PROVIDER}=${encodeURIComponent(provider)},${BAGGAGE_KEYS.MODEL}=${encodeURIComponent(model)}`;
}

/** Options of {@link startTraffic}. */
export interface TrafficOptions {
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Calls per second across all agents. Default 10; at most 1000. */
  rate?: number;
  /** Stop after this many calls (default: until `stop()`). */
  maxCalls?: number;
  /** Agent profiles. Default {@link AGENT_PROFILES}. */
  profiles?: readonly AgentProfile[];
  /** Options for the order servers the agents talk to. */
  server?: OrderServerOptions;
  /** Calls allowed in flight per agent before the scheduler skips that agent's turn. Default 8. */
  maxInFlightPerAgent?: number;
}

/** What the traffic generator has done so far. */
export interface TrafficStats {
  /** Calls answered (any outcome), by provider. */
  sent: Record<string, number>;
  /** Calls planned malformed, by provider and intended kind. */
  malformed: Record<string, Record<string, number>>;
  /** Turns skipped because an agent had too many calls in flight. */
  skipped: number;
  /** Calls whose promise rejected with something other than a JSON-RPC error answer (should stay 0). */
  failures: number;
}

/** A running traffic generator. */
export interface Traffic {
  readonly stats: TrafficStats;
  /** Every call that was answered, in plan order of completion. */
  readonly completed: readonly PlannedCall[];
  /** Resolves when `maxCalls` calls have been answered (never, without maxCalls, until stop). */
  readonly done: Promise<void>;
  /** Stops scheduling, waits for calls in flight, closes clients and servers. Idempotent. */
  stop(): Promise<void>;
}

interface Session {
  client: Client;
  server: ReturnType<typeof createOrderServer>;
  inFlight: number;
  /** Calls of one agent go one after another, so a correction follows its malformed call. */
  chain: Promise<void>;
}

/** Starts the simulated agents. Each gets its own MCP session (client, in-memory transport pair, server). */
export async function startTraffic(options: TrafficOptions = {}): Promise<Traffic> {
  const seed = options.seed ?? 1;
  const rate = options.rate ?? 10;
  const profiles = options.profiles ?? AGENT_PROFILES;
  const maxInFlight = options.maxInFlightPerAgent ?? 8;
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${String(seed)}`);
  if (!(rate > 0 && rate <= 1000)) throw new RangeError(`rate must be > 0 and <= 1000 calls/s, got ${String(rate)}`);
  if (options.maxCalls !== undefined && !(Number.isInteger(options.maxCalls) && options.maxCalls >= 0)) {
    throw new RangeError(`maxCalls must be a non-negative integer, got ${String(options.maxCalls)}`);
  }

  // One session per provider: sessions and statistics are keyed by it.
  const duplicate = profiles.find((p, i) => profiles.findIndex((q) => q.provider === p.provider) !== i);
  if (duplicate !== undefined) throw new RangeError(`profiles must name each provider once; ${duplicate.provider} appears twice`);

  const sessions = new Map<string, Session>();
  for (const profile of profiles) {
    const server = createOrderServer(options.server);
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const client = new Client({ name: `demo-agent-${profile.provider}`, version: '1.0.0' });
    await client.connect(clientSide);
    // Agents read the catalogue first, as real ones do (and mcplens counts its tokens).
    await client.listTools({ _meta: { [META_KEYS.BAGGAGE]: baggageFor(profile.provider, profile.model) } });
    sessions.set(profile.provider, { client, server, inFlight: 0, chain: Promise.resolve() });
  }

  const stats: TrafficStats = { sent: {}, malformed: {}, skipped: 0, failures: 0 };
  const completed: PlannedCall[] = [];
  const sequence = callSequence(seed, profiles);
  let scheduled = 0;
  let answered = 0;
  let stopped = false;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  if (options.maxCalls === 0) resolveDone();

  async function send(session: Session, call: PlannedCall): Promise<void> {
    const params = {
      name: call.tool,
      arguments: call.arguments,
      _meta: { [META_KEYS.BAGGAGE]: baggageFor(call.provider, call.model) },
    };
    try {
      // client.request, not callTool: callTool's types (rightly) refuse a string as arguments.
      await session.client.request({ method: 'tools/call', params: params as never }, CallToolResultSchema);
    } catch (err) {
      // A JSON-RPC error answer (e.g. -32603 for string arguments) is an expected outcome; anything else is a failure.
      if (typeof (err as { code?: unknown }).code !== 'number') stats.failures++;
    }
    stats.sent[call.provider] = (stats.sent[call.provider] ?? 0) + 1;
    if (call.intended) {
      const byKind = (stats.malformed[call.provider] ??= {});
      byKind[call.intended] = (byKind[call.intended] ?? 0) + 1;
    }
    completed.push(call);
    answered++;
    if (options.maxCalls !== undefined && answered >= options.maxCalls) resolveDone();
  }

  function tick(): void {
    if (stopped || (options.maxCalls !== undefined && scheduled >= options.maxCalls)) return;
    const call = sequence.next().value as PlannedCall;
    const session = sessions.get(call.provider);
    if (!session) return;
    scheduled++;
    // Bounded work: an agent that falls behind loses turns instead of queueing without limit.
    // A skipped turn still consumes the planned call, so the sequence stays the seed's.
    if (session.inFlight >= maxInFlight) {
      stats.skipped++;
      answered++;
      if (options.maxCalls !== undefined && answered >= options.maxCalls) resolveDone();
      return;
    }
    session.inFlight++;
    session.chain = session.chain.then(() => send(session, call)).finally(() => void session.inFlight--);
  }

  // Timer granularity: fire every >= 10 ms and schedule as many calls as the elapsed time allows.
  const started = performance.now();
  const intervalMs = Math.max(10, 1000 / rate);
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * rate) + 1;
    while (scheduled < due && !stopped && (options.maxCalls === undefined || scheduled < options.maxCalls)) tick();
  }, intervalMs);

  let stopping: Promise<void> | undefined;
  return {
    stats,
    completed,
    done,
    stop(): Promise<void> {
      stopping ??= (async () => {
        stopped = true;
        clearInterval(timer);
        await Promise.all([...sessions.values()].map((s) => s.chain));
        for (const s of sessions.values()) {
          await s.client.close().catch(() => undefined);
          await s.server.close().catch(() => undefined);
        }
        resolveDone();
      })();
      return stopping;
    },
  };
}
