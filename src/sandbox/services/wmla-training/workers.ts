import type { ChildProcess } from 'node:child_process';
import { appendFileSync, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { baseChildEnv, killGroup, processStartTicks, spawnGroupLeader } from './processes';

/** The log files of an exec: `outlog`, `errlog`, and `outerrlog` (both, in arrival order). */
export const LOG_FILES = { outlog: 'stdout.log', errlog: 'stderr.log', outerrlog: 'combined.log' } as const;

/** Appends a `[sandbox] …` line to the exec's errlog and outerrlog (what the service itself reports). */
export function appendSystemLine(logDir: string, line: string): void {
  mkdirSync(logDir, { recursive: true });
  const text = `[sandbox] ${line}\n`;
  appendFileSync(join(logDir, LOG_FILES.errlog), text);
  appendFileSync(join(logDir, LOG_FILES.outerrlog), text);
}

/** A free TCP port on the loopback interface (for MASTER_PORT / TF_CONFIG). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Splits a stream's text into lines and prefixes each one (`[worker-1] `), keeping partial lines. */
function prefixer(prefix: string): { push(chunk: Buffer): string; flush(): string } {
  let carry = '';
  return {
    push(chunk) {
      if (prefix === '') return chunk.toString();
      const text = carry + chunk.toString();
      const cut = text.lastIndexOf('\n');
      if (cut < 0) {
        carry = text;
        return '';
      }
      carry = text.slice(cut + 1);
      return text.slice(0, cut + 1).split('\n').slice(0, -1).map((l) => `${prefix}${l}\n`).join('');
    },
    flush() {
      const rest = carry;
      carry = '';
      return rest === '' || prefix === '' ? rest : `${prefix}${rest}\n`;
    },
  };
}

export interface WorkerSpec {
  command: string;
  args: string[];
  cwd: string;
  /** Per-rank environment on top of the inherited base. */
  env: (rank: number) => Record<string, string>;
  numWorker: number;
  logDir: string;
}

/** How one worker ended: an exit code, a signal, or a spawn failure (`error`). */
export interface WorkerExit {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
}

/**
 * The running workers of one exec: `numWorker` process-group leaders writing to the exec's log
 * files. When one worker fails the others are stopped (a distributed job cannot finish without it).
 * `done` resolves once every worker ended and the log files are flushed.
 */
export class WorkerGroup {
  readonly children: ChildProcess[] = [];
  readonly done: Promise<WorkerExit[]>;
  private readonly exits: WorkerExit[] = [];
  private stopping = false;

  constructor(private readonly spec: WorkerSpec, private readonly onFailureStop: (line: string) => void) {
    mkdirSync(spec.logDir, { recursive: true });
    const files = {
      out: createWriteStream(join(spec.logDir, LOG_FILES.outlog), { flags: 'a' }),
      err: createWriteStream(join(spec.logDir, LOG_FILES.errlog), { flags: 'a' }),
      all: createWriteStream(join(spec.logDir, LOG_FILES.outerrlog), { flags: 'a' }),
    };
    const ended: Promise<WorkerExit>[] = [];
    for (let rank = 0; rank < spec.numWorker; rank++) ended.push(this.startWorker(rank, files));
    this.done = Promise.all(ended).then(async (exits) => {
      await Promise.all(Object.values(files).map((s: WriteStream) => {
        s.end();
        return finished(s).catch(() => undefined);
      }));
      return exits;
    });
  }

  /** `[{rank, pid, startTicks}]` for the durable record (startTicks identifies the process later). */
  identities(): { rank: number; pid?: number; startTicks?: string }[] {
    return this.children.map((child, rank) => ({ rank, pid: child.pid, startTicks: child.pid ? processStartTicks(child.pid) : undefined }));
  }

  /** Kills every worker's process group (SIGKILL). */
  kill(): void {
    this.stopping = true;
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) killGroup(child.pid);
  }

  private startWorker(rank: number, files: { out: WriteStream; err: WriteStream; all: WriteStream }): Promise<WorkerExit> {
    const prefix = this.spec.numWorker > 1 ? `[worker-${rank}] ` : '';
    const child = spawnGroupLeader(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...baseChildEnv(), ...this.spec.env(rank) },
    });
    this.children.push(child);
    const out = prefixer(prefix);
    const err = prefixer(prefix);
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = out.push(chunk);
      if (text) {
        files.out.write(text);
        files.all.write(text);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = err.push(chunk);
      if (text) {
        files.err.write(text);
        files.all.write(text);
      }
    });
    return new Promise<WorkerExit>((resolve) => {
      let settled = false;
      const settle = (exit: WorkerExit): void => {
        if (settled) return;
        settled = true;
        for (const [p, f] of [[out, files.out], [err, files.err]] as const) {
          const rest = p.flush();
          if (rest) {
            f.write(rest);
            files.all.write(rest);
          }
        }
        this.exits.push(exit);
        const failed = exit.error !== undefined || exit.code !== 0;
        if (failed && !this.stopping && this.children.some((c) => c.exitCode === null && c.signalCode === null && c !== child)) {
          this.onFailureStop(`worker ${rank} failed (${describeExit(exit)}): stopping the other workers`);
          this.kill();
        }
        resolve(exit);
      };
      child.once('error', (e: NodeJS.ErrnoException) => {
        const why = e.code === 'ENOENT' ? `'${this.spec.command}' was not found` : e.message;
        settle({ rank, code: null, signal: null, error: why });
      });
      child.once('close', (code, signal) => settle({ rank, code, signal }));
    });
  }
}

export function describeExit(exit: WorkerExit): string {
  if (exit.error !== undefined) return exit.error;
  if (exit.signal) return `killed by ${exit.signal}`;
  return `exit code ${exit.code}`;
}
