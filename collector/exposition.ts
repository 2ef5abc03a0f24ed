/**
 * GET /metrics. The registry is an OpenMetrics registry (exemplars need it). When the
 * scraper asks for OpenMetrics (`Accept: application/openmetrics-text`, as Prometheus does)
 * prom-client's own output is served: counter families are named without `_total` there
 * (as the OpenMetrics spec wants) while their samples keep `_total`. Otherwise the classic
 * Prometheus text format (0.0.4) is served, with counter names
 * keeping `_total` in `# HELP`/`# TYPE` and samples, and without exemplars (the classic format
 * has none), converted from the same OpenMetrics text so both formats always agree.
 */
import type { Registry, RegistryContentType } from 'prom-client';

/** Content type of the classic Prometheus text format. */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** True when the Accept header asks for OpenMetrics. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept);
}

/** Index just past a sample's name and label block (label values may hold escaped quotes and braces). */
function endOfLabels(line: string): number {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  if (line[i] !== '{') return i;
  let quoted = false;
  for (i++; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '}') return i + 1;
  }
  return i;
}

/**
 * Turns prom-client's OpenMetrics text into the classic text format: counter families get
 * their `_total` back in `# HELP`/`# TYPE` (their samples already have it), exemplars and
 * `# EOF` are removed. Everything else (escaping, histogram samples) is the same in both.
 */
export function openMetricsToClassic(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let help: string | undefined;
  for (const line of lines) {
    if (line.startsWith('# HELP ')) {
      // Held until the TYPE line says whether the family is a counter.
      help = line;
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', type = ''] = line.split(' ');
      const family = type === 'counter' && !name.endsWith('_total') ? `${name}_total` : name;
      if (help !== undefined) out.push(`# HELP ${family}${help.slice(7 + name.length)}`);
      out.push(`# TYPE ${family} ${type}`);
      help = undefined;
      continue;
    }
    if (line === '# EOF' || line.startsWith('# UNIT ')) continue;
    if (line.includes(' # ')) {
      // An exemplar follows the value: `name{labels} value # {trace_id="..."} value ts`.
      const end = endOfLabels(line);
      const rest = line.slice(end);
      const cut = rest.indexOf(' # ');
      out.push(cut >= 0 ? line.slice(0, end) + rest.slice(0, cut) : line);
      continue;
    }
    out.push(line);
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return `${out.join('\n')}\n`;
}

/** Renders the registry in the classic Prometheus text format, counters keeping `_total`. */
export async function renderClassicText(registry: Registry<RegistryContentType>): Promise<string> {
  return openMetricsToClassic(await registry.metrics());
}

/** Renders the registry for a scrape: `{contentType, body}` chosen by the Accept header. */
export async function renderMetrics(registry: Registry<RegistryContentType>, accept: string | undefined): Promise<{ contentType: string; body: string }> {
  if (wantsOpenMetrics(accept)) return { contentType: registry.contentType, body: await registry.metrics() };
  return { contentType: PROMETHEUS_TEXT_CONTENT_TYPE, body: await renderClassicText(registry) };
}
