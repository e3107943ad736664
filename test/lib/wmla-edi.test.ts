import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { RunbookError, ValidationError } from '../../src/lib/errors';
import { RemoteApiError } from '../../src/lib/http/errors';
import type { DeploymentEntryInput, ResourceConfigsInput } from '../../src/lib/metadata/schema';
import { Plan } from '../../src/lib/plan';
import { deployFromMetadata } from '../../src/lib/wmla/deploy-flow';
import { ModelNotStoppedError } from '../../src/lib/wmla/edi';
import { buildDeploymentPackage, CONTENT_ATTRIBUTE } from '../../src/lib/wmla/package';
import { writeTree } from '../sandbox/wmla-fixtures';
import { startProxy } from '../helpers/proxy';
import { startWmlaFixture, type WmlaFixture } from './wmla-helpers';

/**
 * The EDI client against the sandbox over real HTTP: deployments are real folders, kernels are
 * real python processes on the redhareapi stand-in, so "ready" means a kernel said so and an
 * inference answer comes from the deployed kernel file.
 */

let fx: WmlaFixture;
const TEMPLATE = join(__dirname, '..', '..', 'templates', 'edi-kernel');
beforeAll(async () => {
  fx = await startWmlaFixture();
});
afterAll(async () => {
  await fx.close();
});

/** A kernel that answers its VERSION file, a few environment variables and the request. */
const VERSION_KERNEL = `#!/usr/bin/env python
import redhareapiversion  # noqa: F401
from redhareapi import Kernel
import json, os


class VersionKernel(Kernel):
    def on_kernel_start(self, kernel_context):
        if os.environ.get("FAIL_START"):
            raise RuntimeError("no weights: " + os.environ["FAIL_START"])
        here = os.path.dirname(os.path.abspath(__file__))
        self.version = open(os.path.join(here, "VERSION")).read().strip()

    def on_task_invoke(self, task_context):
        body = json.loads(task_context.get_input_data())
        env = {k: os.environ.get(k) for k in ("GREETING", "WML_SPACE_ID", "WML_SPACE_MODEL")}
        task_context.set_output_data(json.dumps({"version": self.version, "env": env, "echo": body}))

    def on_kernel_shutdown(self):
        pass


if __name__ == "__main__":
    VersionKernel().run()
`;

let n = 0;
function dependencyFolder(version: string, extra: Record<string, string> = {}): string {
  const dir = join(fx.dir, `dep-${++n}`);
  writeTree(dir, { 'kernel.py': VERSION_KERNEL, VERSION: version, ...extra });
  return dir;
}

function entry(name: string, resources: ResourceConfigsInput = { enable_gpus: 'False' }): DeploymentEntryInput {
  return {
    model_asset: 'deepliif-base.zip',
    deployment_space_id: 'space-123',
    openscale_custom_metric_provider: {},
    wmla_deployment: { deployment_name: name, deployment_url: null, dependency_filename: 'deepliif-deploy.zip', resource_configs: resources },
  };
}

async function modelNames(): Promise<string[]> {
  const res = await fx.sandbox.api.get('/dlim/v1/model');
  return (res.json as { name: string }[]).map((m) => m.name).sort();
}

function png(width: number, height: number, value: (x: number, y: number) => number): string {
  const img = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const v = value(x, y);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
      img.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(img).toString('base64');
}

const counted = (seen: { method: string; url: string }[], method: string, part: string) => seen.filter((r) => r.method === method && r.url.split('?')[0]!.endsWith(part)).length;

