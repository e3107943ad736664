import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { ApiError } from '../../errors';
import { baseChildEnv, killGroup, spawnGroupLeader, TextTail } from '../wmla-training/processes';

/** Marks the kernel's protocol lines on stdout (see python/redhareapi/__init__.py). */
const SENTINEL = '\u001eREDHARE ';

/** A kernel's status as shown in `isd_container[].container_status`. IDLE = ready for a task. */
export type KernelStatus = 'STARTING' | 'IDLE' | 'BUSY' | 'STOPPING' | 'ERROR' | 'EXITED';

export interface KernelLaunch {
  /** The interpreter (config `pythonPath`). */
  python: string;
  /** The folder holding the `redhareapi` stand-in (put on PYTHONPATH). */
  apiDir: string;
  /** The deployed kernel file, run as `__main__`. */
  kernelFile: string;
  cwd: string;
  env: Record<string, string>;
  /** Where the kernel's stdout (outside the protocol) and stderr go. */
  logFile: string;
  /** `kernel.connection_timeout`: how long it may take to report started. */
  connectionTimeoutMs: number;
}

const unavailable = (message: string): ApiError => new ApiError(503, 'kernel_unavailable', message);

interface PendingTask {
  id: string;
  resolve: (output: string) => void;
  reject: (err: ApiError) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One Python kernel process: the deployed kernel file run as `__main__` with the `redhareapi`
 * stand-in importable, driven over stdin/stdout JSON lines. It serves one task at a time.
 */
export class KernelProcess {
  status: KernelStatus = 'STARTING';
  /** Why it failed to start or died (with the tail of its output). */
  failure?: string;
  readonly counters = { total: 0, running: 0, finished: 0, failed: 0 };
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly tail = new TextTail();
  private readonly log: WriteStream;
  private current?: PendingTask;
  private stopping = false;

