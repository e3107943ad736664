import type { CellStatus, RunResult } from './result';

/**
 * What a run reports while it goes. The runner prints nothing itself: the CLI renders progress
 * and live output from these events. Every text in an event is already redacted.
 */
export type RunEvent =
  | { type: 'run-start'; runId: string; input: string; output: string; codeCells: number; parameters: Record<string, unknown> }
  | { type: 'kernel-spawned'; runId: string; pid: number }
  | { type: 'kernel-ready'; runId: string; ms: number }
  /** Output the kernel process wrote outside of any cell (startup errors, warnings). */
  | { type: 'kernel-output'; runId: string; text: string }
  | { type: 'cell-start'; runId: string; index: number; ordinal: number; total: number; id: string; firstLine: string }
  /** Live cell output, whole lines (only with `logOutput`). */
  | { type: 'cell-output'; runId: string; index: number; stream: 'stdout' | 'stderr'; text: string }
  /** A rich output (only with `logOutput`): its mime types and a text/plain rendering if any. */
  | { type: 'cell-display'; runId: string; index: number; mimeTypes: string[]; text?: string }
  | {
      type: 'cell-end';
      runId: string;
      index: number;
      ordinal: number;
      total: number;
      status: CellStatus;
      durationMs: number;
      expectedError?: boolean;
      error?: { ename: string; evalue: string };
    }
  | { type: 'saved'; runId: string; path: string }
  | { type: 'run-end'; runId: string; result: RunResult };

/** Receives a run's events synchronously, in order; it should return quickly (the run waits for it), and what it throws is ignored. */
export type RunEventListener = (event: RunEvent) => void;
