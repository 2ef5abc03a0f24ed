/**
 * The collector's status page (`GET /`): one self-contained HTML document (inline CSS and
 * JS, no external requests) that polls `api/summary` on the same origin and draws, per LLM
 * provider, the malformed-call ratio with its trend (inline SVG sparkline), the outcome
 * breakdown, latency percentiles and tokens; a per-tool table; the most recent malformed
 * calls; and the tool catalog's token overhead. Tokens that were not counted are shown as
 * "not counted" with the number of such calls and their reasons, never as 0.
 *
 * With a read token, the page is opened once as `/?token=...`: {@link serveStatusPage} checks
 * the token, exchanges it for an HttpOnly, SameSite=Strict cookie and redirects to `/`, so the
 * token is in no URL the page polls and in no Referer. The page is served with a
 * Content-Security-Policy that allows its inline script and style by their SHA-256 hashes and
 * nothing else but same-origin fetches. All data is inserted as text nodes, never as HTML:
 * tool names come from callers and are untrusted; styles are set through the CSSOM (the
 * policy refuses style attributes).
 */
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { MALFORMED_RATIO_LEVELS, OUTCOMES } from '../contract/index.js';
import { AUTH_REALM, type BearerCheck } from './auth.js';

/** How often the page polls `api/summary` (ms). */
export const STATUS_PAGE_POLL_MS = 2000;
/** Most recent malformed calls shown (the summary may hold more). */
export const STATUS_PAGE_RECENT_ROWS = 25;

const CSS = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --mute:#5f6b7a; --line:#e1e5ea; --accent:#3559c7;
  --ok:#2e9d5b; --rejected:#d9822b; --tool_error:#b8930b; --error:#d64545; --cancelled:#8a8f98; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; flex-wrap:wrap; align-items:baseline; gap:8px 24px; padding:12px 24px; background:#1d2330; color:#fff; }
