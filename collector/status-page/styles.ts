/**
 * The status page's style sheet, inlined into the page and allowed by the page's
 * Content-Security-Policy through its SHA-256 hash (so it must be served byte for byte).
 */
export const STATUS_PAGE_CSS = `
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
.spark-box { flex:none; width:120px; text-align:right; }
.spark-label { font-size:10px; line-height:1.2; color:var(--mute); }
.minis div[title] span { text-decoration:underline dotted; cursor:help; }
a.trace-link { color:var(--accent); }
`;
