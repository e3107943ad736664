import { randomBytes } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { Redactor, REDACTED } from '../lib/redact';
import { addErrorMarkers, removeErrorMarkers } from './banner';
import type { RunEvent, RunEventListener } from './events';
import { Kernel, KernelStartError, type ExecuteOutcome } from './kernel';
import { appendLedger, defaultLedgerPath } from './ledger';
import { LineBuffer } from './line-buffer';
import {
  ensureCellIds, hasTag, readNotebook, serializeNotebook, sourceText, NotebookInvalidError,
  type Cell, type CodeCell, type Notebook, type Output,
} from './notebook';
import { errorFromStderr, hasEscapedError, OutputCollector } from './outputs';
import type { JupyterMessage } from './protocol';
import {
  collectOverrides, declaredParameters, findParametersCell, hasOverrides, injectParametersCell,
  renderInjectedSource, resolveParameters, ParameterError, type ParameterDeclaration, type ParameterOverrides, type TypedParameter,
} from './parameters/index';
import { projectVersion } from '../lib/util/project-root';
import { packageVersion, projectRoot } from './paths';

let cachedVersions: { runner: string; tslab: string } | undefined;
function versions(): { runner: string; tslab: string } {
  return (cachedVersions ??= { runner: projectVersion(), tslab: packageVersion('tslab') });
}
import { EXIT_CODE_BY_STATUS, RunFailedError, type CellResult, type RunFailure, type RunResult, type RunStatus } from './result';
import { NotebookSaver } from './saver';

export interface RunTimeouts {
  /** Per cell: interrupt the cell after this long, then give up on the kernel. Default: none. */
  cellMs?: number;
  /** The whole run, kernel start included. Default: none. */
  runMs?: number;
  /** Kernel start. Default 60 s. */
  startMs?: number;
  /** How long a timed-out cell may take to stop after the interrupt before the kernel is killed. Default 2 s. */
  interruptGraceMs?: number;
}

/** Parameter sources as given on the command line (see collectOverrides for the order). */
export interface ParameterSources {
  files?: readonly string[];
  yamls?: readonly string[];
  raw?: readonly string[];
  params?: readonly string[];
}

export interface RunOptions {
  /** The notebook to run. */
  input: string;
  /** Where to write the executed notebook. Default: `out/<input file name>` under the current directory. */
  output?: string;
  /** Parameter values (checked against the declared types of the `parameters` cell). */
  parameters?: Record<string, unknown>;
  /** Parameters as command-line text; applied after `parameters`. */
  parameterSources?: ParameterSources;
  /** The kernel's working directory. Default: the project root (notebooks import `./src/...`). */
  cwd?: string;
  /** The kernel's environment. Default: this process's. Credential-named variables are redacted. */
  env?: NodeJS.ProcessEnv;
  timeouts?: RunTimeouts;
  /** Keep going after a failing cell (papermill/nbconvert `--allow-errors`). */
  allowErrors?: boolean;
  /** Emit `cell-output` and `cell-display` events as output arrives. */
  logOutput?: boolean;
  onEvent?: RunEventListener;
  /** Further secrets to redact, on top of secret parameters and credential environment variables. */
  redactor?: Redactor;
  /** Abort the run; `signal.reason` 'SIGTERM' ends it as terminated, anything else as interrupted. */
  signal?: AbortSignal;
  /** The run ledger to append to, or false for none. Default: `$RUNBOOK_LEDGER` or `runs/ledger.jsonl`. */
  ledger?: string | false;
  runId?: string;
  /** The run that started this one (a pipeline notebook running child notebooks). */
  parentRunId?: string;
  /** Pause after a failed cell before the next one (tslab aborts requests for 200 ms after an error). Default 250 ms. */
  errorPauseMs?: number;
  /** Throw a RunFailedError instead of returning a failed result. */
  throwOnFailure?: boolean;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const DEFAULT_INTERRUPT_GRACE_MS = 2_000;
const DEFAULT_ERROR_PAUSE_MS = 250;
const SKIP_TAG = 'skip-execution';
const RAISES_TAG = 'raises-exception';

/** A sortable, unique run id: UTC time plus random bits. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', '-');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** `out/<name>` under the current directory. */
export function defaultOutputPath(input: string): string {
  return resolve('out', basename(input));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** Secret values as strings the redactor can match (string leaves, and the JSON of non-strings). */
function secretStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || value === undefined || typeof value === 'boolean') return [];
  if (typeof value === 'number') return [String(value)];
  const leaves: string[] = [JSON.stringify(value)];
  for (const v of Array.isArray(value) ? value : Object.values(value as object)) leaves.push(...secretStrings(v));
  return leaves;
}

