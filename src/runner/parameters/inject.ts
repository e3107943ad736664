import { REDACTED } from '../../lib/redact';
import { hasTag, type CodeCell, type Notebook } from '../notebook';
import type { TypedParameter } from './check';
import { toLiteral } from './literal';

export const PARAMETERS_TAG = 'parameters';
export const INJECTED_TAG = 'injected-parameters';
export const INJECTED_CELL_ID = 'injected-parameters';

/** Index of the first code cell tagged `parameters`, or -1. */
export function findParametersCell(notebook: Notebook): number {
  return notebook.cells.findIndex((c) => c.cell_type === 'code' && hasTag(c, PARAMETERS_TAG));
}

function fallbackType(value: unknown): string | undefined {
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean' ? t : undefined;
}

/**
 * The injected cell's code: each overridden parameter re-declared with its declared type, so a
 * `const mode: Mode = "prod"` keeps the type `Mode` (a bare re-declaration would narrow it to the
 * literal "prod" and break later comparisons such as `mode === 'dev'`).
 * With `redactSecrets`, secret values are written as "***" (the saved notebook); the kernel gets
 * the real values.
 */
export function renderInjectedSource(
  parameters: readonly TypedParameter[],
  values: Record<string, unknown>,
  redactSecrets: boolean,
): string {
  const lines = ['// Parameters injected by runbook'];
  for (const p of parameters) {
    if (!(p.name in values)) continue;
    const value = redactSecrets && p.secret ? REDACTED : values[p.name];
    const type = p.type === 'any' ? fallbackType(values[p.name]) : p.type;
    const annotation = type ? `: ${type}` : '';
    // No `export`: tslab cannot compile exported declarations in cells anyway.
    lines.push(`${p.keyword} ${p.name}${annotation} = ${toLiteral(value)};${p.secret ? ' // @secret' : ''}`);
  }
  return lines.join('\n');
}

/**
 * Puts the injected cell right after the `parameters` cell, replacing injected cells of earlier
 * runs (papermill's placement). Returns the new cell's index.
 */
export function injectParametersCell(notebook: Notebook, source: string): number {
  notebook.cells = notebook.cells.filter((c) => !hasTag(c, INJECTED_TAG));
  const at = findParametersCell(notebook);
  const cell: CodeCell = {
    id: INJECTED_CELL_ID,
    cell_type: 'code',
    source,
    metadata: { tags: [INJECTED_TAG] },
    outputs: [],
    execution_count: null,
  };
  notebook.cells.splice(at + 1, 0, cell);
  return at + 1;
}
