/**
 * How A_MLOps_Pipeline reports the pipeline notebooks it runs through the runner (src/runner):
 * their live output prefixed with the notebook's name, one outcome line per run, and an error when
 * one failed. The shapes below are the parts of the runner's events and results used here (the
 * library does not depend on the runner).
 */
import { RunbookError } from '../errors';
import { CHECKPOINT_MARK } from './report';

/** The parts of a runner event shown in the parent's output. */
export interface ChildEvent {
  readonly type: string;
  readonly stream?: 'stdout' | 'stderr';
  readonly text?: string;
  readonly mimeTypes?: readonly string[];
  readonly ordinal?: number;
  readonly total?: number;
  readonly status?: string;
  readonly durationMs?: number;
}

/** The parts of a runner result reported here. */
export interface ChildResult {
  readonly status: string;
  readonly exitCode: number;
  readonly outputPath?: string;
  readonly durationMs?: number;
  readonly failure?: { readonly message: string; readonly cell?: unknown };
}

/**
 * An event listener that passes a child's output lines on (`  A2 │ …`), so the parent's cell shows
 * what the child does while it runs; failed cells are reported too. Checkpoint lines keep their
 * mark at the start of the text after the prefix.
 */
export function childOutputPrinter(notebook: string, emit: (line: string) => void, opts: { label?: string } = {}): (e: ChildEvent) => void {
  const label = opts.label ?? notebook.split('_')[0]!;
  return (e) => {
    if (e.type === 'cell-output' && typeof e.text === 'string') {
      for (const line of e.text.replace(/\n$/, '').split('\n')) emit(`  ${label} │ ${line}`);
    } else if (e.type === 'cell-display' && e.mimeTypes) {
      emit(`  ${label} │ [display: ${e.mimeTypes.join(', ')}]`);
    } else if (e.type === 'cell-end' && e.status && e.status !== 'ok' && e.status !== 'skipped') {
      emit(`  ${label} │ cell ${e.ordinal}/${e.total} ${e.status}`);
    }
  };
}

/** `✔ A.4 A2_WMLA_Model_Deploy ok in 42.1 s → out/…/A2_WMLA_Model_Deploy.ipynb` (✖ when it failed). */
export function childRunLine(notebook: string, r: ChildResult): string {
  const ok = r.status === 'ok';
  const secs = r.durationMs !== undefined ? ` in ${(r.durationMs / 1000).toFixed(1)} s` : '';
  return `${ok ? CHECKPOINT_MARK : '✖'} A.4 ${notebook} ${r.status}${secs} → ${r.outputPath ?? '(no executed copy)'}${ok ? '' : ` (exit ${r.exitCode}): ${r.failure?.message ?? 'no details'}`}`;
}

/** Throws a RunbookError naming the child, its failure and its executed copy when it did not succeed. */
export function assertChildSucceeded(notebook: string, r: ChildResult): void {
  if (r.status === 'ok') return;
  throw new RunbookError(
    'remote',
    `${notebook} failed (${r.status}, exit ${r.exitCode}): ${r.failure?.message ?? 'no details'}. ${r.outputPath ? `The executed notebook, with the failing cell marked, is ${r.outputPath}` : 'No executed copy was written.'}`,
  );
}
