import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zmq from 'zeromq';
import { decodeMessage, encodeMessage, newMessage, type JupyterMessage } from './protocol';
import { kernelPreloadScript, tslabBin } from './paths';

/**
 * A tslab kernel in a child process, driven over ZeroMQ with the Jupyter messaging protocol.
 * No Python and no Jupyter server: the runner writes the connection file, spawns
 * `node <tslab>/bin/tslab kernel --config-path <file>` and talks to shell, control and iopub.
 */

export interface KernelStartOptions {
  /** The kernel's working directory (tslab compiles local .ts imports only below it). */
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Give up when the kernel has not answered within this time. */
  startTimeoutMs: number;
  /** Kernel process output outside of cells (startup errors, native warnings). */
  onProcessOutput?: (text: string) => void;
  /** Called with the process id as soon as the kernel process is spawned. */
  onSpawn?: (pid: number) => void;
  /** Stops waiting for readiness (the kernel is then killed). */
  signal?: AbortSignal;
}

export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Why the kernel could not be started. */
export class KernelStartError extends Error {
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
    this.name = 'KernelStartError';
  }
}

/** The result of one execute_request. */
export type ExecuteOutcome =
  | {
      kind: 'replied';
      status: 'ok' | 'error' | 'abort';
      executionCount: number | null;
      /** Header dates (kernel clock) of the busy/idle status and the reply, as nbclient records them. */
      busyAt?: string;
      replyAt: string;
      idleAt: string;
      /** The reply came only after the runner interrupted the cell on timeout. */
      interrupted: boolean;
    }
  /** Timed out and the kernel ignored the interrupt within the grace period. */
  | { kind: 'unresponsive' }
  | { kind: 'died'; exit: KernelExit };

export interface ExecuteOptions {
  /** Interrupt (SIGINT) the cell after this time; undefined = no limit. */
  timeoutMs?: number;
  /** How long to wait for the reply after the interrupt before giving up on the kernel. */
  interruptGraceMs?: number;
  onIopub: (msg: JupyterMessage) => void;
  /** Called when the timeout fires, before the interrupt is sent. */
  onTimeout?: () => void;
}

interface Connection {
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  ip: string;
  key: string;
  transport: 'tcp';
  signature_scheme: 'hmac-sha256';
  kernel_name: string;
}

/**
 * Kills the kernel's process group: the kernel is spawned detached, so it leads its own group, and
 * processes a cell started without detaching (e.g. `execSync('sleep 60')`) go with it.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Every kernel process still alive in this process, killed synchronously if the runner exits. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
}

/** Five distinct free loopback ports (held open together so they cannot coincide). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

const PORT_RETRIES = 3;
/** What tslab prints when zeromq cannot bind a port of the connection file. */
const PORT_TAKEN = /EADDRINUSE|Address already in use/;
const STDERR_TAIL = 4000;

export class Kernel {
  /** `kernel_info_reply` content (language_info, implementation, ...). */
  info: Record<string, unknown> = {};
  /** Milliseconds from spawn to a kernel answering on shell and iopub. */
  startMs = 0;

  private readonly session = randomUUID();
  // The kernel binds its ports only once it is warmed up (seconds): retry connecting every 10 ms
  // rather than zeromq's default 100 ms, so the runner notices at once.
  private readonly shell = new zmq.Dealer({ linger: 0, reconnectInterval: 10 });
  private readonly control = new zmq.Dealer({ linger: 0, reconnectInterval: 10 });
  // Unlimited: with the default high-water mark a burst of output beyond 1000 messages is dropped.
  private readonly iopub = new zmq.Subscriber({ linger: 0, reconnectInterval: 10, receiveHighWaterMark: 0 });
  private readonly pendingReplies = new Map<string, (msg: JupyterMessage) => void>();
  private readonly iopubHandlers = new Map<string, (msg: JupyterMessage) => void>();
  /** The last finished request whose iopub handler still receives late output (see execute). */
  private lingering: string | undefined;
  private readonly exitWaiters = new Set<(exit: KernelExit) => void>();
  private iopubSeen = false;
  private readonly iopubWaiters = new Set<() => void>();
  private exitInfo: KernelExit | undefined;
  private stderrTail = '';
  private closed = false;
  private protocolError: Error | undefined;
  private spawnError: Error | undefined;
  /** Resolves when the kernel reports that one of its ports was taken (it then never answers). */
  private markPortTaken!: () => void;
  private readonly portTaken = new Promise<undefined>((resolve) => (this.markPortTaken = () => resolve(undefined)));

