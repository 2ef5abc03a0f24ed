/**
 * `npm run bench`: the instrumentation overhead bench (bench/instrumentation-overhead.ts),
 * the stdio server start-up and exit bench (bench/stdio-lifecycle.ts), `mcplens wrap`'s overhead
 * (bench/wrap-overhead.ts), `mcplens proxy`'s overhead (bench/proxy-overhead.ts), the tokenizer's bounds
 * (bench/tokenizer-bound.ts), the scoped-authorization guard's costs (bench/authorization.ts), each guard's added
 * cost per tools/call and the Redis store's round trip (bench/guards-overhead.ts), the capacity model's tables
 * (bench/capacity-model.ts), then the collector
 * ingest bench when bench/collector-ingest.js exports `runIngestBench`.
 * Tables go to stdout, progress to stderr.
 *
 * Flags: `--quick` (short run, under a minute), `--rounds N`, `--variants a,b`,
 * `--transports memory,http`, `--json FILE` (raw figures), `--cpu-prof` (profiles of every child);
 * the stdio bench's own as `--lifecycle-runs=N`, `--lifecycle-collectors=up,down,silent`,
 * `--lifecycle-modes=init,idle,calls`, `--lifecycle-serial`, `--lifecycle-json=FILE`; the wrap
 * bench's as `--wrap-rounds=N`, `--wrap-calls=N`, `--wrap-paced-seconds=S`, `--wrap-json=FILE`; the proxy
 * bench's as `--proxy-rounds=N`, `--proxy-calls=N`, `--proxy-paced-seconds=S`, `--proxy-json=FILE`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mainAuthorizationBench } from './authorization.js';
import { mainCapacityModel } from './capacity-model.js';
import { mainGuardsBench } from './guards-overhead.js';
import { mainOverhead } from './instrumentation-overhead.js';
import { mainProxyOverhead } from './proxy-overhead.js';
import { mainStdioLifecycle } from './stdio-lifecycle.js';
import { mainTokenizerBound } from './tokenizer-bound.js';
import { mainWrapOverhead } from './wrap-overhead.js';

/** The subset of bench/collector-ingest.ts this runner calls. */
interface IngestModule {
  runIngestBench?: (options: { durationMs?: number; log?: (line: string) => void; realTally?: boolean }) => unknown[];
  formatIngestTable?: (results: never[]) => string;
  runRssAtCapBench?: (options: { log?: (line: string) => void }) => Promise<unknown>;
  formatRssAtCap?: (result: never) => string;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const own = ['--lifecycle-', '--wrap-', '--proxy-'];
  await mainOverhead(argv.filter((arg) => !own.some((prefix) => arg.startsWith(prefix))));
  // Only their own flags: `--json FILE` and the rest belong to the overhead bench.
  await mainStdioLifecycle(argv.filter((arg) => arg === '--quick' || arg.startsWith('--lifecycle-')));
  await mainWrapOverhead(argv.filter((arg) => arg === '--quick' || arg.startsWith('--wrap-')));
  await mainProxyOverhead(argv.filter((arg) => arg === '--quick' || arg.startsWith('--proxy-')));
  // The plain tokenizer's quadratic cells are cut off at the timeout (a shorter one with --quick).
  await mainTokenizerBound(quick ? ['--timeout-ms', '3000'] : []);
  await mainAuthorizationBench(quick ? ['--quick'] : []);
  await mainGuardsBench(quick ? ['--quick'] : []);
  // The capacity model's tables, from its recorded figures (no measurement: docs/scaling.md holds them).
  process.stdout.write('\ncapacity model (docs/scaling.md)\n\n');
  await mainCapacityModel([]);

  const ingestPath = fileURLToPath(new URL('./collector-ingest.js', import.meta.url));
  let ingest: IngestModule | undefined;
  if (existsSync(ingestPath)) {
    try {
      // A specifier in a variable: this runner must build whether or not that file exists.
      const specifier = './collector-ingest.js';
      ingest = (await import(specifier)) as IngestModule;
    } catch (err) {
      process.stdout.write(`\ncollector ingest bench skipped: loading it failed (${err instanceof Error ? err.message : String(err)})\n`);
      return;
    }
  }
  if (typeof ingest?.runIngestBench !== 'function') {
    process.stdout.write('\ncollector ingest bench skipped: dist/bench/collector-ingest.js does not export runIngestBench\n');
    return;
  }
  process.stderr.write('collector ingest bench...\n');
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  // realTally: decode + the collector's own Tally (prom-client registry, summary, self-correction).
  const results = ingest.runIngestBench({ durationMs: quick ? 300 : 2000, log, realTally: true });
  const text =
    typeof ingest.formatIngestTable === 'function' ? ingest.formatIngestTable(results as never[]) : JSON.stringify(results, null, 2);
  process.stdout.write(`\n${text}\n`);
  if (!quick && typeof ingest.runRssAtCapBench === 'function') {
    const rss = await ingest.runRssAtCapBench({ log });
    process.stdout.write(
      `\n${typeof ingest.formatRssAtCap === 'function' ? ingest.formatRssAtCap(rss as never) : JSON.stringify(rss, null, 2)}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
