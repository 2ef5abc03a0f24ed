import { MCP_METHOD, META_KEYS } from '../../contract/index.js';
import { isRecord } from '../is-record.js';
import { implementationName } from '../meta-envelope.js';
import type { Message } from '../pending-request.js';

/** What the client knows of the server it is connected to (`Client.getServerVersion`, SDK v1 and v2). */
export type ServerInfoSource = () => unknown;

/** The `getServerVersion` of an SDK v1/v2 client, or undefined when it has none. */
export function serverInfoSourceOf(client: object): ServerInfoSource | undefined {
  const get = (client as { getServerVersion?: unknown }).getServerVersion;
  return typeof get === 'function' ? () => (get as () => unknown).call(client) : undefined;
}

/**
 * The server's self-reported `serverInfo.name`: from the client (what it learnt at `initialize` or
 * `server/discover`), else from the answer itself (an `initialize` result, which the client reads
 * only after mcplens has seen it; a result's `_meta` serverInfo on protocol 2026-07-28).
 * Undefined when the server has not named itself. Never throws.
 */
export function serverNameOf(source: ServerInfoSource | undefined, method: string, answer: Message | undefined): string | undefined {
  try {
    const known = implementationName(source?.());
    if (known !== undefined) return known;
    const result = answer?.result;
    if (!isRecord(result)) return undefined;
    if (method === MCP_METHOD.INITIALIZE) {
      const name = implementationName(result.serverInfo);
      if (name !== undefined) return name;
    }
    return isRecord(result._meta) ? implementationName(result._meta[META_KEYS.SERVER_INFO]) : undefined;
  } catch {
    return undefined;
  }
}
