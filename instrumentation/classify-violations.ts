/**
 * Turns Ajv's validation errors for one tools/call into mcplens violation kinds.
 *
 * Pure functions, no state: the tool schemas (tool-schemas.ts) run the compiled
 * validator and hands the errors here, only when validation failed (the rare path).
 */
import type { ErrorObject } from 'ajv';
import { VIOLATION_KINDS, type ViolationKind } from '../contract/index.js';
import { escapePointerSegment, unescapePointerSegment } from './json-pointer.js';

/** One schema violation of a tools/call. */
export interface Violation {
  /** The violation's kind (contract `VIOLATION_KINDS`). */
  kind: ViolationKind;
  /** JSON pointer into the arguments, '' for the root, e.g. '/b' or '/address/zip'. */
  path: string;
  /** The Ajv keyword that failed, or 'unknownTool' / 'type' for the checks mcplens makes itself. */
  keyword: string;
  /** Human-readable reason (Ajv's message, or mcplens' own). */
  message: string;
}

/** The grade of one tools/call. */
export interface Grading {
  /** Every violation, at most one per (kind, path), in the order the validator found them. */
  violations: Violation[];
  /** The highest-priority kind present (by `VIOLATION_KINDS` order), or undefined when the call is clean. */
  primary: ViolationKind | undefined;
  /** JSON pointers of arguments the schema does not declare, recorded whatever `additionalProperties` says. */
  undeclared: string[];
}

const RANK: ReadonlyMap<ViolationKind, number> = new Map(VIOLATION_KINDS.map((kind, i) => [kind, i]));

/** The highest-priority kind among `violations` (first in `VIOLATION_KINDS`), or undefined if none. */
export function primaryKind(violations: readonly Violation[]): ViolationKind | undefined {
  let best: ViolationKind | undefined;
  let bestRank = Infinity;
  for (const v of violations) {
    const rank = RANK.get(v.kind) ?? Infinity;
    if (rank < bestRank) {
      bestRank = rank;
      best = v.kind;
    }
  }
  return best;
}

/** The value at a JSON pointer inside `data`, or undefined when the pointer leads nowhere. */
export function valueAtPointer(data: unknown, pointer: string): unknown {
  if (pointer === '') return data;
  let current: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    if (current === null || typeof current !== 'object') return undefined;
    const segment = unescapePointerSegment(raw);
    current = Array.isArray(current)
      ? current[Number(segment)]
      : Object.prototype.hasOwnProperty.call(current, segment)
        ? (current as Record<string, unknown>)[segment]
        : undefined;
  }
  return current;
}

/** Keywords whose kind does not depend on the value. Anything not listed (and not below) is `constraint`. */
const KIND_BY_KEYWORD: Readonly<Record<string, ViolationKind>> = {
  required: 'missing_required',
  dependentRequired: 'missing_required',
  dependencies: 'missing_required',
  type: 'wrong_type',
  enum: 'enum_violation',
  const: 'enum_violation',
  minimum: 'out_of_range',
  maximum: 'out_of_range',
  exclusiveMinimum: 'out_of_range',
  exclusiveMaximum: 'out_of_range',
  format: 'format_violation',
  additionalProperties: 'unknown_argument',
  unevaluatedProperties: 'unknown_argument',
};

/** Keywords that turn into `null_value` when the offending value is null: null is rarely a "wrong type" on purpose. */
const NULL_SENSITIVE = new Set(['type', 'enum', 'const']);

/**
 * Keywords whose errors only restate errors Ajv reports anyway: `if` ("must match then schema")
 * always comes with the `then`/`else` errors that made it fail.
 */
const DROPPED_KEYWORDS = new Set(['if']);

/** An Ajv error as we use it, plus a mark for an anyOf/oneOf whose every branch wanted another type. */
interface Item {
  err: ErrorObject;
  typeMismatch: boolean;
  dropped: boolean;
}

