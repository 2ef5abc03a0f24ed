/**
 * The proxy's tools/list rewrite on its own: which messages of an answer it filters. A request of
 * the server's own on the answering stream may share the tools/list's id (the two sides number
 * their requests independently); only the answer may settle the listing.
 */
import { describe, expect, it } from '@jest/globals';
import { toolsListRewrite } from '../../instrumentation/proxy/tools-list-filter.js';

const visible = (tools: Array<{ name: string }>): Array<{ name: string }> => tools.filter((tool) => !tool.name.startsWith('admin_'));

function event(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

describe('toolsListRewrite', () => {
  it("filters the answer of an event stream that first carries a server request with the listing's id", () => {
    const rewrite = toolsListRewrite(new Set([1]), visible)(200, { 'content-type': 'text/event-stream' })!;
    const stream =
      event({ jsonrpc: '2.0', id: 1, method: 'roots/list' }) +
      event({ jsonrpc: '2.0', id: 1, result: { tools: [{ name: 'read' }, { name: 'admin_drop' }] } });
    const out = Buffer.concat([...rewrite.push(Buffer.from(stream)), ...rewrite.end()]).toString('utf8');
    expect(out).toContain('roots/list');
    expect(out).toContain('"read"');
    expect(out).not.toContain('admin_drop');
  });

  it('filters the answer in a JSON batch that also holds a server request with its id', () => {
    const rewrite = toolsListRewrite(new Set(['a']), visible)(200, { 'content-type': 'application/json' })!;
    const body = JSON.stringify([
      { jsonrpc: '2.0', id: 'a', method: 'ping' },
      { jsonrpc: '2.0', id: 'a', result: { tools: [{ name: 'read' }, { name: 'admin_drop' }] } },
    ]);
    rewrite.push(Buffer.from(body));
    const out = Buffer.concat(rewrite.end()).toString('utf8');
    expect(out).toContain('"read"');
    expect(out).not.toContain('admin_drop');
  });
});
