/**
 * GET /metrics. The registry is an OpenMetrics registry (exemplars need it). When the
 * scraper asks for OpenMetrics (`Accept: application/openmetrics-text`, as Prometheus does)
 * prom-client's own output is served: counter families are named without `_total` there
 * (as the OpenMetrics spec wants) while their samples keep `_total`. Otherwise the classic
 * Prometheus text format (0.0.4) is served, with counter names
 * keeping `_total` in `# HELP`/`# TYPE` and samples, and without exemplars (the classic format
 * has none), converted from the same OpenMetrics text so both formats always agree.
 *
 * The text is exactly prom-client's, but produced piece by piece straight into one buffer
 * (see registryText and assemble below): at the cardinality cap a scrape is about 35 MB,
 * and formatting it all at once cost several hundred MB of transient memory.
 */
import { Registry, type RegistryContentType } from 'prom-client';

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

/**
 * Sample lines rendered per piece. It bounds the transient objects prom-client builds for a
 * piece and keeps each piece's text (about 100 bytes a line) under V8's large-object size
 * (128 kB): larger strings go straight to the old generation and stay there until a full
 * GC, which during a big scrape means tens of MB of dead text.
 */
const LINES_PER_PIECE = 400;
/** Size of the slabs the body is written into. */
const SLAB_BYTES = 1 << 20;

type RenderOne = (this: unknown, metric: unknown) => Promise<string>;

interface MetricLike {
  name: string;
  type: string;
  hashMap?: unknown;
  upperBounds?: unknown;
}

/** One metric's text: its first piece (rendered) and the rest (rendered on demand). */
interface MetricText {
  first: string;
  /** Series in the first piece and in the whole metric (for the body size estimate). */
  firstSeries: number;
  series: number;
  rest: () => AsyncGenerator<string>;
}

/**
 * The registry's text, one piece at a time, exactly as `registry.metrics()` would produce
 * it (pieces joined by '\n'; OpenMetrics then adds `\n# EOF\n`). `registry.metrics()`
 * formats every metric at once and joins the lot: at 10,000 series per metric that is
 * hundreds of thousands of transient objects and strings (a peak of several hundred MB).
 * Here metrics are formatted one after the other by the registry's own per-metric
 * formatter, and a metric with many series is formatted in slices of about
 * {@link LINES_PER_PIECE} lines: a view of the metric (its prototype) whose series store holds
 * only that slice, in the same order; slices after the first drop their repeated
 * `# HELP` / `# TYPE` lines. Each metric's first piece is rendered up front (they size the
 * body). When prom-client lacks the per-metric formatter, the whole text is one piece.
 *
 * Rendering never waits for I/O (only resolved promises), so a scrape still sees one
 * consistent state: no ingest request runs in between.
 */
async function registryText(registry: Registry<RegistryContentType>): Promise<MetricText[]> {
  const render = (registry as unknown as { getMetricsAsString?: RenderOne }).getMetricsAsString;
  const openMetrics = registry.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  const none = async function* (): AsyncGenerator<string> {};
  if (typeof render !== 'function') {
    const text = await registry.metrics();
    return [
      { first: openMetrics ? text.slice(0, text.length - '\n# EOF\n'.length) : text.slice(0, -1), firstSeries: 1, series: 1, rest: none },
    ];
  }
  const out: MetricText[] = [];
  for (const metric of registry.getMetricsAsArray() as unknown as MetricLike[]) {
    // As registry.metrics() does: OpenMetrics counter families are named without `_total`.
    if (openMetrics && metric.type === 'counter') metric.name = metric.name.replace(/_total$/, '');
    const map = metric.hashMap;
    const keys = map !== null && typeof map === 'object' ? Object.keys(map) : [];
    // A histogram series is one line per bucket, +Inf, _sum and _count.
    const linesPerSeries = metric.type === 'histogram' && Array.isArray(metric.upperBounds) ? metric.upperBounds.length + 3 : 1;
    const perPiece = Math.max(1, Math.floor(LINES_PER_PIECE / linesPerSeries));
    if (keys.length <= perPiece) {
      out.push({ first: await render.call(registry, metric), firstSeries: 1, series: 1, rest: none });
      continue;
    }
    const all = map as Record<string, unknown>;
    const slice = async (from: number): Promise<string> => {
      const part: Record<string, unknown> = {};
      for (let i = from; i < Math.min(from + perPiece, keys.length); i++) part[keys[i]!] = all[keys[i]!];
      const view = Object.create(metric as object, { hashMap: { value: part, writable: true } }) as object;
      return render.call(registry, view);
    };
    out.push({
      first: await slice(0),
      firstSeries: perPiece,
      series: keys.length,
      rest: async function* () {
        for (let from = perPiece; from < keys.length; from += perPiece) {
          const text = await slice(from);
          // Drop the HELP and TYPE lines (escaped: neither holds a raw newline).
          const afterHelp = text.indexOf('\n');
          yield text.slice(text.indexOf('\n', afterHelp + 1) + 1);
        }
      },
    });
  }
  return out;
}

