/**
 * The headless notebook runner: runs a TypeScript notebook on a fresh tslab kernel (ZeroMQ, no
 * Python), with typed papermill-style parameters, and writes the executed notebook.
 * Used by `runbook run` and by notebooks that run other notebooks:
 *
 *   import { runNotebook } from './src/runner';
 *   const r = await runNotebook({ input: 'notebooks/A2.ipynb', output: 'out/A2.ipynb', parameters: { n: 3 } });
 *   if (r.status !== 'ok') throw new Error(r.failure?.message);
 */
export { runNotebook, newRunId, defaultOutputPath, type RunOptions, type RunTimeouts, type ParameterSources } from './run';
export { runNotebooks, type BatchOptions } from './batch';
export type { RunEvent, RunEventListener } from './events';
export { EXIT_CODE_BY_STATUS, RunFailedError, type RunResult, type RunStatus, type RunFailure, type CellResult, type CellStatus } from './result';
export { appendLedger, readLedger, defaultLedgerPath, LedgerEntrySchema, type LedgerEntry } from './ledger';
export { readNotebook, parseNotebook, NotebookInvalidError, type Notebook, type Cell, type Output } from './notebook';
export { inspectParameters, collectOverrides, ParameterError, type TypedParameter } from './parameters/index';
export { projectRoot } from './paths';
