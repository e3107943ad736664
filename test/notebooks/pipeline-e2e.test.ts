/**
 * The main job end to end: A_MLOps_Pipeline through the real runner (`npm start`, then the CLI) on
 * real tslab kernels, running A2 and A3 as child runs, against a fresh sandbox in a temporary state
 * folder (started on demand by the notebook, stopped here with the provider it started). The remote
 * state is read back with the library after each run. One sandbox serves every case, in order:
 * first run, second run (idempotency), plan mode (no remote change), bad input (documented exit codes).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { connect, type ProfileClients } from '../../src/lib/config/connect';
import { resolveProfile } from '../../src/lib/config/profile';
import { deploymentMetadata } from '../../src/lib/metadata/space-store';
import { monitorMetadata } from '../../src/lib/metadata/space-store';
import { getMonitorDefinition } from '../../src/lib/openscale/monitor-definitions';
import { instanceThresholdMap, listMonitorInstances } from '../../src/lib/openscale/monitor-instances';
import { latestMeasurement } from '../../src/lib/openscale/measurements';
import { listRuns } from '../../src/lib/openscale/runs';
import { findServiceProvidersByName, HEADLESS_PROVIDER_NAME } from '../../src/lib/openscale/service-providers';
import { findSubscriptionsByName } from '../../src/lib/openscale/subscriptions';
import { findIntegratedSystemsByName } from '../../src/lib/openscale/integrated-systems';
import { findCheckpoints } from '../../src/lib/pipeline/report';
import { DEFAULT_PROVIDER_NAME } from '../../src/lib/provider/register';
import { isPidAlive } from '../../src/lib/util/detached-process';
import { listVolume } from '../../src/lib/volumes/client';
import { createWmlClient } from '../../src/lib/wml/client';
import { createEdiClient } from '../../src/lib/wmla/edi';
import { readLedger } from '../../src/runner/ledger';
import { stopProvider } from '../../src/provider/launcher';
import { stopSandbox } from '../../src/sandbox/launcher';

const ROOT = resolve(__dirname, '..', '..');
const WORK = mkdtempSync(join(tmpdir(), 'nb-e2e-'));
const STATE = join(WORK, 'sandbox');
const LEDGER = join(WORK, 'ledger.jsonl');
const SPACE = 'cpd-runbook-demo';
const DEPLOYMENT = 'threshold-segmentation';
const VOLUME = 'sandbox-volume';
const GT = 'demo/model_eval/gt_images';
const PRED = 'demo/model_eval/model_images';
const MINUTE = 60_000;

const env: NodeJS.ProcessEnv = { ...process.env, RUNBOOK_SANDBOX_STATE: STATE, RUNBOOK_LEDGER: LEDGER, CI: '1' };
for (const k of ['RUNBOOK_PROFILE', 'RUNBOOK_SANDBOX_URL', 'RUNBOOK_PROVIDER_STATE']) delete env[k];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnIn(cmd: string, args: string[]): Promise<Exit> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, stdout, stderr }));
  });
}

const runA = (out: string, ...args: string[]) => spawnIn(process.execPath, ['bin/runbook.js', 'run', 'notebooks/A_MLOps_Pipeline.ipynb', out, '--no-progress', ...args]);

interface SavedNotebook {
  metadata: { runbook: { run_id: string; status: string; exit_code: number } };
  cells: { cell_type: string; outputs?: { output_type: string; text?: string | string[]; ename?: string; evalue?: string }[] }[];
}

function readNotebook(path: string): SavedNotebook {
  return JSON.parse(readFileSync(path, 'utf8')) as SavedNotebook;
}

/** Every stream text of a saved notebook. */
function streamText(nb: SavedNotebook): string {
  return nb.cells
    .flatMap((c) => c.outputs ?? [])
    .filter((o) => o.output_type === 'stream')
    .map((o) => (Array.isArray(o.text) ? o.text.join('') : (o.text ?? '')))
    .join('');
}

function errorsOf(nb: SavedNotebook): string[] {
  return nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'error').map((o) => `${o.ename}: ${o.evalue}`);
}

const steps = (nb: SavedNotebook) => findCheckpoints(streamText(nb)).map((c) => c.step);

