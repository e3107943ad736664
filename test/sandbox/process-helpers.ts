/** Helpers for tests that run the sandbox as a real child process (restart, kill -9, launcher). */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { probeHealth, projectRoot } from '../../src/sandbox/launcher';

const ROOT = projectRoot();
export const SERVER_ENTRY = join(ROOT, 'dist', 'src', 'sandbox', 'main.js');

/** The framework's own sources (service modules of other authors are checked by their own tests). */
const CHECKED_SERVICES = new Set(['wml', 'volumes']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (dir.endsWith(join('sandbox', 'services')) && !CHECKED_SERVICES.has(name)) continue;
      out.push(...sources(full));
    }
    else if (name.endsWith('.ts')) out.push(full);
  }
  return out;
}

/** Child-process tests run the compiled server: fail clearly when dist/ is missing or older than src/. */
export function assertBuilt(): void {
  const stale: string[] = [];
  for (const src of [...sources(join(ROOT, 'src', 'sandbox')), ...sources(join(ROOT, 'src', 'lib', 'archive'))]) {
    const js = join(ROOT, 'dist', relative(ROOT, src)).replace(/\.ts$/, '.js');
    if (!existsSync(js) || statSync(js).mtimeMs < statSync(src).mtimeMs) stale.push(relative(ROOT, src));
  }
  if (stale.length > 0) throw new Error(`dist/ is missing or older than ${stale.slice(0, 3).join(', ')}: run \`npx tsc -p .\` before these tests`);
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
