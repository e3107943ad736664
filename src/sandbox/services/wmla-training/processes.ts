import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Child processes of the WMLA modules (training workers, EDI kernels). Each one leads its own process
 * group, so a kill reaches whatever it started too (a training script's subprocesses, a kernel's
 * pip). A pid alone is not an identity (pids are reused): with the start time from /proc, a later
 * sandbox can tell whether a recorded process is still the one it started.
 */

/** The environment a child inherits from the sandbox: enough to find interpreters, nothing else. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TMPDIR', 'TZ', 'PYENV_ROOT', 'PYENV_VERSION', 'SYSTEMROOT'];

export function baseChildEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Spawns `command` as the leader of a new process group (detached), with piped stdio. */
export function spawnGroupLeader(command: string, args: readonly string[], options: Omit<SpawnOptions, 'detached' | 'stdio'> & { stdin?: boolean }): ChildProcess {
  const { stdin, ...rest } = options;
  return spawn(command, args, { ...rest, detached: true, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
}

/** Sends `signal` to the process group led by `pid`; false when there is none (already gone). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal); // the leader may have left its group empty but still exist
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * The kernel's start time of `pid` (field 22 of /proc/<pid>/stat, in clock ticks since boot), or
 * undefined where /proc is not available or the process does not exist.
 */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` runs and is the process that was started at `startTicks`. */
export function isSameProcess(pid: number, startTicks: string | undefined): boolean {
  if (startTicks === undefined) return false;
  return processStartTicks(pid) === startTicks;
}

/** Keeps the last `maxChars` characters of a stream's text (for error messages). */
export class TextTail {
  private text = '';
  constructor(private readonly maxChars = 4000) {}
  push(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-this.maxChars);
  }
  /** The last `lines` non-empty lines. */
  lastLines(lines = 8): string {
    return this.text.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').slice(-lines).join('\n');
  }
}
