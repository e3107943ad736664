import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../../src/runner/paths';
import { outputText, processesOfRun, readJson, sourceOf, validateNotebook, writeNotebook } from './helpers';

// The CLI as users run it (bin/runbook.js -> dist/, built by `npm test` before jest).
const ROOT = projectRoot();
const BIN = join(ROOT, 'bin', 'runbook.js');
const work = mkdtempSync(join(tmpdir(), 'runbook-cli-'));
const ledger = join(work, 'ledger.jsonl');

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runbook(args: string[], env: NodeJS.ProcessEnv = {}): Done {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, RUNBOOK_LEDGER: ledger, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function start(args: string[]): { child: ChildProcess; done: Promise<Done>; stderrHas: (text: string) => Promise<void> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, RUNBOOK_LEDGER: ledger } });
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    for (const w of waiters.filter((x) => stderr.includes(x.text))) w.resolve();
  });
  const done = new Promise<Done>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  const stderrHas = (text: string) => new Promise<void>((resolve, reject) => {
    if (stderr.includes(text)) return resolve();
    waiters.push({ text, resolve });
    void done.then(() => reject(new Error(`the runner ended before printing ${JSON.stringify(text)}:\n${stderr}`)));
  });
  return { child, done, stderrHas };
}

async function eventually(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`still not true after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function codeCell(nb: any, marker: string): any {
  return nb.cells.find((c: any) => c.cell_type === 'code' && sourceOf(c).includes(marker));
}

describe('runbook run: the acceptance command', () => {
  let done: Done;
  const out = join(work, 'parameters-out.ipynb');
  beforeAll(() => {
    done = runbook(['run', 'notebooks/examples/parameters.ipynb', out, '-p', 'n=3']);
  }, 90_000);

  it('succeeds, and the injected cell and the outputs reflect n=3', () => {
    expect(done.code).toBe(0);
    const nb = readJson(out);
    expect(validateNotebook(nb)).toEqual([]);
    expect(sourceOf(codeCell(nb, 'injected by runbook'))).toBe('// Parameters injected by runbook\nconst n: number = 3;');
    expect(outputText(codeCell(nb, 'const squares'))).toBe('n=3 squares: 1, 4, 9\n');
    expect(nb.metadata.papermill.parameters).toEqual({ n: 3 });
  });

  it('prints plain progress lines when stderr is not a terminal, and a summary', () => {
    expect(done.stderr).toMatch(/^running notebooks\/examples\/parameters\.ipynb \(7 code cells, run \S+\)$/m);
    expect(done.stderr).toMatch(/^kernel ready in [\d.]+ s$/m);
    for (let i = 1; i <= 7; i++) expect(done.stderr).toMatch(new RegExp(`^cell ${i}/7 ok \\([\\d.]+ s\\)$`, 'm'));
    expect(done.stderr).toMatch(/^ok {6}parameters\.ipynb -> .*parameters-out\.ipynb \(7 cells, [\d.]+ s, run \S+\)$/m);
    expect(done.stdout).toBe('');
  });
});

describe('secrets never leave the kernel', () => {
  const CANARY_PARAM = 'canary-param-7f3a9b2c';
  const CANARY_ENV = 'canary-env-51d0e8aa';
  let done: Done;
  let notebookText: string;
  let nb: any;
  beforeAll(() => {
    const input = writeNotebook('secrets.ipynb', [
      { source: "const token: string = ''; // @secret the service token\nconst n: number = 1;", tags: ['parameters'] },
      "console.log('token:', token, 'length', token.length);",
      "process.stdout.write(token.slice(0, 8));\nvoid process.stdout.write(token.slice(8) + '\\n');",
      "console.log('env:', process.env.CPD_API_KEY); console.error('stderr env:', process.env.CPD_API_KEY);",
      "import * as tslab from 'tslab';\ntslab.display.html(`<i>${token}</i>`);",
      'throw new Error(`request with ${token} and ${process.env.CPD_API_KEY} was refused`);',
    ]);
    const out = join(work, 'secrets-out.ipynb');
    done = runbook(['run', input, out, '-p', `token=${CANARY_PARAM}`, '-p', 'n=2', '--log-output', '--json'], { CPD_API_KEY: CANARY_ENV });
    notebookText = readFileSync(out, 'utf8');
    nb = JSON.parse(notebookText);
  }, 90_000);

  it('the cells received the real values (the run got as far as the failing cell)', () => {
    expect(done.code).toBe(3);
    expect(outputText(codeCell(nb, "'token:'"))).toBe(`token: *** length ${CANARY_PARAM.length}\n`);
  });

  it('appear nowhere in the saved notebook: outputs, injected cell, banner, metadata', () => {
    for (const canary of [CANARY_PARAM, CANARY_ENV]) expect(notebookText).not.toContain(canary);
    expect(outputText(codeCell(nb, 'token.slice(0, 8)'))).toBe('***\n');
    expect(outputText(codeCell(nb, "'env:'"))).toBe('env: ***\nstderr env: ***\n');
    expect(codeCell(nb, 'tslab.display.html').outputs[0].data['text/html']).toBe('<i>***</i>');
    expect(sourceOf(codeCell(nb, 'injected by runbook'))).toContain('const token: string = "***"; // @secret');
    expect(nb.metadata.papermill.parameters).toEqual({ token: '***', n: 2 });
    expect(sourceOf(nb.cells[0])).toContain('Error: request with *** and *** was refused');
  });

  it('appear nowhere in what the runner printed or in the ledger', () => {
    for (const canary of [CANARY_PARAM, CANARY_ENV]) {
      expect(done.stdout).not.toContain(canary);
      expect(done.stderr).not.toContain(canary);
      expect(readFileSync(ledger, 'utf8')).not.toContain(canary);
    }
    // With --json, stdout holds only the result; live cell output goes to stderr.
    expect(done.stderr).toContain('token: *** length');
    expect(done.stderr).toContain('stderr env: ***');
    const summary = JSON.parse(done.stdout.slice(done.stdout.indexOf('{\n')));
    expect(summary).toMatchObject({ status: 'cell-error', exitCode: 3, parameters: { token: '***', n: 2 } });
  });
});

describe('runbook run stops cleanly on signals', () => {
  const notebook = () => writeNotebook('slow.ipynb', [
    "console.log('started')",
    'await new Promise((resolve) => setTimeout(resolve, 60000));',
    "console.log('never')",
  ]);

  for (const [signal, code, status] of [['SIGTERM', 143, 'terminated'], ['SIGINT', 130, 'interrupted']] as const) {
    it(`${signal}: the kernel is shut down, the partial notebook saved with a banner, exit ${code}`, async () => {
      const out = join(work, `${signal}.ipynb`);
      const { child, done, stderrHas } = start(['run', notebook(), out, '--log-output']);
      await stderrHas('--- cell 2/3');
      child.kill(signal);
      const result = await done;
      expect(result.code).toBe(code);
      const nb = readJson(out);
      expect(validateNotebook(nb)).toEqual([]);
      expect(nb.metadata.runbook.status).toBe(status);
      expect(nb.cells[0].id).toBe('runbook-error-banner');
      expect(codeCell(nb, 'setTimeout').outputs.at(-1)).toMatchObject({ ename: 'RunInterrupted', evalue: `the runner was ${status} while this cell ran` });
      expect(processesOfRun(nb.metadata.runbook.run_id)).toEqual([]);
      expect(result.stderr).toContain(`FAILED  slow.ipynb -> `);
    }, 60_000);
  }

  it('SIGKILL: the file on disk is the last complete state and the kernel ends itself', async () => {
    const out = join(work, 'killed.ipynb');
    const { child, done, stderrHas } = start(['run', notebook(), out]);
    await stderrHas('cell 1/3 ok');
    // Once the first cell's output is on disk, kill the runner in the middle of the second cell.
    await eventually(() => outputText(codeCell(readJson(out), "'started'")) === 'started\n', 'the first cell is saved');
    const nb = readJson(out);
    child.kill('SIGKILL');
    await done;
    const after = readJson(out);
    expect(validateNotebook(after)).toEqual([]);
    expect(outputText(codeCell(after, "'started'"))).toBe('started\n');
    // The runner cannot clean up after SIGKILL: the kernel's watchdog notices and exits.
    await eventually(() => processesOfRun(nb.metadata.runbook.run_id).length === 0, 'the orphaned kernel exits');
  }, 60_000);
});

describe('runbook run: several notebooks, exit codes and usage', () => {
  it('runs notebooks in parallel into --out-dir and exits with the first failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runbook-batch-'));
    const a = writeNotebook('a.ipynb', ["console.log('a ran')"], dir);
    const b = writeNotebook('b.ipynb', ["throw new TypeError('b fails')"], dir);
    const outDir = join(work, 'batch');
    const done = runbook(['run', a, b, '--out-dir', outDir, '--jobs', '2']);
    expect(done.code).toBe(3);
    expect(outputText(readJson(join(outDir, 'a.ipynb')).cells[0])).toBe('a ran\n');
    expect(readJson(join(outDir, 'b.ipynb')).cells[0].id).toBe('runbook-error-banner');
    expect(done.stderr).toMatch(/^ok {6}a\.ipynb/m);
    expect(done.stderr).toMatch(/^FAILED {2}b\.ipynb -> .*: cell-error \(exit 3\): cell 1 \(In \[1\]\): TypeError: b fails/m);
    expect(done.stderr).toMatch(/^\[a\.ipynb\] cell 1\/1 ok/m);
  }, 90_000);

  it('bad parameters: exit 6 with the parameter and the expected type, no notebook written', () => {
    const out = join(work, 'never-written.ipynb');
    const done = runbook(['run', 'notebooks/examples/parameters.ipynb', out, '-p', 'n=abc', '-p', 'mode=test']);
    expect(done.code).toBe(6);
    expect(done.stderr).toContain('parameter n: expected number, got string "abc"');
    expect(done.stderr).toContain(`parameter mode: expected Mode ('dev' | 'prod'), got string "test"`);
    expect(existsSync(out)).toBe(false);
    const yamlFile = join(work, 'bad.yaml');
    writeFileSync(yamlFile, '- not a mapping\n');
    expect(runbook(['run', 'notebooks/examples/parameters.ipynb', out, '-f', yamlFile]).code).toBe(6);
  });

  it('a missing notebook is exit 7; wrong usage is exit 2', () => {
    const missing = runbook(['run', join(work, 'missing.ipynb'), join(work, 'x.ipynb')]);
    expect(missing.code).toBe(7);
    expect(missing.stderr).toContain('missing.ipynb: cannot read the notebook (no such file)');
    const three = runbook(['run', 'a.ipynb', 'b.ipynb', 'c.ipynb']);
    expect(three.code).toBe(2);
    expect(three.stderr).toContain('several notebooks need --out-dir DIR');
    expect(runbook(['run', 'a.ipynb', '--cell-timeout', 'soon']).code).toBe(2);
  });

  it('--help lists the exit codes; --help-notebook lists the parameters', () => {
    const help = runbook(['run', '--help']);
    expect(help.code).toBe(0);
    for (const line of ['3    a notebook cell failed', '4    the kernel died or could not start', '5    timeout', '6    bad notebook parameters', '7    notebook missing or invalid', '130  interrupted', '143  terminated']) {
      expect(help.stdout).toContain(line);
    }
    const params = runbook(['run', '--help-notebook', 'notebooks/examples/parameters.ipynb']);
    expect(params.code).toBe(0);
    expect(params.stdout).toContain("  mode: Mode = 'dev' | 'prod' (default: 'dev')  where the model would be deployed");
    expect(params.stdout).toContain('  apiKey: string (default: ***) [secret]');
    const json = JSON.parse(runbook(['run', '--help-notebook', 'notebooks/examples/parameters.ipynb', '--json']).stdout);
    expect(json.parameters.find((p: any) => p.name === 'n')).toEqual({ name: 'n', type: 'number', default: '2', secret: false, help: 'how many squares to print' });
  });
});

describe('runbook runs', () => {
  it('lists the recent runs from the ledger', () => {
    const all = JSON.parse(runbook(['runs', '--json', '--limit', '1000']).stdout);
    expect(all.length).toBeGreaterThanOrEqual(3);
    expect(all.some((e: any) => e.status === 'bad-parameters' && e.exit_code === 6)).toBe(true);
    const last2 = JSON.parse(runbook(['runs', '--json', '-n', '2']).stdout);
    expect(last2).toEqual(all.slice(-2));
    const table = runbook(['runs']).stdout.split('\n');
    expect(table[0]).toMatch(/^RUN ID\s+STARTED \(UTC\)\s+STATUS\s+EXIT\s+TIME\s+NOTEBOOK\s+OUTPUT$/);
    expect(runbook(['runs', '--ledger', join(work, 'none.jsonl')]).stdout).toContain('No runs recorded yet');
  });
});
