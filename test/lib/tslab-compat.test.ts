import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';

/**
 * Notebooks import src/lib/*.ts directly and tslab compiles them with its own TypeScript 5.0,
 * non-strict, node10 resolution. This compiles the library-core modules the same way and expects no
 * diagnostics (zod types, for one, infer differently without strict mode).
 */
describe('library-core under tslab\'s compiler', () => {
  it('compiles config, http, metadata and thresholds without diagnostics', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ts = require('@tslab/typescript-for-tslab') as typeof import('typescript');
    const root = join(__dirname, '..', '..');
    const files = ['config', 'http', 'metadata', 'thresholds'].map((m) => join(root, 'src', 'lib', m, 'index.ts'));
    const program = ts.createProgram(files, {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      declaration: true,
      experimentalDecorators: true,
      resolveJsonModule: true,
      allowJs: true,
      checkJs: true,
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
