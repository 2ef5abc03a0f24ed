/**
 * One bench child: sets up one telemetry variant, links an MCP server and client over one
 * transport, and measures on the parent's command, over the IPC channel. The parent runs
 * every variant's child at once but lets one measure at a time: blocks of sequential
 * calls take turns, variant after variant, so a drift of the machine hits all variants
 * alike and each block pairs with the baseline's block next to it. Every block ends with a
 * drain (the variant's deferred work done, spans exported), so nothing spills into the
 * next child's turn. Diagnostics go to stderr.
 *
 * Commands (parent -> child), each answered once: `warmup` -> `warmed`;
 * `block {size, calls, maxMs}` -> `block {figures}`; `load` -> `load {burst, paced}`;
 * `finish` -> `done {allSpans}`, then the child exits.
 */
import { parseArgs } from 'node:util';
import {
  TRANSPORT_NAMES,
  VARIANT_NAMES,
  type BlockFigures,
  type ChildMessage,
  type ParentCommand,
  type TransportName,
  type VariantName,
} from './figures.js';
import { collectGarbage, drain, measureBurst, measurePaced, measureSequential } from './measure.js';
import type { VariantRuntime } from './variant.js';

/** The child's command line, validated. */
export interface ChildOptions {
  variant: VariantName;
  transport: TransportName;
  /** Warm-up calls per result size before anything is measured. */
  warmup: number;
  burstMs: number;
  burstConcurrency: number;
  pacedRate: number;
  pacedSeconds: number;
}

function parseChildArgs(argv: string[]): ChildOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      variant: { type: 'string' },
      transport: { type: 'string' },
      warmup: { type: 'string', default: '500' },
      'burst-ms': { type: 'string', default: '1000' },
      'burst-concurrency': { type: 'string', default: '32' },
      'paced-rate': { type: 'string', default: '1000' },
      'paced-seconds': { type: 'string', default: '3' },
    },
    strict: true,
  });
  const variant = values.variant as VariantName;
  if (!VARIANT_NAMES.includes(variant))
    throw new Error(`--variant must be one of ${VARIANT_NAMES.join(', ')}, got ${String(values.variant)}`);
  const transport = values.transport as TransportName;
  if (!TRANSPORT_NAMES.includes(transport))
    throw new Error(`--transport must be one of ${TRANSPORT_NAMES.join(', ')}, got ${String(values.transport)}`);
  const positive = (name: string, raw: string | undefined, allowZero = false): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0))
      throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(raw)}`);
    return n;
  };
  return {
    variant,
    transport,
    warmup: Math.floor(positive('warmup', values.warmup, true)),
    burstMs: positive('burst-ms', values['burst-ms']),
    burstConcurrency: Math.floor(positive('burst-concurrency', values['burst-concurrency'])),
    pacedRate: positive('paced-rate', values['paced-rate']),
    pacedSeconds: positive('paced-seconds', values['paced-seconds']),
  };
}

const WARMUP_MAX_MS = 1500;

async function setUpVariant(name: VariantName): Promise<VariantRuntime> {
  switch (name) {
    case 'bare':
      return (await import('./bare.js')).setUpBare();
    case 'bare-span':
      return (await import('./bare-span.js')).setUpBareSpan();
    case 'mcplens':
      return (await import('./mcplens.js')).setUpMcplens();
    case 'sentry':
      return (await import('./sentry.js')).setUpSentry();
    case 'mcplens-lean':
      return (await import('./mcplens.js')).setUpMcplensLean();
    case 'mcplens-client':
      return (await import('./mcplens.js')).setUpMcplensClient();
  }
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new Error('run by bench/instrumentation-overhead.ts, with an IPC channel');
  const options = parseChildArgs(process.argv.slice(2));
  // Telemetry first, the MCP SDK after: the order an application's instrument file gives.
  const runtime = await setUpVariant(options.variant);
  const { createPair } = await import('./mcp-pair.js');
  const pair = await createPair(options.transport, runtime.hooks);

  const reply = (message: ChildMessage): Promise<void> =>
    new Promise((resolve, reject) => process.send!(message, undefined, {}, (err) => (err ? reject(err) : resolve())));

  const run = async (command: ParentCommand): Promise<boolean> => {
    switch (command.type) {
      case 'warmup': {
        // JIT, connection pools, caches. Bounded in time too (HTTP calls are slow on a busy machine).
        const end = performance.now() + WARMUP_MAX_MS;
        const spansBefore = runtime.toolCallSpans();
        let warmups = 0;
        for (; warmups < options.warmup && (warmups < 20 || performance.now() < end); warmups++) {
          await pair.call('100B');
          await pair.call('10KB');
        }
        // The warm-up's spans must not land in the first measured block, nor its garbage.
        await drain(runtime, spansBefore + 2 * warmups);
        collectGarbage();
        await reply({ type: 'warmed' });
        return true;
      }
      case 'block': {
        const { latenciesMs, cpuTotalUs, spans } = await measureSequential(pair, runtime, command.size, command.calls, command.maxMs);
        const figures: BlockFigures = { latenciesMs, cpuTotalUs, spans };
        await reply({ type: 'block', figures });
        return true;
      }
      case 'load': {
        const burst = await measureBurst(pair, runtime, options.burstMs, options.burstConcurrency);
        const paced = await measurePaced(pair, runtime, options.pacedRate, options.pacedSeconds);
        await reply({ type: 'load', burst, paced });
        return true;
      }
      case 'finish':
        await pair.close();
        await reply({ type: 'done', allSpans: runtime.allSpans() });
        return false;
    }
  };

  // One command at a time, in order: the parent waits for each answer anyway.
  await new Promise<void>((resolve, reject) => {
    let queue = Promise.resolve(true);
    process.on('message', (command: ParentCommand) => {
      queue = queue.then((open) => (open ? run(command) : false));
      queue.then((open) => {
        if (!open) resolve();
      }, reject);
    });
    process.on('disconnect', () => reject(new Error('the parent went away')));
    void reply({ type: 'ready' });
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench child failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