function firstLine(source: string): string {
  const line = source.split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 70 ? line.slice(0, 67) + '...' : line;
}

interface Abort {
  status: 'interrupted' | 'terminated';
}

/**
 * Runs a notebook on a fresh tslab kernel and writes the executed copy.
 * Never throws for a failed run (unless `throwOnFailure`): the result says what happened, with
 * the documented exit code; the library prints nothing (listen to `onEvent`).
 */
export async function runNotebook(options: RunOptions): Promise<RunResult> {
  const result = await new NotebookRun(options).run();
  if (options.throwOnFailure && result.status !== 'ok') throw new RunFailedError(result);
  return result;
}

class NotebookRun {
  private readonly runId: string;
  private readonly started = new Date();
  private readonly inputPath: string;
  private readonly outputPath: string;
  private readonly cwd: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly redactor: Redactor;
  private readonly collector = new OutputCollector();
  private readonly cells: CellResult[] = [];
  private notebook: Notebook | undefined;
  private inputSha256: string | null = null;
  private saver: NotebookSaver | undefined;
  private kernel: Kernel | undefined;
  /** The kernel being started: finish() waits for it so that even a failed run stops its kernel. */
  private starting: Promise<Kernel> | undefined;
  private startAbort: AbortController | undefined;
  private kernelPid: number | undefined;
  private failure: RunFailure | undefined;
  private failedCell: Cell | undefined;
  private parameters: Record<string, unknown> = {};
  private declarations: ParameterDeclaration[] = [];
  /** Code the kernel gets instead of the saved source (the injected cell with real secret values). */
  private readonly kernelSource = new Map<Cell, string>();
  private abort: Abort | undefined;
  private readonly aborted: Promise<Abort>;

