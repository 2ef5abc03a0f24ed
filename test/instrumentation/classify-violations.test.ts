import { describe, it, expect, jest } from '@jest/globals';
import { VIOLATION_KINDS, type ViolationKind } from '../../contract/index.js';
import { ToolSchemas } from '../../instrumentation/tool-schemas.js';
import type { ToolDefinition } from '../../instrumentation/tool-definition.js';
import { primaryKind } from '../../instrumentation/classify-violations.js';

/** A tool in the shape MCP servers advertise (zod-to-json-schema style, no `$schema`: 2020-12). */
const CREATE_USER = {
  name: 'create_user',
  inputSchema: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 10 },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      score: { type: 'number', exclusiveMaximum: 1 },
      role: { type: 'string', enum: ['admin', 'user'] },
      kind: { const: 'person' },
      email: { type: 'string', format: 'email' },
      born: { type: 'string', format: 'date-time' },
      code: { type: 'string', pattern: '^[A-Z]{3}$' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
      nickname: { anyOf: [{ type: 'string', format: 'email' }, { type: 'null' }] },
      address: {
        type: 'object',
        properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' }, city: { type: 'string' } },
        required: ['zip'],
      },
      contacts: {
        type: 'array',
        items: { type: 'object', properties: { phone: { type: 'string' } }, required: ['phone'] },
      },
      extra: { type: 'object' }, // free-form: keys inside are not "undeclared"
    },
    required: ['name'],
  },
} satisfies ToolDefinition;

/** Same as CREATE_USER but closed: `additionalProperties: false` at the top and in `address`. */
const CLOSED = {
  name: 'closed',
  inputSchema: {
    type: 'object',
    properties: {
      a: { type: 'number' },
      address: { type: 'object', properties: { zip: { type: 'string' } }, additionalProperties: false },
    },
    additionalProperties: false,
  },
} satisfies ToolDefinition;

/** Pydantic-style: nested model through `$defs` / `$ref`, Optional[...] as anyOf with null. */
const REFS = {
  name: 'refs',
  inputSchema: {
    type: 'object',
    $defs: {
      Item: {
        type: 'object',
        properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
        required: ['sku'],
      },
    },
    properties: {
      item: { anyOf: [{ $ref: '#/$defs/Item' }, { type: 'null' }] },
      items: { type: 'array', items: { $ref: '#/$defs/Item' } },
    },
    required: ['item'],
  },
} satisfies ToolDefinition;

const NO_PARAMS = { name: 'ping', inputSchema: { type: 'object', properties: {} } } satisfies ToolDefinition;
const NO_SCHEMA = { name: 'legacy' } satisfies ToolDefinition;

function catalog(options?: ConstructorParameters<typeof ToolSchemas>[0]): ToolSchemas {
  const c = new ToolSchemas(options);
  c.update([CREATE_USER, CLOSED, REFS, NO_PARAMS, NO_SCHEMA]);
  return c;
}

type Expected = Array<[ViolationKind, string]>;

interface Case {
  title: string;
  tool?: string;
  args: unknown;
  violations: Expected;
  undeclared?: string[];
  keyword?: string;
}

const VALID = { name: 'Ann' };

