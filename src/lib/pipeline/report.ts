/**
 * What the pipeline notebooks print: "what you should see" checkpoints (one line per finished step,
 * the same form in every notebook so a test or a person can find them) and plain-text tables.
 */
import type { Plan } from '../plan';

/** The mark that starts every checkpoint line. */
export const CHECKPOINT_MARK = '✔';

/**
 * A checkpoint line: `✔ A.2 assets staged: model deepliif.zip (unchanged)`. `step` is the notebook's
 * step number as its headings show it; in plan mode say what would happen in `text`.
 */
export function checkpoint(step: string, text: string): string {
  return `${CHECKPOINT_MARK} ${step} ${text}`;
}

/** The checkpoint lines of a text (e.g. a saved notebook's outputs), with their step ids. */
export function findCheckpoints(text: string): { step: string; text: string }[] {
  const out: { step: string; text: string }[] = [];
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${CHECKPOINT_MARK} (\\S+) (.*)$`).exec(line.trim());
    if (m) out.push({ step: m[1]!, text: m[2]! });
  }
  return out;
}

/** An aligned text table; numbers are right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly (string | number | undefined)[])[]): string {
  const cells = rows.map((r) => header.map((_, i) => formatCell(r[i])));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => r[i] === undefined || r[i] === '' || typeof r[i] === 'number'));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A number for people: integers as they are, others with at most 6 significant digits. */
export function formatNumber(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '';
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

function formatCell(v: string | number | undefined): string {
  if (v === undefined) return '';
  return typeof v === 'number' ? formatNumber(v) : v;
}

/** HTML-escapes a text. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The plan of a dry run as people read it, with a heading; `No remote changes.` when empty. */
export function planText(plan: Plan, title = 'Plan (dry run: nothing was changed)'): string {
  return `${title}:\n${plan.toText().split('\n').map((l) => `  ${l}`).join('\n')}`;
}
