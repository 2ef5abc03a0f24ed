/**
 * Series keyed by label values, and label groups: a label set admitted against the cardinality
 * cap once, for every series it fans out to (the per-call metrics, or one metric's one series), then cached.
 */
import { valuesKey, type CardinalityGuard } from './cardinality.js';

/** Nested maps keyed by label values: the strings decoded spans share are hashed once, no key string is built per span. */
export class KeyTree<V> {
  private readonly root = new Map<string, unknown>();

  get(keys: readonly string[]): V | undefined {
    let node: unknown = this.root;
    for (const k of keys) {
      node = (node as Map<string, unknown>).get(k);
      if (node === undefined) return undefined;
    }
    return node as V;
  }

  set(keys: readonly string[], value: V): void {
    let node = this.root;
    for (let i = 0; i < keys.length - 1; i++) {
      let next = node.get(keys[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) node.set(keys[i]!, (next = new Map()));
      node = next;
    }
    node.set(keys[keys.length - 1]!, value);
  }

  /** Removes the value of `keys`, and the nodes left empty on its path. */
  delete(keys: readonly string[]): void {
    const path: Array<Map<string, unknown>> = [this.root];
    for (let i = 0; i < keys.length - 1; i++) {
      const next = path[i]!.get(keys[i]!) as Map<string, unknown> | undefined;
      if (next === undefined) return;
      path.push(next);
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      path[i]!.delete(keys[i]!);
      if (i > 0 && path[i]!.size > 0) return;
    }
  }
}

/**
 * The series of one label group (e.g. service, tool, provider, model) and the per-call metrics it
 * fans out to: each label set is admitted against the cap once, for all of its series
 * (`fanout`: series per metric), and cached; past the cap every set shares one overflow series.
 */
export class LabelGroup<S> {
  private readonly cache = new KeyTree<S>();
  private overflow: S | undefined;
  /** Scratch of the label values to resolve, in the order of `labelNames` (no array per span). */
  readonly key: string[];

  constructor(
    private readonly guard: CardinalityGuard,
    private readonly name: string,
    private readonly labelNames: readonly string[],
    private readonly fanout: Readonly<Record<string, number>>,
    private readonly make: (labels: Record<string, string>, overflow: boolean) => S,
  ) {
    this.key = labelNames.map(() => '');
  }

  /** The series of the label values now in {@link key}: admitted (made once, cached) or the shared overflow series. */
  resolve(): S {
    const cached = this.cache.get(this.key);
    if (cached !== undefined) return cached;
    const key = valuesKey(this.key);
    if (this.guard.admitGroup(this.name, key, this.fanout)) {
      const labels: Record<string, string> = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = this.key[i]!;
      const series = this.make(labels, false);
      this.cache.set(this.key, series);
      return series;
    }
    for (const metric of Object.keys(this.fanout)) this.guard.noteDropped(metric, key);
    return (this.overflow ??= this.make(this.guard.overflowLabels(this.name, this.labelNames), true));
  }

  /** The shared overflow series, once a label set went there. */
  get overflowSeries(): S | undefined {
    return this.overflow;
  }

  /** Forgets the series of the label values now in {@link key} (its series were removed) and frees its slots under the cap. */
  release(): void {
    this.cache.delete(this.key);
    this.guard.releaseGroup(this.name, valuesKey(this.key), this.fanout);
  }

  /** Forgets the overflow series (its series were removed); the next overflowed set makes a new one. */
  releaseOverflow(): void {
    this.overflow = undefined;
  }
}