const cases: Case[] = [
  { title: 'a valid call', args: { ...VALID, age: 30, email: 'ann@example.com', address: { zip: '12345' } }, violations: [] },
  { title: 'missing required at the top', args: { age: 3 }, violations: [['missing_required', '/name']], keyword: 'required' },
  {
    title: 'missing required in a nested object',
    args: { ...VALID, address: { city: 'Oslo' } },
    violations: [['missing_required', '/address/zip']],
  },
  {
    title: 'missing required inside an array item',
    args: { ...VALID, contacts: [{ phone: '1' }, {}] },
    violations: [['missing_required', '/contacts/1/phone']],
  },
  {
    title: 'null where the schema does not allow it',
    args: { ...VALID, age: null },
    violations: [['null_value', '/age']],
    keyword: 'type',
  },
  { title: 'null for a required property', args: { name: null }, violations: [['null_value', '/name']] },
  { title: 'null for an enum', args: { ...VALID, role: null }, violations: [['null_value', '/role']] },
  { title: 'a number sent as a string', args: { ...VALID, age: '30' }, violations: [['wrong_type', '/age']], keyword: 'type' },
  { title: 'an integer given 1.5', args: { ...VALID, age: 1.5 }, violations: [['wrong_type', '/age']] },
  { title: 'a string where an object is wanted', args: { ...VALID, address: '1 Main St' }, violations: [['wrong_type', '/address']] },
  { title: 'wrong type inside an array', args: { ...VALID, tags: ['a', 7] }, violations: [['wrong_type', '/tags/1']] },
  { title: 'a value outside the enum', args: { ...VALID, role: 'root' }, violations: [['enum_violation', '/role']], keyword: 'enum' },
  { title: 'a value other than the const', args: { ...VALID, kind: 'robot' }, violations: [['enum_violation', '/kind']], keyword: 'const' },
  { title: 'below the minimum', args: { ...VALID, age: -1 }, violations: [['out_of_range', '/age']], keyword: 'minimum' },
  { title: 'above the maximum', args: { ...VALID, age: 200 }, violations: [['out_of_range', '/age']], keyword: 'maximum' },
  { title: 'at an exclusive maximum', args: { ...VALID, score: 1 }, violations: [['out_of_range', '/score']], keyword: 'exclusiveMaximum' },
  { title: 'a bad email', args: { ...VALID, email: 'ann-at-example' }, violations: [['format_violation', '/email']], keyword: 'format' },
  { title: 'a bad date-time', args: { ...VALID, born: 'last tuesday' }, violations: [['format_violation', '/born']] },
  { title: 'a pattern mismatch', args: { ...VALID, code: 'abc' }, violations: [['constraint', '/code']], keyword: 'pattern' },
  { title: 'a string too long', args: { name: 'Bartholomew Jr' }, violations: [['constraint', '/name']], keyword: 'maxLength' },
  { title: 'too many items', args: { ...VALID, tags: ['a', 'b', 'c'] }, violations: [['constraint', '/tags']], keyword: 'maxItems' },
  { title: 'a nested pattern mismatch', args: { ...VALID, address: { zip: 'ABCDE' } }, violations: [['constraint', '/address/zip']] },
  {
    title: 'anyOf with null: a wrong type gives one wrong_type at the property',
    args: { ...VALID, nickname: 42 },
    violations: [['wrong_type', '/nickname']],
    keyword: 'anyOf',
  },
  { title: 'anyOf with null: null is fine', args: { ...VALID, nickname: null }, violations: [] },
  {
    title: 'anyOf with null: the matching branch reports its own error, the null branch is silent',
    args: { ...VALID, nickname: 'not-an-email' },
    violations: [['format_violation', '/nickname']],
    keyword: 'format',
  },
  {
    title: 'an undeclared argument is recorded but is no violation where the schema allows it',
    args: { ...VALID, colour: 'red', address: { zip: '12345', floor: 3 }, extra: { anything: 1 } },
    violations: [],
    undeclared: ['/colour', '/address/floor'],
  },
  {
    title: 'undeclared keys inside array items that declare properties are recorded',
    args: { ...VALID, contacts: [{ phone: '1', fax: '2' }] },
    violations: [],
    undeclared: ['/contacts/0/fax'],
  },
  {
    title: 'additionalProperties:false makes unknown arguments violations, top level and nested',
    tool: 'closed',
    args: { a: 1, b: 2, address: { zip: '1', street: 'x' } },
    violations: [
      ['unknown_argument', '/b'],
      ['unknown_argument', '/address/street'],
    ],
    undeclared: ['/b', '/address/street'],
    keyword: 'additionalProperties',
  },
  { title: 'a tool without parameters given one', tool: 'ping', args: { verbose: true }, violations: [], undeclared: ['/verbose'] },
  {
    title: '$ref through anyOf: nested missing required',
    tool: 'refs',
    args: { item: {} },
    violations: [['missing_required', '/item/sku']],
  },
  {
    title: '$ref through anyOf: nested out of range, the null branch is silent',
    tool: 'refs',
    args: { item: { sku: 'a', qty: 0 } },
    violations: [['out_of_range', '/item/qty']],
  },
  {
    title: '$ref in array items',
    tool: 'refs',
    args: { item: null, items: [{ sku: 'a' }, { sku: 5 }] },
    violations: [['wrong_type', '/items/1/sku']],
  },
  {
    title: 'undeclared keys are found through $ref and anyOf',
    tool: 'refs',
    args: { item: { sku: 'a', colour: 'red' }, items: [{ sku: 'b', size: 'L' }] },
    violations: [],
    undeclared: ['/item/colour', '/items/0/size'],
  },
  { title: 'arguments absent are graded as {}', args: undefined, violations: [['missing_required', '/name']] },
  { title: 'arguments as a JSON string', args: '{"name":"Ann"}', violations: [['not_an_object', '']], keyword: 'type' },
  { title: 'arguments as an array', args: [{ name: 'Ann' }], violations: [['not_an_object', '']] },
  { title: 'arguments null', args: null, violations: [['not_an_object', '']] },
  { title: 'arguments a number', args: 7, violations: [['not_an_object', '']] },
  { title: 'a tool without inputSchema is known but not graded', tool: 'legacy', args: { whatever: 1 }, violations: [] },
  { title: 'a tool without inputSchema still needs object arguments', tool: 'legacy', args: 'x', violations: [['not_an_object', '']] },
];

