import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNotebook, sourceText, type Notebook } from '../../src/runner/notebook';
import { parseDeclarations } from '../../src/runner/parameters/declarations';
import {
  collectOverrides, inspectParameters, injectParametersCell, renderInjectedSource, resolveParameters, ParameterError,
  parseAssignment, parseParametersYaml,
} from '../../src/runner/parameters';
import { isLiteralValue, toLiteral } from '../../src/runner/parameters/literal';
import { projectRoot } from '../../src/runner/paths';

const ROOT = projectRoot();

const PARAMS = [
  "type Mode = 'dev' | 'prod';",
  "const mode: Mode = 'dev'; // where to deploy",
  'const n = 2; // how many',
  "export const label: string = 'x';",
  "let opts = { retries: 1, tags: ['a'] };",
  '// @secret the API key',
  "const apiKey: string = 'default-key';",
  'const when: string = new Date(0).toISOString(); // not a literal',
  'var big: number =',
  '  1 +',
  '  2; // spans lines',
].join('\n');

function notebookWith(params: string | undefined, more: string[] = []): Notebook {
  const cells = [
    ...(params === undefined ? [] : [{ cell_type: 'code', id: 'p', metadata: { tags: ['parameters'] }, source: params, outputs: [], execution_count: null }]),
    ...more.map((s, i) => ({ cell_type: 'code', id: `c${i}`, metadata: {}, source: s, outputs: [], execution_count: null })),
  ];
  return parseNotebook(JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }), 'test.ipynb');
}

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ParameterError);
    return (err as ParameterError).issues.map((i) => i.message);
  }
  throw new Error('expected a ParameterError');
}

describe('parameters cell declarations', () => {
  const decls = parseDeclarations(PARAMS);
  const byName = Object.fromEntries(decls.map((d) => [d.name, d]));

  it('finds every top-level declaration with its keyword, annotation, default and comment', () => {
    expect(decls.map((d) => d.name)).toEqual(['mode', 'n', 'label', 'opts', 'apiKey', 'when', 'big']);
    expect(byName.mode).toMatchObject({ keyword: 'const', annotation: 'Mode', defaultValue: 'dev', comment: 'where to deploy', secret: false });
    expect(byName.n).toMatchObject({ annotation: undefined, defaultValue: 2, hasLiteralDefault: true, comment: 'how many' });
    expect(byName.label).toMatchObject({ exported: true, annotation: 'string' });
    expect(byName.opts).toMatchObject({ keyword: 'let', defaultValue: { retries: 1, tags: ['a'] } });
    expect(byName.big).toMatchObject({ keyword: 'var', hasLiteralDefault: false, comment: 'spans lines' });
    expect(byName.big.defaultSource).toBe('1 +\n  2');
  });

  it('marks `// @secret` declarations and keeps the rest of the comment as help', () => {
    expect(byName.apiKey).toMatchObject({ secret: true, comment: 'the API key' });
    expect(decls.filter((d) => d.secret).map((d) => d.name)).toEqual(['apiKey']);
  });

  it('keeps non-literal defaults as source text only', () => {
    expect(byName.when).toMatchObject({ hasLiteralDefault: false, defaultSource: 'new Date(0).toISOString()' });
    expect(byName.when.defaultValue).toBeUndefined();
  });

  it('ignores destructuring, declare statements and nested declarations', () => {
    const d = parseDeclarations('const { a } = { a: 1 };\ndeclare const b: number;\nfunction f() { const c = 1; }\nconst d = 4;');
    expect(d.map((x) => x.name)).toEqual(['d']);
  });

  it('does not take a comment separated by a blank line', () => {
    const d = parseDeclarations('// @secret\n\nconst a = 1;');
    expect(d[0]).toMatchObject({ secret: false, comment: undefined });
  });
});

