/**
 * The status page's inline script and style, and their CSP hashes. The script is the compiled
 * browser module page.ts (tsconfig.page.json puts it next to this file in dist/); it is read
 * once, on first use, and kept.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { STATUS_PAGE_CSS } from './styles.js';

/** What the page inlines, with the hashes its Content-Security-Policy allows them by. */
export interface StatusPageAssets {
  script: string;
  css: string;
  /** `'sha256-...'` of the script. */
  scriptHash: string;
  /** `'sha256-...'` of the style sheet. */
  styleHash: string;
}

/** `'sha256-...'` of an inline element's text, as CSP wants it. */
function cspHash(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The compiled script as an inline classic script (the source map is not served). */
function readScript(): string {
  const path = fileURLToPath(new URL('./page.js', import.meta.url));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(
      `mcplens collector: the status page script ${path} cannot be read (${(err as Error).message}); ` +
        'build it with `npm run build` (tsc -p tsconfig.page.json)',
      { cause: err },
    );
  }
  // The module has type imports only, so all that is left of ES module syntax is `export {};`.
  // As a classic script in a strict function of its own it keeps a module's scope and strictness.
  const body = text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n').replace(/^export \{\};\n?/m, '');
  if (/^\s*(import|export)\b/m.test(body)) {
    throw new Error(`mcplens collector: ${path} imports or exports at run time; the page script may import types only`);
  }
  // Inlined as is: text that would end or confuse the <script> element must not be there.
  if (/<\/script|<!--/i.test(body)) throw new Error(`mcplens collector: ${path} holds '</script' or '<!--' and cannot be inlined`);
  return `(() => {\n'use strict';\n${body}})();\n`;
}

let assets: StatusPageAssets | undefined;

/** The page's script and style with their hashes; throws a clear error when the compiled script is missing. */
export function statusPageAssets(): StatusPageAssets {
  if (assets === undefined) {
    const script = readScript();
    assets = { script, css: STATUS_PAGE_CSS, scriptHash: cspHash(script), styleHash: cspHash(STATUS_PAGE_CSS) };
  }
  return assets;
}