function kindsAndPaths(grading: { violations: Array<{ kind: ViolationKind; path: string }> }): Expected {
  return grading.violations.map((v) => [v.kind, v.path]);
}

describe('ToolSchemas.grade: one violation kind per mistake, with its JSON pointer', () => {
  const c = catalog();
  it.each(cases.map((k) => [k.title, k] as const))('%s', (_title, k) => {
    const params: Record<string, unknown> = { name: k.tool ?? 'create_user' };
    if (k.args !== undefined) params.arguments = k.args;
    const grading = c.grade(params);
    expect(kindsAndPaths(grading)).toEqual(k.violations);
    expect(grading.primary).toBe(k.violations[0]?.[0]);
    expect(grading.undeclared).toEqual(k.undeclared ?? []);
    if (k.keyword) expect(grading.violations[0]?.keyword).toBe(k.keyword);
    for (const v of grading.violations) expect(v.message.length).toBeGreaterThan(0);
  });

  it('gives an explicit `arguments: undefined` the same grade as absent arguments', () => {
    expect(kindsAndPaths(c.grade({ name: 'create_user', arguments: undefined }))).toEqual([['missing_required', '/name']]);
  });
});

describe('unknown tools and malformed params', () => {
  const c = catalog();
  it.each([
    ['a tool not in the catalog', { name: 'nope', arguments: {} }],
    ['a missing name', { arguments: { name: 'Ann' } }],
    ['a numeric name', { name: 42, arguments: {} }],
    ['params that are not an object', 'create_user'],
    ['no params at all', undefined],
  ])('%s is unknown_tool at the root', (_title, params) => {
    const grading = c.grade(params);
    expect(grading.violations).toEqual([{ kind: 'unknown_tool', path: '', keyword: 'unknownTool', message: expect.any(String) }]);
    expect(grading.primary).toBe('unknown_tool');
  });

  it('names the unknown tool in the message', () => {
    expect(c.grade({ name: 'nope' }).violations[0]?.message).toContain('nope');
  });

  it('knows the tools of the last update only', () => {
    const d = new ToolSchemas();
    expect(d.loaded).toBe(false);
    expect(d.has('create_user')).toBe(false);
    d.update([CREATE_USER]);
    expect(d.loaded).toBe(true);
    expect(d.has('create_user')).toBe(true);
    d.update([NO_PARAMS]);
    expect(d.has('create_user')).toBe(false);
    expect(d.grade({ name: 'create_user', arguments: VALID }).primary).toBe('unknown_tool');
    expect(d.grade({ name: 'ping', arguments: {} }).violations).toEqual([]);
  });
});

describe('strictArguments', () => {
  const strict = catalog({ strictArguments: true });
  it('turns undeclared arguments into unknown_argument, top level and nested objects that declare properties', () => {
    const grading = strict.grade({
      name: 'create_user',
      arguments: { ...VALID, colour: 'red', address: { zip: '12345', floor: 3 }, extra: { free: 1 } },
    });
    expect(kindsAndPaths(grading)).toEqual([
      ['unknown_argument', '/colour'],
      ['unknown_argument', '/address/floor'],
    ]);
    expect(grading.primary).toBe('unknown_argument');
    expect(grading.undeclared).toEqual(['/colour', '/address/floor']);
  });

  it('does not double-count what additionalProperties:false reports already', () => {
    const grading = strict.grade({ name: 'closed', arguments: { b: 1 } });
    expect(kindsAndPaths(grading)).toEqual([['unknown_argument', '/b']]);
  });

  it('leaves a clean call clean', () => {
    expect(strict.grade({ name: 'create_user', arguments: VALID }).violations).toEqual([]);
  });
});

