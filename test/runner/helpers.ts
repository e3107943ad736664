import Ajv from 'ajv-draft-04';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/runner/paths';

const SCHEMA = join(projectRoot(), '.cache', 'nbformat', 'nbformat.v4.5.schema.json');
let validate: ((data: unknown) => boolean) & { errors?: unknown } | undefined;

/**
 * Errors of `notebook` against the official nbformat 4.5 JSON schema ([] when valid). Throws
 * (failing the test, never skipping it) when the schema has not been fetched.
 */
export function validateNotebook(notebook: unknown): string[] {
  if (!validate) {
    if (!existsSync(SCHEMA)) {
      throw new Error(`the nbformat 4.5 schema is missing at ${SCHEMA}: run \`node tools/fetch-nbformat-schema.mjs\` (npm test does)`);
    }
    const ajv = new Ajv({ strict: false, allErrors: true });
    validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')));
  }
  if (validate(notebook)) return [];
  return ((validate.errors ?? []) as { instancePath: string; message?: string }[]).map((e) => `${e.instancePath} ${e.message}`);
}

export interface CellSpec {
  source: string;
  tags?: string[];
  type?: 'code' | 'markdown';
}

/** Writes a tslab notebook with these cells into a fresh temp dir; returns its path. */
export function writeNotebook(name: string, cells: (string | CellSpec)[], dir = mkdtempSync(join(tmpdir(), 'runbook-test-'))): string {
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: cells.map((c, i) => {
      const spec = typeof c === 'string' ? { source: c } : c;
      const metadata = spec.tags ? { tags: spec.tags } : {};
      return spec.type === 'markdown'
        ? { id: `m${i}`, cell_type: 'markdown', metadata, source: spec.source }
        : { id: `c${i}`, cell_type: 'code', metadata, source: spec.source, outputs: [], execution_count: null };
    }),
  };
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(nb, null, 1));
  return path;
}

/** Pids of live processes whose environment carries this run id (the runner sets RUNBOOK_RUN_ID in its kernel). */
export function processesOfRun(runId: string): number[] {
  const needle = `RUNBOOK_RUN_ID=${runId}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z /.test(stat)) continue; // a zombie is already dead
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(needle)) found.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

/** True while /proc shows a live (non-zombie) process with this pid. */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

export function sourceOf(cell: { source: string | string[] }): string {
  return Array.isArray(cell.source) ? cell.source.join('') : cell.source;
}

export function outputText(cell: { outputs?: { output_type: string; text?: string | string[] }[] }): string {
  return (cell.outputs ?? [])
    .filter((o) => o.output_type === 'stream')
    .map((o) => (Array.isArray(o.text) ? o.text.join('') : o.text ?? ''))
    .join('');
}
