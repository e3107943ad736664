/**
 * The committed notebooks, checked without running them: form (valid nbformat 4.5, no outputs),
 * parameters (typed, commented, no secrets), and the TypeScript that tslab would only reject at run
 * time (folder imports, shorthand properties of earlier cells' variables). What they import is
 * compiled under tslab's TypeScript 5.0 in tslab-compat.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isCredentialName } from '../../src/lib/redact';
import { parseNotebook } from '../../src/runner/notebook';
import { inspectParameters } from '../../src/runner/parameters/index';
import { validateNotebook } from '../runner/helpers';
import { codeCells, localImports, shorthandsOfEarlierCells } from './notebook-source';

const ROOT = resolve(__dirname, '..', '..');
const DIR = join(ROOT, 'notebooks');
const NOTEBOOKS = readdirSync(DIR).filter((f) => f.endsWith('.ipynb')).sort();
const read = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8'));

describe('the runbook notebooks', () => {
  it('are the runbook\'s set', () => {
    expect(NOTEBOOKS).toEqual([
      'A1_Submit_WMLA_Training.ipynb',
      'A2_WMLA_Model_Deploy.ipynb',
      'A3_OpenScale_Configuration.ipynb',
      'A4_Monitor_Status.ipynb',
      'A_MLOps_Pipeline.ipynb',
      'B1_Custom_Monitor_Dev_and_Test.ipynb',
      'B2_OpenScale_Custom_Monitor_Deployment.ipynb',
      'C1_OpenScale_Dummy_ML_Provider.ipynb',
    ]);
  });

  it.each(NOTEBOOKS)('%s is valid nbformat 4.5 on the project kernel, committed without outputs', (f) => {
    const nb = read(f);
    expect(validateNotebook(nb)).toEqual([]);
    expect(nb.metadata.kernelspec.name).toBe('tslab');
    for (const c of nb.cells.filter((x: { cell_type: string }) => x.cell_type === 'code')) {
      expect(c.outputs).toEqual([]);
      expect(c.execution_count).toBeNull();
    }
    expect(nb.cells[0].cell_type).toBe('markdown');
  });

  it.each(NOTEBOOKS)('%s starts with a parameters cell of typed, commented, non-secret parameters', (f) => {
    const nb = parseNotebook(readFileSync(join(DIR, f), 'utf8'), f);
    const first = nb.cells.find((c) => c.cell_type === 'code')!;
    expect(first.metadata.tags).toContain('parameters');
    const params = inspectParameters(nb, ROOT);
    expect(params.length).toBeGreaterThan(0);
    for (const p of params) {
      expect({ name: p.name, annotated: Boolean(p.annotation), commented: Boolean(p.comment && p.comment.length > 10), secret: p.secret }).toEqual({ name: p.name, annotated: true, commented: true, secret: false });
      expect(isCredentialName(p.name)).toBe(false);
    }
    if (f !== 'B1_Custom_Monitor_Dev_and_Test.ipynb' && f !== 'A4_Monitor_Status.ipynb') expect(params.map((p) => p.name)).toContain('plan');
    if (f !== 'B1_Custom_Monitor_Dev_and_Test.ipynb') expect(params.map((p) => p.name)).toContain('profile'); // B1 works on local folders only
  });

  it.each(NOTEBOOKS)('%s names no earlier cell\'s variable in a shorthand property (tslab cannot run that)', (f) => {
    expect(shorthandsOfEarlierCells(codeCells(read(f)))).toEqual([]);
  });

  it.each(NOTEBOOKS)('%s imports project files, not folders', (f) => {
    for (const spec of codeCells(read(f)).flatMap(localImports)) {
      const base = join(ROOT, spec);
      const isFile = existsSync(`${base}.ts`) || (existsSync(base) && statSync(base).isFile());
      expect({ spec, isFile }).toEqual({ spec, isFile: true });
    }
  });
});