describe('primary kind', () => {
  const c = catalog({ strictArguments: true });
  it('is the highest-priority kind present when a call has several violations', () => {
    const grading = c.grade({
      name: 'create_user',
      arguments: { age: 'old', role: 'root', email: 'x', code: 'abc', unknown: 1, address: { zip: null } },
    });
    expect(new Set(grading.violations.map((v) => v.kind))).toEqual(
      new Set(['missing_required', 'null_value', 'wrong_type', 'enum_violation', 'format_violation', 'constraint', 'unknown_argument']),
    );
    expect(grading.primary).toBe('missing_required');
    const paths = Object.fromEntries(grading.violations.map((v) => [v.path, v.kind]));
    expect(paths).toEqual({
      '/name': 'missing_required',
      '/address/zip': 'null_value',
      '/age': 'wrong_type',
      '/role': 'enum_violation',
      '/email': 'format_violation',
      '/code': 'constraint',
      '/unknown': 'unknown_argument',
    });
  });

  it('follows VIOLATION_KINDS order for every pair of kinds', () => {
    for (let i = 0; i < VIOLATION_KINDS.length; i++) {
      for (let j = i + 1; j < VIOLATION_KINDS.length; j++) {
        const lower = VIOLATION_KINDS[j]!;
        const higher = VIOLATION_KINDS[i]!;
        const vs = [lower, higher].map((kind) => ({ kind, path: '', keyword: 'x', message: 'x' }));
        expect(primaryKind(vs)).toBe(higher);
      }
    }
    expect(primaryKind([])).toBeUndefined();
  });
});

describe('dialect chosen by $schema', () => {
  const tuple2020 = { type: 'object', properties: { point: { type: 'array', prefixItems: [{ type: 'number' }, { type: 'number' }] } } };
  const tuple07 = { type: 'object', properties: { point: { type: 'array', items: [{ type: 'number' }, { type: 'number' }] } } };
  const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

  it('grades prefixItems when the schema has no $schema (2020-12, the MCP default)', () => {
    const c = new ToolSchemas();
    c.update([{ name: 't', inputSchema: tuple2020 }]);
    expect(kindsAndPaths(c.grade({ name: 't', arguments: { point: [1, 'two'] } }))).toEqual([['wrong_type', '/point/1']]);
  });

  it('grades prefixItems under an explicit 2020-12 $schema', () => {
    const c = new ToolSchemas();
    c.update([{ name: 't', inputSchema: { $schema: 'https://json-schema.org/draft/2020-12/schema', ...tuple2020 } }]);
    expect(kindsAndPaths(c.grade({ name: 't', arguments: { point: [1, 'two'] } }))).toEqual([['wrong_type', '/point/1']]);
  });

  it('ignores prefixItems under draft-07 (not a draft-07 keyword)', () => {
    const c = new ToolSchemas();
    c.update([{ name: 't', inputSchema: { $schema: DRAFT_07, ...tuple2020 } }]);
    expect(c.grade({ name: 't', arguments: { point: [1, 'two'] } }).violations).toEqual([]);
  });

  it('grades draft-07 tuple `items` under draft-07, and refuses them as a 2020-12 schema', () => {
    const errors: Array<[string, unknown]> = [];
    const c = new ToolSchemas({ onCompileError: (tool, err) => errors.push([tool, err]) });
    c.update([
      { name: 'd7', inputSchema: { $schema: DRAFT_07, ...tuple07 } },
      { name: 'd2020', inputSchema: tuple07 },
    ]);
    expect(kindsAndPaths(c.grade({ name: 'd7', arguments: { point: [1, 'two'] } }))).toEqual([['wrong_type', '/point/1']]);
    expect(errors.map(([tool]) => tool)).toEqual(['d2020']);
  });

  it('grades a 2019-09 schema (dependentRequired) as missing_required', () => {
    const c = new ToolSchemas();
    c.update([
      {
        name: 'card',
        inputSchema: {
          $schema: 'https://json-schema.org/draft/2019-09/schema',
          type: 'object',
          properties: { card: { type: 'string' }, cvc: { type: 'string' } },
          dependentRequired: { card: ['cvc'] },
        },
      },
    ]);
    expect(kindsAndPaths(c.grade({ name: 'card', arguments: { card: '4111' } }))).toEqual([['missing_required', '/cvc']]);
  });
});