/**
 * Classifies Ajv errors (from a validator compiled with `allErrors: true`) of the arguments `data`.
 *
 * Rules, so one mistake of the model gives one violation:
 * - `required` / `dependentRequired`: path of the missing property (`/address/zip`), kind missing_required.
 * - `additionalProperties` / `unevaluatedProperties`: path of the extra property, kind unknown_argument.
 * - `type`, `enum`, `const` where the value is null: null_value (else wrong_type / enum_violation).
 * - anyOf / oneOf that fail: Ajv reports every branch's errors and then the composite. The branch errors
 *   that only say "this branch wants another type" (a `type` error at the composite's own path) are
 *   dropped when some branch got further (its type matched): that branch's deeper errors are kept
 *   instead, e.g. `anyOf: [{type: string, format: email}, {type: null}]` with `"x"` gives one
 *   format_violation. When every branch wanted another type, the composite becomes one violation at its
 *   path (wrong_type, or null_value for null) with keyword `anyOf`/`oneOf`. A oneOf that matched more than
 *   one branch is a constraint. Branch errors are found as the run of errors just before the composite
 *   whose instance path lies under the composite's and whose schema path is inside it (or in `$defs` /
 *   `definitions`, where `$ref`'d branches report from); sibling keywords of the same schema end the run.
 * - `if` errors are dropped (the `then`/`else` errors that caused them are kept).
 * - At most one violation per (kind, path): the first wins.
 */
export function classifyAjvErrors(errors: readonly ErrorObject[] | null | undefined, data: unknown): Violation[] {
  if (!errors || errors.length === 0) return [];
  const items: Item[] = errors.map((err) => ({ err, typeMismatch: false, dropped: DROPPED_KEYWORDS.has(err.keyword) }));

  // Left to right: an inner composite's error precedes the outer one's, so inner ones are merged first.
  for (let i = 0; i < items.length; i++) {
    const composite = items[i]!;
    const keyword = composite.err.keyword;
    if (keyword !== 'anyOf' && keyword !== 'oneOf') continue;
    const members = branchMembers(items, i);
    const passing = (composite.err.params as { passingSchemas?: unknown }).passingSchemas;
    if (keyword === 'oneOf' && Array.isArray(passing)) {
      // Matched several branches: the branches are fine, the schema is ambiguous for this value.
      for (const m of members) m.dropped = true;
      continue;
    }
    const at = composite.err.instancePath;
    const typeOnly = (m: Item) => (m.typeMismatch || m.err.keyword === 'type') && m.err.instancePath === at;
    const further = members.filter((m) => !typeOnly(m));
    if (further.length > 0) {
      for (const m of members) if (typeOnly(m)) m.dropped = true;
      composite.dropped = true;
    } else {
      for (const m of members) m.dropped = true;
      composite.typeMismatch = true;
    }
  }

  const out: Violation[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    if (item.dropped) continue;
    const v = toViolation(item, data);
    const key = `${v.kind}\u0000${v.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}

/** The not-yet-dropped errors that belong to the branches of the composite at `index` (see rules above). */
function branchMembers(items: readonly Item[], index: number): Item[] {
  const composite = items[index]!.err;
  const at = composite.instancePath;
  const inside = composite.schemaPath + '/';
  const cut = composite.schemaPath.lastIndexOf('/');
  const parent = composite.schemaPath.slice(0, cut + 1); // e.g. '#/properties/x/'
  const members: Item[] = [];
  for (let j = index - 1; j >= 0; j--) {
    const item = items[j]!;
    const { instancePath, schemaPath } = item.err;
    const under = at === '' || instancePath === at || instancePath.startsWith(at + '/');
    if (!under) break;
    if (!schemaPath.startsWith(inside) && schemaPath.startsWith(parent)) {
      const next = schemaPath.slice(parent.length);
      // Another keyword of the same schema (e.g. `type` next to `anyOf`) ends the run, but
      // definitions that `$ref`'d branches report from do not.
      if (!next.startsWith('$defs/') && !next.startsWith('definitions/')) break;
    }
    if (!item.dropped) members.push(item);
  }
  return members;
}

function toViolation(item: Item, data: unknown): Violation {
  const { err } = item;
  const params = err.params as Record<string, unknown>;
  let path = err.instancePath;
  let kind: ViolationKind = item.typeMismatch ? 'wrong_type' : (KIND_BY_KEYWORD[err.keyword] ?? 'constraint');
  switch (err.keyword) {
    case 'required':
    case 'dependentRequired':
    case 'dependencies':
      if (typeof params.missingProperty === 'string') path += '/' + escapePointerSegment(params.missingProperty);
      else kind = 'constraint';
      break;
    case 'additionalProperties':
      if (typeof params.additionalProperty === 'string') path += '/' + escapePointerSegment(params.additionalProperty);
      break;
    case 'unevaluatedProperties':
      if (typeof params.unevaluatedProperty === 'string') path += '/' + escapePointerSegment(params.unevaluatedProperty);
      break;
  }
  if ((item.typeMismatch || NULL_SENSITIVE.has(err.keyword)) && valueAtPointer(data, err.instancePath) === null) {
    kind = 'null_value';
  }
  return { kind, path, keyword: err.keyword, message: err.message ?? err.keyword };
}
