/**
 * Generic pieces for a background server that many processes share (the sandbox and provider
 * launchers use them): pid liveness, an O_EXCL start lock that
 * recovers from dead holders, spawning a detached Node script with its output in a log file, a
 * JSON GET with a short timeout for health checks, and the tail of a log for error messages.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { TimeoutError } from '../errors';

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `file` as a lock (created exclusively, holding our pid). False when another live process
 * holds it; a lock of a dead process, or an unreadable one older than `staleMs`, is removed so the
 * next attempt can take it.
 */
export function tryLockFile(file: string, staleMs = 5000): boolean {
  try {
    const fd = openSync(file, 'wx');
    try {
      writeSync(fd, String(process.pid));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let holder = NaN;
  let age = 0;
  try {
    holder = Number(readFileSync(file, 'utf8').trim());
    age = Date.now() - statSync(file).mtimeMs;
  } catch {
    return false; // being written or removed right now
  }
  if ((Number.isInteger(holder) && holder > 0 && !isPidAlive(holder)) || (!Number.isInteger(holder) && age > staleMs)) rmSync(file, { force: true });
  return false;
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `fn` holding the lock `file`, waiting for another holder up to `timeoutMs`. Before taking
 * the lock and after every wait, `check()` may return a result that makes starting unnecessary
 * (e.g. the server another process just started).
 */
export async function withStartLock<T>(file: string, timeoutMs: number, check: () => Promise<T | undefined>, fn: () => Promise<T>, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await check();
    if (ready !== undefined) return ready;
    if (tryLockFile(file)) {
      try {
        const again = await check();
        return again !== undefined ? again : await fn();
      } finally {
        rmSync(file, { force: true });
      }
    }
    if (Date.now() > deadline) throw new TimeoutError(`timed out waiting for another process to start ${what}`);
    await sleep(100);
  }
}

/** A detached child. */
export interface DetachedChild {
  readonly pid: number;
  /** Why it exited (`exit code 1`, `signal SIGKILL`), or undefined while it runs. */
  exited(): string | undefined;
}

/**
 * Starts `node script args…` in its own process group, detached from this one (it outlives us),
 * stdout and stderr appended to `logFile` (rotated once past 10 MiB).
 */
export function spawnDetachedNode(script: string, args: readonly string[], options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): DetachedChild {
  try {
    if (statSync(options.logFile).size > 10 * 1024 * 1024) renameSync(options.logFile, `${options.logFile}.1`);
  } catch {
    /* no log yet */
  }
  const out = openSync(options.logFile, 'a');
  let reason: string | undefined;
  let child;
  try {
    child = spawn(process.execPath, [script, ...args], { detached: true, stdio: ['ignore', out, out], env: options.env ?? process.env, cwd: options.cwd });
  } finally {
    closeSync(out);
  }
  child.on('exit', (code, signal) => {
    reason = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.unref();
  return { pid: child.pid ?? 0, exited: () => reason };
}

/** GETs `url` and parses JSON; undefined when nothing answers in time or the answer is not 200 JSON. */
export function getJson(url: string, timeoutMs = 1500): Promise<unknown> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** The last `lines` lines of a text file ('(no log)' when unreadable). */
export function tailFile(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Sends SIGTERM, waits up to `timeoutMs` for the process to go, then SIGKILL. True if it was running. */
export async function terminatePid(pid: number, timeoutMs = 10_000): Promise<boolean> {
  if (!isPidAlive(pid)) return false;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isPidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return true;
}
