/**
 * Which attributes a sampler sees at span start is a rule of the code (span-attributes.ts), and
 * docs/telemetry.md lists it: both are checked here, the rule with a real server and sampler.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Attributes } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ATTR } from '../../contract/index.js';
import { instrumentServer } from '../../instrumentation/index.js';
import { START_ATTRIBUTE_KEYS } from '../../instrumentation/span-attributes.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(join(root, 'docs/telemetry.md'), 'utf8');

const seen: Array<{ name: string; attributes: Attributes }> = [];
const sampler: Sampler = {
  shouldSample: (_ctx, _traceId, name, _kind, attributes) => {
    seen.push({ name, attributes: { ...attributes } });
    return { decision: SamplingDecision.RECORD_AND_SAMPLED };
  },
  toString: () => 'recording',
};
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor(exporter)] });
const open: Array<{ close(): Promise<void> }> = [];

afterAll(async () => {
  for (const o of open) await o.close().catch(() => undefined);
  await tracerProvider.shutdown();
});

describe('attributes at span start', () => {
  it('docs/telemetry.md lists exactly the start attributes of the code, in its start bullet', () => {
    const bullet = /\*\*At span start\*\*([\s\S]*?)\n- \*\*After the answer/.exec(doc)?.[1];
    expect(bullet).toBeDefined();
    const named = [...bullet!.matchAll(/`([a-z_.]+)`/g)].map((m) => m[1]).filter((name) => name !== ATTR.ADJUSTED_COUNT);
    expect(new Set(named)).toEqual(new Set(START_ATTRIBUTE_KEYS));
  });

  it('a sampler sees only those, with the target of tools, prompts and resources', async () => {
    const server = new McpServer({ name: 'start', version: '1.0.0' });
    server.registerTool('add', { description: 'Add', inputSchema: { a: z.number() } }, async ({ a }) => ({
      content: [{ type: 'text', text: String(a) }],
    }));
    server.registerPrompt('greet', { description: 'Greet' }, () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
    }));
    server.registerResource('note', new ResourceTemplate('note://{id}', { list: undefined }), {}, async (uri) => ({
      contents: [{ uri: uri.href, text: 'n' }],
    }));
    instrumentServer(server, { tracerProvider, countTokens: false });
    const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
    await server.connect(serverTransport);
    const client = new Client({ name: 'start-client', version: '1.0.0' });
    await client.connect(clientTransport);
    open.push(client, server);

    await client.callTool({ name: 'add', arguments: { a: 1 } });
    await client.getPrompt({ name: 'greet' });
    await client.readResource({ uri: 'note://1' });

    const byName = new Map(seen.map((s) => [s.name, s.attributes]));
    expect(byName.get('tools/call add')?.[ATTR.GEN_AI_TOOL_NAME]).toBe('add');
    expect(byName.get('prompts/get greet')?.[ATTR.GEN_AI_PROMPT_NAME]).toBe('greet');
    expect(byName.get('resources/read')?.[ATTR.MCP_RESOURCE_URI]).toBe('note://1');
    for (const { attributes } of seen) {
      for (const key of Object.keys(attributes)) expect(START_ATTRIBUTE_KEYS).toContain(key);
      expect(Object.keys(attributes)).toEqual(
        expect.arrayContaining([ATTR.MCP_METHOD_NAME, ATTR.GEN_AI_PROVIDER_NAME, ATTR.GEN_AI_REQUEST_MODEL]),
      );
    }
  });
});
