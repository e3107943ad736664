import { describe, expect, it } from '@jest/globals';
import { join } from 'node:path';

/**
 * The OpenScale wire schemas are shared with the TS client, which notebooks load through tslab's own
 * TypeScript 5.0 (non-strict, node10 resolution): they must compile there without diagnostics.
 */
describe("OpenScale contracts under tslab's compiler", () => {
  it('compiles src/lib/contracts/openscale.ts without diagnostics', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ts = require('@tslab/typescript-for-tslab') as typeof import('typescript');
    const root = join(__dirname, '..', '..');
    const program = ts.createProgram([join(root, 'src', 'lib', 'contracts', 'openscale.ts')], {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Node10,
      esModuleInterop: true,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts'],
      declaration: true,
      skipLibCheck: true,
      rootDir: root,
      noEmit: true,
      types: ['node'],
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
    expect(ts.version).toMatch(/^5\.0\./);
    expect(diagnostics).toEqual([]);
  });
});
