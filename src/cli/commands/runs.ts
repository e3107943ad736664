import type { Command } from 'commander';
import { basename } from 'node:path';
import { defaultLedgerPath, readLedger, type LedgerEntry } from '../../runner/ledger';
import { positiveInt } from '../option-parsers';

function table(entries: LedgerEntry[]): string {
  const rows = entries.map((e) => [
    e.run_id,
    e.start.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    e.status,
    String(e.exit_code),
    `${e.duration_s.toFixed(1)} s`,
    basename(e.notebook),
    e.output ?? '-',
  ]);
  const header = ['RUN ID', 'STARTED (UTC)', 'STATUS', 'EXIT', 'TIME', 'NOTEBOOK', 'OUTPUT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [fmt(header), ...rows.map(fmt)].join('\n');
}

/** `runbook runs`: the most recent notebook runs from the run ledger. */
export function register(program: Command): void {
  program
    .command('runs')
    .description('List recent notebook runs from the run ledger (newest last).')
    .option('-n, --limit <n>', 'how many runs to show', positiveInt, 20)
    .option('--ledger <path>', 'ledger file (default: $RUNBOOK_LEDGER or runs/ledger.jsonl)')
    .option('--json', 'print the ledger entries as JSON')
    .action((opts: { limit: number; ledger?: string; json?: boolean }) => {
      const path = opts.ledger ?? defaultLedgerPath();
      const entries = readLedger(path, opts.limit);
      if (opts.json) {
        process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
      } else if (entries.length === 0) {
        process.stdout.write(`No runs recorded yet in ${path}.\n`);
      } else {
        process.stdout.write(table(entries) + '\n');
      }
    });
}
