import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLedger, runNotebook, runNotebooks, type RunEvent, type RunOptions, type RunResult } from '../../src/runner';
import { projectRoot } from '../../src/runner/paths';
import { isAlive, outputText, processesOfRun, readJson, sourceOf, validateNotebook, writeNotebook } from './helpers';

const ROOT = projectRoot();
const EXAMPLES = join(ROOT, 'notebooks', 'examples');
const work = mkdtempSync(join(tmpdir(), 'runbook-run-'));
const ledger = join(work, 'ledger.jsonl');

async function run(input: string, extra: Partial<RunOptions> = {}): Promise<{ result: RunResult; events: RunEvent[]; nb: any }> {
  const events: RunEvent[] = [];
  const output = join(work, 'out', `${Math.random().toString(36).slice(2)}.ipynb`);
  const result = await runNotebook({ input, output, ledger, onEvent: (e) => events.push(e), ...extra });
  const nb = result.outputPath ? readJson(result.outputPath) : undefined;
  return { result, events, nb };
}

/** The code cell whose source contains `marker`. */
function cell(nb: any, marker: string): any {
  const found = nb.cells.find((c: any) => c.cell_type === 'code' && sourceOf(c).includes(marker));
  if (!found) throw new Error(`no cell containing ${marker}`);
  return found;
}

/** Every run must leave no kernel behind: neither its recorded pid nor any process carrying its run id. */
function expectNoKernelLeft(result: RunResult): void {
  if (result.kernelPid !== undefined) expect(isAlive(result.kernelPid)).toBe(false);
  expect(processesOfRun(result.runId)).toEqual([]);
}

/** A saved partial notebook: valid, with the banner on top linking to an anchor just before `failing`. */
function expectBanner(nb: any, failingMarker: string): void {
  expect(validateNotebook(nb)).toEqual([]);
  expect(nb.cells[0].id).toBe('runbook-error-banner');
  expect(sourceOf(nb.cells[0])).toMatch(/color:red.*An exception was raised in <a href="#runbook-error-cell">cell \d+/s);
  const failing = nb.cells.indexOf(cell(nb, failingMarker));
  expect(nb.cells[failing - 1].id).toBe('runbook-error-cell');
  expect(sourceOf(nb.cells[failing - 1])).toBe('<span id="runbook-error-cell"></span>');
}

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

