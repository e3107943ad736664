/**
 * Benchmark of the notebook runner (not a test): two 20-cell notebooks, one trivial and one that
 * imports the project library, zod and js-yaml, run by `runbook run` (the CLI, end to end) and,
 * when Jupyter is installed, by `jupyter nbconvert --execute` with the project's kernelspec, in the
 * same run and alternating, so both see the same machine load.
 *
 *   npm run bench:runner [-- --runs N]
 *
 * Prints per notebook: kernel start, per-cell overhead of the runner, total wall time, and the
 * ratio to nbconvert. Targets: total <= 0.6 x nbconvert's; per-cell overhead <= 15 ms.
 *
 * Per-cell overhead = the time from one cell's start to the next one's, minus the kernel's own
 * busy->idle time for the cell (kernel clock): protocol round trips, the unhandled-rejection
 * fence, output handling and the atomic save of the notebook after each cell.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..'); // dist/bench/runner -> project root
const WORK = join(ROOT, '.cache', 'bench-runner');
const CELLS = 20;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function notebook(sources: string[]): string {
  return JSON.stringify({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript (cpd-runbook)', language: 'typescript' } },
    cells: sources.map((source, i) => ({ id: `cell-${i}`, cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null })),
  }, null, 1);
}

function trivialCells(): string[] {
  return ['let acc = 0;', ...Array.from({ length: CELLS - 1 }, (_, i) => `acc += ${i + 1};\nconsole.log(acc);`)];
}

function libraryCells(): string[] {
  const cells = [
    "import { Redactor } from './src/lib/redact';",
    "import { z } from 'zod';",
    "import * as yaml from 'js-yaml';",
    'const Row = z.object({ name: z.string(), dice: z.number().min(0).max(1) });',
  ];
  for (let i = cells.length; i < CELLS; i++) {
    cells.push(
      i % 2 === 0
        ? `const r${i} = new Redactor(['secret-value-${i}']);\nconsole.log(r${i}.redact('token=secret-value-${i}'));`
        : `const row${i} = Row.parse(yaml.load('name: img-${i}.png\\ndice: 0.${i}'));\nconsole.log(yaml.dump(row${i}).trim());`,
    );
  }
  return cells;
}

interface CellJson {
  status: string;
  startTime?: string;
  endTime?: string;
  durationMs?: number;
  kernelMs?: number;
}

interface Sample {
  wallMs: number;
  kernelStartMs: number;
  overheadMs: number;
  cellWallMs: number;
}

function runOurs(input: string, output: string): Sample {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'runbook.js'), 'run', input, output, '--no-ledger', '--quiet', '--json'], { cwd: ROOT, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`runbook run ${input} failed (exit ${r.status}):\n${r.stderr}`);
  const result = JSON.parse(r.stdout) as { kernelStartMs: number; cells: CellJson[] };
  const cells = result.cells.filter((c) => c.status === 'ok');
  const overheads: number[] = [];
  const walls: number[] = [];
  for (let i = 0; i + 1 < cells.length; i++) {
    const span = Date.parse(cells[i + 1].startTime!) - Date.parse(cells[i].startTime!);
    walls.push(span);
    overheads.push(span - (cells[i].kernelMs ?? 0));
  }
  return { wallMs, kernelStartMs: result.kernelStartMs, overheadMs: median(overheads), cellWallMs: median(walls) };
}

function nbconvertAvailable(): string | undefined {
  const which = spawnSync('jupyter', ['nbconvert', '--version'], { encoding: 'utf8' });
  if (which.error) return 'the `jupyter` command is not installed (Debian: apt-get install jupyter-nbconvert python3-nbclient)';
  if (which.status !== 0) return `\`jupyter nbconvert\` is not available (${(which.stderr || '').trim().split('\n').pop()})`;
  return undefined;
}

function runNbconvert(input: string, outDir: string, name: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('jupyter', [
    'nbconvert', '--to', 'notebook', '--execute', '--ExecutePreprocessor.kernel_name=tslab', '--ExecutePreprocessor.timeout=600',
    input, '--output-dir', outDir, '--output', name,
  ], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, JUPYTER_PATH: [join(ROOT, '.jupyter'), process.env.JUPYTER_PATH].filter(Boolean).join(':') } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`jupyter nbconvert ${input} failed (exit ${r.status}):\n${r.stderr}`);
  return ms;
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

function main(): void {
  const runs = arg('runs', 3);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'out'), { recursive: true });
  const notebooks = [
    { name: 'trivial-20', cells: trivialCells() },
    { name: 'library-20', cells: libraryCells() },
  ];
  const missing = nbconvertAvailable();
  console.log(`runner benchmark: ${CELLS}-cell notebooks, ${runs} runs each (medians); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  let allMet = true;
  for (const nb of notebooks) {
    const input = join(WORK, `${nb.name}.ipynb`);
    writeFileSync(input, notebook(nb.cells));
    runOurs(input, join(WORK, 'out', `${nb.name}.warmup.ipynb`)); // warm the OS file cache for both runners
    const ours: Sample[] = [];
    const theirs: number[] = [];
    for (let k = 0; k < runs; k++) {
      ours.push(runOurs(input, join(WORK, 'out', `${nb.name}.ours.ipynb`)));
      if (!missing) theirs.push(runNbconvert(input, join(WORK, 'out'), `${nb.name}.nbconvert.ipynb`));
    }
    const wall = median(ours.map((s) => s.wallMs));
    const overhead = median(ours.map((s) => s.overheadMs));
    console.log(`\n${nb.name}`);
    console.log(`  runbook run   total wall ${fmt(wall)} | kernel start ${fmt(median(ours.map((s) => s.kernelStartMs)))} | per cell: wall ${fmt(median(ours.map((s) => s.cellWallMs)))}, runner overhead ${fmt(overhead)}`);
    const overheadMet = overhead <= 15;
    allMet &&= overheadMet;
    console.log(`  per-cell overhead target <= 15 ms: ${overheadMet ? 'met' : 'NOT met'}`);
    if (missing) {
      console.log(`  nbconvert     not measured: ${missing}; the ratio could not be measured.`);
    } else {
      const ref = median(theirs);
      const ratio = wall / ref;
      const met = ratio <= 0.6;
      allMet &&= met;
      console.log(`  nbconvert     total wall ${fmt(ref)}`);
      console.log(`  ratio runbook/nbconvert = ${ratio.toFixed(2)} (target <= 0.60: ${met ? 'met' : 'NOT met'})`);
    }
  }
  console.log(`\n${allMet ? 'All measured targets met.' : 'Some targets not met (see above).'}${missing ? ' The nbconvert ratio was not measured.' : ''}`);
}

main();