  constructor(private readonly options: RunOptions) {
    this.runId = options.runId ?? newRunId(this.started);
    this.inputPath = resolve(options.input);
    this.outputPath = resolve(options.output ?? defaultOutputPath(options.input));
    this.cwd = resolve(options.cwd ?? projectRoot());
    this.env = options.env ?? process.env;
    this.redactor = Redactor.fromEnv(this.env);
    if (options.redactor) this.redactor.merge(options.redactor);
    this.aborted = new Promise<Abort>((resolveAbort) => {
      const signal = options.signal;
      if (!signal) return;
      const onAbort = () => {
        this.abort = { status: signal.reason === 'SIGTERM' ? 'terminated' : 'interrupted' };
        resolveAbort(this.abort);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private emit(event: RunEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // a failing listener must not break the run
    }
  }

  private redact(text: string): string {
    return this.redactor.redact(text);
  }

  async run(): Promise<RunResult> {
    try {
      await this.execute();
    } catch (err) {
      // Unexpected (a bug, an unwritable output path): still stop the kernel, save and record the run.
      this.fail({ kind: 'internal', message: `runner error: ${(err as Error).message}` });
    }
    return this.finish();
  }

  private fail(failure: RunFailure, cell?: Cell): void {
    if (this.failure) return;
    this.failure = { ...failure, message: this.redact(failure.message) };
    this.failedCell = cell;
  }

  private async execute(): Promise<void> {
    // 1. The notebook and its parameters: everything that can be wrong with the input is found
    //    before a kernel starts.
    const early = this.abort; // a local: narrowing this.abort here would wrongly persist across the awaits below
    if (early) return this.fail({ kind: early.status, message: `the run was ${early.status} before it started` });
    let overrides: ParameterOverrides;
    try {
      const read = await readNotebook(this.inputPath);
      this.notebook = read.notebook;
      this.inputSha256 = read.sha256;
      overrides = collectOverrides(this.options.parameterSources ?? {});
      overrides.values = { ...(this.options.parameters ?? {}), ...overrides.values };
      for (const name of Object.keys(overrides.texts)) delete overrides.values[name];
    } catch (err) {
      if (err instanceof NotebookInvalidError) return this.fail({ kind: 'notebook-invalid', message: err.message });
      if (err instanceof ParameterError) return this.fail({ kind: 'bad-parameters', message: err.message, issues: [...err.issues] });
      throw err;
    }
    const notebook = this.notebook;
    let typed: TypedParameter[] = [];
    if (hasOverrides(overrides)) {
      try {
        const resolved = resolveParameters(notebook, overrides, this.cwd);
        typed = resolved.parameters;
        this.declarations = typed;
        this.parameters = resolved.values;
      } catch (err) {
        if (!(err instanceof ParameterError)) throw err;
        // Secret names are known even when values are wrong: keep their values out of the message.
        this.addSecrets(overrides, safeDeclarations(notebook));
        return this.fail({ kind: 'bad-parameters', message: err.message, issues: [...err.issues] });
      }
      this.addSecrets(overrides, typed);
    }

    // 2. The output notebook as it will be saved.
    removeErrorMarkers(notebook);
    if (hasOverrides(overrides)) {
      const at = injectParametersCell(notebook, renderInjectedSource(typed, this.parameters, true));
      this.kernelSource.set(notebook.cells[at], renderInjectedSource(typed, this.parameters, false));
    }
    ensureCellIds(notebook);
    for (const cell of notebook.cells) {
      if (cell.cell_type !== 'code') continue;
      cell.outputs = [];
      cell.execution_count = null;
      delete cell.metadata.execution;
      delete cell.metadata.runbook;
      cell.metadata.papermill = { exception: null, start_time: null, end_time: null, duration: null, status: 'pending' };
    }
    notebook.metadata.kernelspec = { name: 'tslab', display_name: 'TypeScript (cpd-runbook)', language: 'typescript' };
    this.writeRunMetadata();
    this.saver = new NotebookSaver(this.outputPath, () => this.serialize(), () => this.emit({ type: 'saved', runId: this.runId, path: this.outputPath }));
    const toRun = notebook.cells.filter((c): c is CodeCell => c.cell_type === 'code' && !hasTag(c, SKIP_TAG) && sourceText(c.source).trim() !== '');
    this.emit({
      type: 'run-start', runId: this.runId, input: this.inputPath, output: this.outputPath,
      codeCells: toRun.length, parameters: this.redactedParameters(),
    });

    // 3. The kernel. Without overrides the parameters cell is only read for defaults and secrets,
    //    which can happen while the kernel boots.
    const runDeadline = this.options.timeouts?.runMs !== undefined ? this.started.getTime() + this.options.timeouts.runMs : Infinity;
    const startMs = Math.min(this.options.timeouts?.startMs ?? DEFAULT_START_TIMEOUT_MS, runDeadline - Date.now());
    const startAbort = (this.startAbort = new AbortController());
    void this.aborted.then(() => startAbort.abort());
    let markSpawned!: () => void;
    const spawned = new Promise<void>((r) => (markSpawned = r));
    const starting = (this.starting = Kernel.start({
      cwd: this.cwd,
      env: { ...this.env, RUNBOOK_RUN_ID: this.runId, RUNBOOK_OUTPUT: this.outputPath, ...(this.options.parentRunId ? { RUNBOOK_PARENT_RUN_ID: this.options.parentRunId } : {}) },
      startTimeoutMs: Math.max(0, startMs),
      signal: startAbort.signal,
      onSpawn: (pid) => {
        markSpawned();
        this.kernelPid = pid;
        this.emit({ type: 'kernel-spawned', runId: this.runId, pid });
      },
      onProcessOutput: (text) => this.emit({ type: 'kernel-output', runId: this.runId, text: this.redact(text) }),
    }));
    if (!hasOverrides(overrides) && findParametersCell(notebook) >= 0) {
      await Promise.race([spawned, starting.catch(() => undefined)]);
      this.declarations = safeDeclarations(notebook);
      this.addSecrets(overrides, this.declarations);
      this.writeRunMetadata();
    }
    // The first version of the output (every cell pending), once secret defaults are known.
    try {
      await this.saver.save();
    } catch (err) {
      return this.fail({ kind: 'internal', message: `cannot write the output notebook ${this.outputPath}: ${(err as Error).message}` });
    }
    try {
      this.kernel = await starting;
    } catch (err) {
      if (!(err instanceof KernelStartError)) throw err;
      if (this.abort) return this.fail({ kind: this.abort.status, message: `the run was ${this.abort.status} while the kernel started` });
      const runOut = runDeadline !== Infinity && Date.now() >= runDeadline - 5;
      const message = runOut ? `the run timed out while the kernel started (${err.message})` : `the kernel could not be started: ${err.message}`;
      return this.fail({ kind: err.timedOut ? 'timeout' : 'kernel-died', message });
    }
    this.emit({ type: 'kernel-ready', runId: this.runId, ms: this.kernel.startMs });
    const languageInfo = this.kernel.info.language_info;
    if (languageInfo && typeof languageInfo === 'object') notebook.metadata.language_info = languageInfo;
    this.writeRunMetadata();

    // 4. The cells, in order.
    let ordinal = 0;
    for (const cell of [...notebook.cells]) {
      const index = notebook.cells.indexOf(cell);
      if (cell.cell_type !== 'code') {
        this.cells.push({ index, id: cell.id, cellType: cell.cell_type, status: 'skipped', executionCount: null });
        continue;
      }
      if (!toRun.includes(cell)) {
        cell.metadata.runbook = { status: 'skipped', reason: hasTag(cell, SKIP_TAG) ? SKIP_TAG : 'empty' };
        this.cells.push({ index, id: cell.id, cellType: 'code', status: 'skipped', executionCount: null });
        continue;
      }
      if (this.abort) this.fail({ kind: this.abort.status, message: `the run was ${this.abort.status} before cell ${index + 1}` });
      if (this.failure) {
        this.cells.push({ index, id: cell.id, cellType: 'code', status: 'not-run', executionCount: null });
        continue;
      }
      if (Date.now() >= runDeadline) {
        this.fail({ kind: 'timeout', message: `the run did not finish within ${seconds(this.options.timeouts!.runMs!)} s` });
        this.cells.push({ index, id: cell.id, cellType: 'code', status: 'not-run', executionCount: null });
        continue;
      }
      ordinal += 1;
      const outcome = await this.runCell(cell, index, ordinal, toRun.length, runDeadline);
      if (outcome === 'pause') await Promise.race([sleep(this.options.errorPauseMs ?? DEFAULT_ERROR_PAUSE_MS), this.aborted]);
    }
  }

  /** Runs one cell; returns 'pause' when the next cell must wait out tslab's abort window. */
  private async runCell(cell: CodeCell, index: number, ordinal: number, total: number, runDeadline: number): Promise<'next' | 'pause'> {
    const kernel = this.kernel!;
    const source = this.kernelSource.get(cell) ?? sourceText(cell.source);
    const start = new Date();
    const papermill = cell.metadata.papermill as Record<string, unknown>;
    papermill.start_time = start.toISOString();
    papermill.status = 'running';
    this.emit({ type: 'cell-start', runId: this.runId, index, ordinal, total, id: cell.id, firstLine: this.redact(firstLine(source)) });

    const lines = { stdout: new LineBuffer(), stderr: new LineBuffer() };
    const onIopub = (msg: JupyterMessage) => {
      if (!this.collector.apply(cell.outputs, msg)) return;
      if (this.options.logOutput) this.logOutput(index, msg, lines);
      this.saver!.request();
    };
    const cellMs = this.options.timeouts?.cellMs;
    const remaining = runDeadline - Date.now();
    const runLimited = remaining < (cellMs ?? Infinity);
    const timeoutMs = Math.min(cellMs ?? Infinity, remaining);
    let outcome: ExecuteOutcome | Abort = await Promise.race([
      kernel.execute(source, { onIopub, timeoutMs, interruptGraceMs: this.options.timeouts?.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS }),
      this.aborted,
    ]);
    // tslab reports an unhandled rejection at the end of the event-loop turn that ran the cell,
    // which can be just after the idle status: a kernel_info round trip collects it.
    if ('kind' in outcome && outcome.kind === 'replied' && !this.abort) await Promise.race([kernel.fence(), this.aborted]);
    if (this.options.logOutput) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const rest = lines[stream].flush();
        if (rest) this.emit({ type: 'cell-output', runId: this.runId, index, stream, text: this.redact(rest) });
      }
    }
    const end = new Date();
    const result: CellResult = {
      index, id: cell.id, cellType: 'code', status: 'ok', executionCount: null,
      startTime: start.toISOString(), endTime: end.toISOString(), durationMs: end.getTime() - start.getTime(),
    };
    let next: 'next' | 'pause' = 'next';
    let error: { ename: string; evalue: string } | undefined;
    const addError = (fallback: { ename: string; evalue: string }, override?: { ename: string; evalue: string }, escaped = false) => {
      const existing = cell.outputs.find((o): o is Extract<Output, { output_type: 'error' }> => o.output_type === 'error');
      const out = existing ?? errorFromStderr(cell.outputs, fallback, escaped);
      if (override) Object.assign(out, override);
      if (!existing) cell.outputs.push(out);
      error = { ename: this.redact(out.ename), evalue: this.redact(out.evalue) };
    };

    if (!('kind' in outcome)) {
      // The runner itself was interrupted (Ctrl-C / SIGTERM) while this cell ran.
      const abort = outcome;
      result.status = 'error';
      addError({ ename: 'RunInterrupted', evalue: '' }, { ename: 'RunInterrupted', evalue: `the runner was ${abort.status} while this cell ran` });
      this.fail({ kind: abort.status, message: `the run was ${abort.status} during cell ${index + 1}`, cellIndex: index, cellId: cell.id }, cell);
      kernel.killNow();
    } else {
      outcome = outcome as ExecuteOutcome;
      if (outcome.kind === 'replied') {
        result.executionCount = outcome.executionCount;
        cell.execution_count = outcome.executionCount;
        const execution: Record<string, string> = {};
        if (outcome.busyAt) execution['iopub.status.busy'] = outcome.busyAt;
        execution['shell.execute_reply'] = outcome.replyAt;
        execution['iopub.status.idle'] = outcome.idleAt;
        cell.metadata.execution = execution;
        if (outcome.busyAt) result.kernelMs = Date.parse(outcome.idleAt) - Date.parse(outcome.busyAt);
        if (outcome.interrupted) {
          result.status = 'timeout';
          const limit = runLimited ? `the run's time limit (${seconds(this.options.timeouts!.runMs!)} s)` : `${seconds(cellMs!)} s`;
          addError({ ename: 'CellTimeoutError', evalue: '' }, { ename: 'CellTimeoutError', evalue: `the cell ran longer than ${limit} and was interrupted` });
        } else if (outcome.status === 'error') {
          result.status = 'error';
          addError({ ename: 'CellError', evalue: 'the cell failed (no error text on stderr)' });
          next = 'pause';
        } else if (outcome.status === 'abort') {
          result.status = 'error';
          addError({ ename: 'CellAborted', evalue: '' }, { ename: 'CellAborted', evalue: 'the kernel aborted this cell (it arrived within 200 ms of an earlier error)' });
          next = 'pause';
        } else if (hasEscapedError(cell.outputs)) {
          // The reply says ok, but tslab reported an unhandled rejection or uncaught exception during the cell.
          result.status = 'error';
          addError({ ename: 'UnhandledPromiseRejection', evalue: '' }, undefined, true);
        }
      } else if (outcome.kind === 'unresponsive') {
        result.status = 'timeout';
        const limit = runLimited ? `the run's time limit (${seconds(this.options.timeouts!.runMs!)} s)` : `${seconds(cellMs!)} s`;
        const grace = seconds(this.options.timeouts?.interruptGraceMs ?? DEFAULT_INTERRUPT_GRACE_MS);
        addError({ ename: 'CellTimeoutError', evalue: '' }, {
          ename: 'CellTimeoutError', evalue: `the cell ran longer than ${limit} and did not stop within ${grace} s of the interrupt; the kernel was stopped`,
        });
        kernel.killNow();
      } else {
        result.status = 'died';
        const how = outcome.exit.signal ? `was killed by ${outcome.exit.signal}` : `exited with code ${outcome.exit.code}`;
        addError({ ename: 'KernelDied', evalue: '' }, { ename: 'KernelDied', evalue: `the kernel process ${how} while this cell ran` });
      }
    }

    const failed = result.status !== 'ok';
    const expected = result.status === 'error' && hasTag(cell, RAISES_TAG) && !this.abort;
    if (expected) result.expectedError = true;
    if (error) result.error = error;
    Object.assign(cell.metadata.papermill as object, {
      end_time: end.toISOString(), duration: seconds(result.durationMs!), status: failed ? 'failed' : 'completed', exception: failed,
    });
    if (failed && !this.failure) {
      const where = `cell ${index + 1}${result.executionCount != null ? ` (In [${result.executionCount}])` : ''}`;
      const what = error ? `${error.ename}: ${error.evalue}` : result.status;
      if (result.status === 'timeout') this.fail({ kind: 'timeout', message: `${where}: ${what}`, cellIndex: index, cellId: cell.id }, cell);
      else if (result.status === 'died') this.fail({ kind: 'kernel-died', message: `${where}: ${what}`, cellIndex: index, cellId: cell.id }, cell);
      else if (!expected && !this.options.allowErrors) this.fail({ kind: 'cell-error', message: `${where}: ${what}`, cellIndex: index, cellId: cell.id }, cell);
    }
    this.cells.push(result);
    this.emit({
      type: 'cell-end', runId: this.runId, index, ordinal, total, status: result.status,
      durationMs: result.durationMs!, expectedError: result.expectedError, error: result.error,
    });
    // Rewritten after every cell, in the background (an fsync on a busy disk must not delay the
    // next cell); the saver coalesces requests and the final save is awaited.
    this.saver!.request();
    return failed && next === 'pause' ? 'pause' : 'next';
  }

  private logOutput(index: number, msg: JupyterMessage, lines: Record<'stdout' | 'stderr', LineBuffer>): void {
    const type = msg.header.msg_type;
    if (type === 'stream') {
      const stream = msg.content.name === 'stderr' ? 'stderr' : 'stdout';
      const text = lines[stream].push(String(msg.content.text ?? ''));
      if (text) this.emit({ type: 'cell-output', runId: this.runId, index, stream, text: this.redact(text) });
    } else if (type === 'display_data' || type === 'update_display_data' || type === 'execute_result') {
      const data = (msg.content.data ?? {}) as Record<string, unknown>;
      const plain = data['text/plain'];
      const text = typeof plain === 'string' ? plain : Array.isArray(plain) ? plain.join('') : undefined;
      this.emit({ type: 'cell-display', runId: this.runId, index, mimeTypes: Object.keys(data), text: text === undefined ? undefined : this.redact(text) });
    }
  }

  private addSecrets(overrides: ParameterOverrides, declarations: readonly ParameterDeclaration[]): void {
    for (const d of declarations) {
      if (!d.secret) continue;
      for (const v of [overrides.values[d.name], overrides.texts[d.name], d.hasLiteralDefault ? d.defaultValue : undefined]) {
        for (const s of secretStrings(v)) this.redactor.add(s);
      }
    }
  }

  private secretNames(): Set<string> {
    return new Set(this.declarations.filter((d) => d.secret).map((d) => d.name));
  }

  /** Overrides as recorded (metadata, ledger, events): secrets replaced by ***. */
  private redactedParameters(): Record<string, unknown> {
    const secret = this.secretNames();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.parameters)) out[k] = secret.has(k) ? REDACTED : v;
    return this.redactor.redactDeep(out);
  }

  private defaultParameters(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const d of this.declarations) out[d.name] = d.secret ? REDACTED : d.hasLiteralDefault ? d.defaultValue ?? null : d.defaultSource ?? null;
    return out;
  }

  private writeRunMetadata(end?: Date): void {
    const nb = this.notebook;
    if (!nb) return;
    const duration = end ? seconds(end.getTime() - this.started.getTime()) : null;
    const exception = end ? this.failure !== undefined || this.cells.some((c) => c.status !== 'ok' && c.status !== 'skipped' && c.status !== 'not-run') : null;
    nb.metadata.papermill = {
      default_parameters: this.defaultParameters(),
      parameters: this.redactedParameters(),
      version: `cpd-runbook ${versions().runner}`,
      input_path: this.inputPath,
      output_path: this.outputPath,
      start_time: this.started.toISOString(),
      end_time: end ? end.toISOString() : null,
      duration,
      exception,
    };
    const status = end ? this.status() : 'running';
    nb.metadata.runbook = {
      run_id: this.runId,
      ...(this.options.parentRunId ? { parent_run_id: this.options.parentRunId } : {}),
      runner_version: versions().runner,
      kernel: { name: 'tslab', version: versions().tslab, ...(this.kernel ? { start_s: seconds(this.kernel.startMs) } : {}) },
      cwd: this.cwd,
      input_path: this.inputPath,
      input_sha256: this.inputSha256,
      output_path: this.outputPath,
      start_time: this.started.toISOString(),
      end_time: end ? end.toISOString() : null,
      duration_s: duration,
      status,
      exit_code: end ? EXIT_CODE_BY_STATUS[this.status()] : null,
      ...(this.failure ? { failure: { kind: this.failure.kind, message: this.failure.message, cell_id: this.failure.cellId ?? null } } : {}),
      allow_errors: Boolean(this.options.allowErrors),
      cell_errors: this.cells.filter((c) => c.status === 'error').length,
      timeouts_s: {
        cell: this.options.timeouts?.cellMs !== undefined ? seconds(this.options.timeouts.cellMs) : null,
        run: this.options.timeouts?.runMs !== undefined ? seconds(this.options.timeouts.runMs) : null,
        start: seconds(this.options.timeouts?.startMs ?? DEFAULT_START_TIMEOUT_MS),
      },
      secret_parameters: [...this.secretNames()],
    };
  }

  private status(): RunStatus {
    return this.failure ? this.failure.kind : 'ok';
  }

  private serialize(): string {
    return serializeNotebook(this.redactor.redactDeep(this.notebook!));
  }

  private async finish(): Promise<RunResult> {
    if (!this.kernel && this.starting) {
      // The run failed while its kernel was starting: stop the start (the kernel is killed).
      this.startAbort?.abort();
      this.kernel = await this.starting.catch(() => undefined);
    }
    // The kernel stops while the final notebook is written (the run's end is now).
    const stopping = this.kernel ? this.kernel.shutdown(!this.abort && !this.kernel.exit) : Promise.resolve();
    const end = new Date();
    let outputPath: string | undefined;
    if (this.notebook && this.saver) {
      for (const c of this.notebook.cells) {
        const pm = c.metadata.papermill as Record<string, unknown> | undefined;
        if (c.cell_type === 'code' && pm?.status === 'running') pm.status = 'failed';
      }
      this.writeRunMetadata(end);
      if (this.failure) {
        const cellIndex = this.failedCell ? this.notebook.cells.indexOf(this.failedCell) : undefined;
        addErrorMarkers(this.notebook, {
          summary: this.failure.message,
          cellIndex: cellIndex !== undefined && cellIndex >= 0 ? cellIndex : undefined,
          executionCount: this.failedCell?.cell_type === 'code' ? this.failedCell.execution_count : undefined,
        });
      }
      try {
        await this.saver.save();
        outputPath = this.outputPath;
      } catch (err) {
        this.fail({ kind: 'internal', message: `cannot write the output notebook ${this.outputPath}: ${(err as Error).message}` });
      }
    }
    await stopping;
    const finalStatus = this.status();
    const result: RunResult = {
      runId: this.runId,
      status: finalStatus,
      exitCode: EXIT_CODE_BY_STATUS[finalStatus],
      ...(this.failure ? { failure: this.failure } : {}),
      inputPath: this.inputPath,
      outputPath,
      parameters: this.redactedParameters(),
      startTime: this.started.toISOString(),
      endTime: end.toISOString(),
      durationMs: end.getTime() - this.started.getTime(),
      kernelStartMs: this.kernel?.startMs,
      kernelPid: this.kernelPid,
      cells: this.cells,
    };
    const ledger = this.options.ledger === undefined ? defaultLedgerPath(this.env) : this.options.ledger;
    if (ledger) {
      appendLedger(ledger, {
        run_id: this.runId,
        notebook: this.inputPath,
        input_sha256: this.inputSha256,
        parameters: result.parameters,
        start: result.startTime,
        end: result.endTime,
        duration_s: seconds(result.durationMs),
        status: finalStatus,
        exit_code: result.exitCode,
        output: outputPath ?? null,
        ...(this.failure ? { failure: this.failure.message } : {}),
        ...(this.options.parentRunId ? { parent_run_id: this.options.parentRunId } : {}),
      });
    }
    this.emit({ type: 'run-end', runId: this.runId, result });
    return result;
  }
}

/** Declarations of the parameters cell, or none if the cell does not parse into any. */
function safeDeclarations(notebook: Notebook): ParameterDeclaration[] {
  try {
    return declaredParameters(notebook);
  } catch {
    return [];
  }
}
