/**
 * Notebooks import src/lib and src/runner .ts files directly, and tslab compiles them with its own
 * TypeScript 5.0 (@tslab/typescript-for-tslab) under fixed options: not strict, node10 resolution,
 * declarations on (see tslab/dist/converter.js). Code that `tsc` 5.9 strict accepts can still fail
 * there: syntax or library types newer than TS 5.0, types that infer differently without strict
 * mode (zod's, for one), or a folder import, which type-checks but does not load at run time.
 *
 * One program holds every module a notebook can reach (all of src/lib and src/runner, src/runner.ts,
 * and whatever else a committed notebook imports), so each file is checked once.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type ts from 'typescript';
import { codeCells, localImports } from './notebook-source';

const ROOT = resolve(__dirname, '..', '..');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The `./src/…` files the committed notebooks (examples included) import. */
function notebookImports(): string[] {
  const dirs = [join(ROOT, 'notebooks'), join(ROOT, 'notebooks', 'examples')].filter((d) => existsSync(d));
  const notebooks = dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.ipynb')).map((f) => join(d, f)));
  const specs = notebooks.flatMap((f) => codeCells(JSON.parse(readFileSync(f, 'utf8'))).flatMap(localImports));
  return specs.map((spec) => {
    const base = join(ROOT, spec);
    return existsSync(`${base}.ts`) ? `${base}.ts` : base;
  });
}

describe("src/lib and src/runner under tslab's TypeScript 5.0", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tsl = require('@tslab/typescript-for-tslab') as typeof ts;
  const roots = [
    ...new Set([...tsFiles(join(ROOT, 'src', 'lib')), ...tsFiles(join(ROOT, 'src', 'runner')), join(ROOT, 'src', 'runner.ts'), ...notebookImports()]),
  ].sort();
  // tslab's options for the files a cell imports (its converter), less the emit-only ones.
  const options: ts.CompilerOptions = {
    module: tsl.ModuleKind.ESNext,
    moduleResolution: tsl.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    target: tsl.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    declaration: true,
    experimentalDecorators: true,
    resolveJsonModule: true,
    allowJs: true,
    checkJs: true,
    skipLibCheck: true,
    rootDir: ROOT,
    noEmit: true,
    types: ['node'],
  };
  const program = tsl.createProgram(roots, options);

  it('is tslab\'s TypeScript 5.0 and covers the library, the runner and every notebook import', () => {
    expect(tsl.version).toMatch(/^5\.0\./);
    const checked = new Set(program.getSourceFiles().map((sf) => sf.fileName));
    expect(roots.filter((f) => !checked.has(f))).toEqual([]);
    const rel = roots.map((f) => relative(ROOT, f));
    expect(rel).toEqual(expect.arrayContaining(['src/runner.ts', 'src/lib/errors.ts', 'src/lib/contracts/openscale.ts', 'src/lib/wmla/deploy-flow.ts', 'src/runner/run.ts', 'src/provider/launcher.ts']));
  });

  it('compiles without diagnostics', () => {
    const diagnostics = tsl.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${relative(ROOT, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      return `${where} ${tsl.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(diagnostics).toEqual([]);
  });

  it('imports files, not folders, wherever a value is imported (tslab loads `./x` as a file, never `./x/index.ts`)', () => {
    const folderImports: string[] = [];
    for (const sf of program.getSourceFiles()) {
      if (!sf.fileName.startsWith(join(ROOT, 'src')) || sf.fileName.endsWith('.d.ts')) continue;
      for (const st of sf.statements) {
        if (!tsl.isImportDeclaration(st) && !tsl.isExportDeclaration(st)) continue;
        if (!st.moduleSpecifier || !tsl.isStringLiteral(st.moduleSpecifier)) continue;
        // Type-only imports are erased, so they may name a folder.
        const typeOnly = tsl.isImportDeclaration(st) ? Boolean(st.importClause?.isTypeOnly) : st.isTypeOnly;
        const spec = st.moduleSpecifier.text;
        if (typeOnly || !spec.startsWith('.')) continue;
        const target = join(dirname(sf.fileName), spec);
        if (!existsSync(`${target}.ts`) && existsSync(join(target, 'index.ts'))) folderImports.push(`${relative(ROOT, sf.fileName)}: '${spec}'`);
      }
    }
    expect(folderImports).toEqual([]);
  });
});