describe('parameter types and overrides', () => {
  const nb = notebookWith(PARAMS);

  it('types every parameter: annotations as written, others widened from the default', () => {
    const typed = Object.fromEntries(inspectParameters(nb, ROOT).map((p) => [p.name, p]));
    expect(typed.mode).toMatchObject({ type: 'Mode', expandedType: "'dev' | 'prod'" });
    expect(typed.n.type).toBe('number');
    expect(typed.opts.type).toBe('{ retries: number; tags: string[]; }');
    expect(typed.big.type).toBe('number');
  });

  it('converts -p text by the declared type: JSON for numbers and objects, verbatim for strings', () => {
    const { values } = resolveParameters(nb, collectOverrides({
      params: ['n=3', 'label=007', 'mode=prod', 'opts={"retries":3,"tags":[]}', 'apiKey=true'],
    }), ROOT);
    expect(values).toEqual({ n: 3, label: '007', mode: 'prod', opts: { retries: 3, tags: [] }, apiKey: 'true' });
  });

  it('rejects a value of the wrong type, naming the parameter and the expected type', () => {
    const issues = issuesOf(() => resolveParameters(nb, collectOverrides({ params: ['n=abc'] }), ROOT));
    expect(issues).toEqual(['parameter n: expected number, got string "abc"']);
  });

  it('expands type aliases and suggests the closest literal', () => {
    const issues = issuesOf(() => resolveParameters(nb, collectOverrides({ params: ['mode=prd'] }), ROOT));
    expect(issues).toEqual([`parameter mode: expected Mode ('dev' | 'prod'), got string "prd" (did you mean "prod"?)`]);
  });

  it('explains what is wrong inside an object value', () => {
    const [issue] = issuesOf(() => resolveParameters(nb, { values: { opts: { retries: 'x', tags: [] } }, texts: {} }, ROOT));
    expect(issue).toMatch(/^parameter opts: expected \{ retries: number; tags: string\[\]; \}, got object/);
    expect(issue).toContain("Type 'string' is not assignable to type 'number'");
  });

  it('rejects null for a non-nullable type and a typo in an object key', () => {
    const issues = issuesOf(() => resolveParameters(nb, { values: { n: null, opts: { retries: 1, tags: [], retires: 2 } }, texts: {} }, ROOT));
    expect(issues).toHaveLength(2);
    expect(issues[0]).toBe('parameter n: expected number, got null');
    expect(issues[1]).toContain('retires');
  });

  it('reports every unknown parameter with the declared names', () => {
    const issues = issuesOf(() => resolveParameters(nb, collectOverrides({ params: ['nn=1', 'n=2'], yamls: ['zzz: 1'] }), ROOT));
    expect(issues).toEqual([
      "unknown parameter 'zzz': the parameters cell declares mode, n, label, opts, apiKey, when, big",
      "unknown parameter 'nn': the parameters cell declares mode, n, label, opts, apiKey, when, big",
    ]);
  });

  it('never shows a secret value in an error', () => {
    const [issue] = issuesOf(() => resolveParameters(nb, { values: { apiKey: 12345678 }, texts: {} }, ROOT));
    expect(issue).toBe('parameter apiKey: expected string, got a number (secret value not shown)');
  });

  it('refuses values that are not literals', () => {
    const [issue] = issuesOf(() => resolveParameters(nb, { values: { when: new Date() }, texts: {} }, ROOT));
    expect(issue).toContain('parameter when: the value cannot be written as a literal');
  });

  it('refuses any parameter when the notebook has no parameters cell', () => {
    expect(() => resolveParameters(notebookWith(undefined, ['1']), collectOverrides({ params: ['n=1'] }), ROOT))
      .toThrow("the notebook has no cell tagged 'parameters'");
  });

  it('resolves types imported by the parameters cell from the project', () => {
    const imported = notebookWith("import type { MetricUnit } from './src/lib/monitors/definitions';\nconst unit: MetricUnit = 'percent';");
    expect(resolveParameters(imported, collectOverrides({ params: ['unit=count'] }), ROOT).values).toEqual({ unit: 'count' });
    const issues = issuesOf(() => resolveParameters(imported, collectOverrides({ params: ['unit=meters'] }), ROOT));
    expect(issues[0]).toMatch(/^parameter unit: expected MetricUnit \('percent' \| 'fraction' \| 'count'\), got string "meters"/);
  });
});

