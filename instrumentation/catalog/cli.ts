/**
 * `mcplens catalog [options] -- <server command>` or `mcplens catalog --url URL`: connects to an
 * MCP server as a client, lists every page of its tools, and prints what each tool adds to every
 * LLM request in tokens and money. Exit status 1 when a `--max-...` budget is exceeded (for CI),
 * 2 on a usage mistake; the table (or `--json`) goes to stdout, progress to stderr.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { parseArgs } from 'node:util';
import { CATALOG_COST, monthlyCatalogCost } from '../../contract/catalog-cost.js';
import { ConfigError } from '../../contract/config-error.js';
import { isRecord } from '../is-record.js';
import { VERSION } from '../version.js';
import type { ToolDefinition } from '../tool-definition.js';
import { catalogCost, DEFAULT_DESCRIPTION_BUDGET, type CatalogCost } from './tool-costs.js';
import { isPrometheusDuration, readToolUsage, readToolUsageFromPrometheus, type ToolUsage } from './tool-usage.js';

/** Pages listed at most (a server whose cursors never end). */
const MAX_PAGES = 100;
const CONNECT_TIMEOUT_MS = 30_000;

export const CATALOG_USAGE = `usage: mcplens catalog [options] -- <server command> [args...]
       mcplens catalog [options] --url URL

Lists every tool of an MCP server (all pages) and what each adds to every LLM request.

options:
  --url URL                      a Streamable HTTP server instead of a command
  --description-budget N         flag descriptions over N tokens (default ${DEFAULT_DESCRIPTION_BUDGET})
  --price USD                    price of one million input tokens (default ${CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS})
  --requests-per-day N           LLM requests per day that carry the catalog (default ${CATALOG_COST.DEFAULT_REQUESTS_PER_DAY})
  --max-tokens N                 exit 1 when the whole catalog takes more than N tokens
  --max-description-tokens N     exit 1 when a description takes more than N tokens
  --usage-from URL               a mcplens collector (or its /api/summary): list the tools never called
                                 since it started, with what they cost; with --usage-window, a
                                 Prometheus server that scrapes mcplens collectors
  --usage-window D               with a Prometheus --usage-from: the window, e.g. 7d (a tool counts as
                                 used when any of its calls series has a sample in it)
  --json                         print JSON instead of a table
  -h, --help                     print this help
`;

/** What the command line asked for. */
export interface CatalogArgs {
  target: { url: URL } | { command: string; args: string[] };
  descriptionBudget: number;
  pricePerMillionTokens: number;
  requestsPerDay: number;
  maxTokens: number | undefined;
  maxDescriptionTokens: number | undefined;
  usageFrom: URL | undefined;
  /** Set: `usageFrom` is a Prometheus server. */
  usageWindow: string | undefined;
  json: boolean;
}

