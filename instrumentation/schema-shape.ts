/**
 * The declared structure of an input schema, walked to record the arguments a call sends that the
 * schema does not declare (`mcplens.arguments.undeclared`, and `unknown_argument` under strictArguments).
 */
import { isRecord } from './is-record.js';
import { escapePointerSegment, unescapePointerSegment } from './json-pointer.js';

const MAX_WALK_DEPTH = 64;

/** Records the JSON pointers of object keys that `shape` does not declare, descending into declared ones. */
export function collectUndeclared(value: unknown, shape: Shape, path: string, out: string[], depth: number): void {
  if (depth > MAX_WALK_DEPTH || value === null || typeof value !== 'object') return;
  // Runs on every tools/call: pointers are built only for what is recorded or descended into.
  if (Array.isArray(value)) {
    const items = shape.itemShape();
    if (!items) return;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') collectUndeclared(item, items, `${path}/${i}`, out, depth + 1);
    }
    return;
  }
  if (!shape.isObjectShape) return;
  for (const key of Object.keys(value)) {
    if (!shape.declares(key)) {
      out.push(`${path}/${escapePointerSegment(key)}`);
      continue;
    }
    const child = (value as Record<string, unknown>)[key];
    if (child === null || typeof child !== 'object') continue;
    const childShape = shape.propertyShape(key);
    if (childShape) collectUndeclared(child, childShape, `${path}/${escapePointerSegment(key)}`, out, depth + 1);
  }
}

const MAX_REF_DEPTH = 32;

/**
 * The declared structure of a schema, for recording undeclared arguments: which property names an object
 * declares (`properties`, `patternProperties`, merged over `allOf`/`anyOf`/`oneOf`/`then`/`else` and local
 * `$ref`s), and the same for each property's and array item's schema. Children are built lazily and
 * memoised, so recursive schemas cost only what the data visits.
 */
export class Shape {
  /** Whether this describes an object whose keys are checked: the root always, nested ones that declare properties. */
  readonly isObjectShape: boolean;
  private readonly declared = new Set<string>();
  private readonly patterns: RegExp[] = [];
  private readonly propertySchemas = new Map<string, unknown[]>();
  private readonly itemSchemas: unknown[] = [];
  private readonly children = new Map<string, Shape | null>();
  private items: Shape | null | undefined;

  constructor(
    schemas: readonly unknown[],
    private readonly root: unknown,
    isRoot: boolean,
  ) {
    const flat: Record<string, unknown>[] = [];
    for (const s of schemas) flatten(s, root, flat, 0);
    let declaresProperties = false;
    for (const s of flat) {
      if (isRecord(s.properties)) {
        declaresProperties = true;
        for (const [key, sub] of Object.entries(s.properties)) {
          this.declared.add(key);
          const list = this.propertySchemas.get(key);
          if (list) list.push(sub);
          else this.propertySchemas.set(key, [sub]);
        }
      }
      if (isRecord(s.patternProperties)) {
        declaresProperties = true;
        for (const pattern of Object.keys(s.patternProperties)) {
          try {
            this.patterns.push(new RegExp(pattern, 'u'));
          } catch {
            // Ajv would have refused the schema; nothing to match with.
          }
        }
      }
      if (isRecord(s.items)) this.itemSchemas.push(s.items);
    }
    this.isObjectShape = isRoot || declaresProperties;
  }

  declares(key: string): boolean {
    if (this.declared.has(key)) return true;
    for (const p of this.patterns) if (p.test(key)) return true;
    return false;
  }

  /** The shape of a declared property's value, or null when it declares no structure worth walking. */
  propertyShape(key: string): Shape | null {
    let shape = this.children.get(key);
    if (shape === undefined) {
      const schemas = this.propertySchemas.get(key) ?? [];
      shape = schemas.length > 0 ? nonTrivial(new Shape(schemas, this.root, false)) : null;
      this.children.set(key, shape);
    }
    return shape;
  }

  /** The shape of this array's items, or null. */
  itemShape(): Shape | null {
    if (this.items === undefined) {
      this.items = this.itemSchemas.length > 0 ? nonTrivial(new Shape(this.itemSchemas, this.root, false)) : null;
    }
    return this.items;
  }

  get hasItems(): boolean {
    return this.itemSchemas.length > 0;
  }
}

function nonTrivial(shape: Shape): Shape | null {
  return shape.isObjectShape || shape.hasItems ? shape : null;
}

/** Collects `schema` and the subschemas that apply to the same value (allOf/anyOf/oneOf/then/else, local $ref). */
function flatten(schema: unknown, root: unknown, out: Record<string, unknown>[], depth: number): void {
  if (!isRecord(schema) || depth > MAX_REF_DEPTH) return;
  out.push(schema);
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#')) {
    flatten(resolveLocalRef(root, schema.$ref), root, out, depth + 1);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = schema[key];
    if (Array.isArray(list)) for (const sub of list) flatten(sub, root, out, depth + 1);
  }
  flatten(schema.then, root, out, depth + 1);
  flatten(schema.else, root, out, depth + 1);
}

/** Resolves '#' and '#/json/pointer' against the root schema; anchors and remote refs resolve to nothing. */
function resolveLocalRef(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let pointer: string;
  try {
    pointer = decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
  let current = root;
  for (const raw of pointer.slice(1).split('/')) {
    if (!isRecord(current) && !Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[unescapePointerSegment(raw)];
  }
  return current;
}