header h1 { margin:0; font-size:20px; letter-spacing:.3px; }
header .stat { color:#cfd6e0; } header .stat b { color:#fff; font-size:16px; }
#conn { margin-left:auto; font-size:12px; color:#cfd6e0; } #conn.bad { color:#ffb3b3; }
main { padding:16px 24px 32px; max-width:1600px; margin:0 auto; }
h2 { font-size:15px; text-transform:uppercase; letter-spacing:.6px; color:var(--mute); margin:22px 0 10px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(220px,1fr)); gap:12px; }
.cards.wide { grid-template-columns:repeat(auto-fill,minmax(380px,1fr)); }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .name { font-weight:600; font-size:16px; } .card .models { color:var(--mute); font-size:12px; min-height:16px; }
.card .row { display:flex; align-items:center; justify-content:space-between; gap:8px; margin-top:6px; }
.ratio { flex:1; min-width:0; font-size:28px; font-weight:700; line-height:1.1; }
.ratio-detail { font-size:12px; color:var(--mute); margin:2px 0 6px; }
.topkind { font-size:12px; color:var(--mute); margin-top:6px; }
.minis { display:grid; grid-template-columns:repeat(3,1fr); gap:4px; margin-top:8px; }
.minis div { min-width:0; background:#f3f5f8; border-radius:5px; padding:3px 6px; }
.minis span { display:block; font-size:11px; color:var(--mute); white-space:nowrap; overflow:hidden; text-overflow:ellipsis; }
.minis b { font-size:13px; font-variant-numeric:tabular-nums; white-space:nowrap; }
.good { color:var(--ok); } .warn { color:var(--rejected); } .bad { color:var(--error); }
.kv { display:grid; grid-template-columns:auto 1fr; gap:2px 10px; font-size:13px; margin-top:8px; }
.kv dt { color:var(--mute); } .kv dd { margin:0; font-variant-numeric:tabular-nums; }
.legend { display:flex; flex-wrap:wrap; gap:4px 10px; font-size:12px; color:var(--mute); margin-top:4px; }
.legend i { display:inline-block; width:9px; height:9px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
table { width:100%; border-collapse:collapse; background:var(--card); border:1px solid var(--line); border-radius:8px; overflow:hidden; font-size:13px; }
th, td { padding:6px 8px; text-align:left; border-bottom:1px solid var(--line); white-space:nowrap; }
th { background:#eef1f5; font-weight:600; color:#38424f; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
td.mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
tr:last-child td { border-bottom:none; }
.scroll { overflow-x:auto; }
.empty { color:var(--mute); padding:10px 0; }
.note { color:var(--mute); font-size:12px; margin:6px 2px 0; }
svg.spark { flex:none; }
.bar { height:10px; background:var(--accent); border-radius:3px; min-width:2px; }
.kind { display:inline-block; padding:0 6px; border-radius:10px; background:#fdecdc; color:#8a4a0b; font-size:12px; }
`;

/* The page script. Plain ES2017, no template literals with ${} (they would collide with this TS template). */
const SCRIPT = String.raw`
(function () {
  'use strict';
  var CONFIG = JSON.parse(document.getElementById('mcplens-config').textContent);
  var OUTCOMES = CONFIG.outcomes;

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      // style through the CSSOM: the Content-Security-Policy refuses style attributes.
      if (k === 'text') el.textContent = attrs[k]; else if (k === 'style') el.style.cssText = attrs[k]; else el.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    }
    return el;
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) if (k === 'style') el.style.cssText = attrs[k]; else el.setAttribute(k, attrs[k]);
    return el;
  }
  function pct(r) { return (r * 100).toFixed(1) + '%'; }
  function secs(s) {
    if (s === null || s === undefined || !isFinite(s)) return '-';
    if (s < 0.001) return Math.round(s * 1e6) + '\u00b5s';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    return s.toFixed(2) + ' s';
  }
  function count(n) {
    if (n < 1000) return String(Math.round(n));
    if (n < 1e6) return (n / 1000).toFixed(1) + 'k';
    return (n / 1e6).toFixed(1) + 'M';
  }
  function sum(obj) { var t = 0; for (var k in obj) t += obj[k]; return t; }
  // Tokens are unknown for tokensNotCounted calls (0 in older collectors' summaries); unknown is never shown as 0.
  function notCounted(stats) { return stats.tokensNotCounted || 0; }
  function noneCounted(stats) { var n = notCounted(stats); return n > 0 && stats.calls - n <= 1e-9; }
  function reasons(stats) {
    var r = stats.tokensNotCountedReasons || {}, parts = [];
    for (var k in r) parts.push(k + ' ' + count(r[k]));
    return parts.join(', ');
  }
  function notCountedNote(stats) {
    var n = notCounted(stats);
    if (!n) return null;
    return h('div', { 'class': 'ratio-detail tokens-not-counted', 'data-tokens-not-counted': String(n) },
      'tokens not counted for ' + count(n) + ' of ' + count(stats.calls) + ' calls (' + reasons(stats) + ')');
  }
  function callTokens(stats) {
    if (noneCounted(stats)) return 'not counted';
    return count(stats.tokens.arguments || 0) + ' / ' + count(stats.tokens.result || 0);
  }
  function toolTokens(stats) {
    var n = notCounted(stats);
    if (noneCounted(stats)) return 'not counted (' + count(n) + ')';
    return count(sum(stats.tokens)) + (n ? ' +' + count(n) + ' not counted' : '');
  }
  function topKind(stats) {
    var best = null, n = 0;
    for (var k in stats.violations) if (stats.violations[k] > n) { best = k; n = stats.violations[k]; }
    return best;
  }
  function severity(r) { return r >= CONFIG.levels.CRITICAL ? 'bad' : r >= CONFIG.levels.WARN ? 'warn' : 'good'; }

  function sparkline(trend) {
    var w = 120, hgt = 30, s = svg('svg', { width: w, height: hgt, viewBox: '0 0 ' + w + ' ' + hgt, 'class': 'spark', role: 'img' });
    var max = 0.05;
    trend.forEach(function (p) { if (p.ratio !== null && p.ratio > max) max = p.ratio; });
    var n = trend.length, pts = [];
    trend.forEach(function (p, i) {
      if (p.ratio === null) return;
      var x = n > 1 ? (i / (n - 1)) * (w - 4) + 2 : w / 2;
      var y = hgt - 3 - (p.ratio / max) * (hgt - 6);
      pts.push(x.toFixed(1) + ',' + y.toFixed(1));
    });
    s.appendChild(svg('line', { x1: 0, y1: hgt - 3, x2: w, y2: hgt - 3, stroke: '#e1e5ea' }));
    if (pts.length > 1) s.appendChild(svg('polyline', { points: pts.join(' '), fill: 'none', stroke: '#3559c7', 'stroke-width': 1.8 }));
    if (pts.length) {
      var last = pts[pts.length - 1].split(',');
      s.appendChild(svg('circle', { cx: last[0], cy: last[1], r: 2.5, fill: '#3559c7' }));
    }
    var t = svg('title', {}); t.textContent = 'malformed ratio per bucket, max ' + pct(max);
    s.appendChild(t);
    return s;
  }

  function outcomeBar(outcomes, calls) {
    var w = 240, s = svg('svg', { width: '100%', height: 10, viewBox: '0 0 ' + w + ' 10', preserveAspectRatio: 'none', 'class': 'outcomes' });
    var x = 0;
    OUTCOMES.forEach(function (o) {
      var n = outcomes[o] || 0;
      if (!n || !calls) return;
      var bw = (n / calls) * w;
      s.appendChild(svg('rect', { x: x, y: 0, width: bw, height: 10, style: 'fill:var(--' + o + ')' }));
      x += bw;
    });
    return s;
  }
  function outcomeLegend(outcomes) {
    var l = h('div', { 'class': 'legend' });
    OUTCOMES.forEach(function (o) {
      var n = outcomes[o] || 0;
      if (!n) return;
      var i = h('i'); i.style.background = 'var(--' + o + ')';
      l.appendChild(h('span', { 'data-outcome': o }, i, o + ' ' + n));
    });
    return l;
  }

  function minis(pairs) {
    var row = h('div', { 'class': 'minis' });
    pairs.forEach(function (kv) {
      var attrs = { 'data-label': kv[0] };
      if (kv[2]) attrs.style = 'grid-column:span ' + kv[2];
      row.appendChild(h('div', attrs, h('span', null, kv[0]), h('b', null, kv[1])));
    });
    return row;
  }

  function providerCard(p) {
    var top = topKind(p);
    var card = h('div', { 'class': 'card', 'data-provider': p.provider },
      h('div', { 'class': 'name' }, p.provider),
      h('div', { 'class': 'models' }, p.models.map(function (m) { return m.model; }).join(', ')),
      h('div', { 'class': 'row' },
        h('div', { 'class': 'ratio ' + severity(p.malformedRatio) },
          h('span', { 'class': 'ratio-value', 'data-ratio': String(p.malformedRatio) }, pct(p.malformedRatio))),
        sparkline(p.trend)),
      h('div', { 'class': 'ratio-detail' }, p.malformed + ' of ' + p.calls + ' calls malformed'),
      outcomeBar(p.outcomes, p.calls),
      outcomeLegend(p.outcomes),
      h('div', { 'class': 'topkind' }, 'top violation: ', top ? h('span', { 'class': 'kind' }, top) : 'none'),
      minis([['p50', secs(p.latency.p50)], ['p95', secs(p.latency.p95)], ['p99', secs(p.latency.p99)]]),
      minis([['tokens: args / result', callTokens(p), 2], ['fixed', String(p.selfCorrections)]]),
      notCountedNote(p));
    return card;
  }

  function table(columns, rows, empty) {
    if (!rows.length) return h('div', { 'class': 'empty' }, empty);
    var head = h('tr');
    columns.forEach(function (c) { head.appendChild(h('th', { 'class': c.num ? 'num' : '' }, c.label)); });
    var body = h('tbody');
    rows.forEach(function (r) {
      var tr = h('tr');
      columns.forEach(function (c) {
        var v = c.get(r);
        var td = h('td', { 'class': (c.num ? 'num' : '') + (c.mono ? ' mono' : '') });
        if (v && v.nodeType) td.appendChild(v); else td.textContent = v === null || v === undefined ? '-' : String(v);
        if (c.title) td.title = c.title(r);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    return h('div', { 'class': 'scroll' }, h('table', null, h('thead', null, head), body));
  }

  var toolColumns = [
    { label: 'service', get: function (t) { return t.service; } },
    { label: 'tool', get: function (t) { return t.tool; }, mono: true },
    { label: 'calls', num: true, get: function (t) { return t.calls; } },
    { label: 'malformed', num: true, get: function (t) { return t.malformed; } },
    { label: 'ratio', num: true, get: function (t) { return pct(t.malformedRatio); } },
    { label: 'top violation', get: function (t) { var k = topKind(t); return k ? h('span', { 'class': 'kind' }, k) : '-'; } }
  ].concat(OUTCOMES.map(function (o) {
    return { label: o, num: true, get: function (t) { return t.outcomes[o] || 0; } };
  })).concat([
    { label: 'p50', num: true, get: function (t) { return secs(t.latency.p50); } },
    { label: 'p95', num: true, get: function (t) { return secs(t.latency.p95); } },
    { label: 'p99', num: true, get: function (t) { return secs(t.latency.p99); } },
    { label: 'tokens', num: true, get: function (t) { return toolTokens(t); },
      title: function (t) { return notCounted(t) ? 'not counted: ' + reasons(t) : ''; } }
  ]);

  var recentColumns = [
    { label: 'time', get: function (v) { return new Date(v.time).toLocaleTimeString(); }, title: function (v) { return v.time; } },
    { label: 'provider', get: function (v) { return v.provider; } },
    { label: 'model', get: function (v) { return v.model; } },
    { label: 'tool', get: function (v) { return v.tool; }, mono: true },
    { label: 'kind', get: function (v) { return h('span', { 'class': 'kind' }, v.kind); } },
    { label: 'field path', mono: true, title: function (v) { return v.paths.join('\n'); },
      get: function (v) { return v.paths.length > 2 ? v.paths.slice(0, 2).join(', ') + ' +' + (v.paths.length - 2) : v.paths.join(', ') || '-'; } },
    { label: 'trace id', get: function (v) { return v.traceId; }, mono: true }
  ];

  function catalog(catalogs) {
    if (!catalogs.length) return h('div', { 'class': 'empty' }, 'No tools/list seen yet.');
    var wrap = h('div', { 'class': 'cards wide' });
    catalogs.forEach(function (c) {
      var max = 1;
      c.tools.forEach(function (t) { if (t.tokens > max) max = t.tokens; });
      var rows = c.tools.slice().sort(function (a, b) { return b.tokens - a.tokens; }).map(function (t) {
        var bar = h('div', { 'class': 'bar' }); bar.style.width = Math.max(2, (t.tokens / max) * 100) + '%';
        return h('tr', null, h('td', { 'class': 'mono' }, t.tool), h('td', { 'class': 'num' }, String(t.tokens)), h('td', { style: 'width:45%' }, bar));
      });
      var tbody = h('tbody'); rows.forEach(function (r) { tbody.appendChild(r); });
      var counted = c.totalTokens !== null && c.totalTokens !== undefined;
      var latest = c.latestNotCounted ? 'latest tools/list not counted (' + c.latestNotCounted + ')' : null;
      wrap.appendChild(h('div', { 'class': 'card', 'data-service': c.service },
        h('div', { 'class': 'name' }, c.service),
        h('div', { 'class': 'models catalog-total' }, counted
          ? c.totalTokens + ' tokens added to every LLM request by ' + c.tools.length + ' tools'
          : 'not counted: tokens of its tools/list are unknown (' + (c.latestNotCounted || '-') + ')'),
        counted && latest ? h('div', { 'class': 'ratio-detail catalog-not-counted' }, latest + '; showing the last counted catalog') : null,
        counted ? h('table', { style: 'margin-top:8px' }, h('thead', null, h('tr', null, h('th', null, 'tool'), h('th', { 'class': 'num' }, 'tokens'), h('th'))), tbody) : null));
    });
    return wrap;
  }

  function replace(id, node) {
    var el = document.getElementById(id);
    el.textContent = '';
    el.appendChild(node);
  }

  function render(s) {
    document.getElementById('t-calls').textContent = String(s.totals.calls);
    document.getElementById('t-malformed').textContent = pct(s.totals.malformedRatio);
    document.getElementById('t-spans').textContent = count(s.collector.spansReceived);
    document.getElementById('t-uptime').textContent = Math.round(s.uptimeSeconds) + ' s';
    var cards = h('div', { 'class': 'cards' });
    s.providers.forEach(function (p) { cards.appendChild(providerCard(p)); });
    replace('providers', s.providers.length ? cards : h('div', { 'class': 'empty' }, 'No tool calls yet.'));
    replace('tools', table(toolColumns, s.tools, 'No tool calls yet.'));
    var recent = s.recentViolations.slice(0, CONFIG.recentRows);
    var recentBox = h('div', null, table(recentColumns, recent, 'No malformed calls.'));
    if (s.recentViolations.length > recent.length) recentBox.appendChild(h('div', { 'class': 'note' }, 'showing the ' + recent.length + ' newest of the ' + s.recentViolations.length + ' the collector keeps (JSON: api/summary)'));
    replace('recent', recentBox);
    replace('catalog', catalog(s.catalogs));
  }

  var conn = document.getElementById('conn');
  function poll() {
    // The read token, if any, is the HttpOnly cookie the server set: same-origin fetches send it.
    fetch('api/summary', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) throw new Error('api/summary answered ' + r.status + (r.status === 401 ? ' (open this page with ?token=...)' : ''));
        return r.json();
      })
      .then(function (s) {
        render(s);
        conn.className = '';
        conn.textContent = 'updated ' + new Date(s.generatedAt).toLocaleTimeString();
        document.body.setAttribute('data-loaded', 'true');
      })
      .catch(function (e) { conn.className = 'bad'; conn.textContent = String(e && e.message || e); })
      .then(function () { setTimeout(poll, CONFIG.pollMs); });
  }
  poll();
})();
`;

/** Text safe to put inside a `<script>` element (no `</script>`, no `<!--`). */
function scriptSafe(json: string): string {
  return json.replace(/</g, '\\u003c');
}

/** The status page as one HTML string; the same for every request (data arrives by polling). */
export function renderStatusPage(): string {
  const config = scriptSafe(JSON.stringify({ outcomes: OUTCOMES, levels: MALFORMED_RATIO_LEVELS, pollMs: STATUS_PAGE_POLL_MS, recentRows: STATUS_PAGE_RECENT_ROWS }));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcplens: MCP tool calls by LLM provider</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>mcplens</h1>
  <span class="stat">tool calls <b id="t-calls">-</b></span>
  <span class="stat">malformed <b id="t-malformed">-</b></span>
  <span class="stat">spans received <b id="t-spans">-</b></span>
  <span class="stat">uptime <b id="t-uptime">-</b></span>
  <span id="conn">loading...</span>
</header>
<main>
  <h2>Malformed tool calls by LLM provider</h2>
  <section id="providers"><div class="empty">Loading...</div></section>
  <h2>Tools</h2>
  <section id="tools"></section>
  <h2>Most recent malformed calls</h2>
  <section id="recent"></section>
  <h2>Tool catalog token overhead</h2>
  <section id="catalog"></section>
</main>
<script type="application/json" id="mcplens-config">${config}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** `'sha256-...'` of an inline element's text, as CSP wants it. */
function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The status page's Content-Security-Policy: nothing but its own inline script and style (by
 * hash), same-origin fetches (`api/summary`) and the `data:` favicon; no framing, no `<base>`,
 * no form submission.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(CSS)}`,
  "connect-src 'self'",
  'img-src data:',
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** The cookie the status page's `?token=` is exchanged for (HttpOnly, SameSite=Strict, Path=/). */
export const READ_TOKEN_COOKIE = 'mcplens_read_token';

/**
 * The `GET /` handler. `?token=` is never served a page: a right token is exchanged for the
 * {@link READ_TOKEN_COOKIE} cookie (`Secure` when the request came over https) and the browser
 * is sent (303) to the page without it; a wrong one answers 401. Otherwise the read token
 * (bearer header or that cookie) is checked as on `/api/summary`, and the page is served with
 * {@link STATUS_PAGE_CSP}.
 */
export function serveStatusPage(readAuth: BearerCheck): (req: Request, res: Response) => void {
  let page: string | undefined;
  const unauthorized = (res: Response, challenge: string): void => {
    res.status(401).set('www-authenticate', challenge).set('cache-control', 'no-store').type('text/plain').send('missing or invalid bearer token\n');
  };
  return (req, res) => {
    const q = req.query['token'];
    if (q !== undefined) {
      if (readAuth.enabled) {
        if (typeof q !== 'string' || !readAuth.matches(q)) {
          unauthorized(res, `Bearer realm="${AUTH_REALM}", error="invalid_token"`);
          return;
        }
        const secure = req.secure ? '; Secure' : '';
        res.set('set-cookie', `${READ_TOKEN_COOKIE}=${encodeURIComponent(q)}; Path=/; HttpOnly; SameSite=Strict${secure}`);
      }
      // Relative, so a collector mounted under a prefix comes back to its own page.
      res.status(303).set('location', './').set('cache-control', 'no-store').type('text/plain').send('see ./\n');
      return;
    }
    const challenge = readAuth.check(req);
    if (challenge !== undefined) {
      unauthorized(res, challenge);
      return;
    }
    page ??= renderStatusPage();
    res.set('cache-control', 'no-store').set('content-security-policy', STATUS_PAGE_CSP).type('html').send(page);
  };
}
