import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, realpathSync, rmSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lib/errors';
import { isPidAlive } from '../lib/util/detached-process';

/** `<state>/server.lock`: held (O_EXCL) by the one server that serves a state dir. */
export const ServerLockFile = z.looseObject({ pid: z.number().int(), instanceId: z.string(), startedAt: z.string() });

/** `<state>/sandbox.json`: where the running server listens (written once it listens). */
export const SandboxEndpointFile = z.looseObject({
  url: z.string(),
  port: z.number().int(),
  pid: z.number().int(),
  stateDir: z.string(),
  instanceId: z.string(),
  startedAt: z.string(),
});
export type SandboxEndpointFile = z.infer<typeof SandboxEndpointFile>;

export function lockPath(stateDir: string): string {
  return join(stateDir, 'server.lock');
}
export function endpointPath(stateDir: string): string {
  return join(stateDir, 'sandbox.json');
}


/** State dirs held by servers in this process (a second in-process server on one dir is refused). */
const heldHere = new Set<string>();

export function canonicalStateDir(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true });
  return realpathSync(stateDir);
}

/**
 * Takes the exclusive server lock of a state dir, or throws a ConfigError naming the holder.
 * A lock left by a dead process (kill -9) is taken over.
 */
export function acquireServerLock(stateDir: string): { instanceId: string; release(): void } {
  const dir = canonicalStateDir(stateDir);
  const file = lockPath(dir);
  const instanceId = randomUUID();
  if (heldHere.has(dir)) throw new ConfigError(`a sandbox in this process already serves ${dir}`);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, JSON.stringify({ pid: process.pid, instanceId, startedAt: new Date().toISOString() }));
      } finally {
        closeSync(fd);
      }
      heldHere.add(dir);
      let released = false;
      return {
        instanceId,
        release() {
          if (released) return;
          released = true;
          heldHere.delete(dir);
          try {
            const current = ServerLockFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
            if (current.success && current.data.instanceId === instanceId) rmSync(file, { force: true });
          } catch {
            /* already gone */
          }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: z.infer<typeof ServerLockFile> | undefined;
    try {
      const parsed = ServerLockFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      holder = parsed.success ? parsed.data : undefined;
    } catch {
      holder = undefined; // half-written by a starter that died: stale
    }
    // Our own pid in the file but not held here: a previous in-process server that never closed.
    const stale = !holder || !isPidAlive(holder.pid) || holder.pid === process.pid;
    if (!stale) {
      throw new ConfigError(`another sandbox (pid ${holder!.pid}) already serves ${dir}; stop it with \`runbook sandbox stop --state ${dir}\``);
    }
    rmSync(file, { force: true });
  }
  throw new ConfigError(`could not take the sandbox lock ${file}`);
}
