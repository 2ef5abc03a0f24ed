/**
 * What a tool catalog costs: every LLM request that offers the tools carries their names,
 * descriptions and input schemas as input tokens. One formula for `mcplens catalog` and the
 * dashboards' cost panel: tokens x LLM requests per day x days per month x price per million / 1e6.
 */
export const CATALOG_COST = {
  /** Days in the monthly estimate. */
  DAYS_PER_MONTH: 30,
  /** Default price of one million input tokens, USD. */
  DEFAULT_PRICE_PER_MILLION_TOKENS: 3,
  /** Default LLM requests per day that carry the catalog. */
  DEFAULT_REQUESTS_PER_DAY: 10_000,
} as const;

/** Monthly cost in USD of sending `tokens` with every LLM request. */
export function monthlyCatalogCost(tokens: number, requestsPerDay: number, pricePerMillionTokens: number): number {
  return (tokens * requestsPerDay * CATALOG_COST.DAYS_PER_MONTH * pricePerMillionTokens) / 1_000_000;
}