describe('failures: each has its own exit code, a partial notebook with a banner, and no kernel left', () => {
  const cases: Record<string, Awaited<ReturnType<typeof run>>> = {};
  beforeAll(async () => {
    const nb = (name: string, failing: string) => writeNotebook(`${name}.ipynb`, [
      "console.log('first cell ran')",
      failing,
      "console.log('never runs')",
    ]);
    cases.typeError = await run(nb('type-error', "const count: number = 'seven';"));
    cases.throw = await run(nb('throw', "function check(v: number) { if (v > 3) throw new RangeError(`out of range: ${v}`); }\ncheck(42);"));
    cases.rejection = await run(nb('rejection', "Promise.reject(new Error('nobody awaits me'));\nconsole.log('cell body finished');"));
    cases.exit = await run(nb('exit', "console.log('exiting');\nprocess.exit(3);"));
    cases.timeout = await run(nb('timeout', "console.log('looping');\nwhile (true) {}"), { timeouts: { cellMs: 2000 } });
  }, 120_000);

  it('a type error fails the cell with the compiler diagnostic (exit 3)', () => {
    const { result, nb } = cases.typeError;
    expect([result.status, result.exitCode]).toEqual(['cell-error', 3]);
    const c = cell(nb, "'seven'");
    expect(c.outputs.at(-1)).toEqual({
      output_type: 'error', ename: 'CompileError', evalue: "1:7 - Type 'string' is not assignable to type 'number'.",
      traceback: ["1:7 - Type 'string' is not assignable to type 'number'."],
    });
    expect(result.failure?.message).toContain("cell 2 (In [2]): CompileError: 1:7 - Type 'string' is not assignable to type 'number'.");
    expectBanner(nb, "'seven'");
  });

  it('a runtime throw carries the error name, message and stack (exit 3)', () => {
    const { result, nb } = cases.throw;
    expect([result.status, result.exitCode]).toEqual(['cell-error', 3]);
    const err = cell(nb, 'RangeError').outputs.at(-1);
    expect(err).toMatchObject({ output_type: 'error', ename: 'RangeError', evalue: 'out of range: 42' });
    expect(err.traceback.join('\n')).toMatch(/RangeError: out of range: 42\n\s+at check \(evalmachine/);
    expectBanner(nb, 'RangeError');
  });

  it('an unhandled promise rejection fails the cell even though the kernel replied ok (exit 3)', () => {
    const { result, nb } = cases.rejection;
    expect([result.status, result.exitCode]).toEqual(['cell-error', 3]);
    const c = cell(nb, 'nobody awaits me');
    expect(outputText(c)).toContain('cell body finished');
    expect(c.outputs.at(-1)).toMatchObject({ output_type: 'error', ename: 'UnhandledPromiseRejection', evalue: 'Error: nobody awaits me' });
    expect(c.metadata.papermill).toMatchObject({ status: 'failed', exception: true });
    expectBanner(nb, 'nobody awaits me');
  });

  it('process.exit in a cell is a dead kernel (exit 4)', () => {
    const { result, nb } = cases.exit;
    expect([result.status, result.exitCode]).toEqual(['kernel-died', 4]);
    expect(cell(nb, 'process.exit(3)').outputs.at(-1)).toMatchObject({
      output_type: 'error', ename: 'KernelDied', evalue: 'the kernel process exited with code 3 while this cell ran',
    });
    expectBanner(nb, 'process.exit(3)');
  });

  it('an endless loop is interrupted after the cell timeout (exit 5)', () => {
    const { result, nb } = cases.timeout;
    expect([result.status, result.exitCode]).toEqual(['timeout', 5]);
    const c = cell(nb, 'while (true)');
    expect(c.outputs.at(-1)).toMatchObject({ output_type: 'error', ename: 'CellTimeoutError', evalue: 'the cell ran longer than 2 s and was interrupted' });
    // The interrupt reached the loop: tslab's SIGINT error is the traceback.
    expect(c.outputs.at(-1).traceback.join('\n')).toContain('Script execution was interrupted by `SIGINT`');
    expect(outputText(c)).toBe('looping\n');
    expectBanner(nb, 'while (true)');
  });

  it('stops at the failing cell: earlier cells ran, later ones are left unexecuted', () => {
    for (const { result, nb } of Object.values(cases)) {
      expect(outputText(cell(nb, 'first cell ran'))).toBe('first cell ran\n');
      const later = cell(nb, 'never runs');
      expect([later.execution_count, later.outputs, later.metadata.papermill.status]).toEqual([null, [], 'pending']);
      expect(result.cells.map((c) => c.status)).toEqual(['ok', result.cells[1].status, 'not-run']);
      expect(nb.metadata.runbook.status).toBe(result.status);
      expect(nb.metadata.papermill.exception).toBe(true);
    }
  });

  it('leaves no kernel process behind', () => {
    for (const { result } of Object.values(cases)) {
      expect(result.kernelPid).toBeGreaterThan(0);
      expectNoKernelLeft(result);
    }
  });

  it('records each failure in the ledger with its exit code', () => {
    const byId = new Map(readLedger(ledger).map((e) => [e.run_id, e]));
    for (const { result } of Object.values(cases)) {
      expect(byId.get(result.runId)).toMatchObject({ status: result.status, exit_code: result.exitCode, output: result.outputPath });
    }
  });
});

describe('failures before the kernel starts', () => {
  const params = join(EXAMPLES, 'parameters.ipynb');

  it('a wrong parameter type is exit 6, names parameter and type, and starts no kernel', async () => {
    const { result, events } = await run(params, { parameterSources: { params: ['n=abc'] } });
    expect([result.status, result.exitCode]).toEqual(['bad-parameters', 6]);
    expect(result.failure?.message).toBe('bad notebook parameters: parameter n: expected number, got string "abc"');
    expect(result.outputPath).toBeUndefined();
    expect(result.kernelPid).toBeUndefined();
    expect(events.some((e) => e.type === 'kernel-spawned')).toBe(false);
    expect(readLedger(ledger).find((e) => e.run_id === result.runId)).toMatchObject({ status: 'bad-parameters', exit_code: 6, output: null });
  });

  it('an unknown parameter is exit 6 and lists what the notebook declares', async () => {
    const { result } = await run(params, { parameters: { count: 3 } });
    expect([result.status, result.exitCode]).toEqual(['bad-parameters', 6]);
    expect(result.failure?.issues).toEqual([{ path: 'count', message: "unknown parameter 'count': the parameters cell declares mode, n, label, thresholds, apiKey" }]);
    expect(result.kernelPid).toBeUndefined();
  });

  it('refuses a batch whose notebooks would overwrite each other, before running any', async () => {
    const a = writeNotebook('same.ipynb', ['1']);
    const b = writeNotebook('same.ipynb', ['2']);
    await expect(runNotebooks([a, b], { outDir: join(work, 'dup'), ledger })).rejects.toThrow(`${a} and ${b} would both be written to ${join(work, 'dup', 'same.ipynb')}`);
    expect(existsSync(join(work, 'dup'))).toBe(false);
  });

  it('an already aborted run starts nothing', async () => {
    const controller = new AbortController();
    controller.abort('SIGTERM');
    const { result } = await run(join(EXAMPLES, 'library.ipynb'), { signal: controller.signal });
    expect([result.status, result.exitCode, result.outputPath, result.kernelPid]).toEqual(['terminated', 143, undefined, undefined]);
  });

  it('a missing or broken notebook is exit 7', async () => {
    const missing = await run(join(work, 'nope.ipynb'));
    expect([missing.result.status, missing.result.exitCode]).toEqual(['notebook-invalid', 7]);
    expect(missing.result.failure?.message).toContain('nope.ipynb: cannot read the notebook (no such file)');
    const broken = join(work, 'broken.ipynb');
    require('node:fs').writeFileSync(broken, '{"nbformat": 4, "cells": "x"}');
    const bad = await run(broken);
    expect([bad.result.status, bad.result.exitCode]).toEqual(['notebook-invalid', 7]);
    expect(bad.result.outputPath).toBeUndefined();
  });
});

describe('kernel start failures and timeouts', () => {
  it('a kernel that cannot start is exit 4', async () => {
    const { result, nb } = await run(writeNotebook('nocwd.ipynb', ['1']), { cwd: join(work, 'no-such-dir') });
    expect([result.status, result.exitCode]).toEqual(['kernel-died', 4]);
    expect(result.failure?.message).toBe(`the kernel could not be started: the kernel's working directory ${join(work, 'no-such-dir')} does not exist`);
    expect(nb.cells[0].id).toBe('runbook-error-banner');
  });


  it('an output path that cannot be written is exit 1, and the kernel already starting is stopped', async () => {
    const blocker = join(work, 'a-file');
    require('node:fs').writeFileSync(blocker, '');
    const result = await runNotebook({ input: writeNotebook('unwritable.ipynb', ['1']), output: join(blocker, 'out.ipynb'), ledger });
    expect([result.status, result.exitCode, result.outputPath]).toEqual(['internal', 1, undefined]);
    expect(result.failure?.message).toMatch(/^cannot write the output notebook .*a-file\/out\.ipynb: EEXIST/);
    expect(result.kernelPid).toBeGreaterThan(0);
    expectNoKernelLeft(result);
    expect(readLedger(ledger).find((e) => e.run_id === result.runId)).toMatchObject({ status: 'internal', exit_code: 1, output: null });
  }, 60_000);

  it('a kernel that does not start in time is exit 5, and the kernel is killed', async () => {
    const { result, nb } = await run(writeNotebook('start.ipynb', ['1']), { timeouts: { startMs: 50 } });
    expect([result.status, result.exitCode]).toEqual(['timeout', 5]);
    expect(result.failure?.message).toMatch(/^the kernel could not be started: the kernel did not answer within/);
    expect(result.kernelPid).toBeGreaterThan(0);
    expectNoKernelLeft(result);
    expect(nb.cells[0].id).toBe('runbook-error-banner');
    expect(validateNotebook(nb)).toEqual([]);
  });

  it('a cell that ignores the interrupt is given up on: the kernel and what it started are killed (exit 5)', async () => {
    const { result, nb } = await run(writeNotebook('stuck.ipynb', [
      // Blocked in native code, the kernel cannot act on SIGINT until `sleep` ends.
      "require('child_process').execSync('sleep 30');",
    ]), { timeouts: { cellMs: 1000, interruptGraceMs: 500 } });
    expect([result.status, result.exitCode]).toEqual(['timeout', 5]);
    expect(cell(nb, 'execSync').outputs.at(-1)).toMatchObject({
      ename: 'CellTimeoutError', evalue: 'the cell ran longer than 1 s and did not stop within 0.5 s of the interrupt; the kernel was stopped',
    });
    // Neither the kernel nor its `sleep` child (same process group, same RUNBOOK_RUN_ID) is left.
    expectNoKernelLeft(result);
  });

  it('the whole-run limit interrupts the running cell (exit 5)', async () => {
    const { result, nb } = await run(writeNotebook('run-limit.ipynb', [
      "console.log('quick')",
      'await new Promise((resolve) => setTimeout(resolve, 120000));',
      "console.log('never')",
    ]), { timeouts: { runMs: 6000 } });
    expect([result.status, result.exitCode]).toEqual(['timeout', 5]);
    expectNoKernelLeft(result);
    expect(validateNotebook(nb)).toEqual([]);
    // Normally the kernel is up well within 6 s and the waiting cell is interrupted; on a very busy
    // machine the limit may already hit during the kernel start. Either way it is the run's limit.
    expect(result.failure?.message).toMatch(/run's time limit \(6 s\)|the run timed out while the kernel started/);
  }, 60_000);
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
