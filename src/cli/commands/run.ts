import { InvalidArgumentError, type Command } from 'commander';
import { basename, relative } from 'node:path';
import { RunbookError } from '../../lib/errors';
import { Redactor } from '../../lib/redact';
import { EXIT_CODE_HELP, ExitCode } from '../exit-codes';
import type { RunEvent, RunResult, TypedParameter } from '../../runner';
import { positiveInt } from '../option-parsers';

interface RunCliOptions {
  parameter?: string[];
  rawParameter?: string[];
  parametersFile?: string[];
  parametersYaml?: string[];
  helpNotebook?: boolean;
  allowErrors?: boolean;
  cellTimeout?: number;
  runTimeout?: number;
  startTimeout: number;
  logOutput?: boolean;
  outDir?: string;
  jobs: number;
  cwd?: string;
  ledger?: string | false;
  quiet?: boolean;
  json?: boolean;
  progress?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function positiveSeconds(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag}: expected a number of seconds > 0, got '${value}'`);
    return n;
  };
}

function shortPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}

function secondsText(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** One line per notebook at the end: what happened and where the notebook is. */
function summaryLine(r: RunResult): string {
  const name = basename(r.inputPath);
  const ran = r.cells.filter((c) => c.status !== 'skipped' && c.status !== 'not-run').length;
  const errors = r.cells.filter((c) => c.status === 'error' && !c.expectedError).length;
  const where = r.outputPath ? ` -> ${shortPath(r.outputPath)}` : '';
  if (r.status === 'ok') {
    const allowed = errors > 0 ? `, ${errors} failing cell${errors > 1 ? 's' : ''} allowed` : '';
    return `ok      ${name}${where} (${ran} cells${allowed}, ${secondsText(r.durationMs)}, run ${r.runId})`;
  }
  return `FAILED  ${name}${where}: ${r.status} (exit ${r.exitCode}): ${r.failure?.message ?? ''} (run ${r.runId})`;
}

/**
 * Renders run events on the terminal: a progress bar per notebook on a TTY (cli-progress),
 * plain lines otherwise or with --log-output. Status goes to stderr; live cell output to stdout
 * (its stderr to stderr), so `--json` keeps stdout clean (then live output goes to stderr).
 */
class Renderer {
  private readonly names = new Map<string, string>();
  private multibar: import('cli-progress').MultiBar | undefined;
  private readonly bars = new Map<string, import('cli-progress').SingleBar>();
  private readonly prefix: boolean;

  constructor(private readonly opts: RunCliOptions, private readonly redactor: Redactor, notebooks: number) {
    this.prefix = notebooks > 1;
    const tty = Boolean(process.stderr.isTTY) && opts.progress !== false;
    if (tty && !opts.quiet && !opts.logOutput) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const progress: typeof import('cli-progress') = require('cli-progress');
      this.multibar = new progress.MultiBar(
        {
          stream: process.stderr,
          format: '{name} [{bar}] {value}/{total} cells | {duration_formatted} | {status}',
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          barsize: 24,
          fps: 10,
        },
        progress.Presets.shades_classic,
      );
    }
  }

  private line(text: string): void {
    const safe = this.redactor.redact(text);
    if (this.multibar) this.multibar.log(safe.endsWith('\n') ? safe : safe + '\n');
    else process.stderr.write(safe.endsWith('\n') ? safe : safe + '\n');
  }

  private tag(runId: string): string {
    return this.prefix ? `[${this.names.get(runId) ?? runId}] ` : '';
  }

  handle(e: RunEvent): void {
    if (e.type === 'run-start') this.names.set(e.runId, basename(e.input));
    const quiet = this.opts.quiet;
    switch (e.type) {
      case 'run-start':
        if (this.multibar) this.bars.set(e.runId, this.multibar.create(e.codeCells, 0, { name: basename(e.input), status: 'starting kernel' }));
        else if (!quiet) this.line(`${this.tag(e.runId)}running ${shortPath(e.input)} (${e.codeCells} code cells, run ${e.runId})`);
        break;
      case 'kernel-ready':
        if (this.multibar) this.bars.get(e.runId)?.update({ status: `kernel ready (${secondsText(e.ms)})` });
        else if (!quiet) this.line(`${this.tag(e.runId)}kernel ready in ${secondsText(e.ms)}`);
        break;
      case 'kernel-output':
        if (!quiet && process.env.RUNBOOK_DEBUG) this.line(`${this.tag(e.runId)}[kernel] ${e.text.trimEnd()}`);
        break;
      case 'cell-start':
        if (this.multibar) this.bars.get(e.runId)?.update({ status: `cell ${e.ordinal}: ${e.firstLine}` });
        else if (this.opts.logOutput && !quiet) this.line(`${this.tag(e.runId)}--- cell ${e.ordinal}/${e.total} (notebook cell ${e.index + 1}) ---`);
        break;
      case 'cell-output': {
        const text = this.prefix ? e.text.replace(/^(?=.)/gm, this.tag(e.runId)) : e.text;
        const toStderr = e.stream === 'stderr' || this.opts.json;
        (toStderr ? process.stderr : process.stdout).write(text);
        break;
      }
      case 'cell-display':
        (this.opts.json ? process.stderr : process.stdout).write(`${this.tag(e.runId)}[display: ${e.mimeTypes.join(', ')}]${e.text ? ` ${e.text}` : ''}\n`);
        break;
      case 'cell-end': {
        const failed = e.status !== 'ok';
        const what = failed ? `${e.status}${e.expectedError ? ' (expected: raises-exception)' : ''}${e.error ? `: ${e.error.ename}: ${e.error.evalue}` : ''}` : 'ok';
        if (this.multibar) {
          this.bars.get(e.runId)?.update(e.ordinal, { status: `cell ${e.ordinal} ${failed ? e.status : 'ok'}` });
          if (failed && !e.expectedError) this.line(`${this.tag(e.runId)}cell ${e.ordinal}/${e.total} (notebook cell ${e.index + 1}) ${what}`);
        } else if (!quiet || (failed && !e.expectedError)) {
          this.line(`${this.tag(e.runId)}cell ${e.ordinal}/${e.total} ${what} (${secondsText(e.durationMs)})`);
        }
        break;
      }
      case 'run-end':
        this.bars.get(e.runId)?.update({ status: e.result.status });
        break;
    }
  }

  stop(): void {
    this.multibar?.stop();
  }
}

function printParameters(params: TypedParameter[], notebook: string, json: boolean): void {
  const shown = params.map((p) => ({
    name: p.name,
    type: p.type,
    ...(p.expandedType ? { expanded_type: p.expandedType } : {}),
    default: p.secret ? '***' : p.defaultSource ?? null,
    secret: p.secret,
    help: p.comment ?? null,
  }));
  if (json) {
    process.stdout.write(JSON.stringify({ notebook, parameters: shown }, null, 2) + '\n');
    return;
  }
  if (shown.length === 0) {
    process.stdout.write(`${notebook} has no parameters (no code cell tagged 'parameters' declaring any).\n`);
    return;
  }
  const lines = [`Parameters of ${notebook} (set with -p name=value, -r name=value, -y 'yaml', -f file.yaml):`];
  for (const p of shown) {
    const type = p.expanded_type ? `${p.type} = ${p.expanded_type}` : p.type;
    const flags = p.secret ? ' [secret]' : '';
    lines.push(`  ${p.name}: ${type} (default: ${p.default ?? 'none'})${flags}${p.help ? `  ${p.help}` : ''}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

/** `runbook run`: run notebooks headless on the tslab kernel and save the executed copies. */
export function register(program: Command): void {
  program
    .command('run')
    .description(
      'Run notebooks on a fresh tslab kernel (no Python, no Jupyter) and save the executed copies.\n' +
        'One notebook: runbook run IN.ipynb [OUT.ipynb] (default OUT: out/<name>).\n' +
        'Several:      runbook run a.ipynb b.ipynb --out-dir DIR [--jobs 2].',
    )
    .argument('<notebooks...>', 'the notebook to run and optionally where to save it; with --out-dir, any number of notebooks')
    .option('-p, --parameter <name=value>', 'set a parameter; the value is read as JSON unless the parameter is string-typed (repeatable)', collect)
    .option('-r, --raw-parameter <name=value>', 'set a parameter to a string, verbatim (repeatable)', collect)
    .option('-f, --parameters-file <yaml>', 'read parameters from a YAML file (repeatable)', collect)
    .option('-y, --parameters-yaml <yaml>', 'read parameters from a YAML string (repeatable)', collect)
    .option('--help-notebook', "list the notebook's parameters (type, default, comment) and exit")
    .option('--allow-errors', 'keep running after a failing cell (the run then succeeds; failures stay in the notebook)')
    .option('--cell-timeout <seconds>', 'interrupt a cell that runs longer, then give up (exit 5)', positiveSeconds('--cell-timeout'))
    .option('--run-timeout <seconds>', 'limit for the whole run, kernel start included (exit 5)', positiveSeconds('--run-timeout'))
    .option('--start-timeout <seconds>', 'limit for the kernel to start (exit 5)', positiveSeconds('--start-timeout'), 60)
    .option('--log-output', "stream each cell's output to the terminal as it arrives")
    .option('--out-dir <dir>', 'write every executed notebook to DIR under its own name (allows several notebooks)')
    .option('-j, --jobs <n>', 'with --out-dir: how many notebooks run at once, each on its own kernel', positiveInt, 1)
    .option('--cwd <dir>', "the kernel's working directory (default: the project root, so notebooks import ./src/...)")
    .option('--ledger <path>', 'run ledger to append to (default: $RUNBOOK_LEDGER or runs/ledger.jsonl)')
    .option('--no-ledger', 'do not record the run in the ledger')
    .option('--no-progress', 'plain progress lines even on a terminal')
    .option('-q, --quiet', 'print only failures')
    .option('--json', 'print the run results as JSON on stdout')
    .addHelpText(
      'after',
      '\nParameters: the first code cell tagged "parameters" declares them, e.g.\n' +
        "  type Mode = 'dev' | 'prod';\n  const mode: Mode = 'dev'; // where to deploy\n  const apiKey: string = ''; // @secret\n" +
        'Values are checked against the declared types before the kernel starts. Sources apply in the order\n' +
        '-f, -y, -r, -p (later wins). Secret parameters and credential-named environment variables are\n' +
        `replaced by *** in the saved notebook, the ledger and all output.\n\n${EXIT_CODE_HELP}`,
    )
    .action(async (notebooks: string[], opts: RunCliOptions) => {
      const runner = await import('../../runner');
      if (opts.helpNotebook) {
        if (notebooks.length !== 1) throw new RunbookError('usage', '--help-notebook takes exactly one notebook');
        try {
          const { notebook } = await runner.readNotebook(notebooks[0]);
          printParameters(runner.inspectParameters(notebook, opts.cwd ?? runner.projectRoot()), notebooks[0], Boolean(opts.json));
        } catch (err) {
          if (!(err instanceof runner.NotebookInvalidError)) throw err;
          process.stderr.write(`runbook: ${err.message}\n`);
          process.exitCode = ExitCode.notebookInvalid;
        }
        return;
      }
      let inputs: string[];
      let output: string | undefined;
      if (opts.outDir) {
        inputs = notebooks;
      } else {
        if (notebooks.length > 2) throw new RunbookError('usage', 'several notebooks need --out-dir DIR (without it the arguments are IN [OUT])');
        if (opts.jobs > 1) throw new RunbookError('usage', '--jobs needs --out-dir');
        [inputs, output] = [[notebooks[0]], notebooks[1]];
      }

      const redactor = Redactor.fromEnv();
      const renderer = new Renderer(opts, redactor, inputs.length);
      const controller = new AbortController();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals += 1;
        // A second Ctrl-C does not wait for the clean shutdown (kernels are killed on exit).
        if (signals > 1) process.exit(signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted);
        process.stderr.write(`runbook: ${signal}: stopping the kernel and saving the partial notebook...\n`);
        controller.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const common = {
        parameterSources: { files: opts.parametersFile, yamls: opts.parametersYaml, raw: opts.rawParameter, params: opts.parameter },
        cwd: opts.cwd,
        timeouts: {
          cellMs: opts.cellTimeout !== undefined ? opts.cellTimeout * 1000 : undefined,
          runMs: opts.runTimeout !== undefined ? opts.runTimeout * 1000 : undefined,
          startMs: opts.startTimeout * 1000,
        },
        allowErrors: Boolean(opts.allowErrors),
        logOutput: Boolean(opts.logOutput),
        ledger: opts.ledger,
        signal: controller.signal,
        onEvent: (e: RunEvent) => renderer.handle(e),
      };
      let results: RunResult[];
      try {
        results = opts.outDir
          ? await runner.runNotebooks(inputs, { ...common, outDir: opts.outDir, jobs: opts.jobs })
          : [await runner.runNotebook({ ...common, input: inputs[0], output })];
      } finally {
        renderer.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      if (opts.json) {
        const summary = results.map((r) => ({ ...r }));
        process.stdout.write(redactor.redact(JSON.stringify(summary.length === 1 && !opts.outDir ? summary[0] : summary, null, 2)) + '\n');
      }
      for (const r of results) {
        if (r.status !== 'ok' || !opts.quiet) process.stderr.write(redactor.redact(summaryLine(r)) + '\n');
      }
      const failed = results.find((r) => r.status !== 'ok');
      process.exitCode = failed ? failed.exitCode : ExitCode.ok;
    });
}
