import { beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLedger, runNotebook, runNotebooks } from '../../src/runner';
import { outputText, validateNotebook, writeNotebook } from './helpers';
import { EXAMPLES, cell, expectBanner, expectNoKernelLeft, harness } from './harness';

// Every failure kind of a run: exit codes, partial notebooks with the banner, no kernel left.
const { work, ledger, run } = harness('runbook-fail-');

describe('failures: each has its own exit code, a partial notebook with a banner, and no kernel left', () => {
  const cases: Record<string, Awaited<ReturnType<typeof run>>> = {};
  beforeAll(async () => {
    const nb = (name: string, failing: string) => writeNotebook(`${name}.ipynb`, [
      "console.log('first cell ran')",
      failing,
      "console.log('never runs')",
    ]);
    const todo: [string, () => ReturnType<typeof run>][] = [
      ['typeError', () => run(nb('type-error', "const count: number = 'seven';"))],
      ['throw', () => run(nb('throw', "function check(v: number) { if (v > 3) throw new RangeError(`out of range: ${v}`); }\ncheck(42);"))],
      ['rejection', () => run(nb('rejection', "Promise.reject(new Error('nobody awaits me'));\nconsole.log('cell body finished');"))],
      ['exit', () => run(nb('exit', "console.log('exiting');\nprocess.exit(3);"))],
      ['timeout', () => run(nb('timeout', "console.log('looping');\nwhile (true) {}"), { timeouts: { cellMs: 2000 } })],
    ];
    // Two runs at a time, each on its own kernel.
    const worker = async () => {
      for (let next = todo.shift(); next; next = todo.shift()) cases[next[0]] = await next[1]();
    };
    await Promise.all([worker(), worker()]);
  }, 180_000);

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
    writeFileSync(broken, '{"nbformat": 4, "cells": "x"}');
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
    writeFileSync(blocker, '');
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