describe('EDI client', () => {
  it('deployFromMetadata: deploys the template kernel, maps resource_configs, starts, reads the service_uri back; a second run changes nothing', async () => {
    const proxy = await startProxy(fx.sandbox.url);
    const { edi } = fx.client(proxy.url);
    try {
      const meta = entry('seg-demo', { enable_gpus: 'False', n_cpus: 2, memory_allocation: 2048, n_replicas: 1, n_min_kernels: 1, task_execution_timeout: 120 });
      const steps: string[] = [];
      const first = await deployFromMetadata(edi, meta, { dependencyFolder: TEMPLATE, onStep: (s) => steps.push(s) });
      expect(steps).toEqual(['package', 'deploy', 'profile', 'start', 'wait']);
      expect(first.deploy.outcome).toBe('created');
      expect(first.profile!.outcome).toBe('updated');
      expect(first.start.outcome).toBe('started');
      const model = (await fx.sandbox.api.get('/dlim/v1/model/seg-demo')).json;
      expect(first.serviceUri).toBe(model.service_uri);
      expect(first.serviceUri).toMatch(/\/dlim\/v1\/inference\/seg-demo$/);
      expect(model.mk_environments).toEqual([
        { name: 'WML_SPACE_ID', value: 'space-123' },
        { name: 'WML_SPACE_MODEL', value: 'deepliif-base.zip' },
      ]);
      const profile = (await fx.sandbox.api.get('/dlim/v1/model/seg-demo/appprofile')).json;
      expect(profile.kernel.gpu).toBe('no');
      expect(profile.replica).toBe(1);
      expect(profile.policy).toMatchObject({ kernel_min: 1, kernel_max: 3, task_execution_timeout: 120, kernel_delay_release_time: 60 });
      expect(profile.resource_allocation.kernel.resources).toBe('ncpus=2,ncpus_limit=2,mem=2048,mem_limit=2048');

      // The deployed kernel answers: a ping-pong, and a real threshold segmentation of a PNG.
      expect(await edi.infer('seg-demo', { data: '123' })).toEqual({ data: '123' });
      const answer = (await edi.infer('seg-demo', { image: png(8, 4, (x) => (x < 2 ? 250 : 10)), threshold: 128 })) as Record<string, unknown>;
      expect(answer).toMatchObject({ status: 'finished', width: 8, height: 4, threshold: 128, foreground_fraction: 0.25 });
      const mask = PNG.sync.read(Buffer.from(answer.mask as string, 'base64'));
      expect([mask.width, mask.height]).toEqual([8, 4]);

      const second = await deployFromMetadata(edi, meta, { dependencyFolder: TEMPLATE });
      expect([second.deploy.outcome, second.profile!.outcome, second.start.outcome]).toEqual(['unchanged', 'unchanged', 'already-started']);
      expect(second.serviceUri).toBe(first.serviceUri);
      expect(await modelNames()).toEqual(['seg-demo']);
      expect(counted(proxy.seen, 'POST', '/deployment/model')).toBe(1);
      expect(counted(proxy.seen, 'PUT', '/appprofile')).toBe(1);
      expect(counted(proxy.seen, 'PUT', '/operation/start')).toBe(1);
      expect(counted(proxy.seen, 'PUT', '/operation/stop')).toBe(0);
      expect(await edi.undeployModel('seg-demo', { stopIfRunning: true })).toBe(true);
      expect(await modelNames()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('honours n_replicas and the minimum kernels; applying the same settings twice makes one PUT; profile changes need a stop', async () => {
    const proxy = await startProxy(fx.sandbox.url);
    const { edi } = fx.client(proxy.url);
    const pkg = await buildDeploymentPackage({ dependencyFolder: dependencyFolder('v1'), name: 'replicas-demo' });
    try {
      expect((await edi.deployModel(pkg)).outcome).toBe('created');
      const rc = { enable_gpus: true, n_replicas: 2, kernel_min: 1, kernel_max: 2, n_cpus: 1, memory_allocation: 512 };
      const a = await edi.applyResourceConfigs('replicas-demo', rc);
      expect(a.outcome).toBe('updated');
      expect(a.changes.map((c) => c.path)).toEqual(expect.arrayContaining(['replica', 'kernel.gpu', 'policy.kernel_max']));
      const b = await edi.applyResourceConfigs('replicas-demo', rc);
      expect(b).toMatchObject({ outcome: 'unchanged', changes: [], stopped: false });
      expect(counted(proxy.seen, 'PUT', '/appprofile')).toBe(1);
      expect((await edi.getProfile('replicas-demo')).kernel.gpu).toBe('exclusive');

      await edi.startModel('replicas-demo');
      const ready = await edi.waitUntilReady('replicas-demo', { timeoutMs: 30000 });
      expect(ready.instance.instances!.length).toBe(2);
      // replica × kernel_min kernels start at once; wait until both are up.
      const started = Date.now();
      let kernels: string[] = [];
      while (Date.now() - started < 20000) {
        kernels = (await edi.instance('replicas-demo')).instances!.flatMap((i) => i.isd_container.map((k) => k.container_status));
        if (kernels.length === 2 && kernels.every((s) => s === 'IDLE')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(kernels).toEqual(['IDLE', 'IDLE']);

      // While started, a change is refused (and nothing is sent) unless the step may stop the model.
      const putsBefore = counted(proxy.seen, 'PUT', '/appprofile');
      const refused = await edi.applyResourceConfigs('replicas-demo', { ...rc, n_replicas: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ModelNotStoppedError);
      expect((refused as Error).message).toMatch(/an app profile change needs EDI model 'replicas-demo' stopped, and it is started/);
      expect(counted(proxy.seen, 'PUT', '/appprofile')).toBe(putsBefore);
      expect((await edi.getProfile('replicas-demo')).replica).toBe(2);
      const applied = await edi.applyResourceConfigs('replicas-demo', { ...rc, n_replicas: 1 }, { stopIfRunning: true });
      expect(applied).toMatchObject({ outcome: 'updated', stopped: true });
      expect((await edi.getProfile('replicas-demo')).replica).toBe(1);
      expect(await edi.phase('replicas-demo')).toBe('stopped');
      // Inference on a stopped model is refused by EDI, with its reason.
      const err = await edi.infer('replicas-demo', { x: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RemoteApiError);
      expect((err as RemoteApiError).status).toBe(503);
      expect((err as Error).message).toMatch(/is not started \(it is stopped\)/);
      expect(await edi.undeployModel('replicas-demo')).toBe(true);
    } finally {
      await pkg.cleanup();
      await proxy.close();
    }
  });

  it('redeploys changed content only with the model stopped; the new kernel file then serves', async () => {
    const { edi } = fx.client();
    const first = await deployFromMetadata(edi, entry('version-demo'), { dependencyFolder: dependencyFolder('v1'), customArgs: 'GREETING="hello there"' });
    expect(await edi.infer('version-demo', { q: 1 })).toEqual({ version: 'v1', env: { GREETING: 'hello there', WML_SPACE_ID: 'space-123', WML_SPACE_MODEL: 'deepliif-base.zip' }, echo: { q: 1 } });
    const v2 = await buildDeploymentPackage({ dependencyFolder: dependencyFolder('v2'), name: 'version-demo' });
    try {
      await expect(edi.deployModel(v2)).rejects.toBeInstanceOf(ModelNotStoppedError);
      expect((await edi.infer('version-demo', {})) as { version: string }).toMatchObject({ version: 'v1' });
      expect(await edi.deployModel(v2, { ifExists: 'keep' })).toMatchObject({ outcome: 'kept' });
      await expect(edi.deployModel(v2, { ifExists: 'error' })).rejects.toThrow(/already deployed/);
      const redeployed = await edi.deployModel(v2, { stopIfRunning: true });
      expect(redeployed).toMatchObject({ outcome: 'redeployed', stopped: true });
      expect(redeployed.model!.attributes).toContainEqual({ key: CONTENT_ATTRIBUTE, value: v2.contentHash });
      expect(await edi.startModel('version-demo')).toMatchObject({ outcome: 'started' });
      const ready = await edi.waitUntilReady('version-demo');
      expect(ready.serviceUri).toBe(first.serviceUri);
      expect((await edi.infer('version-demo', {})) as { version: string }).toMatchObject({ version: 'v2' });
      expect(await edi.startModel('version-demo')).toMatchObject({ outcome: 'already-started' });
      // Undeploy: refused while running unless allowed to stop; then gone; then nothing to do.
      await expect(edi.undeployModel('version-demo')).rejects.toThrow(/undeploying needs EDI model 'version-demo' stopped/);
      expect(await edi.stopModel('version-demo')).toMatchObject({ outcome: 'stopped' });
      expect(await edi.stopModel('version-demo')).toMatchObject({ outcome: 'already-stopped' });
      expect(await edi.undeployModel('version-demo')).toBe(true);
      expect(await edi.undeployModel('version-demo')).toBe(false);
      expect(await edi.findModel('version-demo')).toBeUndefined();
      expect(await edi.describeModel('version-demo')).toBeUndefined();
    } finally {
      await v2.cleanup();
    }
  });

  it('plan mode records the whole flow and changes nothing, for a new model and for a running one', async () => {
    const { edi } = fx.client();
    const plan = new Plan();
    const planned = await deployFromMetadata(edi, entry('plan-demo'), { dependencyFolder: dependencyFolder('v1'), plan });
    expect(planned.planned).toBe(true);
    expect(planned.serviceUri).toBeUndefined();
    expect(plan.changes.map((c) => `${c.action} ${c.resource}`)).toEqual(['create edi_model', 'update app_profile', 'start edi_model']);
    expect(await modelNames()).not.toContain('plan-demo');

    await deployFromMetadata(edi, entry('plan-demo', { enable_gpus: false, n_cpus: 1 }), { dependencyFolder: dependencyFolder('v1') });
    const before = await edi.describeModel('plan-demo');
    const plan2 = new Plan();
    await deployFromMetadata(edi, entry('plan-demo', { enable_gpus: true, n_cpus: 2 }), { dependencyFolder: dependencyFolder('v1'), plan: plan2 });
    expect(plan2.changes.map((c) => `${c.action} ${c.resource}`)).toEqual(['stop edi_model', 'update app_profile', 'start edi_model']);
    expect(plan2.changes[1]!.detail).toContain('kernel.gpu: "no" → "exclusive"');
    const plan3 = new Plan();
    await deployFromMetadata(edi, entry('plan-demo', { enable_gpus: true, n_cpus: 2 }), { dependencyFolder: dependencyFolder('v2'), plan: plan3 });
    expect(plan3.changes.map((c) => `${c.action} ${c.resource}`)).toEqual(['stop edi_model', 'update edi_model', 'update app_profile', 'start edi_model']);
    const plan4 = new Plan();
    expect(await edi.undeployModel('plan-demo', { stopIfRunning: true, plan: plan4 })).toBe(true);
    expect(plan4.changes.map((c) => c.action)).toEqual(['stop', 'delete']);
    const after = await edi.describeModel('plan-demo');
    expect(after!.phase).toBe('started');
    expect(after!.profile).toEqual(before!.profile);
    expect(after!.model.attributes).toEqual(before!.model.attributes);
    await edi.undeployModel('plan-demo', { stopIfRunning: true });
  });

  it('fails fast with the kernel\u2019s own message, and when waiting on a model nobody started', async () => {
    const { edi } = fx.client();
    const pkg = await buildDeploymentPackage({ dependencyFolder: dependencyFolder('v1'), name: 'broken-demo', mkEnvironments: { FAIL_START: 'weights.pt missing' } });
    try {
      await edi.deployModel(pkg);
      const stoppedErr = await edi.waitUntilReady('broken-demo', { timeoutMs: 1000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(stoppedErr).toBeInstanceOf(RunbookError);
      expect((stoppedErr as Error).message).toMatch(/is stopped: start it/);
      await edi.startModel('broken-demo');
      const err = await edi.waitUntilReady('broken-demo', { timeoutMs: 30000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RunbookError);
      expect((err as Error).message).toMatch(/started, but its kernel failed: .*RuntimeError: no weights: weights.pt missing/);
      expect(await edi.undeployModel('broken-demo', { stopIfRunning: true })).toBe(true);
    } finally {
      await pkg.cleanup();
    }
  });

  it('refuses bad input before any change: a name EDI cannot take, a missing kernel file, a credential as kernel environment', async () => {
    const { edi } = fx.client();
    const before = await modelNames();
    const bad = await deployFromMetadata(edi, entry('Deep_LIIF'), { dependencyFolder: dependencyFolder('v1') }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(ValidationError);
    expect((bad as ValidationError).issues[0]!.path).toBe('wmla_deployment.deployment_name');
    await expect(deployFromMetadata(edi, entry('nokernel-demo'), { dependencyFolder: dependencyFolder('v1'), kernelFilename: 'kernel-update.py' })).rejects.toThrow(/kernelFilename: the kernel file 'kernel-update.py' is missing/);
    const secret = await deployFromMetadata(edi, entry('secret-demo'), { dependencyFolder: dependencyFolder('v1'), customArgs: 'CPD_USERNAME=admin CPD_API_KEY=abcd-secret-999' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(secret).toBeInstanceOf(ValidationError);
    expect((secret as Error).message).not.toContain('abcd-secret-999');
    await expect(deployFromMetadata(edi, entry('rc-demo', { enable_gpus: 'yes' } as never), { dependencyFolder: dependencyFolder('v1') })).rejects.toThrow(/enable_gpus/);
    await expect(edi.startModel('Not A Name')).rejects.toBeInstanceOf(ValidationError);
    expect(await modelNames()).toEqual(before);
  });
});

describe('EDI client under faults', () => {
  it('retries GETs of the instance and the profile answered 503; completes a deploy whose answer was lost without a second create', async () => {
    let lost = 0;
    const proxy = await startProxy(fx.sandbox.url, { decide: (method, path) => (method === 'POST' && path === '/dlim/v1/deployment/model' && lost++ === 0 ? 'lose-response' : 'pass') });
    const { edi, retries } = fx.client(proxy.url);
    await fx.faults([
      { route: 'GET /dlim/v1/model/fault-demo/instance', errorRate: 1, statuses: [503], retryAfterSeconds: 0, maxHits: 3 },
      { route: 'GET /dlim/v1/model/fault-demo/appprofile', errorRate: 1, statuses: [503, 502], retryAfterSeconds: 0, maxHits: 2 },
    ]);
    try {
      const result = await deployFromMetadata(edi, entry('fault-demo', { enable_gpus: false, n_cpus: 1 }), { dependencyFolder: dependencyFolder('v1') });
      var hits = await fx.faultHits();
      expect(lost).toBe(1);
      expect(result.deploy.outcome).toBe('created');
      expect(result.serviceUri).toMatch(/inference\/fault-demo$/);
      expect(counted(proxy.seen, 'POST', '/deployment/model')).toBe(1);
      expect(counted(proxy.seen, 'POST', '/deployment/model/fault-demo')).toBe(1); // the lost create completed as a redeploy
      expect(await modelNames()).toContain('fault-demo');
      expect(result.deploy.model!.attributes!.find((a) => a.key === CONTENT_ATTRIBUTE)).toBeDefined();
      expect(hits).toEqual([3, 2]);
      const getRetries = retries.filter((r) => r.method === 'GET');
      expect(getRetries.length).toBe(hits[0]! + hits[1]!);
      expect(getRetries.every((r) => r.status === 503 || r.status === 502)).toBe(true);
      expect(await edi.infer('fault-demo', { ok: true })).toMatchObject({ version: 'v1' });
    } finally {
      await fx.faults([]);
      await proxy.close();
      await fx.client().edi.undeployModel('fault-demo', { stopIfRunning: true });
    }
  });
});
