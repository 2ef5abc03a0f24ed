import { diag } from '@opentelemetry/api';
import { isRecord } from './is-record.js';
import { ToolSchemas, type Grading } from './tool-schemas.js';
import type { ToolDefinition } from './tool-definition.js';
import type { InstrumentOptions } from './types.js';

/**
 * Asks the server for one page of its `tools/list` result: the first page when `cursor` is undefined,
 * else the page after it. In the server's process it calls the server's own handler; a host outside
 * it sends a `tools/list` request over the stream.
 */
export type ToolCatalogLoader = (cursor: string | undefined) => Promise<unknown>;

/** The most pages one load follows: a server whose cursors never end must not keep mcplens asking. */
export const MAX_CATALOG_PAGES = 100;
/** Distinct tool texts whose token counts are kept, per catalog (a client lists tools on every turn). */
const MAX_CACHED_TOOL_COUNTS = 2000;

/** One page of a tools/list result, as far as the catalog reads it. */
interface Page {
  tools: ToolDefinition[];
  nextCursor: string | undefined;
}

/**
 * The tool catalog of one server: filled from its own `tools/list` pages seen on the stream, or,
 * when a call comes first or names a tool the client has not listed yet, by asking the server
 * through its loader, following `nextCursor` to the last page.
 * It holds the compiled schemas that grade calls ({@link ToolSchemas}), the listing the client
 * received (what catalog tokens count) and a cache of per-tool token counts; a revision counter
 * keeps a slow load from overwriting a fresher list.
 */
export class ToolCatalog {
  readonly schemas: ToolSchemas;
  private stale = true;
  /** Bumped by every tools/list page seen and every tools/list_changed: what a load must not overwrite. */
  private revision = 0;
  private loading: Promise<void> | undefined;
  /** Every tool known, by name: the pages seen on the stream and those loaded. */
  private known = new Map<string, ToolDefinition>();
  /** `nextCursor` of the last page seen or loaded: while set, the catalog is incomplete. */
  private nextCursor: string | undefined;
  /** The tools the client was sent since its last first page, by name: what its LLM requests carry. */
  private listed = new Map<string, ToolDefinition>();
  private readonly toolTokens = new Map<string, number>();
  private warnedUnending = false;

  constructor(
    options: InstrumentOptions,
    /** Undefined when the server cannot be asked. */
    private readonly loader: ToolCatalogLoader | undefined,
  ) {
    this.schemas = new ToolSchemas({
      strictArguments: options.strictArguments ?? false,
      onCompileError: (tool, err) => diag.warn(`mcplens: cannot compile the input schema of tool ${tool}; its calls are not graded`, err),
    });
  }

  /**
   * Called with a tools/list result page seen on the stream and the `cursor` its request carried:
   * without one it is a first page and replaces the catalog, with one it is a next page and adds to it.
   * Returns the tools the client has been sent in this listing (all its pages so far), or undefined
   * when the result is not a tools/list page.
   */
  update(result: unknown, cursor: string | undefined): ToolDefinition[] | undefined {
    const page = pageOf(result);
    if (page === undefined) return undefined;
    const first = cursor === undefined;
    if (first) this.listed = new Map();
    for (const tool of page.tools) this.listed.set(tool.name, tool);
    this.apply(page.tools, first ? 'replace' : 'add', page.nextCursor);
    // A first page after a tools/list_changed is fresh; a next page may continue a listing that predates it.
    if (first) this.stale = false;
    this.revision++;
    return [...this.listed.values()];
  }

  /** The server said its tools changed (`notifications/tools/list_changed`). */
  markStale(): void {
    this.stale = true;
    this.revision++;
  }

  /** Whether the catalog holds every tool: known, not stale, and no page left to read. */
  get complete(): boolean {
    return !this.stale && this.schemas.loaded && this.nextCursor === undefined;
  }

  /**
   * Whether a call of tool `name` can be graded now, without loading: the catalog is fresh and
   * has the tool, or is complete. A call without a string name is malformed whatever the catalog.
   */
  canGrade(name: unknown): boolean {
    if (typeof name !== 'string') return true;
    if (this.stale || !this.schemas.loaded) return false;
    return this.nextCursor === undefined || this.schemas.has(name);
  }

  /**
   * Grades a tools/call's `params` against the catalog as it is. Undefined when the tool is not
   * in it and the catalog is not complete (nothing known, or pages never read): no guessed `unknown_tool`.
   */
  grade(params: Record<string, unknown>): Grading | undefined {
    const name = params.name;
    if (typeof name === 'string' && !this.schemas.has(name) && !(this.schemas.loaded && this.nextCursor === undefined)) return undefined;
    return this.schemas.grade(params);
  }

