import { META_KEYS } from '../contract/index.js';
import { isRecord } from './is-record.js';

/** The namespace of the `_meta` envelope a 2026-07-28 request carries (protocol version, client info, client capabilities...). */
const ENVELOPE_PREFIX = META_KEYS.PROTOCOL_VERSION.slice(0, META_KEYS.PROTOCOL_VERSION.indexOf('/') + 1);

/**
 * The `_meta` envelope of a client's request, for a request of mcplens' own to the same server
 * (wrap's and proxy's `tools/list`): only the protocol's own keys, never trace context or a
 * progress token, which belong to the client's request. Undefined when there are none.
 */
export function requestEnvelope(message: Record<string, unknown>): Record<string, unknown> | undefined {
  const meta = isRecord(message.params) ? message.params._meta : undefined;
  if (!isRecord(meta)) return undefined;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) if (key.startsWith(ENVELOPE_PREFIX)) kept[key] = value;
  return Object.keys(kept).length > 0 ? kept : undefined;
}

/** The `name` of an MCP `Implementation` (`serverInfo`, `clientInfo`), when it is a non-empty string. */
export function implementationName(info: unknown): string | undefined {
  return isRecord(info) && typeof info.name === 'string' && info.name !== '' ? info.name : undefined;
}