  constructor(
    readonly id: string,
    launch: KernelLaunch,
    private readonly onChange: () => void,
  ) {
    mkdirSync(dirname(launch.logFile), { recursive: true });
    mkdirSync(launch.cwd, { recursive: true });
    this.log = createWriteStream(launch.logFile, { flags: 'a' });
    this.child = spawnGroupLeader(launch.python, ['-u', launch.kernelFile], {
      cwd: launch.cwd,
      env: {
        ...baseChildEnv(),
        PYTHONUNBUFFERED: '1',
        PYTHONIOENCODING: 'utf-8',
        PYTHONPATH: launch.apiDir,
        REDHARE_KERNEL_ID: id,
        ...launch.env,
      },
      stdin: true,
    });
    this.child.stdin!.on('error', () => undefined); // a dead kernel's closed pipe: the exit handler reports it

    let markReady!: () => void;
    let failStart!: (err: ApiError) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    this.ready.catch(() => undefined);
    const connectTimer = setTimeout(() => {
      if (this.status !== 'STARTING') return;
      this.fail(`the kernel did not report started within kernel.connection_timeout (${Math.round(launch.connectionTimeoutMs / 1000)} s)`);
      failStart(unavailable(`Kernel ${id} ${this.failure}`));
      killGroup(this.child.pid);
    }, launch.connectionTimeoutMs);

    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      if (!line.startsWith(SENTINEL)) {
        this.record(`${line}\n`);
        return;
      }
      let message: { type?: string; id?: string; output?: string; error?: string; no_output?: boolean; traceback?: string };
      try {
        message = JSON.parse(line.slice(SENTINEL.length));
      } catch {
        this.record(`${line}\n`);
        return;
      }
      if (message.type === 'ready' && this.status === 'STARTING') {
        clearTimeout(connectTimer);
        this.status = 'IDLE';
        markReady();
        this.onChange();
      } else if (message.type === 'fatal') {
        clearTimeout(connectTimer);
        this.record(message.traceback ?? '');
        this.fail(`on_kernel_start raised ${message.error}`);
        failStart(unavailable(`Kernel ${id} failed to start: ${this.failure}`));
      } else if (message.type === 'result') {
        this.settle(message);
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.record(chunk));

    this.exited = new Promise<void>((resolve) => {
      let done = false;
      const onEnd = (why: string): void => {
        if (done) return;
        done = true;
        clearTimeout(connectTimer);
        const wasStarting = this.status === 'STARTING';
        if (!this.stopping && this.status !== 'ERROR') {
          const output = this.tail.lastLines();
          this.fail(`${why}${output ? `; its last output:\n${output}` : ''}`);
        } else if (this.status !== 'ERROR') {
          this.status = 'EXITED';
        }
        if (wasStarting) failStart(unavailable(`Kernel ${id} failed to start: ${this.failure ?? why}`));
        const task = this.current;
        if (task) {
          this.current = undefined;
          if (task.timer) clearTimeout(task.timer);
          this.counters.running = 0;
          this.counters.failed++;
          task.reject(
            this.stopping
              ? new ApiError(503, 'model_stopping', 'The model was stopped while the task ran')
              : new ApiError(500, 'kernel_crashed', `Kernel ${id} exited while handling the task: ${this.failure}`),
          );
        }
        this.log.end();
        this.onChange();
        resolve();
      };
      this.child.once('error', (err: NodeJS.ErrnoException) =>
        onEnd(err.code === 'ENOENT' ? `'${launch.python}' was not found (config services.wmla-edi.pythonPath)` : `the kernel could not be started: ${err.message}`),
      );
      this.child.once('close', (code, signal) => onEnd(`the kernel process exited (${signal ? `signal ${signal}` : `code ${code}`})`));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Not failed, not ended: counts against the pool's capacity. */
  get alive(): boolean {
    return this.status === 'STARTING' || this.status === 'IDLE' || this.status === 'BUSY';
  }

  /**
   * Runs one task (the kernel must be IDLE and handed to the caller). Resolves with the output the
   * kernel set; rejects 500 (the hook raised, set no output, or the kernel died) or 504 (timeout; the
   * kernel is then killed, it may be stuck).
   */
  run(taskId: string, input: string, timeoutMs: number | undefined, policyTimeoutMs = timeoutMs): Promise<string> {
    if (this.status !== 'BUSY') throw new Error(`kernel ${this.id} is ${this.status}, not reserved for a task`);
    this.counters.total++;
    this.counters.running = 1;
    return new Promise<string>((resolve, reject) => {
      const task: PendingTask = { id: taskId, resolve, reject };
      if (timeoutMs !== undefined) {
        task.timer = setTimeout(() => {
          if (this.current !== task) return;
          this.current = undefined;
          this.counters.running = 0;
          this.counters.failed++;
          this.stopping = true; // its exit is expected now: not a crash
          this.status = 'STOPPING';
          killGroup(this.child.pid);
          this.record(`[sandbox] task ${taskId} exceeded policy.task_execution_timeout: kernel killed\n`);
          reject(new ApiError(504, 'task_timeout', `The task did not finish within policy.task_execution_timeout (${(policyTimeoutMs ?? timeoutMs) / 1000} s); kernel ${this.id} was stopped`));
        }, timeoutMs);
      }
      this.current = task;
      this.child.stdin!.write(`${JSON.stringify({ type: 'task', id: taskId, input })}\n`);
    });
  }

  /** Marks the kernel free again after a task. */
  release(): void {
    if (this.status === 'BUSY') this.status = 'IDLE';
  }

  /** Asks the kernel to shut down (on_kernel_shutdown), then kills its group after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    if (this.status === 'EXITED' || (this.status === 'ERROR' && this.child.exitCode !== null)) return;
    this.stopping = true;
    if (this.status !== 'ERROR') this.status = 'STOPPING';
    this.onChange();
    if (this.child.stdin!.writable) this.child.stdin!.end(`${JSON.stringify({ type: 'shutdown' })}\n`);
    const timer = setTimeout(() => killGroup(this.child.pid), graceMs);
    await this.exited;
    clearTimeout(timer);
    killGroup(this.child.pid); // anything the kernel started and left behind
  }

  private settle(message: { id?: string; output?: string; error?: string; no_output?: boolean; traceback?: string }): void {
    const task = this.current;
    if (!task || task.id !== message.id) return; // the answer to a task that already timed out
    this.current = undefined;
    if (task.timer) clearTimeout(task.timer);
    this.counters.running = 0;
    if (message.error !== undefined) {
      this.counters.failed++;
      task.reject(new ApiError(500, 'kernel_error', `on_task_invoke raised ${message.error}`));
    } else if (message.no_output || typeof message.output !== 'string') {
      this.counters.failed++;
      const output = this.tail.lastLines(4);
      task.reject(new ApiError(500, 'kernel_no_output', `The kernel set no output for the task (task_context.set_output_data was not called)${output ? `; its last output:\n${output}` : ''}`));
    } else {
      this.counters.finished++;
      task.resolve(message.output);
    }
  }

  private fail(reason: string): void {
    this.status = 'ERROR';
    this.failure = reason;
    this.onChange();
  }

  private record(chunk: Buffer | string): void {
    this.tail.push(chunk);
    if (this.log.writable) this.log.write(chunk);
  }
}

export interface PoolOptions {
  modelName: string;
  /** Kernels started at once (`replica` × `policy.kernel_min`, capped). */
  initial: number;
  /** Most kernels at a time (`replica` × `policy.kernel_max`, or the sandbox cap when -1). */
  capacity: number;
  launch: (kernelId: string) => KernelLaunch;
  onChange?: () => void;
}

interface Waiter {
  resolve: (kernel: KernelProcess) => void;
  reject: (err: ApiError) => void;
  timer?: NodeJS.Timeout;
}

/**
 * The kernels of one started model. Requests take an IDLE kernel, or start one while below
 * capacity (so `kernel_min = 0` starts kernels on the first request), or wait for one. A kernel that
 * fails to start makes the pool unavailable (every request gets 503 with the reason) until the model
 * is stopped and started again: the sandbox does not retry a crashing kernel in a loop.
 */
export class KernelPool {
  readonly kernels: KernelProcess[] = [];
  private readonly initialKernels: KernelProcess[] = [];
  startFailure?: string;
  private readonly queue: Waiter[] = [];
  private stopped = false;
  private sequence = 0;
  private readonly recent: number[] = [];

  constructor(private readonly options: PoolOptions) {}

  start(): void {
    for (let i = 0; i < Math.min(this.options.initial, this.options.capacity); i++) this.initialKernels.push(this.launch());
  }

  /**
   * True once every kernel of the start (replica × kernel_min) reported ready or failed. Kernels
   * added later for load do not count: a started model does not go back to starting.
   */
  settled(): boolean {
    return !this.initialKernels.some((k) => k.status === 'STARTING');
  }

  /** Tasks waiting for a kernel. */
  get pending(): number {
    return this.queue.length;
  }

  /** Requests per second over the last 10 s. */
  requestRate(): number {
    const since = Date.now() - 10_000;
    while (this.recent.length > 0 && this.recent[0]! < since) this.recent.shift();
    return this.recent.length / 10;
  }

  /** Runs one request on a kernel; the whole request (wait + run) is bounded by `timeoutMs`. */
  async invoke(taskId: string, input: string, timeoutMs: number | undefined): Promise<string> {
    this.recent.push(Date.now());
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    const kernel = await this.acquire(timeoutMs);
    try {
      const left = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
      return await kernel.run(taskId, input, left, timeoutMs);
    } finally {
      kernel.release();
      this.pump();
    }
  }

  /** Stops every kernel (shutdown hook, then a kill after `graceMs`) and fails waiting requests. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const waiter of this.queue.splice(0)) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(new ApiError(503, 'model_stopping', `Model ${this.options.modelName} is stopping`));
    }
    await Promise.all(this.kernels.map((k) => k.stop(graceMs)));
  }

  private acquire(timeoutMs: number | undefined): Promise<KernelProcess> {
    if (this.stopped) return Promise.reject(new ApiError(503, 'model_stopping', `Model ${this.options.modelName} is stopping`));
    if (this.startFailure) return Promise.reject(unavailable(`Model ${this.options.modelName} has no working kernel: ${this.startFailure}`));
    if (this.options.capacity === 0) return Promise.reject(unavailable(`Model ${this.options.modelName} may not run any kernel (policy.kernel_max is 0)`));
    return new Promise<KernelProcess>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          const at = this.queue.indexOf(waiter);
          if (at >= 0) this.queue.splice(at, 1);
          reject(new ApiError(504, 'task_timeout', `No kernel became free within policy.task_execution_timeout (${timeoutMs / 1000} s)`));
        }, timeoutMs);
      }
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** Hands IDLE kernels to waiting requests, starting kernels while below capacity. */
  private pump(): void {
    if (this.stopped) return;
    if (this.startFailure) {
      for (const waiter of this.queue.splice(0)) {
        if (waiter.timer) clearTimeout(waiter.timer);
        waiter.reject(unavailable(`Model ${this.options.modelName} has no working kernel: ${this.startFailure}`));
      }
      return;
    }
    while (this.queue.length > 0) {
      const idle = this.kernels.find((k) => k.status === 'IDLE');
      if (idle) {
        const waiter = this.queue.shift()!;
        if (waiter.timer) clearTimeout(waiter.timer);
        idle.status = 'BUSY';
        waiter.resolve(idle);
        continue;
      }
      const starting = this.kernels.filter((k) => k.status === 'STARTING').length;
      const alive = this.kernels.filter((k) => k.alive).length;
      if (starting >= this.queue.length || alive >= this.options.capacity) return;
      this.launch();
    }
  }

  private launch(): KernelProcess {
    const id = `${this.options.modelName}-kernel-${++this.sequence}`;
    const kernel = new KernelProcess(id, this.options.launch(id), () => {
      this.options.onChange?.();
    });
    this.kernels.push(kernel);
    kernel.ready.then(
      () => this.pump(),
      (err: ApiError) => {
        if (!this.stopped) this.startFailure ??= err.message.replace(/^Kernel \S+ /, '');
        this.pump();
      },
    );
    // A kernel that ended (a crash, a timeout kill) frees its place for a waiting request.
    void kernel.exited.then(() => this.pump());
    return kernel;
  }
}
