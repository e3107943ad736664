import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureSandbox, projectRoot, resetSandbox, sandboxStatus, stopSandbox } from '../../src/sandbox/launcher';
import { Api, demoToken, startTestSandbox, tempStateDir } from './helpers';
import { assertBuilt, isAlive } from './process-helpers';

const ROOT = projectRoot();
const LAUNCHER_JS = join(ROOT, 'dist', 'src', 'sandbox', 'launcher.js');
const CLI = join(ROOT, 'bin', 'runbook.js');

/** A pid that certainly belongs to no process any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('launcher', () => {
  const pids = new Set<number>();
  const dirs: string[] = [];
  const savedUrl = process.env.RUNBOOK_SANDBOX_URL;
  const fresh = () => {
    const d = tempStateDir('launcher-');
    dirs.push(d);
    return d;
  };
  const track = <T extends { pid: number }>(ep: T): T => {
    pids.add(ep.pid);
    return ep;
  };
  beforeAll(() => assertBuilt());
  afterEach(() => {
    if (savedUrl === undefined) delete process.env.RUNBOOK_SANDBOX_URL;
    else process.env.RUNBOOK_SANDBOX_URL = savedUrl;
  });
  afterAll(async () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('starts a detached server once, reuses it, and stops it', async () => {
    const stateDir = fresh();
    const first = track(await ensureSandbox({ stateDir }));
    expect(first).toMatchObject({ startedNow: true, stateDir });
    expect(isAlive(first.pid)).toBe(true);
    expect(first.pid).not.toBe(process.pid);
    const again = await ensureSandbox({ stateDir });
    expect(again).toEqual({ ...first, startedNow: false });
    const api = new Api(first.url, await demoToken(first.url));
    expect((await api.get('/v2/spaces')).status).toBe(200);

    const status = await sandboxStatus({ stateDir });
    expect(status).toMatchObject({ running: true, url: first.url, pid: first.pid });
    expect(status.sections.map((s) => s.module)).toEqual(expect.arrayContaining(['wml', 'volumes']));

    expect(await stopSandbox(stateDir)).toEqual({ stopped: true, pid: first.pid });
    expect(isAlive(first.pid)).toBe(false);
    expect(existsSync(join(stateDir, 'sandbox.json'))).toBe(false);
    expect(existsSync(join(stateDir, 'server.lock'))).toBe(false);
    expect(await stopSandbox(stateDir)).toEqual({ stopped: false });
    expect(await sandboxStatus({ stateDir })).toMatchObject({ running: false, sections: [] });
  });

  it('starts exactly one server for concurrent callers in one process', async () => {
    const stateDir = fresh();
    const all = await Promise.all(Array.from({ length: 4 }, () => ensureSandbox({ stateDir })));
    all.forEach(track);
    expect(all.filter((e) => e.startedNow)).toHaveLength(1);
    expect(new Set(all.map((e) => e.pid)).size).toBe(1);
    await stopSandbox(stateDir);
  });

  it('starts exactly one server for concurrent callers in separate processes', async () => {
    const stateDir = fresh();
    const script = `require(${JSON.stringify(LAUNCHER_JS)}).ensureSandbox({ stateDir: ${JSON.stringify(stateDir)} }).then((e) => process.stdout.write(JSON.stringify(e)), (e) => { process.stderr.write(String(e)); process.exit(1); })`;
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
          const p = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (c: Buffer) => (out += c));
          p.stderr.on('data', (c: Buffer) => (err += c));
          p.on('exit', (code) => resolve({ code, out, err }));
        }),
      ),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const eps = runs.map((r) => JSON.parse(r.out) as { pid: number; startedNow: boolean; url: string });
    eps.forEach(track);
    expect(eps.filter((e) => e.startedNow)).toHaveLength(1);
    expect(new Set(eps.map((e) => e.pid)).size).toBe(1);
    expect(new Set(eps.map((e) => e.url)).size).toBe(1);
    await stopSandbox(stateDir);
  });

  it('ignores stale pid and lock files of dead processes', async () => {
    const stateDir = fresh();
    const dead = deadPid();
    writeFileSync(join(stateDir, 'sandbox.json'), JSON.stringify({ url: 'http://127.0.0.1:1', port: 1, pid: dead, stateDir, instanceId: 'old', startedAt: 'x' }));
    writeFileSync(join(stateDir, 'server.lock'), JSON.stringify({ pid: dead, instanceId: 'old', startedAt: 'x' }));
    writeFileSync(join(stateDir, 'start.lock'), String(dead));
    const ep = track(await ensureSandbox({ stateDir }));
    expect(ep.startedNow).toBe(true);
    expect(ep.url).not.toBe('http://127.0.0.1:1');
    await stopSandbox(stateDir);
  });

  it('restarts a server that was killed with SIGKILL, with its state', async () => {
    const stateDir = fresh();
    const first = track(await ensureSandbox({ stateDir }));
    const api = new Api(first.url, await demoToken(first.url));
    const space = (await api.post('/v2/spaces', { name: 'survivor' })).json.metadata.id;
    process.kill(first.pid, 'SIGKILL');
    for (let i = 0; i < 100 && isAlive(first.pid); i++) await new Promise((r) => setTimeout(r, 20));
    const second = track(await ensureSandbox({ stateDir }));
    expect(second.startedNow).toBe(true);
    expect(second.pid).not.toBe(first.pid);
    const api2 = new Api(second.url, api.token);
    expect((await api2.get(`/v2/spaces/${space}`)).json.entity.name).toBe('survivor');
    await stopSandbox(stateDir);
  });

  it('uses RUNBOOK_SANDBOX_URL when it answers, and falls back to the state dir when it does not', async () => {
    const external = await startTestSandbox();
    try {
      process.env.RUNBOOK_SANDBOX_URL = external.url;
      const stateDir = fresh();
      const ep = await ensureSandbox({ stateDir });
      expect(ep).toEqual({ url: external.url, pid: process.pid, stateDir: external.stateDir, startedNow: false });
      expect(readdirSync(stateDir)).toEqual([]); // nothing started there
      process.env.RUNBOOK_SANDBOX_URL = 'http://127.0.0.1:1';
      const local = track(await ensureSandbox({ stateDir }));
      expect(local.startedNow).toBe(true);
      await stopSandbox(stateDir);
    } finally {
      await external.close();
    }
  });

  it('resets state: refuses while running, --force stops first, config.json stays', async () => {
    const stateDir = fresh();
    const ep = track(await ensureSandbox({ stateDir }));
    const api = new Api(ep.url, await demoToken(ep.url));
    await api.post('/v2/spaces', { name: 'to be wiped' });
    await expect(resetSandbox(stateDir)).rejects.toThrow(/is running/);
    const removed = await resetSandbox(stateDir, { force: true });
    expect(removed).toEqual(expect.arrayContaining(['data', 'secret.key']));
    expect(isAlive(ep.pid)).toBe(false);
    expect(readdirSync(stateDir)).toEqual(['config.json']);
    const next = track(await ensureSandbox({ stateDir }));
    const api2 = new Api(next.url, await demoToken(next.url));
    expect((await api2.get('/v2/spaces')).json.resources).toEqual([]);
    await stopSandbox(stateDir);
  });
});

describe('runbook sandbox CLI', () => {
  beforeAll(() => assertBuilt());

  it('runs in the foreground, prints URL and demo user as JSON, and stops cleanly on SIGINT', async () => {
    const stateDir = tempStateDir('cli-');
    const child = spawn(process.execPath, [CLI, 'sandbox', 'start', '--state', stateDir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 300 && !out.includes('}'); i++) await new Promise((r) => setTimeout(r, 20));
      const info = JSON.parse(out) as { url: string; pid: number };
      expect(info.pid).toBe(child.pid);
      const status = spawnSync(process.execPath, [CLI, 'sandbox', 'status', '--state', stateDir, '--json']);
      expect(status.status).toBe(0);
      expect(JSON.parse(status.stdout.toString())).toMatchObject({ running: true, url: info.url });
      const set = spawnSync(process.execPath, [CLI, 'sandbox', 'faults', '--state', stateDir, '--set', '{"seed":5,"faults":[{"route":"POST /v2/assets","errorRate":1,"statuses":[429]}]}', '--json']);
      expect(set.status).toBe(0);
      const api = new Api(info.url, await demoToken(info.url));
      const faulted = await api.post('/v2/assets?space_id=x', { metadata: { name: 'x' } });
      expect(faulted.status).toBe(429);
      const shown = spawnSync(process.execPath, [CLI, 'sandbox', 'faults', '--state', stateDir, '--json']);
      expect(JSON.parse(shown.stdout.toString())).toMatchObject({ seed: 5, faults: [{ route: 'POST /v2/assets', hits: 1 }] });
      const bad = spawnSync(process.execPath, [CLI, 'sandbox', 'faults', '--state', stateDir, '--set', '{"faults":[{"route":"/x","errorRate":3}]}']);
      expect(bad.status).toBe(8);
      expect(bad.stderr.toString()).toContain('errorRate');
      spawnSync(process.execPath, [CLI, 'sandbox', 'faults', '--state', stateDir, '--clear']);
      expect((await api.post('/v2/assets?space_id=x', { metadata: { name: 'x' } })).status).toBe(404);
      const again = spawnSync(process.execPath, [CLI, 'sandbox', 'start', '--state', stateDir]);
      expect(again.status).toBe(8);
      expect(again.stderr.toString()).toContain('already runs');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(existsSync(join(stateDir, 'server.lock'))).toBe(false);
      expect(existsSync(join(stateDir, 'sandbox.json'))).toBe(false);
      const noYes = spawnSync(process.execPath, [CLI, 'sandbox', 'reset', '--state', stateDir]);
      expect(noYes.status).toBe(2);
      const reset = spawnSync(process.execPath, [CLI, 'sandbox', 'reset', '--yes', '--state', stateDir, '--json']);
      expect(reset.status).toBe(0);
      expect(readdirSync(stateDir)).toEqual(['config.json']);
    } finally {
      child.kill('SIGKILL');
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
