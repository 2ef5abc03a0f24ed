/**
 * The collector's status page (`GET /`): one self-contained HTML document (inline CSS and
 * JS, no external requests) that polls `api/summary` on the same origin and draws, per LLM
 * provider, the malformed-call ratio with its trend (inline SVG sparkline), the outcome
 * breakdown, latency percentiles and tokens; a per-tool table; the circuit breakers whose last
 * known state is not closed; the most recent malformed
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
 *
 * The script is the browser module status-page/page.ts, compiled with the DOM lib by
 * tsconfig.page.json and inlined; it is read, and the policy's hashes computed, once, when this
 * module loads (a missing compiled script is an error naming it). The page is rendered once
 * per collector: its settings (levels, trend window, self-correction window, trace viewer link)
 * travel as JSON in a non-executable `<script type="application/json">`, so the hashes never
 * depend on configuration.
 */
import type { Request, Response } from 'express';
import { MALFORMED_RATIO_LEVELS, OUTCOMES } from '../contract/index.js';
import { AUTH_REALM, type BearerCheck } from './auth.js';
import { DEFAULT_CONFIG, TRACE_ID_PLACEHOLDER, type CollectorConfig } from './config.js';
import { statusPageAssets } from './status-page/assets.js';
import type { StatusPageConfig } from './status-page/page-config.js';

/** How often the page polls `api/summary` (ms). */
export const STATUS_PAGE_POLL_MS = 2000;
/** Most recent malformed calls shown (the summary may hold more). */
export const STATUS_PAGE_RECENT_ROWS = 25;

/** The inline script and style, read and hashed once. */
const ASSETS = statusPageAssets();

/** Text safe to put inside a `<script>` element (no `</script>`, no `<!--`). */
function scriptSafe(json: string): string {
  return json.replace(/</g, '\\u003c');
}

/** The settings the page shows or uses: part of the collector's configuration. */
export type StatusPageOptions = Pick<
  CollectorConfig,
  'trendBucketSeconds' | 'trendBuckets' | 'selfCorrectionWindowSeconds' | 'traceUrlTemplate'
>;

/** The status page as one HTML string; the same for every request (data arrives by polling). */
export function renderStatusPage(options: StatusPageOptions = DEFAULT_CONFIG): string {
  const settings: StatusPageConfig = {
    outcomes: OUTCOMES,
    levels: MALFORMED_RATIO_LEVELS,
    pollMs: STATUS_PAGE_POLL_MS,
    recentRows: STATUS_PAGE_RECENT_ROWS,
    trendBucketSeconds: options.trendBucketSeconds,
    trendBuckets: options.trendBuckets,
    selfCorrectionWindowSeconds: options.selfCorrectionWindowSeconds,
    traceUrlParts: options.traceUrlTemplate === undefined ? null : options.traceUrlTemplate.split(TRACE_ID_PLACEHOLDER),
  };
  const config = scriptSafe(JSON.stringify(settings));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mcplens: MCP tool calls by LLM provider</title>
<link rel="icon" href="data:,">
<style>${ASSETS.css}</style>
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
  <h2>Malformed tool calls by LLM provider (server view)</h2>
  <section id="providers"><div class="empty">Loading...</div></section>
  <h2>Tools (server view)</h2>
  <section id="tools"></section>
  <h2>Circuit breakers not closed</h2>
  <section id="breakers"></section>
  <h2>Client view: tool calls as the agents sent them</h2>
  <section id="client"></section>
  <h2>Most recent malformed calls</h2>
  <section id="recent"></section>
  <h2>Tool catalog token overhead</h2>
  <section id="catalog"></section>
</main>
<script type="application/json" id="mcplens-config">${config}</script>
<script>${ASSETS.script}</script>
</body>
</html>
`;
}

/**
 * The status page's Content-Security-Policy: nothing but its own inline script and style (by
 * hash), same-origin fetches (`api/summary`) and the `data:` favicon; no framing, no `<base>`,
 * no form submission.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${ASSETS.scriptHash}`,
  `style-src ${ASSETS.styleHash}`,
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
export function serveStatusPage(readAuth: BearerCheck, options: StatusPageOptions = DEFAULT_CONFIG): (req: Request, res: Response) => void {
  let page: string | undefined;
  const unauthorized = (res: Response, challenge: string): void => {
    res
      .status(401)
      .set('www-authenticate', challenge)
      .set('cache-control', 'no-store')
      .type('text/plain')
      .send('missing or invalid bearer token\n');
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
    page ??= renderStatusPage(options);
    res.set('cache-control', 'no-store').set('content-security-policy', STATUS_PAGE_CSP).type('html').send(page);
  };
}
