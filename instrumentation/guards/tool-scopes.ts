/**
 * Which OAuth scopes each tool needs, and the decision for one caller: the scope half of the
 * scoped-authorization guard, with no I/O (the caller's scopes come from token-verifier.ts or
 * from the SDK's `authInfo`).
 */
import { ConfigError } from '../../contract/config-error.js';

/** The scope map a user passes in. */
export interface ToolScopesOptions {
  /**
   * Tool name -> every scope a caller must hold to call it (all of them, not any). An empty
   * list makes the tool callable by every authenticated caller.
   */
  tools: Readonly<Record<string, readonly string[]>>;
  /** Scopes required for a tool missing from `tools`. Default: none set, so unmapped tools are denied. */
  defaultScopes?: readonly string[];
  /** Let any authenticated caller call a tool missing from `tools`. Default false. Exclusive with `defaultScopes`. */
  allowUnmapped?: boolean;
}

/** The answer to "may this caller call this tool?". */
export type AuthorizationDecision =
  | { allowed: true }
  | {
      allowed: false;
      /** Required scopes the caller lacks, in the map's order. Empty for an unmapped tool. */
      missing: string[];
      /** Every scope the tool requires (what a step-up request should ask for). Empty for an unmapped tool. */
      required: string[];
      /** `missing_scopes`, or `unmapped_tool` for a tool absent from the map when unmapped tools are denied. */
      reason: 'missing_scopes' | 'unmapped_tool';
    };

/** A caller's scopes: a Set (what the verifier produces) or a plain array (the SDK's `authInfo.scopes`). */
export type CallerScopes = ReadonlySet<string> | readonly string[];

/** The compiled scope map. */
export interface ToolScopes {
  /** The decision for `tool` and the caller's `scopes`. Pure and synchronous. */
  authorize(tool: string, scopes: CallerScopes): AuthorizationDecision;
  /** The tools a caller may call, in their order (for hiding the others from `tools/list`). */
  visibleTools<T extends { name: string }>(tools: readonly T[], scopes: CallerScopes): T[];
  /** The scopes `tool` requires, or undefined when it is unmapped and unmapped tools are denied. */
  requiredScopes(tool: string): readonly string[] | undefined;
}

const KNOWN_KEYS = new Set(['tools', 'defaultScopes', 'allowUnmapped']);

// RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). Also what RFC 6750 allows inside the
// quoted `scope` attribute of a challenge, so a valid map never needs escaping there.
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

const ALLOWED: AuthorizationDecision = Object.freeze({ allowed: true });

/**
 * Validates `options` (a mistake throws ConfigError naming the key) and compiles the map.
 * @throws ConfigError on an unknown key, a scope that is not an RFC 6749 scope-token, or both
 *   `defaultScopes` and `allowUnmapped`.
 */
export function createToolScopes(options: ToolScopesOptions, keyPrefix = 'authorization'): ToolScopes {
  if (typeof options !== 'object' || options === null) throw new ConfigError(`${keyPrefix}: expected an object`);
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw new ConfigError(`${keyPrefix}.${key}: unknown option (known: ${[...KNOWN_KEYS].join(', ')})`);
  }
  const { tools, defaultScopes, allowUnmapped } = options;
  if (typeof tools !== 'object' || tools === null || Array.isArray(tools)) {
    throw new ConfigError(`${keyPrefix}.tools: expected an object mapping tool names to scope lists`);
  }
  if (allowUnmapped !== undefined && typeof allowUnmapped !== 'boolean') {
    throw new ConfigError(`${keyPrefix}.allowUnmapped: expected a boolean, got ${JSON.stringify(allowUnmapped)}`);
  }
  if (allowUnmapped === true && defaultScopes !== undefined) {
    throw new ConfigError(`${keyPrefix}.defaultScopes: cannot be combined with allowUnmapped: true (choose one rule for unmapped tools)`);
  }
  const byTool = new Map<string, readonly string[]>();
  for (const [tool, scopes] of Object.entries(tools)) {
    byTool.set(tool, checkScopeList(scopes, `${keyPrefix}.tools.${tool}`));
  }
  const unmapped: readonly string[] | undefined =
    defaultScopes !== undefined ? checkScopeList(defaultScopes, `${keyPrefix}.defaultScopes`) : allowUnmapped === true ? [] : undefined;

  const requiredScopes = (tool: string): readonly string[] | undefined => byTool.get(tool) ?? unmapped;

  const authorize = (tool: string, scopes: CallerScopes): AuthorizationDecision => {
    const required = requiredScopes(tool);
    if (required === undefined) return { allowed: false, missing: [], required: [], reason: 'unmapped_tool' };
    // Arrays of a handful of scopes: a linear scan beats building a Set per call.
    const isSet = scopes instanceof Set;
    let missing: string[] | undefined;
    for (const scope of required) {
      const held = isSet ? (scopes as ReadonlySet<string>).has(scope) : (scopes as readonly string[]).includes(scope);
      if (!held) (missing ??= []).push(scope);
    }
    return missing === undefined ? ALLOWED : { allowed: false, missing, required: [...required], reason: 'missing_scopes' };
  };

  return {
    authorize,
    requiredScopes,
    visibleTools: (list, scopes) => list.filter((tool) => authorize(tool.name, scopes).allowed),
  };
}

/** The message a denied `tools/call` answers with: names the tool and the missing scopes, never the token. */
export function deniedMessage(tool: string, decision: Exclude<AuthorizationDecision, { allowed: true }>): string {
  if (decision.reason === 'unmapped_tool') {
    return `Tool "${tool}" is not authorized: it has no scope mapping and unmapped tools are denied`;
  }
  const plural = decision.missing.length === 1 ? 'scope' : 'scopes';
  return `Tool "${tool}" requires the ${plural} ${decision.missing.join(', ')} that the caller's token does not grant (required: ${decision.required.join(' ')})`;
}

function checkScopeList(value: unknown, key: string): readonly string[] {
  if (!Array.isArray(value)) throw new ConfigError(`${key}: expected an array of scope strings, got ${JSON.stringify(value)}`);
  for (const scope of value) {
    if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
      throw new ConfigError(`${key}: ${JSON.stringify(scope)} is not a valid OAuth scope (printable ASCII, no space, quote or backslash)`);
    }
  }
  return Object.freeze([...new Set(value as string[])]);
}
