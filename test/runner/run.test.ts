import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLedger, runNotebook, runNotebooks, type RunEvent, type RunResult } from '../../src/runner';
import { outputText, readJson, sourceOf, validateNotebook, writeNotebook } from './helpers';
import { EXAMPLES, cell, expectNoKernelLeft, harness } from './harness';

const { work, ledger, run } = harness('runbook-run-');

describe('successful runs of the example notebooks, two in parallel', () => {
  let results: RunResult[];
  let events: RunEvent[];
  beforeAll(async () => {
    events = [];
    results = await runNotebooks([join(EXAMPLES, 'parameters.ipynb'), join(EXAMPLES, 'library.ipynb')], {
      outDir: join(work, 'parallel'), jobs: 2, ledger, onEvent: (e) => events.push(e),
    });
  }, 90_000);

  it('runs each notebook on its own kernel and both succeed', () => {
    expect(results.map((r) => [r.status, r.exitCode])).toEqual([['ok', 0], ['ok', 0]]);
    expect(results[0].kernelPid).not.toBe(results[1].kernelPid);
    for (const r of results) expectNoKernelLeft(r);
    // Both kernels were up at the same time: each started before the other run ended.
    const ready = events.filter((e) => e.type === 'kernel-ready').length;
    const firstEnd = events.findIndex((e) => e.type === 'run-end');
    expect(events.slice(0, firstEnd).filter((e) => e.type === 'kernel-spawned')).toHaveLength(2);
    expect(ready).toBe(2);
  });

  it('writes valid nbformat 4.5 notebooks with outputs, counts and timings', () => {
    for (const r of results) {
      const nb = readJson(r.outputPath!);
      expect(validateNotebook(nb)).toEqual([]);
      expect(nb.nbformat_minor).toBe(5);
      const code = nb.cells.filter((c: any) => c.cell_type === 'code');
      expect(code.map((c: any) => c.execution_count)).toEqual(code.map((_: unknown, i: number) => i + 1));
      for (const c of code) {
        expect(c.metadata.papermill).toMatchObject({ status: 'completed', exception: false });
        expect(typeof c.metadata.execution['shell.execute_reply']).toBe('string');
      }
    }
    const lib = readJson(results[1].outputPath!);
    expect(outputText(cell(lib, 'monitorIdFromName(SEGMENTATION'))).toContain('Segmentation Metrics -> segmentation_metrics');
    expect(outputText(cell(lib, 'new Redactor'))).toBe('password=***\n');
    const params = readJson(results[0].outputPath!);
    expect(outputText(cell(params, 'const squares'))).toBe('n=2 squares: 1, 4\n');
    expect(cell(params, 'tslab.display.html').outputs[0]).toMatchObject({ output_type: 'display_data', data: { 'text/html': '<b>2</b> squares for <code>dev</code>' } });
  });

  it('records papermill metadata and its own run metadata', () => {
    const nb = readJson(results[0].outputPath!);
    expect(Object.keys(nb.metadata.papermill).sort()).toEqual(
      ['default_parameters', 'duration', 'end_time', 'exception', 'input_path', 'output_path', 'parameters', 'start_time', 'version'],
    );
    expect(nb.metadata.papermill.default_parameters).toEqual({ mode: 'dev', n: 2, label: 'demo', thresholds: { dice: 0.8, iou: 0.7 }, apiKey: '***' });
    expect(nb.metadata.papermill).toMatchObject({ parameters: {}, exception: false, input_path: join(EXAMPLES, 'parameters.ipynb') });
    expect(nb.metadata.runbook).toMatchObject({ run_id: results[0].runId, status: 'ok', exit_code: 0, secret_parameters: ['apiKey'] });
    expect(nb.metadata.runbook.input_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(nb.metadata.language_info.name).toBe('typescript');
  });

  it('appends one ledger line per run', () => {
    const entries = readLedger(ledger).filter((e) => results.some((r) => r.runId === e.run_id));
    expect(entries).toHaveLength(2);
    expect(entries.map((e) => e.status)).toEqual(['ok', 'ok']);
  });
});

describe('a parameterised run', () => {
  let r: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    r = await run(join(EXAMPLES, 'parameters.ipynb'), {
      parameters: { thresholds: { dice: 0.5, iou: 0.25 } },
      parameterSources: { params: ['n=3', 'mode=prod', 'label=007'] },
      logOutput: true,
    });
  }, 60_000);

  it('injects the values after the parameters cell with their declared types', () => {
    expect(r.result.status).toBe('ok');
    const ids = r.nb.cells.map((c: any) => c.id);
    expect(ids.indexOf('injected-parameters')).toBe(ids.indexOf('parameters') + 1);
    expect(sourceOf(cell(r.nb, 'injected by runbook')).split('\n').slice(1)).toEqual([
      'const mode: Mode = "prod";',
      'const n: number = 3;',
      'const label: string = "007";',
      'const thresholds: { dice: number; iou: number; } = {"dice": 0.5, "iou": 0.25};',
    ]);
    expect(validateNotebook(r.nb)).toEqual([]);
  });

  it('reflects the values in the outputs (mode keeps its union type, label stays "007")', () => {
    expect(outputText(cell(r.nb, "mode === 'dev'"))).toBe('mode=prod -> production cluster; label="007"\n');
    expect(outputText(cell(r.nb, 'const squares'))).toBe('n=3 squares: 1, 4, 9\n');
    expect(outputText(cell(r.nb, 'Object.entries(thresholds)'))).toBe('dice >= 0.5\niou >= 0.25\n');
    expect(r.nb.metadata.papermill.parameters).toEqual({ thresholds: { dice: 0.5, iou: 0.25 }, n: 3, mode: 'prod', label: '007' });
  });

  it('streams output as events, whole lines, in order', () => {
    const out = r.events.filter((e): e is Extract<RunEvent, { type: 'cell-output' }> => e.type === 'cell-output').map((e) => e.text).join('');
    expect(out).toBe('mode=prod -> production cluster; label="007"\nn=3 squares: 1, 4, 9\ndice >= 0.5\niou >= 0.25\nno api key given\n');
    const order = r.events.map((e) => e.type).filter((t) => t !== 'saved' && t !== 'cell-output' && t !== 'cell-display');
    expect(order.slice(0, 3)).toEqual(['run-start', 'kernel-spawned', 'kernel-ready']);
    expect(order[order.length - 1]).toBe('run-end');
  });
});

