import { z } from 'zod';
import type { Batch, ExecState } from '../../../lib/contracts/wmla-training';

/** What the workers run: `python <script> <args…>` or a user command, in `cwd` (relative to the exec folder). */
export const ExecEntry = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('script'), script: z.string(), args: z.array(z.string()) }),
  z.object({ kind: z.literal('command'), argv: z.array(z.string()).min(1) }),
]);
export type ExecEntry = z.infer<typeof ExecEntry>;

export const TerminalState = z.enum(['FINISHED', 'KILLED', 'ERROR']);

/**
 * The durable record of one exec. The state is derived from the timestamps on read
 * ({@link execState}), so a restart needs no timer for the SUBMITTED → PENDING step; only the launch
 * of the workers is re-armed. `args` is stored redacted (`--msd-env` values); the values themselves
 * live in a 0600 file of the exec folder until the workers start.
 */
export const ExecDoc = z.object({
  id: z.string(),
  seq: z.number().int().positive(),
  userName: z.string(),
  args: z.string(),
  framework: z.string(),
  numWorker: z.number().int().positive(),
  appName: z.string(),
  submissionId: z.string(),
  createdAt: z.number(),
  /** SUBMITTED until then, PENDING_CRD_SCHEDULER after. */
  pendingAt: z.number(),
  /** When the workers are due to start. */
  launchAt: z.number(),
  cwd: z.string(),
  entry: ExecEntry,
  dataPath: z.string().optional(),
  /** Set once the workers were started: RUNNING from then on. */
  startedAt: z.number().optional(),
  workers: z.array(z.object({ rank: z.number().int(), pid: z.number().int().optional(), startTicks: z.string().optional() })).default(() => []),
  /** The final state; shown from `at` on (a short exec stays RUNNING for minRunningMs). */
  end: z.object({ state: TerminalState, at: z.number(), reason: z.string(), exitCodes: z.array(z.number().int().nullable()).optional() }).optional(),
});
export type ExecDoc = z.infer<typeof ExecDoc>;

/** The exec's state at `now`: SUBMITTED → PENDING_CRD_SCHEDULER → RUNNING → FINISHED | KILLED | ERROR. */
export function execState(doc: ExecDoc, now = Date.now()): ExecState {
  if (doc.end && now >= doc.end.at) return doc.end.state;
  if (doc.end || doc.startedAt !== undefined) return 'RUNNING';
  if (now >= doc.pendingAt) return 'PENDING_CRD_SCHEDULER';
  return 'SUBMITTED';
}

/** `YYYY-MM-DDTHH:MM:SSZ`, as WMLA writes `createTime`. */
export function wmlaTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The wire form (`Batch`). */
export function batchView(doc: ExecDoc, now = Date.now()): Batch {
  return {
    id: doc.id,
    appId: doc.id,
    submissionId: doc.submissionId,
    state: execState(doc, now),
    args: doc.args,
    userName: doc.userName,
    executionUserName: doc.userName,
    creator: doc.userName,
    framework: doc.framework,
    numWorker: doc.numWorker,
    createTime: wmlaTime(doc.createdAt),
    elastic: false,
    appName: doc.appName,
  };
}

export const SequenceDoc = z.object({ next: z.number().int().positive() });
