import { ExitCode } from '../cli/exit-codes';
import { RunbookError } from '../lib/errors';

/** How a run ended. Each failure kind has its own exit code (see EXIT_CODE_BY_STATUS). */
export type RunStatus =
  | 'ok'
  | 'cell-error'
  | 'kernel-died'
  | 'timeout'
  | 'bad-parameters'
  | 'notebook-invalid'
  | 'interrupted'
  | 'terminated'
  /** A bug or an environment problem (e.g. the output path cannot be written). */
  | 'internal';

/** The process exit code of `runbook run` for each way a run can end. */
export const EXIT_CODE_BY_STATUS: Record<RunStatus, ExitCode> = {
  ok: ExitCode.ok,
  'cell-error': ExitCode.cellError,
  'kernel-died': ExitCode.kernelDied,
  timeout: ExitCode.timeout,
  'bad-parameters': ExitCode.badParameters,
  'notebook-invalid': ExitCode.notebookInvalid,
  interrupted: ExitCode.interrupted,
  terminated: ExitCode.terminated,
  internal: ExitCode.internal,
};

/** What happened to one cell. */
export type CellStatus =
  | 'ok'
  /** The cell failed (error reply, or tslab reported an unhandled rejection/uncaught exception during it). */
  | 'error'
  | 'timeout'
  /** The kernel process ended while the cell ran. */
  | 'died'
  /** Markdown/raw cells, empty code cells and cells tagged `skip-execution`. */
  | 'skipped'
  /** The run stopped before reaching it. */
  | 'not-run';

/** One cell of a run: its status, timings and error, if any. */
export interface CellResult {
  /** Index in the saved notebook's cells (before the error banner is inserted). */
  index: number;
  id: string;
  cellType: 'code' | 'markdown' | 'raw';
  status: CellStatus;
  executionCount: number | null;
  startTime?: string;
  endTime?: string;
  durationMs?: number;
  /** Kernel-side time between the busy and idle status (kernel clock), when known. */
  kernelMs?: number;
  /** The cell is tagged `raises-exception` and failed as expected. */
  expectedError?: boolean;
  error?: { ename: string; evalue: string };
}

/** Why a run did not succeed, with the cell where it stopped when there is one. */
export interface RunFailure {
  kind: Exclude<RunStatus, 'ok'>;
  /** One line, redacted. */
  message: string;
  cellIndex?: number;
  cellId?: string;
  /** For bad parameters: each problem, naming the parameter. */
  issues?: { path: string; message: string }[];
}

/** How a notebook run went, cell by cell (what `runbook run --json` prints and the ledger line is made from). */
export interface RunResult {
  runId: string;
  status: RunStatus;
  exitCode: ExitCode;
  failure?: RunFailure;
  inputPath: string;
  /** The saved notebook, or undefined when the run stopped before anything was written (bad input or parameters). */
  outputPath?: string;
  /** Parameter overrides as applied (secrets replaced by ***). */
  parameters: Record<string, unknown>;
  startTime: string;
  endTime: string;
  durationMs: number;
  kernelStartMs?: number;
  kernelPid?: number;
  cells: CellResult[];
}

/** Thrown by runNotebook({ throwOnFailure: true }) when a run does not succeed. */
export class RunFailedError extends RunbookError {
  constructor(readonly result: RunResult) {
    super('internal', `notebook run ${result.runId} (${result.inputPath}) ended with ${result.status}: ${result.failure?.message ?? ''}`);
  }
}
