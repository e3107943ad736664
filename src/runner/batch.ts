import { basename, join, resolve } from 'node:path';
import { RunbookError } from '../lib/errors';
import type { RunResult } from './result';
import { runNotebook, type RunOptions } from './run';

/** Options of {@link runNotebooks}: those of a single run, except the paths and run id, which are set per notebook. */
export interface BatchOptions extends Omit<RunOptions, 'input' | 'output' | 'runId'> {
  /** How many notebooks run at once, each on its own kernel (a kernel needs ~300 MB). Default 1. */
  jobs?: number;
  /** Every executed notebook is written here under its own file name. */
  outDir: string;
}

/**
 * Runs several notebooks, at most `jobs` at a time, each in its own kernel. Results come back in
 * input order; a failing notebook does not stop the others (an abort `signal` does).
 */
export async function runNotebooks(inputs: readonly string[], options: BatchOptions): Promise<RunResult[]> {
  const outputs = inputs.map((i) => join(resolve(options.outDir), basename(i)));
  const seen = new Map<string, string>();
  outputs.forEach((o, k) => {
    const other = seen.get(o);
    if (other) throw new RunbookError('usage', `${other} and ${inputs[k]} would both be written to ${o}: give them different file names`);
    seen.set(o, inputs[k]);
  });
  const jobs = Math.max(1, Math.floor(options.jobs ?? 1));
  const results: RunResult[] = new Array(inputs.length);
  let next = 0;
  const worker = async () => {
    while (next < inputs.length) {
      const k = next++;
      const { jobs: _jobs, outDir: _outDir, ...common } = options;
      results[k] = await runNotebook({ ...common, input: inputs[k], output: outputs[k] });
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, inputs.length) }, worker));
  return results;
}