/** Reads the command line; a mistake throws a ConfigError naming it. */
export function parseCatalogArgs(argv: readonly string[]): CatalogArgs | 'help' {
  const dashes = argv.indexOf('--');
  const own = dashes === -1 ? [...argv] : argv.slice(0, dashes);
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: own,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        'description-budget': { type: 'string' },
        price: { type: 'string' },
        'requests-per-day': { type: 'string' },
        'max-tokens': { type: 'string' },
        'max-description-tokens': { type: 'string' },
        'usage-from': { type: 'string' },
        'usage-window': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help === true) return 'help';
  const number = (flag: string, fallback: number | undefined, integer: boolean): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
      throw new ConfigError(`--${flag} ${JSON.stringify(raw)} is not a ${integer ? 'whole ' : ''}number of 0 or more`);
    return n;
  };
  const command = dashes === -1 ? [] : argv.slice(dashes + 1);
  let target: CatalogArgs['target'];
  if (typeof values.url === 'string') {
    if (command.length > 0) throw new ConfigError('give either --url or a command after --, not both');
    let url: URL;
    try {
      url = new URL(values.url);
    } catch {
      throw new ConfigError(`--url ${JSON.stringify(values.url)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`--url ${JSON.stringify(values.url)} is not an http(s) URL`);
    target = { url };
  } else {
    const [name, ...args] = command;
    if (name === undefined || name === '') throw new ConfigError("no server: give --url URL or a command after '--'");
    target = { command: name, args };
  }
  let usageFrom: URL | undefined;
  if (typeof values['usage-from'] === 'string') {
    try {
      usageFrom = new URL(values['usage-from']);
    } catch {
      throw new ConfigError(`--usage-from ${JSON.stringify(values['usage-from'])} is not a URL`);
    }
    if (usageFrom.protocol !== 'http:' && usageFrom.protocol !== 'https:')
      throw new ConfigError(`--usage-from ${JSON.stringify(values['usage-from'])} is not an http(s) URL`);
  }
  const usageWindow = typeof values['usage-window'] === 'string' ? values['usage-window'] : undefined;
  if (usageWindow !== undefined) {
    if (usageFrom === undefined) throw new ConfigError('--usage-window needs --usage-from (a Prometheus URL)');
    if (!isPrometheusDuration(usageWindow))
      throw new ConfigError(`--usage-window ${JSON.stringify(usageWindow)} is not a Prometheus duration (30m, 7d, ...)`);
  }
  return {
    target,
    usageFrom,
    usageWindow,
    descriptionBudget: number('description-budget', DEFAULT_DESCRIPTION_BUDGET, true)!,
    pricePerMillionTokens: number('price', CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS, false)!,
    requestsPerDay: number('requests-per-day', CATALOG_COST.DEFAULT_REQUESTS_PER_DAY, false)!,
    maxTokens: number('max-tokens', undefined, true),
    maxDescriptionTokens: number('max-description-tokens', undefined, true),
    json: values.json === true,
  };
}

/**
 * Every tool the server lists, following `nextCursor` to the last page. `rawPage`, when given,
 * returns the page as the server sent it (see {@link captureRawToolPages}).
 */
export async function listAllTools(
  client: Client,
  progress: (line: string) => void = () => {},
  rawPage?: () => unknown,
): Promise<ToolDefinition[]> {
  const tools: ToolDefinition[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 1; page <= MAX_PAGES; page++) {
    const result = await client.listTools(cursor === undefined ? {} : { cursor });
    const raw = rawPage?.();
    const listed = isRecord(raw) && Array.isArray(raw.tools) ? raw.tools : result.tools;
    tools.push(...(listed as ToolDefinition[]));
    progress(`page ${page}: ${result.tools.length} tools`);
    cursor = result.nextCursor;
    if (cursor === undefined) return tools;
    if (seen.has(cursor)) throw new Error(`the server repeats the cursor ${JSON.stringify(cursor)}`);
    seen.add(cursor);
  }
  throw new Error(`the server's tool list goes on past ${MAX_PAGES} pages`);
}

/**
 * Keeps the last tools/list page as the server sent it. The SDK client's schema validation puts
 * known keys first (an input schema's `$schema` moves to its end), and key order changes the token
 * count; the spans count the server's own JSON, and so does this command, so the two agree.
 */
export function captureRawToolPages(transport: Transport): () => unknown {
  let last: unknown;
  const parse = transport.onmessage;
  transport.onmessage = (message, extra) => {
    const result = (message as { result?: unknown }).result;
    if (isRecord(result) && Array.isArray(result.tools)) last = result;
    parse?.(message, extra);
  };
  return () => last;
}

/**
 * Runs the command; resolves with the exit status. The table (or JSON) goes to `out`: the process
 * that runs the command hands it its stdout (bin/mcplens.ts); nothing in instrumentation/ names stdout.
 */
export async function runCatalogCli(argv: readonly string[], out: NodeJS.WritableStream): Promise<number> {
  let parsed: CatalogArgs | 'help';
  try {
    parsed = parseCatalogArgs(argv);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`mcplens catalog: ${err.message}\n\n${CATALOG_USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    out.write(CATALOG_USAGE);
    return 0;
  }
  const progress = (line: string): void => void process.stderr.write(`mcplens catalog: ${line}\n`);
  const transport: Transport =
    'url' in parsed.target
      ? new StreamableHTTPClientTransport(parsed.target.url)
      : new StdioClientTransport({ command: parsed.target.command, args: parsed.target.args, stderr: 'inherit' });
  const client = new Client({ name: 'mcplens-catalog', version: VERSION });
  let tools: ToolDefinition[];
  let serverName: string | undefined;
  try {
    progress(`connecting to ${'url' in parsed.target ? parsed.target.url.href : parsed.target.command}`);
    await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
    serverName = client.getServerVersion()?.name;
    tools = await listAllTools(client, progress, captureRawToolPages(transport));
  } catch (err) {
    process.stderr.write(`mcplens catalog: cannot list the tools: ${err instanceof Error ? err.message : String(err)}\n`);
    await client.close().catch(() => undefined);
    return 1;
  }
  await client.close().catch(() => undefined);

  const cost = catalogCost(tools, parsed);
  let unused: UnusedTools | undefined;
  if (parsed.usageFrom !== undefined) {
    try {
      progress(`reading calls per tool from ${parsed.usageFrom.href}`);
      const usage =
        parsed.usageWindow === undefined
          ? await readToolUsage(parsed.usageFrom, serverName)
          : await readToolUsageFromPrometheus(parsed.usageFrom, parsed.usageWindow, serverName);
      unused = unusedTools(cost, usage);
    } catch (err) {
      process.stderr.write(`mcplens catalog: cannot read the usage: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }
  out.write(
    parsed.json
      ? `${JSON.stringify(unused === undefined ? cost : { ...cost, unused }, null, 2)}\n`
      : formatCatalogCost(cost) + formatUnused(unused),
  );
  const problems = budgetProblems(cost, parsed);
  for (const problem of problems) process.stderr.write(`mcplens catalog: ${problem}\n`);
  return problems.length > 0 ? 1 : 0;
}

/** The budgets the catalog exceeds, one line each. */
export function budgetProblems(cost: CatalogCost, limits: Pick<CatalogArgs, 'maxTokens' | 'maxDescriptionTokens'>): string[] {
  const problems: string[] = [];
  if (limits.maxTokens !== undefined && cost.totalTokens > limits.maxTokens)
    problems.push(`the catalog takes ${cost.totalTokens} tokens, over --max-tokens ${limits.maxTokens}`);
  if (limits.maxDescriptionTokens !== undefined) {
    for (const tool of cost.tools)
      if (tool.descriptionTokens > limits.maxDescriptionTokens)
        problems.push(
          `the description of ${tool.name} takes ${tool.descriptionTokens} tokens, over --max-description-tokens ${limits.maxDescriptionTokens}`,
        );
  }
  return problems;
}

/** The table: one row per tool, most expensive first, then the total and the monthly cost. */
export function formatCatalogCost(cost: CatalogCost): string {
  const rows = cost.tools.map((t) => [
    t.name,
    String(t.tokens),
    String(t.descriptionTokens),
    t.overBudget ? `over ${cost.descriptionBudget}` : '',
  ]);
  const header = ['tool', 'tokens', 'description', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  out.push('');
  out.push(`${cost.tools.length} tools, ${cost.totalTokens} tokens on every LLM request that offers them`);
  out.push(
    `about $${cost.monthlyCost.toFixed(2)} a month at ${cost.requestsPerDay} requests a day and $${cost.pricePerMillionTokens} per million input tokens`,
  );
  return `${out.join('\n')}\n`;
}

/** Tools no call was seen for, with what they cost. */
export interface UnusedTools {
  readonly source: string;
  readonly service: string | undefined;
  readonly tools: ReadonlyArray<{ name: string; tokens: number; monthlyCost: number }>;
  readonly tokens: number;
  readonly monthlyCost: number;
}

/** The catalog's tools that `usage` has no call of. */
export function unusedTools(cost: CatalogCost, usage: ToolUsage): UnusedTools {
  const tools = cost.tools
    .filter((t) => (usage.calls.get(t.name) ?? 0) === 0)
    .map((t) => ({
      name: t.name,
      tokens: t.tokens,
      monthlyCost: monthlyCatalogCost(t.tokens, cost.requestsPerDay, cost.pricePerMillionTokens),
    }));
  const tokens = tools.reduce((n, t) => n + t.tokens, 0);
  return {
    source: usage.source,
    service: usage.service,
    tools,
    tokens,
    monthlyCost: monthlyCatalogCost(tokens, cost.requestsPerDay, cost.pricePerMillionTokens),
  };
}

function formatUnused(unused: UnusedTools | undefined): string {
  if (unused === undefined) return '';
  const of = unused.service === undefined ? 'any service' : unused.service;
  if (unused.tools.length === 0) return `\nevery tool was called (${of}, ${unused.source})\n`;
  const lines = unused.tools.map((t) => `  ${t.name}  ${t.tokens} tokens, about $${t.monthlyCost.toFixed(2)} a month`);
  return `\nnever called (${of}, ${unused.source}): ${unused.tools.length} tools, ${unused.tokens} tokens per request, about $${unused.monthlyCost.toFixed(2)} a month\n${lines.join('\n')}\n`;
}