  private constructor(
    private readonly child: ChildProcess,
    private readonly connection: Connection,
    private readonly connectionDir: string,
    onProcessOutput: ((text: string) => void) | undefined,
  ) {
    track(child);
    const onData = (buf: Buffer) => {
      const text = buf.toString('utf8');
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL);
      if (PORT_TAKEN.test(this.stderrTail)) this.markPortTaken();
      onProcessOutput?.(text);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = (exit: KernelExit) => {
      if (this.exitInfo) return;
      live.delete(child);
      this.exitInfo = exit;
      for (const w of this.exitWaiters) w(exit);
      this.exitWaiters.clear();
    };
    child.on('exit', (code, signal) => exited({ code, signal }));
    // A process that could not be spawned at all (bad cwd, missing node) gets no 'exit' event.
    child.on('error', (err) => {
      this.spawnError = err;
      if (child.pid === undefined) exited({ code: null, signal: null });
    });
  }

  /** The kernel process id (for diagnostics and tests). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Set once the kernel process has exited. */
  get exit(): KernelExit | undefined {
    return this.exitInfo;
  }

  /** Spawns a kernel and waits until it answers on shell and publishes on iopub. */
  static async start(options: KernelStartOptions): Promise<Kernel> {
    if (!existsSync(options.cwd) || !statSync(options.cwd).isDirectory()) {
      throw new KernelStartError(`the kernel's working directory ${options.cwd} does not exist`, false);
    }
    const deadline = Date.now() + options.startTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const kernel = await Kernel.spawn(options);
      options.onSpawn?.(kernel.pid);
      try {
        await kernel.waitReady(deadline, options.signal);
        return kernel;
      } catch (err) {
        await kernel.shutdown(false);
        // Ports are probed, then released for the kernel to bind: another process may take one in between.
        if (attempt < PORT_RETRIES && PORT_TAKEN.test(kernel.stderrTail) && Date.now() < deadline) continue;
        throw err;
      }
    }
  }

  private static async spawn(options: KernelStartOptions): Promise<Kernel> {
    const [shell, iopub, stdin, control, hb] = await freePorts(5);
    const connection: Connection = {
      shell_port: shell, iopub_port: iopub, stdin_port: stdin, control_port: control, hb_port: hb,
      ip: '127.0.0.1', key: randomUUID(), transport: 'tcp', signature_scheme: 'hmac-sha256', kernel_name: 'tslab',
    };
    const dir = mkdtempSync(join(tmpdir(), 'runbook-kernel-'));
    const file = join(dir, 'kernel.json');
    writeFileSync(file, JSON.stringify(connection), { mode: 0o600 });
    const child = spawn(
      process.execPath,
      ['--require', kernelPreloadScript(), tslabBin(), 'kernel', '--config-path', file],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        // Own process group: a terminal Ctrl-C reaches the runner only, which then shuts the kernel down.
        detached: true,
      },
    );
    const kernel = new Kernel(child, connection, dir, options.onProcessOutput);
    kernel.connect();
    return kernel;
  }

  private address(port: number): string {
    return `tcp://${this.connection.ip}:${port}`;
  }

  private connect(): void {
    this.shell.connect(this.address(this.connection.shell_port));
    this.control.connect(this.address(this.connection.control_port));
    this.iopub.connect(this.address(this.connection.iopub_port));
    this.iopub.subscribe();
    void this.receiveLoop(this.shell, (msg) => this.onReply(msg));
    void this.receiveLoop(this.control, (msg) => this.onReply(msg));
    void this.receiveLoop(this.iopub, (msg) => {
      if (!this.iopubSeen) {
        this.iopubSeen = true;
        for (const w of this.iopubWaiters) w();
      }
      const parent = msg.parent_header.msg_id;
      if (this.lingering && parent !== this.lingering && msg.header.msg_type === 'status') {
        // The kernel has started on the next request: nothing more can arrive for the previous one.
        this.iopubHandlers.delete(this.lingering);
        this.lingering = undefined;
      }
      if (parent) this.iopubHandlers.get(parent)?.(msg);
    });
  }

  private async receiveLoop(socket: zmq.Dealer | zmq.Subscriber, dispatch: (msg: JupyterMessage) => void): Promise<void> {
    try {
      for await (const frames of socket) {
        let msg: JupyterMessage;
        try {
          msg = decodeMessage(this.connection.key, frames);
        } catch (err) {
          // A message we cannot trust: treat the kernel as broken rather than guess.
          this.protocolError = err as Error;
          killGroup(this.child, 'SIGKILL');
          return;
        }
        dispatch(msg);
      }
    } catch {
      // The socket was closed at shutdown.
    }
  }

  private onReply(msg: JupyterMessage): void {
    const parent = msg.parent_header.msg_id;
    const waiter = parent ? this.pendingReplies.get(parent) : undefined;
    if (waiter) {
      this.pendingReplies.delete(parent!);
      waiter(msg);
    }
  }

  /** Resolves with the exit of the kernel process (immediately if it has already exited). */
  private waitExit(): Promise<KernelExit> {
    if (this.exitInfo) return Promise.resolve(this.exitInfo);
    return new Promise((resolve) => this.exitWaiters.add(resolve));
  }

  private describeExit(exit: KernelExit): string {
    if (this.spawnError && exit.code === null && exit.signal === null) return `could not be spawned (${this.spawnError.message})`;
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    const why = this.protocolError ? `: ${this.protocolError.message}` : '';
    return `exited with ${how}${why}`;
  }

  /** The last lines the kernel process wrote outside of cells (startup errors). */
  get processOutputTail(): string {
    return this.stderrTail.trim();
  }

  private send(socket: zmq.Dealer, msg: JupyterMessage): Promise<JupyterMessage> {
    const reply = new Promise<JupyterMessage>((resolve) => this.pendingReplies.set(msg.header.msg_id, resolve));
    void socket.send(encodeMessage(this.connection.key, msg)).catch(() => {
      // The socket closed under us; the exit watcher reports the failure.
    });
    return reply;
  }

  /** Resolves with `value`, or with undefined after `ms` or when the kernel exits. */
  private race<T>(value: Promise<T>, ms: number): Promise<T | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      if (!Number.isFinite(ms)) return;
      timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
      timer.unref();
    });
    return Promise.race([value, timeout, this.waitExit().then(() => undefined)]).finally(() => clearTimeout(timer));
  }

  /**
   * Readiness: a shell reply alone does not prove the iopub subscription is connected (PUB/SUB
   * slow joiner), so ask for kernel_info until iopub has delivered a message too.
   */
  private async waitReady(deadline: number, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    const aborted = new Promise<undefined>((resolve) => signal?.addEventListener('abort', () => resolve(undefined), { once: true }));
    while (!this.iopubSeen) {
      if (signal?.aborted) throw new KernelStartError('kernel start aborted', false);
      if (this.exitInfo) {
        const tail = this.processOutputTail;
        throw new KernelStartError(`the kernel ${this.describeExit(this.exitInfo)}${this.spawnError ? '' : ' during startup'}${tail ? `: ${tail}` : ''}`, false);
      }
      if (Date.now() >= deadline) {
        const tail = this.processOutputTail;
        throw new KernelStartError(`the kernel did not answer within ${Math.round((deadline - started) / 1000)} s${tail ? `: ${tail}` : ''}`, true);
      }
      if (PORT_TAKEN.test(this.stderrTail)) throw new KernelStartError(`the kernel could not bind its ports: ${this.processOutputTail}`, false);
      const request = this.send(this.shell, newMessage(this.session, 'kernel_info_request', {}));
      const reply = await this.race(Promise.race([request, aborted, this.portTaken]), deadline - Date.now());
      if (reply) {
        this.info = reply.content;
        if (!this.iopubSeen) await this.race(new Promise<void>((r) => this.iopubWaiters.add(r)), 100);
        this.iopubWaiters.clear();
      }
    }
    this.startMs = Date.now() - started;
  }

  /**
   * Runs `code` and resolves when both the shell reply and the iopub idle status for it arrived
   * (waiting for only one of them can lose the status or trailing output).
   */
  async execute(code: string, options: ExecuteOptions): Promise<ExecuteOutcome> {
    if (this.exitInfo) return { kind: 'died', exit: this.exitInfo };
    const msg = newMessage(this.session, 'execute_request', {
      code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true,
    });
    const id = msg.header.msg_id;
    let busyAt: string | undefined;
    let idleAt: string | undefined;
    let markIdle!: () => void;
    const idle = new Promise<void>((resolve) => (markIdle = resolve));
    this.iopubHandlers.set(id, (m) => {
      if (m.header.msg_type === 'status') {
        const state = (m.content as { execution_state?: string }).execution_state;
        if (state === 'busy') busyAt = m.header.date;
        if (state === 'idle') {
          idleAt = m.header.date;
          markIdle();
        }
        return;
      }
      options.onIopub(m);
    });
    const replied = this.send(this.shell, msg);
    const done = Promise.all([replied, idle]).then(([reply]) => reply);
    try {
      let interrupted = false;
      let reply = await this.race(done, options.timeoutMs ?? Number.POSITIVE_INFINITY);
      if (!reply && !this.exitInfo) {
        interrupted = true;
        options.onTimeout?.();
        this.interrupt();
        reply = await this.race(done, options.interruptGraceMs ?? 2000);
        if (!reply && !this.exitInfo) return { kind: 'unresponsive' };
      }
      if (!reply) {
        // Let iopub messages already on their way be dispatched before the cell is closed.
        await delay(20);
        return { kind: 'died', exit: this.exitInfo! };
      }
      const content = reply.content as { status?: string; execution_count?: number };
      const status = content.status === 'ok' || content.status === 'abort' ? content.status : 'error';
      return {
        kind: 'replied',
        status,
        executionCount: typeof content.execution_count === 'number' ? content.execution_count : null,
        busyAt,
        replyAt: reply.header.date,
        idleAt: idleAt ?? reply.header.date,
        interrupted,
      };
    } finally {
      this.pendingReplies.delete(id);
      // Output written after idle (tslab keeps routing stdout/stderr to the last cell until the next
      // one starts) still reaches `onIopub` until the kernel's next status message.
      if (this.lingering) this.iopubHandlers.delete(this.lingering);
      this.lingering = id;
    }
  }

  /**
   * Waits until every iopub message the kernel published before this call has been dispatched
   * (a kernel_info round trip: its status messages follow them on the same socket), so trailing
   * output of the last cell is not lost at shutdown.
   */
  async fence(timeoutMs = 1000): Promise<void> {
    if (this.exitInfo) return;
    const msg = newMessage(this.session, 'kernel_info_request', {});
    let markIdle!: () => void;
    const idle = new Promise<void>((resolve) => (markIdle = resolve));
    this.iopubHandlers.set(msg.header.msg_id, (m) => {
      if (m.header.msg_type === 'status' && (m.content as { execution_state?: string }).execution_state === 'idle') markIdle();
    });
    try {
      await this.race(Promise.all([this.send(this.shell, msg), idle]), timeoutMs);
    } finally {
      this.iopubHandlers.delete(msg.header.msg_id);
      this.pendingReplies.delete(msg.header.msg_id);
    }
  }

  /** Interrupts the running cell (tslab handles SIGINT: sync loops and pending awaits). */
  interrupt(): void {
    if (!this.exitInfo) this.child.kill('SIGINT');
  }

  /**
   * Stops the kernel: shutdown_request on control, then wait for the process, then SIGKILL.
   * Closes the sockets and removes the connection file. Safe to call more than once.
   * `graceful: false` skips the request (the kernel is stuck or the runner is being terminated).
   */
  async shutdown(graceful = true): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.exitInfo && graceful) {
        await this.race(this.send(this.control, newMessage(this.session, 'shutdown_request', { restart: false })), 1000);
        await this.race(this.waitExit(), 2000);
      }
      if (!this.exitInfo) {
        killGroup(this.child, 'SIGKILL');
        await this.race(this.waitExit(), 5000);
      }
      // Whatever the cells started and left running in the kernel's group goes too.
      killGroup(this.child, 'SIGKILL');
    } finally {
      for (const s of [this.shell, this.control, this.iopub]) s.close();
      this.pendingReplies.clear();
      this.iopubHandlers.clear();
      rmSync(this.connectionDir, { recursive: true, force: true });
    }
  }

  /** SIGKILLs the kernel at once (for exit paths that cannot wait). */
  killNow(): void {
    killGroup(this.child, 'SIGKILL');
  }
}
