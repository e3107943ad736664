import { expect } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNotebook, type RunEvent, type RunOptions, type RunResult } from '../../src/runner';
import { projectRoot } from '../../src/runner/paths';
import { isAlive, processesOfRun, readJson, sourceOf, validateNotebook } from './helpers';

export const EXAMPLES = join(projectRoot(), 'notebooks', 'examples');

/** A temp work dir and ledger per test file, and `run()` that runs a notebook into it and reads the result. */
export function harness(prefix: string) {
  const work = mkdtempSync(join(tmpdir(), prefix));
  const ledger = join(work, 'ledger.jsonl');
  async function run(input: string, extra: Partial<RunOptions> = {}): Promise<{ result: RunResult; events: RunEvent[]; nb: any }> {
    const events: RunEvent[] = [];
    const output = join(work, 'out', `${Math.random().toString(36).slice(2)}.ipynb`);
    const result = await runNotebook({ input, output, ledger, onEvent: (e) => events.push(e), ...extra });
    const nb = result.outputPath ? readJson(result.outputPath) : undefined;
    return { result, events, nb };
  }
  return { work, ledger, run };
}

/** The code cell whose source contains `marker`. */
export function cell(nb: any, marker: string): any {
  const found = nb.cells.find((c: any) => c.cell_type === 'code' && sourceOf(c).includes(marker));
  if (!found) throw new Error(`no cell containing ${marker}`);
  return found;
}

/** Every run must leave no kernel behind: neither its recorded pid nor any process carrying its run id. */
export function expectNoKernelLeft(result: RunResult): void {
  if (result.kernelPid !== undefined) expect(isAlive(result.kernelPid)).toBe(false);
  expect(processesOfRun(result.runId)).toEqual([]);
}

/** A saved partial notebook: valid, with the banner on top linking to an anchor just before `failing`. */
export function expectBanner(nb: any, failingMarker: string): void {
  expect(validateNotebook(nb)).toEqual([]);
  expect(nb.cells[0].id).toBe('runbook-error-banner');
  expect(sourceOf(nb.cells[0])).toMatch(/color:red.*An exception was raised in <a href="#runbook-error-cell">cell \d+/s);
  const failing = nb.cells.indexOf(cell(nb, failingMarker));
  expect(nb.cells[failing - 1].id).toBe('runbook-error-cell');
  expect(sourceOf(nb.cells[failing - 1])).toBe('<span id="runbook-error-cell"></span>');
}
