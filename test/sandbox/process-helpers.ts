/** Helpers for tests that run the sandbox as a real child process (restart, kill -9, launcher). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeHealth, projectRoot } from '../../src/sandbox/launcher';
import { assertBuilt as assertDistBuilt } from '../helpers/dist';

const ROOT = projectRoot();
export const SERVER_ENTRY = join(ROOT, 'dist', 'src', 'sandbox', 'main.js');

/** Child-process tests run the compiled server: fail clearly when dist/ is missing or older than src/. */
export function assertBuilt(): void {
  assertDistBuilt(['src/sandbox', 'src/lib/archive']);
}

export interface ChildSandbox {
  proc: ChildProcess;
  pid: number;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/** Starts `node dist/src/sandbox/main.js --state DIR` and waits until it answers as that process. */
export async function spawnSandbox(stateDir: string, timeoutMs = 20_000): Promise<ChildSandbox> {
  const proc = spawn(process.execPath, [SERVER_ENTRY, '--state', stateDir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`the sandbox exited during start-up:\n${output}`);
    try {
      const ep = JSON.parse(readFileSync(join(stateDir, 'sandbox.json'), 'utf8')) as { url: string; pid: number };
      if (ep.pid === proc.pid && (await probeHealth(ep.url))) return { proc, pid: proc.pid!, url: ep.url, exited, output: () => output };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  proc.kill('SIGKILL');
  throw new Error(`the sandbox did not start in time:\n${output}`);
}

/** SIGKILLs the child and waits until it is reaped (so its pid reads as dead). */
export async function kill9(child: ChildSandbox): Promise<void> {
  child.proc.kill('SIGKILL');
  await child.exited;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
