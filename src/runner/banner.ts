import { hasTag, type Cell, type MarkdownCell, type Notebook } from './notebook';

/** Tags (and ids) of the two markdown cells a failed run adds; a re-run removes them first. */
export const BANNER_TAG = 'runbook-error-banner';
export const ANCHOR_TAG = 'runbook-error-cell';
/** papermill's marker tag, removed too when a papermill output notebook is run again. */
const PAPERMILL_MARKER_TAG = 'papermill-error-cell-tag';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function markdown(id: string, tag: string, source: string): MarkdownCell {
  return { id, cell_type: 'markdown', source, metadata: { tags: [tag] } };
}

/** Removes banner and anchor cells of earlier runs. */
export function removeErrorMarkers(notebook: Notebook): void {
  notebook.cells = notebook.cells.filter((c: Cell) => !hasTag(c, BANNER_TAG) && !hasTag(c, ANCHOR_TAG) && !hasTag(c, PAPERMILL_MARKER_TAG));
}

export interface FailureMark {
  /** One line: what went wrong (already redacted). */
  summary: string;
  /** The failing cell's index in `notebook.cells`, if a cell failed. */
  cellIndex?: number;
  executionCount?: number | null;
}

/**
 * Adds a red banner at the top and, when a cell failed, an anchor right before that cell which
 * the banner links to (papermill's error notebook layout).
 */
export function addErrorMarkers(notebook: Notebook, mark: FailureMark): void {
  const failing = mark.cellIndex !== undefined ? notebook.cells[mark.cellIndex] : undefined;
  removeErrorMarkers(notebook);
  const banner = markdown(BANNER_TAG, BANNER_TAG, '');
  notebook.cells.unshift(banner);
  let where = '';
  const at = failing ? notebook.cells.indexOf(failing) : -1;
  if (at >= 0) {
    notebook.cells.splice(at, 0, markdown(ANCHOR_TAG, ANCHOR_TAG, `<span id="${ANCHOR_TAG}"></span>`));
    const prompt = mark.executionCount != null ? ` (In [${mark.executionCount}])` : '';
    // 1-based position of the failing cell in the saved notebook (after the banner and the anchor).
    where = ` in <a href="#${ANCHOR_TAG}">cell ${at + 2}${prompt}</a>`;
  }
  banner.source =
    `<span style="color:red; font-size:1.5em">An exception was raised${where}:</span>\n\n` +
    `<span style="color:red">${escapeHtml(mark.summary)}</span>`;
}
