/**
 * What each tool of a catalog adds to every LLM request: its tokens (name, description and input
 * schema, declared the way providers send tools), counted by the same text and tokenizer that
 * produce `mcplens.tokens.catalog` on tools/list spans, so the two always agree.
 */
import { CATALOG_COST, monthlyCatalogCost } from '../../contract/catalog-cost.js';
import { catalogToolText, defaultTokenizer, type Tokenizer } from '../token-counter.js';
import type { ToolDefinition } from '../tool-definition.js';

/** One tool's cost. */
export interface ToolCost {
  readonly name: string;
  /** Tokens of the whole declaration (name, description, parameters). */
  readonly tokens: number;
  /** Tokens of the description alone (0 without one). */
  readonly descriptionTokens: number;
  /** The description is over the budget. */
  readonly overBudget: boolean;
}

/** The whole catalog's cost. */
export interface CatalogCost {
  /** Most expensive first. */
  readonly tools: readonly ToolCost[];
  readonly totalTokens: number;
  readonly descriptionBudget: number;
  readonly requestsPerDay: number;
  readonly pricePerMillionTokens: number;
  /** USD per month at `requestsPerDay` and `pricePerMillionTokens`. */
  readonly monthlyCost: number;
}

/** What {@link catalogCost} is asked for. */
export interface CatalogCostOptions {
  /** Tokens a description may take before it is flagged. Default 50. */
  descriptionBudget?: number;
  /** Default {@link CATALOG_COST.DEFAULT_REQUESTS_PER_DAY}. */
  requestsPerDay?: number;
  /** Default {@link CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS}. */
  pricePerMillionTokens?: number;
  /** Default: o200k_base, as on spans. */
  tokenizer?: Tokenizer;
}

/** Default of {@link CatalogCostOptions.descriptionBudget}. */
export const DEFAULT_DESCRIPTION_BUDGET = 50;

/** Counts every tool of `tools` (all pages of the server's tools/list). */
export function catalogCost(tools: readonly ToolDefinition[], options: CatalogCostOptions = {}): CatalogCost {
  const count = options.tokenizer ?? defaultTokenizer();
  const descriptionBudget = options.descriptionBudget ?? DEFAULT_DESCRIPTION_BUDGET;
  const requestsPerDay = options.requestsPerDay ?? CATALOG_COST.DEFAULT_REQUESTS_PER_DAY;
  const pricePerMillionTokens = options.pricePerMillionTokens ?? CATALOG_COST.DEFAULT_PRICE_PER_MILLION_TOKENS;
  const costs = tools.map((tool): ToolCost => {
    const descriptionTokens = typeof tool.description === 'string' ? count(tool.description) : 0;
    return {
      name: String(tool.name),
      tokens: count(catalogToolText(tool)),
      descriptionTokens,
      overBudget: descriptionTokens > descriptionBudget,
    };
  });
  costs.sort((a, b) => b.tokens - a.tokens || a.name.localeCompare(b.name));
  const totalTokens = costs.reduce((n, t) => n + t.tokens, 0);
  return {
    tools: costs,
    totalTokens,
    descriptionBudget,
    requestsPerDay,
    pricePerMillionTokens,
    monthlyCost: monthlyCatalogCost(totalTokens, requestsPerDay, pricePerMillionTokens),
  };
}