describe('a schema Ajv cannot compile', () => {
  const broken = { name: 'broken', inputSchema: { type: 'object', properties: { a: { type: 'strnig' } } } };

  it('is reported with the tool name, the tool stays known and its calls are not graded', () => {
    const onCompileError = jest.fn<(tool: string, err: unknown) => void>();
    const c = new ToolSchemas({ onCompileError });
    c.update([broken, NO_PARAMS]);
    expect(onCompileError).toHaveBeenCalledTimes(1);
    expect(onCompileError.mock.calls[0]?.[0]).toBe('broken');
    expect(String(onCompileError.mock.calls[0]?.[1])).toMatch(/schema is invalid/);
    expect(c.has('broken')).toBe(true);
    expect(c.grade({ name: 'broken', arguments: { a: 1, b: 2 } })).toEqual({ violations: [], primary: undefined, undeclared: [] });
    // The other tools of the same catalog are graded as usual.
    expect(c.grade({ name: 'ping', arguments: { x: 1 } }).undeclared).toEqual(['/x']);
  });

  it('is reported once per tool, not on every tools/list refresh', () => {
    const onCompileError = jest.fn<(tool: string, err: unknown) => void>();
    const c = new ToolSchemas({ onCompileError });
    c.update([broken]);
    c.update([broken]);
    expect(onCompileError.mock.calls.map(([tool]) => tool)).toEqual(['broken']);
  });

  it('survives a throwing onCompileError callback', () => {
    const c = new ToolSchemas({
      onCompileError: () => {
        throw new Error('callback bug');
      },
    });
    expect(() => c.update([{ name: 'other', inputSchema: { type: 'nonsense' } }])).not.toThrow();
    expect(c.has('other')).toBe(true);
  });

  it('a non-object inputSchema is reported too', () => {
    const onCompileError = jest.fn<(tool: string, err: unknown) => void>();
    new ToolSchemas({ onCompileError }).update([{ name: 's', inputSchema: 'object' }]);
    expect(onCompileError.mock.calls.map(([tool]) => tool)).toEqual(['s']);
  });
});

describe('compiled validators are shared by schema content', () => {
  it('grades identical schemas from two catalogs alike, and schemas sharing an $id do not collide', () => {
    const a = new ToolSchemas();
    const b = new ToolSchemas();
    const errors: unknown[] = [];
    const c = new ToolSchemas({ onCompileError: (_t, e) => errors.push(e) });
    a.update([CREATE_USER]);
    b.update([JSON.parse(JSON.stringify(CREATE_USER)) as ToolDefinition]);
    c.update([
      { name: 'x', inputSchema: { $id: 'https://example.com/same.json', type: 'object', properties: { n: { type: 'number' } } } },
      { name: 'y', inputSchema: { $id: 'https://example.com/same.json', type: 'object', properties: { n: { type: 'string' } } } },
    ]);
    expect(errors).toEqual([]);
    expect(kindsAndPaths(a.grade({ name: 'create_user', arguments: { age: 1 } }))).toEqual([['missing_required', '/name']]);
    expect(kindsAndPaths(b.grade({ name: 'create_user', arguments: { age: 1 } }))).toEqual([['missing_required', '/name']]);
    expect(kindsAndPaths(c.grade({ name: 'x', arguments: { n: 'a' } }))).toEqual([['wrong_type', '/n']]);
    expect(kindsAndPaths(c.grade({ name: 'y', arguments: { n: 1 } }))).toEqual([['wrong_type', '/n']]);
  });

  it('keeps the escaped JSON pointer of odd property names', () => {
    const c = new ToolSchemas();
    c.update([{ name: 'odd', inputSchema: { type: 'object', properties: { 'a/b': { type: 'number' } }, required: ['c~d'] } }]);
    const grading = c.grade({ name: 'odd', arguments: { 'a/b': 'x', 'e/f': 1 } });
    expect(kindsAndPaths(grading)).toEqual([
      ['missing_required', '/c~0d'],
      ['wrong_type', '/a~1b'],
    ]);
    expect(grading.undeclared).toEqual(['/e~1f']);
  });
});