  /**
   * Undefined when no load is needed or possible now; else a promise that settles once the catalog
   * was (re)loaded: from the first page when nothing is known or it is stale, else from the last
   * `nextCursor` seen, following the cursors to the last page (at most {@link MAX_CATALOG_PAGES}).
   */
  ensureLoaded(): Promise<void> | undefined {
    if (this.complete || this.loader === undefined) return undefined;
    if (this.loading === undefined) {
      this.loading = this.load(this.loader).finally(() => {
        this.loading = undefined;
      });
    }
    return this.loading;
  }

  /** The load in flight, if any (a host outside the process keeps its channel open for it). */
  get pendingLoad(): Promise<void> | undefined {
    return this.loading;
  }

  private async load(loader: ToolCatalogLoader): Promise<void> {
    const revision = this.revision;
    const fromStart = this.stale || !this.schemas.loaded;
    const tools: ToolDefinition[] = [];
    let cursor = fromStart ? undefined : this.nextCursor;
    const asked = new Set<string>();
    try {
      for (let pages = 0; ; pages++) {
        if (pages === MAX_CATALOG_PAGES || (cursor !== undefined && asked.has(cursor))) {
          this.warnUnending(pages);
          break;
        }
        if (cursor !== undefined) asked.add(cursor);
        const page = pageOf(await loader(cursor));
        if (page === undefined) return this.failed(revision); // no tools/list handler, or not an answer
        tools.push(...page.tools);
        cursor = page.nextCursor;
        if (cursor === undefined) break;
      }
    } catch (err) {
      diag.debug('mcplens: could not load the tool catalog', err);
      return this.failed(revision);
    }
    const changed = this.revision !== revision;
    if (!changed || this.stale) {
      // After a tools/list_changed seen while loading, this list may predate the change: it serves
      // the calls waiting for it and the catalog stays stale, so the next call loads again.
      this.apply(tools, fromStart ? 'replace' : 'add', undefined);
    } else {
      // Pages the client listed meanwhile are as fresh as these: they are kept, these fill the gaps.
      this.apply(tools, 'fill', undefined);
    }
    if (!changed) this.stale = false;
  }

  /** A load that learnt nothing: a stale list stays in use until the next change rather than being asked for on every call. */
  private failed(revision: number): void {
    if (this.revision === revision) this.stale = false;
  }

  private apply(tools: readonly ToolDefinition[], how: 'replace' | 'add' | 'fill', nextCursor: string | undefined): void {
    if (how === 'replace') this.known = new Map();
    for (const tool of tools) if (how !== 'fill' || !this.known.has(tool.name)) this.known.set(tool.name, tool);
    this.nextCursor = nextCursor;
    this.schemas.update([...this.known.values()]);
  }

  private warnUnending(pages: number): void {
    if (this.warnedUnending) return;
    this.warnedUnending = true;
    diag.warn(
      pages === MAX_CATALOG_PAGES
        ? `mcplens: the server's tools/list has more than ${MAX_CATALOG_PAGES} pages; the catalog is graded from the first ${MAX_CATALOG_PAGES}`
        : "mcplens: the server's tools/list repeats a cursor; the catalog is graded from the pages before it",
    );
  }

  /** The token count of a tool's catalog text, if counted before. */
  toolTokensOf(text: string): number | undefined {
    return this.toolTokens.get(text);
  }

  /** Keeps token counts of tool catalog texts (bounded: the oldest go first). */
  rememberToolTokens(texts: readonly string[], counts: readonly number[]): void {
    texts.forEach((text, i) => {
      const count = counts[i];
      if (count === undefined) return;
      this.toolTokens.delete(text);
      this.toolTokens.set(text, count);
    });
    while (this.toolTokens.size > MAX_CACHED_TOOL_COUNTS) this.toolTokens.delete(this.toolTokens.keys().next().value as string);
  }
}

/** The tools (with a string name) and `nextCursor` of a tools/list result; undefined if it is none. */
function pageOf(result: unknown): Page | undefined {
  if (!isRecord(result) || !Array.isArray(result.tools)) return undefined;
  const tools = (result.tools as unknown[]).filter((t): t is ToolDefinition => isRecord(t) && typeof t.name === 'string');
  const next = result.nextCursor;
  return { tools, nextCursor: typeof next === 'string' && next !== '' ? next : undefined };
}