/** Body size of the last scrape per registry and format. */
const lastBodyBytes = new WeakMap<object, Record<string, number>>();

/**
 * Writes the metrics' pieces (joined by '\n', then `tail`) as UTF-8 into one buffer sized
 * up front: the larger of the previous body of this registry and format and an estimate
 * from each metric's first piece, plus 1/8. No text larger than a piece is ever built, and
 * the body costs its size once. Should it not fit after all, 1 MiB slabs follow and are
 * joined at the end (the body then costs twice its size, briefly).
 */
async function assemble(
  registry: Registry<RegistryContentType>,
  format: string,
  convert: (piece: string) => string,
  tail: string,
): Promise<Buffer> {
  const metrics = await registryText(registry);
  const firsts = metrics.map((m) => convert(m.first));
  let estimate = Buffer.byteLength(tail);
  for (let i = 0; i < metrics.length; i++)
    estimate += Math.ceil((Buffer.byteLength(firsts[i]!) * metrics[i]!.series) / metrics[i]!.firstSeries) + 1;
  const sizes = lastBodyBytes.get(registry) ?? {};
  lastBodyBytes.set(registry, sizes);
  const expected = Math.max(estimate, sizes[format] ?? 0);
  const slabs: Buffer[] = [];
  let slab = Buffer.allocUnsafe(expected + (expected >> 3));
  let used = 0;
  let total = 0;
  const write = (text: string): void => {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (used + bytes > slab.length) {
      if (used > 0) slabs.push(slab.subarray(0, used));
      slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, bytes));
      used = 0;
    }
    used += slab.write(text, used, 'utf8');
    total += bytes;
  };
  for (let i = 0; i < metrics.length; i++) {
    if (i > 0) write('\n');
    write(firsts[i]!);
    for await (const piece of metrics[i]!.rest()) write(`\n${convert(piece)}`);
  }
  write(tail);
  sizes[format] = total;
  if (slabs.length === 0) return slab.subarray(0, used);
  slabs.push(slab.subarray(0, used));
  return Buffer.concat(slabs, total);
}

/** One piece of OpenMetrics text in the classic format (see {@link openMetricsToClassic}), without its final newline. */
function classicPiece(piece: string): string {
  return openMetricsToClassic(piece).slice(0, -1);
}

/** The registry in the classic Prometheus text format, counters keeping `_total`, as UTF-8. */
async function classicBuffer(registry: Registry<RegistryContentType>): Promise<Buffer> {
  return assemble(registry, 'classic', classicPiece, '\n');
}

/** The registry's own text (OpenMetrics for the collector's registry), as UTF-8. */
async function registryBuffer(registry: Registry<RegistryContentType>): Promise<Buffer> {
  const openMetrics = registry.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
  return assemble(registry, 'registry', (p) => p, openMetrics ? '\n# EOF\n' : '\n');
}

/** Renders the registry in the classic Prometheus text format, counters keeping `_total`. */
export async function renderClassicText(registry: Registry<RegistryContentType>): Promise<string> {
  return (await classicBuffer(registry)).toString('utf8');
}

/**
 * Renders the registry for a scrape: `{contentType, body}` chosen by the Accept header. The
 * body is UTF-8 bytes, built piece by piece (see {@link registryPieces}): a scrape of tens of
 * MB costs about twice its size in memory, not ten times.
 */
export async function renderMetrics(
  registry: Registry<RegistryContentType>,
  accept: string | undefined,
): Promise<{ contentType: string; body: Buffer }> {
  if (wantsOpenMetrics(accept)) return { contentType: registry.contentType, body: await registryBuffer(registry) };
  return { contentType: PROMETHEUS_TEXT_CONTENT_TYPE, body: await classicBuffer(registry) };
}
