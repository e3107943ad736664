import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';

/**
 * Notebooks import src/lib/*.ts (and the provider launcher) directly; tslab compiles them with its
 * own TypeScript 5.0, non-strict, node10 resolution. Compile this helper's modules the same way.
 */
describe("OpenScale, volumes and provider modules under tslab's compiler", () => {
  it('compile without diagnostics', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ts = require('@tslab/typescript-for-tslab') as typeof import('typescript');
    const root = join(__dirname, '..', '..');
    const files = [
      ...['openscale', 'volumes', 'provider'].map((m) => join(root, 'src', 'lib', m, 'index.ts')),
      join(root, 'src', 'provider', 'launcher.ts'),
    ];
    const program = ts.createProgram(files, {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      declaration: true,
      experimentalDecorators: true,
      resolveJsonModule: true,
      skipLibCheck: true,
      rootDir: root,
      noEmit: true,
      types: ['node'],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
    expect(ts.version).toMatch(/^5\.0\./);
    expect(diagnostics).toEqual([]);
  });
});
