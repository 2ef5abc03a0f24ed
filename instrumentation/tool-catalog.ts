import { diag } from '@opentelemetry/api';
import { ToolSchemas } from './tool-schemas.js';
import type { CatalogTokens } from './token-counter.js';
import type { ToolDefinition } from './tool-definition.js';
import type { InstrumentOptions } from './types.js';

/**
 * Asks the server for its `tools/list` result. In the server's process it calls the server's own
 * handler; a host outside it sends a `tools/list` request over the stream.
 */
export type ToolCatalogLoader = () => Promise<unknown>;

/**
 * The tool catalog of one server: filled from its own `tools/list` answers seen on the
 * stream, or, when a call comes first, by asking the server once through its loader.
 * It holds the compiled schemas that grade calls ({@link ToolSchemas}) and the catalog's
 * token counts; a revision counter keeps a slow load from overwriting a fresher list.
 */
export class ToolCatalog {
  readonly schemas: ToolSchemas;
  private stale = true;
  /** Bumped by every tools/list answer seen and every tools/list_changed: what a load must not overwrite. */
  private revision = 0;
  private loading: Promise<void> | undefined;
  private tokenCache: (CatalogTokens & { key: string }) | undefined;

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

  /** Called with a tools/list result seen on the stream. */
  update(result: unknown): void {
    if (!this.replace(result)) return;
    this.stale = false;
    this.revision++;
  }

  /** The server said its tools changed (`notifications/tools/list_changed`). */
  markStale(): void {
    this.stale = true;
    this.revision++;
  }

  private replace(result: unknown): boolean {
    const tools = (result as { tools?: unknown } | undefined)?.tools;
    if (!Array.isArray(tools)) return false;
    // A paginated list replaces the catalog page by page (documented limitation).
    this.schemas.update(tools as ToolDefinition[]);
    return true;
  }

  /** Whether calls can be graded now, without loading. */
  get ready(): boolean {
    return !this.stale && this.schemas.loaded;
  }

  /** Undefined when the catalog is usable now; else a promise that settles when it was (re)loaded. */
  ensureLoaded(): Promise<void> | undefined {
    if (this.ready) return undefined;
    if (this.loader === undefined) return this.schemas.loaded ? undefined : Promise.resolve();
    if (this.loading !== undefined) return this.loading;
    const revision = this.revision;
    this.loading = this.loader()
      .then((result) => {
        // Changed while loading: after a tools/list_changed this list may predate the change, so
        // it serves the calls waiting for it and the catalog stays stale (the next call loads
        // again); a tools/list answer seen meanwhile is as fresh as this one and is kept.
        if (this.revision === revision || this.stale) this.replace(result);
      })
      .catch((err: unknown) => diag.debug('mcplens: could not load the tool catalog', err))
      .finally(() => {
        this.loading = undefined;
        if (this.revision === revision) this.stale = false;
      });
    return this.loading;
  }

  /** Whether the catalog tokens of the tools listed as `key` (their JSON) are known: clients list tools often. */
  hasTokensFor(key: string): boolean {
    return this.tokenCache?.key === key;
  }

  /** Catalog tokens from fresh per-tool counts (same order as `tools`), or the cached ones when `counts` is undefined. */
  catalogTokens(key: string, tools: readonly ToolDefinition[], counts: number[] | undefined): CatalogTokens {
    if (counts === undefined && this.tokenCache !== undefined) return this.tokenCache;
    const perTool = tools.map((tool, i) => ({ name: String(tool.name), tokens: counts?.[i] ?? 0 }));
    const cached = { key, total: perTool.reduce((n, t) => n + t.tokens, 0), perTool };
    this.tokenCache = cached;
    return cached;
  }
}
