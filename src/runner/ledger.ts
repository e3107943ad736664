import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { projectRoot } from './paths';

/** One line of the run ledger (`runs/ledger.jsonl`): what ran, with which (redacted) parameters, and how it ended. */
export const LedgerEntrySchema = z.object({
  run_id: z.string(),
  notebook: z.string(),
  input_sha256: z.string().nullable(),
  parameters: z.record(z.string(), z.unknown()),
  start: z.string(),
  end: z.string(),
  duration_s: z.number(),
  status: z.string(),
  exit_code: z.number().int(),
  output: z.string().nullable(),
  failure: z.string().optional(),
  parent_run_id: z.string().optional(),
});
/** One parsed line of the run ledger (see {@link LedgerEntrySchema}). */
export type LedgerEntry = z.infer<typeof LedgerEntrySchema>;

/** `$RUNBOOK_LEDGER`, else `<project root>/runs/ledger.jsonl`. */
export function defaultLedgerPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.RUNBOOK_LEDGER || join(projectRoot(), 'runs', 'ledger.jsonl');
}

/**
 * Appends one entry as a single write on an O_APPEND descriptor, so lines of runs that finish at
 * the same time (parallel runs, other processes) never interleave.
 */
export function appendLedger(path: string, entry: LedgerEntry): void {
  const line = Buffer.from(JSON.stringify(LedgerEntrySchema.parse(entry)) + '\n', 'utf8');
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a', 0o644);
  try {
    const written = writeSync(fd, line);
    if (written !== line.length) throw new Error(`${path}: short write to the run ledger (${written} of ${line.length} bytes)`);
  } finally {
    closeSync(fd);
  }
}

/** The ledger's entries, oldest first; the last `limit` if given. Lines that do not parse are skipped. */
export function readLedger(path: string, limit?: number): LedgerEntry[] {
  if (!existsSync(path)) return [];
  const entries: LedgerEntry[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = LedgerEntrySchema.safeParse(JSON.parse(line));
      if (parsed.success) entries.push(parsed.data);
    } catch {
      // a damaged line (e.g. a disk that filled up) must not hide the others
    }
  }
  return limit === undefined ? entries : entries.slice(Math.max(0, entries.length - limit));
}
