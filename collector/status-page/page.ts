/**
 * The status page's script (runs in the browser; compiled by tsconfig.page.json with the DOM
 * lib and inlined into the page by ../status-page.ts, so it may import types only). It polls
 * `api/summary` and redraws the page from it. All data goes in as text nodes, never as HTML
 * (tool names come from callers), and styles are set through the CSSOM: the page's
 * Content-Security-Policy refuses style attributes.
 */
import type {
  CallStats,
  CatalogSummary,
  ClientCallStats,
  ClientSummary,
  OpenBreaker,
  ProviderSummary,
  RecentViolation,
  Summary,
  ToolSummary,
} from '../summary-types.js';
import type { StatusPageConfig } from './page-config.js';

const CONFIG = JSON.parse(document.getElementById('mcplens-config')?.textContent ?? 'null') as StatusPageConfig;
const OUTCOMES = CONFIG.outcomes;
const SVG_NS = 'http://www.w3.org/2000/svg';

type Child = Node | string | number | null | undefined;
/** Attributes; `style` goes through the CSSOM. */
type Attrs = Record<string, string | number>;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (k === 'style') el.style.cssText = String(v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'style') el.style.cssText = String(v);
    else el.setAttribute(k, String(v));
  }
  return el;
}

function pct(r: number): string {
  return `${(r * 100).toFixed(1)}%`;
}

function secs(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '-';
  if (s < 0.001) return `${Math.round(s * 1e6)}\u00b5s`;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  return `${s.toFixed(2)} s`;
}

function count(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}