/** The executed child notebooks of a run of A (next to its output, in a folder named after its run id). */
function children(out: string): { a2: SavedNotebook; a3: SavedNotebook; dir: string } {
  const runId = readNotebook(out).metadata.runbook.run_id;
  const dir = join(dirname(out), runId);
  return { a2: readNotebook(join(dir, 'A2_WMLA_Model_Deploy.ipynb')), a3: readNotebook(join(dir, 'A3_OpenScale_Configuration.ipynb')), dir };
}

let clients: ProfileClients;

async function sandboxClients(): Promise<ProfileClients> {
  clients ??= connect(await resolveProfile({ profile: 'sandbox', env, sandbox: { stateDir: STATE } }));
  return clients;
}

/** Everything the pipeline creates, read back with the library. */
async function remoteState() {
  const c = await sandboxClients();
  const wml = createWmlClient(c);
  const spaces = await wml.findSpacesByName(SPACE);
  const space = spaces[0]!;
  const assets = wml.assets(space.id);
  const assetList = await assets.list();
  const metaDoc = await deploymentMetadata(assets).load();
  const monitorDoc = await monitorMetadata(assets).load();
  const metaAsset = assetList.find((a) => a.name === 'deployment_metadata.yml');
  const metaText = metaAsset ? (await assets.readContent(metaAsset)).content.toString('utf8') : '';
  const edi = createEdiClient(c);
  const models = await edi.listModels();
  const model = await edi.describeModel(DEPLOYMENT);
  const os = c.openscale;
  const subscriptions = await findSubscriptionsByName(os, `${DEPLOYMENT} Monitor`);
  const instances = subscriptions.length === 1 ? await listMonitorInstances(os, { subscriptionId: subscriptions[0]!.metadata.id }) : [];
  const perInstance = await Promise.all(
    instances.map(async (mi) => {
      const id = mi.entity.monitor_definition_id;
      const definition = (await getMonitorDefinition(os, id))!;
      const runs = await listRuns(os, mi.metadata.id);
      const measurement = await latestMeasurement(os, subscriptions[0]!.metadata.id, id);
      return {
        monitor: id,
        id: mi.metadata.id,
        modifiedAt: mi.metadata.modified_at,
        thresholds: instanceThresholdMap(mi, definition),
        parameters: mi.entity.parameters,
        runs: runs.map((r) => ({ id: r.metadata.id, state: r.entity.status.state })),
        measurement: measurement ? { runId: measurement.entity.run_id, metrics: measurement.entity.values[0]!.metrics.length, id: measurement.metadata.id } : undefined,
      };
    }),
  );
  const files = async (dir: string) => (await listVolume(c.cpd, VOLUME, dir)).filter((e) => e.type === 'file').map((e) => ({ path: e.path, mtime: e.mtime.toISOString(), size: e.size }));
  return {
    spaces: spaces.map((s) => s.id),
    assets: assetList.map((a) => ({ id: a.id, name: a.name })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    metaDoc,
    metaText,
    monitorDoc,
    models: models.map((m) => m.name),
    model: model ? { phase: model.phase, startedAt: model.model.started_at, uri: model.model.service_uri, profile: model.profile.last_update_time } : undefined,
    serviceProviders: (await findServiceProvidersByName(os, HEADLESS_PROVIDER_NAME)).map((p) => p.metadata.id),
    integratedSystems: (await findIntegratedSystemsByName(os, DEFAULT_PROVIDER_NAME)).map((s) => s.metadata.id),
    subscriptions: subscriptions.map((s) => s.metadata.id),
    instances: perInstance.sort((a, b) => (a.monitor < b.monitor ? -1 : 1)),
    gt: await files(GT),
    pred: await files(PRED),
  };
}
type RemoteState = Awaited<ReturnType<typeof remoteState>>;

let first: RemoteState;

beforeAll(() => {
  expect(existsSync(join(ROOT, 'dist', 'src', 'sandbox', 'main.js'))).toBe(true); // npm run build (npm ci does it)
});

afterAll(async () => {
  clients?.close();
  const providerFile = join(STATE, 'provider', 'provider.json');
  const sandboxFile = join(STATE, 'sandbox.json');
  const pids = [providerFile, sandboxFile].filter(existsSync).map((f) => (JSON.parse(readFileSync(f, 'utf8')) as { pid: number }).pid);
  try {
    await stopProvider({ stateDir: join(STATE, 'provider') });
  } finally {
    await stopSandbox(STATE); // whatever happened to the provider, no sandbox outlives the test
  }
  for (const pid of pids) expect(isPidAlive(pid)).toBe(false);
  rmSync(WORK, { recursive: true, force: true });
}, MINUTE);

describe('the main job (npm start) on a fresh sandbox', () => {
  const out1 = join(WORK, 'out', 'first', 'A_MLOps_Pipeline.ipynb');

  it('stages, deploys, monitors and reports: exit 0, every checkpoint, the remote state read back', async () => {
    const r = await spawnIn('npm', ['start', '--silent', '--', out1, '--no-progress']);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });

    const a = readNotebook(out1);
    expect(a.metadata.runbook).toMatchObject({ status: 'ok', exit_code: 0 });
    expect(steps(a)).toEqual(['A.0', 'A.0.1', 'A.0.2', 'A.0.3', 'A.1', 'A.2', 'A.3', 'A.4', 'A.4', 'A.5', 'A']);
    const text = streamText(a);
    expect(text).toMatch(/^✔ A\.4 A2_WMLA_Model_Deploy ok in [\d.]+ s → /m);
    expect(text).toMatch(/^✔ A\.4 A3_OpenScale_Configuration ok in [\d.]+ s → /m);
    expect(text).toMatch(/A2 │ ✔ A2\.2 EDI model threshold-segmentation: created, started, serving at http/);
    expect(text).toMatch(/A\.2 model asset id \S+ \(uploaded\)/);

    const { a2, a3, dir } = children(out1);
    expect(dirname(dir)).toBe(dirname(out1));
    expect(steps(a2)).toEqual(['A2.1', 'A2.1.1', 'A2.2', 'A2.3', 'A2.4', 'A2.5', 'A2']);
    expect(steps(a3)).toEqual(['A3.setup', 'A3.0', 'A3.1', 'A3.2', 'A3.3', 'A3.4', 'A3.5', 'A3.6', 'A3']);
    expect(streamText(a3)).toMatch(/✔ A3\.5 evaluation runs: generic_metrics finished, segmentation_metrics finished/);

    // The ledger links the child runs to A's run.
    const ledger = readLedger(LEDGER);
    const runId = a.metadata.runbook.run_id;
    expect(ledger.filter((e) => e.parent_run_id === runId).map((e) => basename(e.notebook)).sort()).toEqual(['A2_WMLA_Model_Deploy.ipynb', 'A3_OpenScale_Configuration.ipynb']);

    first = await remoteState();
    expect(first.spaces).toHaveLength(1);
    const names = first.assets.map((x) => x.name);
    for (const n of ['demo-model.zip', 'edi-kernel.zip', 'deployment_metadata.yml', 'monitor_metadata.yml']) expect(names.filter((x) => x === n)).toEqual([n]);
    const keys = Object.keys(first.metaDoc);
    expect(keys).toEqual([first.assets.find((x) => x.name === 'demo-model.zip')!.id]);
    const entry = first.metaDoc[keys[0]!]!;
    expect(entry.openscale_subscription_id).toBe(first.subscriptions[0]);
    expect(entry.wmla_deployment).toMatchObject({ deployment_name: DEPLOYMENT, dependency_filename: 'edi-kernel.zip', deployment_url: first.model!.uri });
    expect(Object.keys(first.monitorDoc).sort()).toEqual(['generic_metrics', 'segmentation_metrics']);

    expect(first.models).toEqual([DEPLOYMENT]);
    expect(first.model!.phase).toBe('started');
    expect(first.serviceProviders).toHaveLength(1);
    expect(first.integratedSystems).toHaveLength(1);
    expect(first.subscriptions).toHaveLength(1);
    expect(first.instances.map((i) => i.monitor)).toEqual(['generic_metrics', 'segmentation_metrics']);
    const [generic, segmentation] = first.instances;
    // The configured thresholds: the notebook's overrides on the definitions' defaults.
    expect(segmentation!.thresholds).toMatchObject({ Dice: { threshold: [20, 'lower'] }, IOU_positive: { threshold: [0.12, 'lower'] }, precision: { threshold: [60, 'lower'] } });
    expect(Object.keys(segmentation!.thresholds)).toHaveLength(18);
    expect(generic!.thresholds).toEqual({
      num_images_total_ground_truth: { threshold: [5, 'lower'] },
      num_images_total_predicted: { threshold: [10, 'lower'] },
      num_images_recent_ground_truth: { threshold: [5, 'lower'] },
      num_images_recent_predicted: { threshold: [10, 'lower'] },
    });
    for (const i of first.instances) {
      expect(i.parameters).toMatchObject({ custom_metrics_provider_id: first.integratedSystems[0], custom_metrics_wait_time: 360 });
      expect(i.runs).toEqual([{ id: expect.any(String), state: 'finished' }]);
      expect(i.measurement).toMatchObject({ runId: i.runs[0]!.id, metrics: i.monitor === 'segmentation_metrics' ? 18 : 4 });
    }
    // Real files in the volume: ground truth and the model's predictions of the same tiles.
    expect(first.gt.map((f) => f.path)).toHaveLength(12);
    expect(first.pred.map((f) => f.path).sort()).toEqual(first.gt.map((f) => f.path.replace(/\.png$/, '_SegRefined.png')).sort());
  }, 15 * MINUTE);

  it('a second run changes nothing that exists: one of each, same ids, nothing uploaded, written or redeployed', async () => {
    expect(first).toBeDefined();
    const out = join(WORK, 'out', 'second', 'A_MLOps_Pipeline.ipynb');
    const r = await runA(out);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const text = streamText(readNotebook(out));
    expect(text).toMatch(/✔ A\.0\.3 space "cpd-runbook-demo" \S+ \(existing\)/);
    expect(text).toMatch(/✔ A\.2 model asset id \S+ \(unchanged\), deployment folder \S+ \(unchanged\)/);
    expect(text).toMatch(/✔ A\.3 deployment_metadata\.yml entry \S+: unchanged/);
    const { a2, a3 } = children(out);
    expect(streamText(a2)).toMatch(/✔ A2\.2 EDI model threshold-segmentation: unchanged, already-started/);
    expect(streamText(a2)).toMatch(/✔ A2\.3 deployment_url \S+: unchanged/);
    expect(streamText(a3)).toMatch(/✔ A3\.4 monitor instances: generic_metrics existing, segmentation_metrics existing/);

    const again = await remoteState();
    expect(again.spaces).toEqual(first.spaces);
    expect(again.assets).toEqual(first.assets);
    expect(again.metaText).toBe(first.metaText);
    expect(again.monitorDoc).toEqual(first.monitorDoc);
    expect(again.models).toEqual(first.models);
    expect(again.model).toEqual(first.model);
    for (const k of ['serviceProviders', 'integratedSystems', 'subscriptions'] as const) expect(again[k]).toEqual(first[k]);
    // The instance configuration is the same (runs only add their run_details and last_run_time).
    const config = (i: RemoteState['instances'][number]) => [i.id, i.thresholds, (i.parameters as { custom_metrics_provider_id?: string }).custom_metrics_provider_id, (i.parameters as { custom_metrics_wait_time?: number }).custom_metrics_wait_time];
    expect(again.instances.map(config)).toEqual(first.instances.map(config));
    // Each evaluation adds a run (history), nothing else.
    for (const [i, before] of again.instances.map((x, n) => [x, first.instances[n]!] as const)) {
      expect(i.runs).toHaveLength(2);
      expect(i.runs.map((x) => x.state)).toEqual(['finished', 'finished']);
      expect(i.measurement!.runId).not.toBe(before.measurement!.runId);
    }
    expect(again.gt.map((f) => f.path)).toEqual(first.gt.map((f) => f.path));
    first = again;
  }, 15 * MINUTE);

  it('plan mode with new thresholds plans the instance update and changes nothing', async () => {
    const out = join(WORK, 'out', 'plan', 'A_MLOps_Pipeline.ipynb');
    const r = await runA(out, '-p', 'plan=true', '-y', 'threshold_overrides: {segmentation_metrics: {Dice: 25}, generic_metrics: {num_images_total_predicted: 10, num_images_recent_predicted: 10}}');
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const text = streamText(readNotebook(out));
    expect(text).toMatch(/✔ A\.3 deployment_metadata\.yml entry \S+: would be written/);
    expect(text).toMatch(/Plan \(dry run: nothing was changed\):\n {2}metadata update deployment_metadata\.yml entry/);
    const { a2, a3 } = children(out);
    expect(streamText(a2)).toMatch(/✔ A2\.2 EDI model threshold-segmentation: unchanged, already-started \(planned\)/);
    expect(streamText(a3)).toMatch(/segmentation_metrics\s+\S+\s+updated \(planned\)\s+thresholds: Dice 20 \(lower\) → 25 \(lower\)/);
    expect(streamText(a3)).toMatch(/openscale run monitor_instance/);
    expect(await remoteState()).toEqual(first);
  }, 15 * MINUTE);

  it('A4 shows the status, the runs and the history chart (Vega-Lite with SVG, HTML and text fallbacks)', async () => {
    const out = join(WORK, 'out', 'status', 'A4_Monitor_Status.ipynb');
    const r = await spawnIn(process.execPath, ['bin/runbook.js', 'run', 'notebooks/A4_Monitor_Status.ipynb', out, '--no-progress', '-p', 'fail_on_breach=true']);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    const nb = readNotebook(out);
    expect(steps(nb)).toEqual(['A4.1', 'A4.2', 'A4.3', 'A4.4', 'A4']);
    expect(streamText(nb)).toMatch(new RegExp(`✔ A4\\.1 subscription ${first.subscriptions[0]}`));
    expect(streamText(nb)).toMatch(/✔ A4\.3 4 runs listed/); // two evaluation runs per monitor so far
    const displays = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === 'display_data') as unknown as { data: Record<string, unknown> }[];
    const chart = displays.find((d) => 'application/vnd.vegalite.v5+json' in d.data)!;
    expect(Object.keys(chart.data).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/html', 'text/plain']);
    expect(typeof chart.data['application/vnd.vegalite.v5+json']).toBe('object');
    expect(String(chart.data['image/svg+xml'])).toMatch(/^<svg[\s\S]*Dice_positive/);
    expect(displays.some((d) => /<table>/.test(String(d.data['text/html'])) && !('image/svg+xml' in d.data))).toBe(true);
  }, 5 * MINUTE);

  it('bad input fails early with the documented exit code and a message naming the field, changing nothing', async () => {
    // A threshold in the wrong unit: a cell fails (exit 3) before anything is uploaded.
    const unit = join(WORK, 'out', 'bad-unit', 'A_MLOps_Pipeline.ipynb');
    const r1 = await runA(unit, '-y', 'threshold_overrides: {segmentation_metrics: {precision_positive: 60}}');
    expect(r1.code).toBe(3);
    expect(r1.stderr).toMatch(/precision_positive is a fraction \(0–1\) but 60 looks like a percentage \(0–100\); did you mean 0\.6\?/);
    expect(errorsOf(readNotebook(unit))).toEqual([expect.stringMatching(/^ValidationError: thresholds rejected: segmentation_metrics\.precision_positive/)]);

    // A missing deployment folder.
    const missing = join(WORK, 'out', 'bad-folder', 'A_MLOps_Pipeline.ipynb');
    const r2 = await runA(missing, '-p', 'dependency_path=examples/no-such-folder');
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/dependency_path: \S*examples\/no-such-folder does not exist \(expected the EDI deployment folder/);

    // A parameter of the wrong type never starts a kernel (exit 6).
    const r3 = await runA(join(WORK, 'out', 'bad-type', 'A.ipynb'), '-p', 'plan=maybe');
    expect(r3.code).toBe(6);
    expect(r3.stderr).toMatch(/plan/);

    expect(await remoteState()).toEqual(first);
  }, 10 * MINUTE);
});
