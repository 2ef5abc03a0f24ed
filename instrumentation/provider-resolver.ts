import { diag } from '@opentelemetry/api';
import { BAGGAGE_KEYS, PROVIDERS, UNKNOWN_PROVIDER, type ProviderSource } from '../contract/index.js';
import type { InstrumentOptions, ProviderResolverInput } from './types.js';
import { parseBaggageHeader } from './propagation.js';

/** The provider and model of one request, and where they came from. */
export interface ResolvedProvider {
  provider: string;
  model: string;
  source: ProviderSource;
}

/** Header names used when `providerHeaders` is not configured. */
export const DEFAULT_PROVIDER_HEADERS = { provider: 'x-llm-provider', model: 'x-llm-model' } as const;

// clientInfo.name of well-known MCP clients -> the provider whose models drive them.
// Matched case-insensitively on the whole name, then on a prefix before '-', ' ' or '/'.
const BUILT_IN_CLIENTS: ReadonlyArray<readonly [string, string]> = [
  ['claude-ai', PROVIDERS.ANTHROPIC],
  ['claude-code', PROVIDERS.ANTHROPIC],
  ['claude', PROVIDERS.ANTHROPIC],
  ['anthropic', PROVIDERS.ANTHROPIC],
  ['chatgpt', PROVIDERS.OPENAI],
  ['openai', PROVIDERS.OPENAI],
  ['openai-mcp', PROVIDERS.OPENAI],
  ['codex', PROVIDERS.OPENAI],
  ['codex-mcp-client', PROVIDERS.OPENAI],
  ['gemini-cli', PROVIDERS.GCP_GEMINI],
  ['gemini', PROVIDERS.GCP_GEMINI],
  ['mistral', PROVIDERS.MISTRAL_AI],
  ['le-chat', PROVIDERS.MISTRAL_AI],
  ['deepseek', PROVIDERS.DEEPSEEK],
  ['grok', PROVIDERS.X_AI],
  ['groq', PROVIDERS.GROQ],
];

/** Resolves provider and model for requests, first answer wins (see InstrumentOptions). */
export class ProviderResolver {
  private readonly clients: Map<string, string>;
  private readonly headerNames: { provider: string; model: string };

  constructor(private readonly options: InstrumentOptions) {
    this.clients = new Map(BUILT_IN_CLIENTS);
    for (const [name, provider] of Object.entries(options.clientProviders ?? {})) this.clients.set(name.toLowerCase(), provider);
    this.headerNames = {
      provider: (options.providerHeaders?.provider ?? DEFAULT_PROVIDER_HEADERS.provider).toLowerCase(),
      model: (options.providerHeaders?.model ?? DEFAULT_PROVIDER_HEADERS.model).toLowerCase(),
    };
  }

  resolve(input: ProviderResolverInput, metaBaggage: ReadonlyMap<string, string> | undefined): ResolvedProvider {
    const fromUser = this.fromUser(input);
    if (fromUser !== undefined) return fromUser;
    const fromMeta = fromBaggage(metaBaggage, 'baggage');
    if (fromMeta !== undefined) return fromMeta;
    if (input.headers !== undefined) {
      const header = headerValue(input.headers, 'baggage');
      const fromHttp = header === undefined ? undefined : fromBaggage(parseBaggageHeader(header), 'http_baggage');
      if (fromHttp !== undefined) return fromHttp;
      const provider = headerValue(input.headers, this.headerNames.provider);
      if (provider !== undefined && provider !== '') {
        return { provider, model: headerValue(input.headers, this.headerNames.model) ?? UNKNOWN_PROVIDER, source: 'header' };
      }
    }
    const clientProvider = this.fromClientName(input.clientInfo?.name);
    if (clientProvider !== undefined) return { provider: clientProvider, model: UNKNOWN_PROVIDER, source: 'client_info' };
    return { provider: UNKNOWN_PROVIDER, model: UNKNOWN_PROVIDER, source: 'unknown' };
  }

  private fromUser(input: ProviderResolverInput): ResolvedProvider | undefined {
    if (this.options.providerResolver === undefined) return undefined;
    try {
      const answer = this.options.providerResolver(input);
      if (answer?.provider === undefined || answer.provider === '') return undefined;
      return { provider: answer.provider, model: answer.model ?? UNKNOWN_PROVIDER, source: 'resolver' };
    } catch (err) {
      diag.warn('mcplens: providerResolver threw; falling back to built-in sources', err);
      return undefined;
    }
  }

  private fromClientName(name: string | undefined): string | undefined {
    if (name === undefined || name === '') return undefined;
    const lower = name.toLowerCase();
    const exact = this.clients.get(lower);
    if (exact !== undefined) return exact;
    const prefix = lower.split(/[-\s/_.]/, 1)[0];
    return prefix === undefined ? undefined : this.clients.get(prefix);
  }
}

function fromBaggage(bag: ReadonlyMap<string, string> | undefined, source: ProviderSource): ResolvedProvider | undefined {
  const provider = bag?.get(BAGGAGE_KEYS.PROVIDER);
  if (provider === undefined || provider === '') return undefined;
  return { provider, model: bag?.get(BAGGAGE_KEYS.MODEL) ?? UNKNOWN_PROVIDER, source };
}

function headerValue(headers: ProviderResolverInput['headers'] & object, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}