/** A span of seconds as a person says it: `10 s`, `1 min`, `30 min`, `2 h`. */
function duration(s: number): string {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

function sum(obj: Record<string, number>): number {
  return Object.values(obj).reduce((t, n) => t + n, 0);
}

// Tokens are unknown for tokensNotCounted calls (absent in older collectors' summaries); unknown is never shown as 0.
function notCounted(stats: CallStats): number {
  return stats.tokensNotCounted || 0;
}

function noneCounted(stats: CallStats): boolean {
  const n = notCounted(stats);
  return n > 0 && stats.calls - n <= 1e-9;
}

function reasons(stats: CallStats): string {
  return Object.entries(stats.tokensNotCountedReasons ?? {})
    .map(([k, n]) => `${k} ${count(n)}`)
    .join(', ');
}

function notCountedNote(stats: CallStats): HTMLElement | null {
  const n = notCounted(stats);
  if (!n) return null;
  return h(
    'div',
    { class: 'ratio-detail tokens-not-counted', 'data-tokens-not-counted': String(n) },
    `tokens not counted for ${count(n)} of ${count(stats.calls)} calls (${reasons(stats)})`,
  );
}

function callTokens(stats: CallStats): string {
  if (noneCounted(stats)) return 'not counted';
  return `${count(stats.tokens['arguments'] ?? 0)} / ${count(stats.tokens['result'] ?? 0)}`;
}

function toolTokens(stats: CallStats): string {
  const n = notCounted(stats);
  if (noneCounted(stats)) return `not counted (${count(n)})`;
  return count(sum(stats.tokens)) + (n ? ` +${count(n)} not counted` : '');
}

function topKind(stats: Pick<CallStats, 'violations'>): string | null {
  let best: string | null = null;
  let n = 0;
  for (const [k, v] of Object.entries(stats.violations)) {
    if (v > n) [best, n] = [k, v];
  }
  return best;
}

function severity(r: number): string {
  return r >= CONFIG.levels.CRITICAL ? 'bad' : r >= CONFIG.levels.WARN ? 'warn' : 'good';
}

/** What the sparkline shows: its axis and the time it covers. */
const TREND_WINDOW_SECONDS = CONFIG.trendBucketSeconds * CONFIG.trendBuckets;
const TREND_LABEL = `malformed ratio per ${duration(CONFIG.trendBucketSeconds)}, last ${duration(TREND_WINDOW_SECONDS)}`;

/** What "fixed" counts, in the words of the self-correction rule. */
const FIXED_MEANING =
  `fixed (self-corrected): malformed calls followed within ${duration(CONFIG.selfCorrectionWindowSeconds)} by a well-formed call ` +
  'of the same tool from the same provider and model in the same session';

function sparkline(trend: ProviderSummary['trend']): HTMLElement {
  const w = 120;
  const hgt = 30;
  const s = svg('svg', { width: w, height: hgt, viewBox: `0 0 ${w} ${hgt}`, class: 'spark', role: 'img' });
  // The scale reaches at least the critical level, so a low ratio looks low.
  let max = CONFIG.levels.CRITICAL;
  for (const p of trend) if (p.ratio !== null && p.ratio > max) max = p.ratio;
  const n = trend.length;
  const pts: Array<[number, number]> = [];
  trend.forEach((p, i) => {
    if (p.ratio === null) return;
    const x = n > 1 ? (i / (n - 1)) * (w - 4) + 2 : w / 2;
    pts.push([x, hgt - 3 - (p.ratio / max) * (hgt - 6)]);
  });
  s.appendChild(svg('line', { x1: 0, y1: hgt - 3, x2: w, y2: hgt - 3, stroke: '#e1e5ea' }));
  if (pts.length > 1) {
    const points = pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
    s.appendChild(svg('polyline', { points, fill: 'none', stroke: '#3559c7', 'stroke-width': 1.8 }));
  }
  const last = pts[pts.length - 1];
  if (last) s.appendChild(svg('circle', { cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 2.5, fill: '#3559c7' }));
  const title = svg('title', {});
  title.textContent = `${TREND_LABEL} (oldest left); scale 0 to ${pct(max)}`;
  s.appendChild(title);
  return h('div', { class: 'spark-box' }, s, h('div', { class: 'spark-label' }, TREND_LABEL));
}

function outcomeBar(outcomes: Record<string, number>, calls: number): SVGSVGElement {
  const w = 240;
  const s = svg('svg', { width: '100%', height: 10, viewBox: `0 0 ${w} 10`, preserveAspectRatio: 'none', class: 'outcomes' });
  let x = 0;
  for (const o of OUTCOMES) {
    const n = outcomes[o] ?? 0;
    if (!n || !calls) continue;
    const bw = (n / calls) * w;
    s.appendChild(svg('rect', { x, y: 0, width: bw, height: 10, style: `fill:var(--${o})` }));
    x += bw;
  }
  return s;
}

function outcomeLegend(outcomes: Record<string, number>): HTMLElement {
  const l = h('div', { class: 'legend' });
  for (const o of OUTCOMES) {
    const n = outcomes[o] ?? 0;
    if (!n) continue;
    const swatch = h('i');
    swatch.style.background = `var(--${o})`;
    l.appendChild(h('span', { 'data-outcome': o }, swatch, `${o} ${n}`));
  }
  return l;
}

/** One small labelled figure; `span` widens it over grid columns, `title` explains it on hover. */
interface Mini {
  label: string;
  value: string;
  span?: number;
  title?: string;
}

function minis(items: Mini[]): HTMLElement {
  const row = h('div', { class: 'minis' });
  for (const m of items) {
    const attrs: Attrs = { 'data-label': m.label };
    if (m.span) attrs['style'] = `grid-column:span ${m.span}`;
    if (m.title) attrs['title'] = m.title;
    row.appendChild(h('div', attrs, h('span', null, m.label), h('b', null, m.value)));
  }
  return row;
}

function providerCard(p: ProviderSummary): HTMLElement {
  const top = topKind(p);
  return h(
    'div',
    { class: 'card', 'data-provider': p.provider },
    h('div', { class: 'name' }, p.provider),
    h('div', { class: 'models' }, p.models.map((m) => m.model).join(', ')),
    h(
      'div',
      { class: 'row' },
      h(
        'div',
        { class: `ratio ${severity(p.malformedRatio)}` },
        h('span', { class: 'ratio-value', 'data-ratio': String(p.malformedRatio) }, pct(p.malformedRatio)),
      ),
      sparkline(p.trend),
    ),
    h('div', { class: 'ratio-detail' }, `${p.malformed} of ${p.calls} calls malformed`),
    outcomeBar(p.outcomes, p.calls),
    outcomeLegend(p.outcomes),
    h('div', { class: 'topkind' }, 'top violation: ', top ? h('span', { class: 'kind' }, top) : 'none'),
    minis([
      { label: 'p50', value: secs(p.latency.p50) },
      { label: 'p95', value: secs(p.latency.p95) },
      { label: 'p99', value: secs(p.latency.p99) },
    ]),
    minis([
      { label: 'tokens: args / result', value: callTokens(p), span: 2 },
      { label: 'fixed', value: String(p.selfCorrections), title: FIXED_MEANING },
    ]),
    notCountedNote(p),
  );
}

/** A table column: how a row shows in it. */
interface Column<T> {
  label: string;
  get(row: T): Node | string | number | null;
  num?: boolean;
  mono?: boolean;
  title?(row: T): string;
}

function table<T>(columns: Array<Column<T>>, rows: readonly T[], empty: string): HTMLElement {
  if (!rows.length) return h('div', { class: 'empty' }, empty);
  const head = h('tr');
  for (const c of columns) head.appendChild(h('th', { class: c.num ? 'num' : '' }, c.label));
  const body = h('tbody');
  for (const r of rows) {
    const tr = h('tr');
    for (const c of columns) {
      const v = c.get(r);
      const td = h('td', { class: (c.num ? 'num' : '') + (c.mono ? ' mono' : '') });
      if (v instanceof Node) td.appendChild(v);
      else td.textContent = v === null ? '-' : String(v);
      if (c.title) td.title = c.title(r);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  return h('div', { class: 'scroll' }, h('table', null, h('thead', null, head), body));
}

/** Columns of the call counts every call table shows (tools, and both client-view tables): the counts, the top violation, the outcomes. */
function countColumns<T extends ClientCallStats>(): Array<Column<T>> {
  return [
    { label: 'calls', num: true, get: (t) => t.calls },
    { label: 'malformed', num: true, get: (t) => t.malformed },
    { label: 'ratio', num: true, get: (t) => pct(t.malformedRatio) },
    {
      label: 'top violation',
      get: (t) => {
        const k = topKind(t);
        return k ? h('span', { class: 'kind' }, k) : '-';
      },
    },
    ...OUTCOMES.map((o): Column<T> => ({ label: o, num: true, get: (t) => t.outcomes[o] ?? 0 })),
  ];
}

const toolColumns: Array<Column<ToolSummary>> = [
  { label: 'service', get: (t) => t.service },
  { label: 'tool', get: (t) => t.tool, mono: true },
  ...countColumns<ToolSummary>(),
  { label: 'p50', num: true, get: (t) => secs(t.latency.p50) },
  { label: 'p95', num: true, get: (t) => secs(t.latency.p95) },
  { label: 'p99', num: true, get: (t) => secs(t.latency.p99) },
  { label: 'tokens', num: true, get: (t) => toolTokens(t), title: (t) => (notCounted(t) ? `not counted: ${reasons(t)}` : '') },
];

const breakerColumns: Array<Column<OpenBreaker>> = [
  { label: 'service', get: (b) => b.service },
  { label: 'instance', get: (b) => b.instance, mono: true },
  { label: 'tool', get: (b) => b.tool, mono: true },
  { label: 'state', get: (b) => h('span', { class: 'kind' }, b.state) },
  { label: 'since', get: (b) => new Date(b.since).toLocaleTimeString() },
];

/** One row of the client view's provider table: a model of a provider. */
type ClientModelRow = ClientCallStats & { provider: string; model: string };
type ClientToolRow = ClientSummary['tools'][number];

const clientModelColumns: Array<Column<ClientModelRow>> = [
  { label: 'provider', get: (r) => r.provider },
  { label: 'model', get: (r) => r.model },
  ...countColumns<ClientModelRow>(),
];

const clientToolColumns: Array<Column<ClientToolRow>> = [
  { label: 'server', get: (r) => r.server },
  { label: 'tool', get: (r) => r.tool, mono: true },
  ...countColumns<ClientToolRow>(),
];

/** What the two views are, said once under the client view. */
const VIEWS_NOTE =
  'Client view: tools/call requests as instrumented clients (instrumentClient) sent and graded them (CLIENT spans). ' +
  'The sections above are the server view: what instrumented servers handled (SERVER spans). Each view counts each call once; ' +
  'a call whose client and server are both instrumented is in both views, so never add the two.';

/** The client view, or a plain statement that no client reported (absent in older collectors' summaries). */
function clientView(c: ClientSummary | undefined): HTMLElement {
  if (!c?.reported) {
    return h(
      'div',
      { class: 'empty', 'data-client-view': 'none' },
      'No client spans received: no instrumented client (instrumentClient) has reported a tool call, so there is no client view. ' +
        'Everything above is the server view.',
    );
  }
  const rows: ClientModelRow[] = [];
  for (const p of c.providers) for (const m of p.models) rows.push({ ...m, provider: p.provider });
  const t = c.totals;
  return h(
    'div',
    { 'data-client-view': 'reported', 'data-client-calls': String(t.calls), 'data-client-malformed': String(t.malformed) },
    h(
      'div',
      { class: 'ratio-detail client-totals' },
      `${t.malformed} of ${t.calls} calls malformed as the clients graded them (${pct(t.malformedRatio)})`,
    ),
    table(clientModelColumns, rows, 'No tool calls yet.'),
    h('div', { class: 'note' }, 'per server and tool:'),
    table(clientToolColumns, c.tools, 'No tool calls yet.'),
    h('div', { class: 'note views-note' }, VIEWS_NOTE),
  );
}

/** A trace id, linked to the configured trace viewer (the id URL-encoded), or as text when there is none. */
function traceId(id: string): Node | string {
  const parts = CONFIG.traceUrlParts;
  if (!parts) return id;
  return h('a', { class: 'trace-link', href: parts.join(encodeURIComponent(id)), target: '_blank', rel: 'noopener noreferrer' }, id);
}

function fieldPaths(paths: readonly string[]): string {
  if (paths.length > 2) return `${paths.slice(0, 2).join(', ')} +${paths.length - 2}`;
  return paths.join(', ') || '-';
}

const recentColumns: Array<Column<RecentViolation>> = [
  { label: 'time', get: (v) => new Date(v.time).toLocaleTimeString(), title: (v) => v.time },
  { label: 'provider', get: (v) => v.provider },
  { label: 'model', get: (v) => v.model },
  { label: 'tool', get: (v) => v.tool, mono: true },
  { label: 'kind', get: (v) => h('span', { class: 'kind' }, v.kind) },
  { label: 'field path', mono: true, title: (v) => v.paths.join('\n'), get: (v) => fieldPaths(v.paths) },
  { label: 'trace id', get: (v) => traceId(v.traceId), mono: true },
];

function catalogCard(c: CatalogSummary): HTMLElement {
  let max = 1;
  for (const t of c.tools) if (t.tokens > max) max = t.tokens;
  const tbody = h('tbody');
  for (const t of [...c.tools].sort((a, b) => b.tokens - a.tokens)) {
    const bar = h('div', { class: 'bar' });
    bar.style.width = `${Math.max(2, (t.tokens / max) * 100)}%`;
    const cells = [h('td', { class: 'mono' }, t.tool), h('td', { class: 'num' }, String(t.tokens)), h('td', { style: 'width:45%' }, bar)];
    tbody.appendChild(h('tr', null, ...cells));
  }
  const counted = c.totalTokens !== null && c.totalTokens !== undefined;
  const latest = c.latestNotCounted ? `latest tools/list not counted (${c.latestNotCounted})` : null;
  const head = h('thead', null, h('tr', null, h('th', null, 'tool'), h('th', { class: 'num' }, 'tokens'), h('th')));
  return h(
    'div',
    { class: 'card', 'data-service': c.service },
    h('div', { class: 'name' }, c.service),
    h(
      'div',
      { class: 'models catalog-total' },
      counted
        ? `${c.totalTokens} tokens added to every LLM request by ${c.tools.length} tools`
        : `not counted: tokens of its tools/list are unknown (${c.latestNotCounted || '-'})`,
    ),
    counted && latest ? h('div', { class: 'ratio-detail catalog-not-counted' }, `${latest}; showing the last counted catalog`) : null,
    counted ? h('table', { style: 'margin-top:8px' }, head, tbody) : null,
  );
}

function catalog(catalogs: readonly CatalogSummary[]): HTMLElement {
  if (!catalogs.length) return h('div', { class: 'empty' }, 'No tools/list seen yet.');
  const wrap = h('div', { class: 'cards wide' });
  for (const c of catalogs) wrap.appendChild(catalogCard(c));
  return wrap;
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`status page: element #${id} is missing`);
  return el;
}

function replace(id: string, node: Node): void {
  const el = byId(id);
  el.textContent = '';
  el.appendChild(node);
}

function render(s: Summary): void {
  byId('t-calls').textContent = String(s.totals.calls);
  byId('t-malformed').textContent = pct(s.totals.malformedRatio);
  byId('t-spans').textContent = count(s.collector.spansReceived);
  byId('t-uptime').textContent = `${Math.round(s.uptimeSeconds)} s`;
  const cards = h('div', { class: 'cards' });
  for (const p of s.providers) cards.appendChild(providerCard(p));
  const providers = h('div', null, s.providers.length ? cards : h('div', { class: 'empty' }, 'No tool calls yet.'));
  if (s.providers.length) providers.appendChild(h('div', { class: 'note fixed-legend' }, FIXED_MEANING));
  replace('providers', providers);
  replace('tools', table(toolColumns, s.tools, 'No tool calls yet.'));
  // Absent in older collectors' summaries.
  replace('breakers', table(breakerColumns, s.openBreakers ?? [], 'Every breaker seen is closed.'));
  replace('client', clientView(s.client as ClientSummary | undefined));
  const recent = s.recentViolations.slice(0, CONFIG.recentRows);
  const recentBox = h('div', null, table(recentColumns, recent, 'No malformed calls.'));
  if (s.recentViolations.length > recent.length) {
    const shown = `showing the ${recent.length} newest of the ${s.recentViolations.length} the collector keeps (JSON: api/summary)`;
    recentBox.appendChild(h('div', { class: 'note' }, shown));
  }
  replace('recent', recentBox);
  replace('catalog', catalog(s.catalogs));
}

const conn = byId('conn');

async function poll(): Promise<void> {
  try {
    // The read token, if any, is the HttpOnly cookie the server set: same-origin fetches send it.
    const r = await fetch('api/summary', { credentials: 'same-origin', cache: 'no-store' });
    if (!r.ok) throw new Error(`api/summary answered ${r.status}${r.status === 401 ? ' (open this page with ?token=...)' : ''}`);
    const s = (await r.json()) as Summary;
    render(s);
    conn.className = '';
    conn.textContent = `updated ${new Date(s.generatedAt).toLocaleTimeString()}`;
    document.body.setAttribute('data-loaded', 'true');
  } catch (e) {
    conn.className = 'bad';
    conn.textContent = e instanceof Error ? e.message : String(e);
  }
  setTimeout(() => void poll(), CONFIG.pollMs);
}

void poll();
