import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ValidationError } from '../lib/errors';

/** nbformat 4.5 structures as the runner reads and writes them. */

export type MultilineString = string | string[];
export type MimeBundle = Record<string, unknown>;

export interface StreamOutput {
  output_type: 'stream';
  name: 'stdout' | 'stderr';
  text: MultilineString;
}
export interface DisplayDataOutput {
  output_type: 'display_data';
  data: MimeBundle;
  metadata: Record<string, unknown>;
}
export interface ExecuteResultOutput {
  output_type: 'execute_result';
  execution_count: number | null;
  data: MimeBundle;
  metadata: Record<string, unknown>;
}
export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
/** A code cell output, by `output_type`. */
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

export interface CellBase {
  id: string;
  source: MultilineString;
  metadata: Record<string, unknown> & { tags?: string[] };
}
export interface CodeCell extends CellBase {
  cell_type: 'code';
  outputs: Output[];
  execution_count: number | null;
}
export interface MarkdownCell extends CellBase {
  cell_type: 'markdown';
  attachments?: Record<string, MimeBundle>;
}
export interface RawCell extends CellBase {
  cell_type: 'raw';
  attachments?: Record<string, MimeBundle>;
}
/** A notebook cell, by `cell_type`. */
export type Cell = CodeCell | MarkdownCell | RawCell;

/** An nbformat 4 notebook; unknown metadata is kept as it was read. */
export interface Notebook {
  nbformat: 4;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

/** The notebook file is missing or is not an nbformat 4 notebook. */
export class NotebookInvalidError extends ValidationError {}

const multiline = z.union([z.string(), z.array(z.string())]);
const cellSchema = z.looseObject({
  id: z.string().optional(),
  cell_type: z.enum(['code', 'markdown', 'raw']),
  source: multiline,
  metadata: z.looseObject({ tags: z.array(z.string()).optional() }).optional(),
  outputs: z.array(z.looseObject({ output_type: z.string() })).optional(),
  execution_count: z.number().int().nullable().optional(),
  attachments: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
});
const notebookSchema = z.looseObject({
  nbformat: z.literal(4, { message: 'only nbformat 4 notebooks are supported' }),
  nbformat_minor: z.number().int().min(0),
  metadata: z.record(z.string(), z.unknown()),
  cells: z.array(cellSchema),
});

const CELL_ID = /^[a-zA-Z0-9-_]{1,64}$/;

/** The text of a cell's source (nbformat allows a string or a list of lines). */
export function sourceText(source: MultilineString): string {
  return Array.isArray(source) ? source.join('') : source;
}

export function cellTags(cell: Cell): string[] {
  return Array.isArray(cell.metadata.tags) ? cell.metadata.tags : [];
}

export function hasTag(cell: Cell, tag: string): boolean {
  return cellTags(cell).includes(tag);
}

/**
 * Parses notebook JSON. Cells get exactly the nbformat 4.5 keys (ids added where missing, stable:
 * derived from position and source), code cells get outputs and execution_count.
 */
export function parseNotebook(text: string, origin: string): Notebook {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new NotebookInvalidError(`${origin}: not a notebook (invalid JSON: ${(err as Error).message})`);
  }
  const parsed = notebookSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message }));
    const first = issues[0];
    throw new NotebookInvalidError(`${origin}: not a valid nbformat 4 notebook: ${first.path}: ${first.message}`, issues);
  }
  const nb = parsed.data;
  const cells: Cell[] = nb.cells.map((c) => {
    const base = { id: c.id ?? '', source: c.source, metadata: { ...(c.metadata ?? {}) } };
    if (c.cell_type === 'code') {
      return { ...base, cell_type: 'code', outputs: (c.outputs ?? []) as unknown as Output[], execution_count: c.execution_count ?? null };
    }
    const cell: MarkdownCell | RawCell = { ...base, cell_type: c.cell_type };
    if (c.attachments) cell.attachments = c.attachments as Record<string, MimeBundle>;
    return cell;
  });
  const notebook: Notebook = {
    nbformat: 4,
    nbformat_minor: Math.max(5, nb.nbformat_minor),
    metadata: { ...nb.metadata },
    cells,
  };
  ensureCellIds(notebook);
  return notebook;
}

/** Reads and parses a notebook file; also returns the sha256 of its bytes. */
export async function readNotebook(path: string): Promise<{ notebook: Notebook; sha256: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new NotebookInvalidError(`${path}: cannot read the notebook (${why})`);
  }
  return {
    notebook: parseNotebook(bytes.toString('utf8'), path),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** Gives every cell a valid, unique id; existing valid ids are kept. */
export function ensureCellIds(notebook: Notebook): void {
  const seen = new Set<string>();
  notebook.cells.forEach((cell, index) => {
    let id = cell.id;
    if (!CELL_ID.test(id) || seen.has(id)) {
      const digest = createHash('sha256').update(`${index}\n${sourceText(cell.source)}`).digest('hex');
      id = `cell-${digest.slice(0, 12)}`;
      for (let n = 2; seen.has(id); n++) id = `cell-${digest.slice(0, 12)}-${n}`;
    }
    seen.add(id);
    cell.id = id;
  });
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    // A null prototype: a "__proto__" key in the JSON stays a plain key.
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** Notebook JSON as nbformat writes it: sorted keys, 1-space indent, trailing newline (stable diffs). */
export function serializeNotebook(notebook: Notebook): string {
  return JSON.stringify(sortKeys(notebook), null, 1) + '\n';
}