describe('cell tags and --allow-errors', () => {
  it('skip-execution cells are not run; a raises-exception cell may fail without stopping the run', async () => {
    const { result, nb } = await run(writeNotebook('tags.ipynb', [
      "console.log('one')",
      { source: "throw new Error('expected failure')", tags: ['raises-exception'] },
      { source: "throw new Error('must not run')", tags: ['skip-execution'] },
      '',
      { source: '# a heading', type: 'markdown' },
      "console.log('two')",
      // A burst of output in one synchronous loop: tslab alone loses lines and then hangs here
      // (zeromq's high-water mark and EBUSY on its unawaited sends; see kernel-preload.cjs).
      'for (let i = 0; i < 5000; i++) console.log(`line ${i}`);',
    ]));
    expect([result.status, result.exitCode]).toEqual(['ok', 0]);
    expect(result.cells.map((c) => c.status)).toEqual(['ok', 'error', 'skipped', 'skipped', 'skipped', 'ok', 'ok']);
    expect(outputText(cell(nb, 'i < 5000'))).toBe(Array.from({ length: 5000 }, (_, i) => `line ${i}\n`).join(''));
    expect(result.cells[1].expectedError).toBe(true);
    expect(cell(nb, 'expected failure').outputs.at(-1)).toMatchObject({ ename: 'Error', evalue: 'expected failure' });
    expect(cell(nb, 'must not run')).toMatchObject({ outputs: [], execution_count: null, metadata: { runbook: { status: 'skipped', reason: 'skip-execution' } } });
    // The cell after the failure was not swallowed by tslab's 200 ms abort window.
    expect(outputText(cell(nb, "'two'"))).toBe('two\n');
    expect(nb.cells[0].id).not.toBe('runbook-error-banner');
    expect(validateNotebook(nb)).toEqual([]);
  });

  it('--allow-errors runs every cell, records each error, and succeeds', async () => {
    const { result, nb } = await run(writeNotebook('allow.ipynb', [
      "throw new Error('first')",
      "console.log('after first')",
      "const s: string = 1;",
      "console.log('after second')",
    ]), { allowErrors: true });
    expect([result.status, result.exitCode]).toEqual(['ok', 0]);
    expect(result.cells.map((c) => c.status)).toEqual(['error', 'ok', 'error', 'ok']);
    expect(outputText(cell(nb, "'after first'"))).toBe('after first\n');
    expect(outputText(cell(nb, "'after second'"))).toBe('after second\n');
    expect(nb.metadata.runbook).toMatchObject({ cell_errors: 2, allow_errors: true });
    expect(nb.metadata.papermill.exception).toBe(true);
    expectNoKernelLeft(result);
  });
});