describe('parameter sources', () => {
  it('applies files, then YAML strings, then raw strings, then -p', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-params-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'a: 1\nb: 1\nc: 1\nd: 1\n');
    const o = collectOverrides({ files: [file], yamls: ['b: 2\nc: 2\nd: 2'], raw: ['c=3', 'd=3'], params: ['d=4'] });
    expect(o.values).toEqual({ a: 1, b: 2, c: '3' });
    expect(o.texts).toEqual({ d: '4' });
  });

  it('reads YAML with the core schema (no dates) and requires a mapping', () => {
    expect(parseParametersYaml('when: 2024-01-01\nn: 7\nflag: true\nnothing: null', 'x')).toEqual({ when: '2024-01-01', n: 7, flag: true, nothing: null });
    expect(parseParametersYaml('', 'x')).toEqual({});
    expect(parseParametersYaml('# nothing here\n', 'x')).toEqual({});
    expect(() => parseParametersYaml('- 1\n- 2', 'p.yaml')).toThrow('p.yaml: expected a mapping of parameter names to values, got a list');
    expect(() => parseParametersYaml('a: [1', 'p.yaml')).toThrow(/^p\.yaml: invalid YAML/);
  });

  it('names the file that cannot be read', () => {
    expect(() => collectOverrides({ files: ['/nonexistent/params.yaml'] })).toThrow('/nonexistent/params.yaml: cannot read the parameters file (ENOENT)');
  });

  it('splits name=value at the first = and rejects bad names', () => {
    expect(parseAssignment('url=http://x/?a=b')).toEqual(['url', 'http://x/?a=b']);
    expect(parseAssignment('empty=')).toEqual(['empty', '']);
    expect(() => parseAssignment('novalue')).toThrow(ParameterError);
    expect(() => parseAssignment('1abc=2')).toThrow('expected name=value');
  });
});

describe('injected parameters cell', () => {
  const nb = notebookWith(PARAMS, ['console.log(mode)']);
  const { parameters, values } = resolveParameters(nb, collectOverrides({ params: ['mode=prod', 'n=3', 'apiKey=real-key-value', 'label=007'] }), ROOT);

  it('re-declares each override with its declared type (so Mode stays Mode)', () => {
    const src = renderInjectedSource(parameters, values, false);
    expect(src.split('\n')).toEqual([
      '// Parameters injected by runbook',
      'const mode: Mode = "prod";',
      'const n: number = 3;',
      'const label: string = "007";',
      'const apiKey: string = "real-key-value"; // @secret',
    ]);
  });

  it('writes *** for secrets in the saved version only', () => {
    const saved = renderInjectedSource(parameters, values, true);
    expect(saved).toContain('const apiKey: string = "***"; // @secret');
    expect(saved).not.toContain('real-key-value');
  });

  it('goes right after the parameters cell and replaces an earlier injected cell', () => {
    const copy = structuredClone(nb);
    const at = injectParametersCell(copy, 'first');
    expect(at).toBe(1);
    copy.cells.push(structuredClone(copy.cells[1]));
    const again = injectParametersCell(copy, 'second');
    expect(again).toBe(1);
    const injected = copy.cells.filter((c) => c.metadata.tags?.includes('injected-parameters'));
    expect(injected.map((c) => sourceText(c.source))).toEqual(['second']);
    expect(copy.cells.map((c) => c.id)).toEqual(['p', 'injected-parameters', 'c0']);
  });
});

describe('literals', () => {
  it('round-trips every JSON-like value through TypeScript literal syntax', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const back = new Function(`return (${toLiteral(value)});`)();
        expect(back).toEqual(value);
        expect(isLiteralValue(value)).toBe(true);
      }),
    );
  });

  it('keeps a "__proto__" key an own property', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const back = new Function(`return (${toLiteral(value)});`)();
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('writes non-finite numbers and undefined as identifiers', () => {
    expect(toLiteral([NaN, Infinity, -Infinity, undefined, -0])).toBe('[NaN, Infinity, -Infinity, undefined, -0]');
  });

  it('rejects functions, dates, class instances and bigints', () => {
    for (const v of [() => 1, new Date(), new Map(), 1n, { nested: [new Date()] }]) expect(isLiteralValue(v)).toBe(false);
  });
});
