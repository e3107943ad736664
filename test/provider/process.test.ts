import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, resolveProfile, type ProfileClients } from '../../src/lib/config';
import { FileMetadataStore, deploymentMetadata, deploymentMetadataCodec } from '../../src/lib/metadata';
import { ensureHeadlessServiceProvider, ensureMonitorInstance, ensureSubscription, findIntegratedSystemsByName, subscriptionNameFor } from '../../src/lib/openscale';
import { DEFAULT_PROVIDER_NAME } from '../../src/lib/provider';
import { isPidAlive } from '../../src/lib/util/detached-process';
import { ensureProvider, stopProvider } from '../../src/provider/launcher';
import { projectRoot, stopSandbox } from '../../src/sandbox/launcher';
import { assertBuilt } from '../helpers/dist';
import type { TestSandbox } from '../sandbox/helpers';
import { maskPng, SANDBOX_DEFAULT_VOLUME as VOL, startFastSandbox, volumeFolder, writeFile } from './helpers';

const CLI = join(projectRoot(), 'bin', 'runbook.js');

/** Runs the CLI without blocking this process (which serves the sandbox the CLI talks to). */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** The detached provider process, the launcher and the CLI, against an in-process sandbox found through RUNBOOK_SANDBOX_URL. */
describe('provider process, launcher and CLI', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  let saved: string | undefined;
  const local = mkdtempSync(join(tmpdir(), 'provider-process-'));
  const metadataFile = join(local, 'deployment_metadata.yml');
  const started: number[] = [];

  beforeAll(async () => {
    // The detached provider and the CLI run dist/: refuse to test a stale build.
    assertBuilt(['src/provider', 'src/lib/provider', 'src/lib/openscale', 'src/lib/volumes', 'src/cli/commands/provider.ts', 'src/cli/commands/monitor.ts']);
    sb = await startFastSandbox();
    saved = process.env.RUNBOOK_SANDBOX_URL;
    process.env.RUNBOOK_SANDBOX_URL = sb.url;
    clients = connect(await resolveProfile({ profile: 'sandbox', env: { RUNBOOK_SANDBOX_URL: sb.url } }));
  });
  afterAll(async () => {
    for (const pid of started) if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
    if (saved === undefined) delete process.env.RUNBOOK_SANDBOX_URL;
    else process.env.RUNBOOK_SANDBOX_URL = saved;
    clients.close();
    await sb.close();
    rmSync(local, { recursive: true, force: true });
  });

  it('starts one background provider for concurrent callers and refuses one with other settings', async () => {
    const [a, b] = await Promise.all([ensureProvider({ metadataFile }), ensureProvider({ metadataFile })]);
    started.push(a.pid);
    expect(a.pid).toBe(b.pid);
    expect([a.startedNow, b.startedNow].sort()).toEqual([false, true]);
    expect(a.stateDir).toBe(join(sb.stateDir, 'provider'));
    expect(a.endpoint).toBe(`${a.url}/score`);
    expect(a.source).toBe(`file:${metadataFile}`);
    const health = (await (await fetch(`${a.url}/health`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', service: 'cpd-runbook-provider', pid: a.pid, profile: 'sandbox', source: `file:${metadataFile}` });
    await expect(ensureProvider({ metadataFile: join(local, 'other.yml') })).rejects.toThrow(/serves profile sandbox with settings from file:.*deployment_metadata\.yml, not sandbox with file:.*other\.yml/);
    expect((await ensureProvider({ metadataFile })).startedNow).toBe(false);
  });

  it('registers through the CLI, runs a monitor through OpenScale and the background provider, and reports breaches', async () => {
    const plan = await runCli(['provider', 'register', '--plan', '--json']);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).plan.map((c: { action: string; resource: string }) => `${c.action} ${c.resource}`)).toEqual([
      'create integrated_system',
      'create monitor_definition',
      'create monitor_definition',
    ]);
    expect(await findIntegratedSystemsByName(clients.openscale, DEFAULT_PROVIDER_NAME)).toHaveLength(0);

    const reg = await runCli(['provider', 'register', '--json']);
    expect(reg.code).toBe(0);
    const registration = JSON.parse(reg.stdout);
    expect(registration.monitors.map((m: { id: string }) => m.id)).toEqual(['segmentation_metrics', 'generic_metrics']);
    expect(reg.stdout).not.toContain('sandbox-demo-api-key');
    const systemId = registration.integratedSystem.id as string;

    const sp = await ensureHeadlessServiceProvider(clients.openscale, { wait: { pollMs: 20 } });
    const sub = await ensureSubscription(clients.openscale, { name: subscriptionNameFor('cli-demo'), serviceProviderId: sp.id, wait: { pollMs: 20 } });
    for (const f of ['gt/a.png', 'gt/b.png', 'pred/a.png']) writeFile(join(volumeFolder(sb), 'cli', f), maskPng(['r'], 2));
    await deploymentMetadata(new FileMetadataStore(metadataFile, deploymentMetadataCodec)).add('model-cli', {
      model_asset: 'm.zip',
      deployment_space_id: 'space-1',
      openscale_subscription_id: sub.id,
      openscale_custom_metric_provider: { generic_metrics: { dir_gt: 'cli/gt', dir_pred: 'cli/pred', volume_display_name: VOL, most_recent: 1 } },
      wmla_deployment: { deployment_name: 'cli-demo', deployment_url: null, dependency_filename: 'd.zip', resource_configs: { enable_gpus: false } },
    });
    const mi = await ensureMonitorInstance(clients.openscale, { monitorDefinitionId: 'generic_metrics', subscriptionId: sub.id, integratedSystemId: systemId, waitTimeSeconds: 60, thresholds: { num_images_total_ground_truth: 1, num_images_recent_ground_truth: 1 } }, { wait: { pollMs: 20 } });

    const run = await runCli(['monitor', 'run', '--instance', mi.id, '--wait', '--timeout', '60', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ state: 'finished' });

    const status = await runCli(['monitor', 'status', '--deployment', 'cli-demo']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/generic_metrics \(Generic Metrics\): instance .*, active/);
    expect(status.stdout).toMatch(/num_images_total_predicted\s+1\s+40\s+BREACH \(below lower limit\)/);
    expect(status.stdout).toContain(`Subscription ${sub.id}: 1 monitor, 2 breaches, 0 failed runs`);

    const failing = await runCli(['monitor', 'status', '--subscription', sub.id, '--json', '--fail-on-breach']);
    expect(failing.code).toBe(10);
    expect(JSON.parse(failing.stdout)).toMatchObject({ subscriptionId: sub.id, breaches: 2 });
    expect(failing.stderr).toContain(`2 metrics of subscription ${sub.id} break their limits`);

    expect((await runCli(['monitor', 'status', '--deployment', 'nope'])).code).toBe(8);
    expect((await runCli(['monitor', 'status'])).code).toBe(2);

    // The provider's log has the run, without the API key.
    const log = readFileSync(join(sb.stateDir, 'provider', 'provider.log'), 'utf8');
    expect(log).toContain('generic_metrics done: finished');
    expect(log).not.toContain('sandbox-demo-api-key');
  });

  it('stops through the CLI, and a provider whose state file disappears stops by itself', async () => {
    const first = await ensureProvider({ metadataFile });
    const stop = await runCli(['provider', 'stop', '--json']);
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ stopped: true, pid: first.pid });
    expect(await waitFor(() => !isPidAlive(first.pid), 5000)).toBe(true);
    expect((await stopProvider({})).stopped).toBe(false);

    const second = await ensureProvider({ metadataFile });
    started.push(second.pid);
    expect(second.startedNow).toBe(true);
    rmSync(join(second.stateDir, 'provider.json'));
    expect(await waitFor(() => !isPidAlive(second.pid), 8000)).toBe(true);
  });

  it('stops nothing, and starts no sandbox, when no provider runs for the sandbox profile', async () => {
    const state = mkdtempSync(join(tmpdir(), 'provider-stop-'));
    try {
      const stop = await runCli(['provider', 'stop', '--json'], { RUNBOOK_SANDBOX_URL: '', RUNBOOK_SANDBOX_STATE: state, RUNBOOK_PROFILE: '' });
      expect(stop.code).toBe(0);
      expect(JSON.parse(stop.stdout)).toEqual({ stopped: false, stateDir: join(state, 'provider') });
      expect(readdirSync(state)).toEqual([]); // no sandbox was started to find the provider's folder
    } finally {
      await stopSandbox(state); // should there be one after all, it must not outlive the test
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('serves in the foreground until Ctrl-C', async () => {
    // jest gives each test file its own copy of process.env: pass it on, or the child would not see RUNBOOK_SANDBOX_URL
    // and would start a sandbox of its own on the default state dir.
    const child = spawn(process.execPath, [CLI, 'provider', 'serve', '--metadata', metadataFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
    started.push(child.pid!);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening at (http:\/\/\S+)\/score/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const noSource = await runCli(['provider', 'serve']);
    expect(noSource.code).toBe(8);
    expect(noSource.stderr).toContain('give --space SPACE_ID');
  });
});