describe('the output file', () => {
  it('is rewritten during the run, and every version written is a complete notebook', async () => {
    const input = writeNotebook('progress.ipynb', [
      { source: "const token: string = 'default-secret-9d2f'; // @secret", tags: ['parameters'] },
      "console.log('a', token)",
      'await new Promise((r) => setTimeout(r, 200));',
      "console.log('b')",
    ]);
    const output = join(work, 'progress-out.ipynb');
    const snapshots: any[] = [];
    let ended = false;
    const result = await runNotebook({
      input, output, ledger: false,
      onEvent: (e) => {
        if (e.type === 'saved' && !ended) snapshots.push(JSON.parse(readFileSync(output, 'utf8')));
        if (e.type === 'run-end') ended = true;
      },
    });
    expect(result.status).toBe('ok');
    expect(snapshots.length).toBeGreaterThanOrEqual(3);
    for (const nb of snapshots) expect(validateNotebook(nb)).toEqual([]);
    // A secret default is redacted in every version, the first one included.
    for (const nb of snapshots) expect(JSON.stringify(nb)).not.toContain('default-secret-9d2f');
    expect(outputText(cell(snapshots.at(-1), "'a'"))).toBe('a ***\n');
    // The first version is written while the kernel starts: every cell pending, the run under way.
    expect(snapshots[0].cells.map((c: any) => c.metadata.papermill.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(snapshots[0].metadata.runbook.status).toBe('running');
    // Versions only move forward: cells once completed stay completed.
    const done = snapshots.map((nb) => nb.cells.filter((c: any) => c.metadata.papermill.status === 'completed').length);
    expect([...done].sort((x, y) => x - y)).toEqual(done);
    expect(snapshots.at(-1).metadata.runbook.status).toBe('ok');
    expect(existsSync(output)).toBe(true);
  }, 60_000);
});

describe('a notebook running another notebook (the pipeline use case)', () => {
  it("imports './src/runner' in a cell, runs a child with typed parameters, and sees bad ones rejected", async () => {
    const childOut = join(work, 'child.ipynb');
    const { result, nb } = await run(writeNotebook('parent.ipynb', [
      "import { runNotebook } from './src/runner';",
      [
        `const child = await runNotebook({ input: ${JSON.stringify(join(EXAMPLES, 'parameters.ipynb'))}, output: ${JSON.stringify(childOut)},`,
        `  parameters: { n: 4, mode: 'prod' }, parentRunId: process.env.RUNBOOK_RUN_ID, ledger: ${JSON.stringify(ledger)} });`,
        "console.log(child.status, child.exitCode, JSON.stringify(child.parameters));",
      ].join('\n'),
      [
        `const bad = await runNotebook({ input: ${JSON.stringify(join(EXAMPLES, 'parameters.ipynb'))}, parameters: { n: 'four' }, ledger: false });`,
        'console.log(bad.status, bad.exitCode, bad.failure?.message);',
      ].join('\n'),
    ]), { timeouts: { cellMs: 120_000 } });
    expect(result.status).toBe('ok');
    expect(outputText(cell(nb, 'const child'))).toBe('ok 0 {"n":4,"mode":"prod"}\n');
    expect(outputText(cell(nb, 'const bad'))).toBe('bad-parameters 6 bad notebook parameters: parameter n: expected number, got string "four"\n');
    expect(outputText(cell(readJson(childOut), 'const squares'))).toBe('n=4 squares: 1, 4, 9, 16\n');
    const childEntry = readLedger(ledger).find((e) => e.notebook === join(EXAMPLES, 'parameters.ipynb') && e.parent_run_id === result.runId);
    expect(childEntry).toMatchObject({ status: 'ok', parameters: { n: 4, mode: 'prod' } });
  }, 120_000);
});
