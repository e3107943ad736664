import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import {
  AppProfile,
  AppProfileUpdate,
  DeployResponse,
  EdiTokenResponse,
  Model,
  ModelExtension,
  ModelInstance,
  ModelList,
  Readme,
  parseKernelResources,
  type AppProfile as AppProfileType,
} from '../../src/lib/contracts/wmla-edi';
import { wmlaEdiModule } from '../../src/sandbox/services/wmla-edi';
import { defaultProfile, phaseOf, profileTime, type EdiModelDoc } from '../../src/sandbox/services/wmla-edi/model';
import { Api, demoToken, expectIbmError, startTestSandbox, tempStateDir, type ApiResponse, type TestSandbox } from './helpers';
import { rawTar, tarGzOf, waitFor, writeTree } from './wmla-fixtures';
import { isPidAlive } from '../../src/lib/util/detached-process';

const API = '/dlim/v1';
const TEMPLATE = join(__dirname, '..', '..', 'templates', 'edi-kernel');
const TIMING = { startMs: 200, stopMs: 200, stopGraceMs: 500 };
const MAX_INFERENCE_BYTES = 1024 * 1024;

/** Ping-pong: echoes the body; `{"env": true}` reports what the kernel sees. Prints around the protocol on purpose. */
const ECHO_KERNEL = `#!/usr/bin/env python
import redhareapiversion
from redhareapi import Kernel
import json, os
print("module-level print before run()")

class EchoKernel(Kernel):
    def on_kernel_start(self, kernel_context):
        self.desc = json.loads(kernel_context.get_model_description())
        Kernel.log_info("echo kernel started")

    def on_task_invoke(self, task_context):
        while task_context is not None:
            data = task_context.get_input_data()
            print("handling a task")
            if data == '{"env": true}':
                keys = ["REDHARE_MODEL_NAME", "REDHARE_MODEL_PATH", "MSD_POD_NAME", "WML_SPACE_ID", "DLIM_MK_LOG_LEVEL", "TASK_JOB_ID"]
                out = {k: os.environ.get(k) for k in keys}
                out.update(cwd=os.getcwd(), pid=os.getpid(), weight_path=self.desc["weight_path"], model_path=self.desc["model_path"])
                data = json.dumps(out)
            task_context.set_output_data(data)
            task_context = task_context.next()

if __name__ == '__main__':
    EchoKernel().run()
`;

/** Misbehaves on request: raises, sets no output, or sleeps; echoes otherwise. */
const MISCHIEF_KERNEL = `import redhareapiversion
from redhareapi import Kernel
import json, time

class Mischief(Kernel):
    def on_task_invoke(self, task_context):
        req = json.loads(task_context.get_input_data())
        if "raise" in req:
            raise ValueError(req["raise"])
        if "silent" in req:
            return
        if "sleep" in req:
            time.sleep(req["sleep"])
        task_context.set_output_data(json.dumps(req))

if __name__ == '__main__':
    Mischief().run()
`;

const CRASHING_KERNEL = `import redhareapiversion
from redhareapi import Kernel

class Broken(Kernel):
    def on_kernel_start(self, kernel_context):
        print("loading weights")
        raise RuntimeError("weights missing")

if __name__ == '__main__':
    Broken().run()
`;

let work: string;

function modelJson(name: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ name, kernel_path: 'kernel.py', readme: 'README.md', tag: 'test', weight_path: './', model_path: '', runtime: 'dlipy3', schema_version: '1', ...extra });
}

/** A submission folder `<dirName>/` with the given files, as a tar.gz. */
async function submission(files: Record<string, string>, dirName = 'submission'): Promise<Buffer> {
  return tarGzOf(writeTree(join(mkdtempSync(join(work, 'sub-')), dirName), files));
}

function echoSubmission(name: string, extra: Record<string, unknown> = {}): Promise<Buffer> {
  return submission({ 'model.json': modelJson(name, extra), 'kernel.py': ECHO_KERNEL, 'README.md': `# ${name}\n`, 'weights.bin': 'w'.repeat(100) });
}

function deploy(api: Api, body: Buffer, name?: string): Promise<ApiResponse> {
  return api.request('POST', `${API}/deployment/model${name ? `/${name}` : ''}`, { raw: body, headers: { 'content-type': 'application/octet-stream' } });
}

async function instance(api: Api, name: string): Promise<ModelInstance> {
  const res = await api.get(`${API}/model/${name}/instance`);
  expect(res.status).toBe(200);
  return ModelInstance.parse(res.json);
}

/** Polls the instance until `state`, recording the states seen. */
function waitInstance(api: Api, name: string, state: string, seen: string[] = []): Promise<ModelInstance> {
  return waitFor(`model ${name} to be ${state}`, async () => {
    const inst = await instance(api, name);
    if (seen[seen.length - 1] !== inst.state) seen.push(inst.state);
    return inst.state === state ? inst : undefined;
  });
}

async function start(api: Api, name: string): Promise<ModelInstance> {
  const res = await api.put(`${API}/model/${name}/operation/start`);
  expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: {} });
  const seen: string[] = [];
  const inst = await waitInstance(api, name, 'enabled', seen);
  expect(seen.filter((s) => s !== 'not-available' && s !== 'enabled')).toEqual([]);
  return inst;
}

async function stop(api: Api, name: string): Promise<void> {
  const res = await api.put(`${API}/model/${name}/operation/stop`);
  expect({ status: res.status, body: res.json }).toEqual({ status: 200, body: {} });
  await waitInstance(api, name, 'disabled');
}

function infer(api: Api, name: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<ApiResponse> {
  return api.request('POST', `${API}/inference/${name}`, { raw: body, headers });
}

async function profileOf(api: Api, name: string): Promise<AppProfileType> {
  const res = await api.get(`${API}/model/${name}/appprofile`);
  expect(res.status).toBe(200);
  return AppProfile.parse(res.json);
}

async function putProfile(api: Api, name: string, edit: (p: AppProfileType) => void): Promise<ApiResponse> {
  const profile = structuredClone(await profileOf(api, name));
  edit(profile);
  return api.put(`${API}/model/${name}/appprofile`, profile);
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'wmla-edi-test-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('EDI contract helpers', () => {
  it('derives the phase from the requests, the timings and the kernels', () => {
    const timing = { startMs: 100, stopMs: 50 };
    const doc = (run: EdiModelDoc['run']): EdiModelDoc => ({ run } as EdiModelDoc);
    expect(phaseOf(doc({}), timing, true, 5000)).toBe('stopped');
    expect(phaseOf(doc({ startRequestedAt: 1000 }), timing, true, 1050)).toBe('starting');
    expect(phaseOf(doc({ startRequestedAt: 1000 }), timing, false, 9000)).toBe('starting'); // kernels still launching
    expect(phaseOf(doc({ startRequestedAt: 1000 }), timing, true, 1100)).toBe('started');
    expect(phaseOf(doc({ startRequestedAt: 1000, stopRequestedAt: 2000 }), timing, true, 2049)).toBe('stopping');
    expect(phaseOf(doc({ startRequestedAt: 1000, stopRequestedAt: 2000 }), timing, true, 2050)).toBe('stopped');
  });

  it('formats profile times like WMLA and validates profiles per the documented rules', () => {
    expect(profileTime(Date.UTC(2022, 7, 10, 8, 17, 46))).toBe('Wed Aug 10 08:17:46 2022 GMT');
    const base = defaultProfile('m', Date.UTC(2022, 7, 10));
    expect(AppProfileUpdate.safeParse(base).success).toBe(true);
    const issues = (edit: (p: AppProfileType) => void): string[] => {
      const p = structuredClone(base);
      edit(p);
      const r = AppProfileUpdate.safeParse(p);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues((p) => (p.policy.kernel_min = 0))).toEqual([]);
    expect(issues((p) => (p.policy.kernel_max = -1))).toEqual([]);
    expect(issues((p) => (p.policy.task_execution_timeout = -1))).toEqual([]);
    expect(issues((p) => (p.policy.kernel_min = -1))[0]).toMatch(/^policy\.kernel_min/);
    expect(issues((p) => ((p.policy.kernel_min = 3), (p.policy.kernel_max = 2)))[0]).toMatch(/^policy\.kernel_max: must be -1 \(unlimited\) or at least kernel_min \(3\)/);
    expect(issues((p) => (p.policy.task_execution_timeout = 0))[0]).toMatch(/^policy\.task_execution_timeout/);
    expect(issues((p) => (p.kernel.gpu = 'maybe' as never))[0]).toMatch(/^kernel\.gpu/);
    expect(issues((p) => (p.kernel.connection_timeout = 0))[0]).toMatch(/^kernel\.connection_timeout/);
    expect(issues((p) => (p.resource_allocation.kernel.resources = 'ncpus=2,ncpus_limit=1,mem=10,mem_limit=10'))[0]).toMatch(/resources: ncpus_limit \(1\) is below ncpus \(2\)/);
    expect(parseKernelResources('ncpus=8,ncpus_limit=8,mem=1000,mem_limit=1000')).toEqual({ ok: true, value: { ncpus: 8, ncpus_limit: 8, mem: 1000, mem_limit: 1000 } });
    expect(parseKernelResources('ncpus=x,gpus=1,mem=1,mem=2')).toEqual({ ok: false, problems: ["ncpus: expected a positive number, got 'x'", "unknown key 'gpus' (expected ncpus, ncpus_limit, mem, mem_limit)", "'mem' is given twice"] });
  });
});

describe('WMLA EDI over HTTP', () => {
  let sb: TestSandbox;
  let api: Api;

  beforeAll(async () => {
    sb = await startTestSandbox({ modules: [wmlaEdiModule], config: { services: { 'wmla-edi': { ...TIMING, maxInferenceBytes: MAX_INFERENCE_BYTES } } } });
    api = sb.api;
  });
  afterAll(async () => {
    await sb.close();
  });

  it('mints EDI tokens from Basic auth or the JSON password form, accepted in every EDI header', async () => {
    const basic = `Basic ${Buffer.from('admin:sandbox-demo-password').toString('base64')}`;
    const viaBasic = await api.post(`${API}/auth/token`, undefined, { token: null, headers: { authorization: basic } });
    expect(viaBasic.status).toBe(200);
    const tokens = EdiTokenResponse.parse(viaBasic.json);
    for (const userpasswd of ['admin:sandbox-demo-password', Buffer.from('admin:sandbox-demo-api-key').toString('base64')]) {
      const res = await api.post(`${API}/auth/token`, { method: 'password', userpasswd }, { token: null });
      expect(res.status).toBe(200);
      EdiTokenResponse.parse(res.json);
    }
    for (const header of ['x-auth-token', 'x-user-token']) {
      const list = await api.get(`${API}/model`, { token: null, headers: { [header]: tokens.user_token } });
      expect(list.status).toBe(200);
      ModelList.parse(list.json);
    }
    expect((await api.get(`${API}/model`, { token: tokens.service_token })).status).toBe(200);
    expectIbmError(await api.post(`${API}/auth/token`, { method: 'password', userpasswd: 'admin:wrong' }, { token: null }), 401, 'wrong user name or password');
    expectIbmError(await api.post(`${API}/auth/token`, undefined, { token: null }), 401, 'Basic');
    expectIbmError(await api.post(`${API}/auth/token`, { method: 'token' }, { token: null }), 400, 'method');
    expectIbmError(await api.get(`${API}/model`, { token: null }), 401);
  });

  it('refuses submissions without model.json, kernel or README, with a bad name, traversal or several folders', async () => {
    const cases: [Record<string, string>, RegExp | string][] = [
      [{ 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, "model.json is missing from the deployment folder 'submission'"],
      [{ 'model.json': modelJson('m1'), 'README.md': 'r' }, 'kernel.py (model.json kernel_path) is missing'],
      [{ 'model.json': modelJson('m1'), 'kernel.py': ECHO_KERNEL }, 'README.md (model.json readme) is missing'],
      [{ 'model.json': modelJson('m1', { readme: 'docs/INFO.md' }), 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, 'docs/INFO.md (model.json readme) is missing'],
      [{ 'model.json': modelJson('Bad_Name'), 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, /model\.json\.name: expected lowercase letters/],
      [{ 'model.json': JSON.stringify({ name: 'm1' }), 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, 'model.json.kernel_path'],
      [{ 'model.json': '{ not json', 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, 'model.json is not valid JSON'],
      [{ 'model.json': modelJson('m1', { kernel_path: '../kernel.py' }), 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }, "'..'"],
    ];
    for (const [files, message] of cases) expectIbmError(await deploy(api, await submission(files)), 400, message);

    const flat = await tarGzOf(writeTree(mkdtempSync(join(work, 'flat-')), { 'model.json': modelJson('m1'), 'kernel.py': ECHO_KERNEL, 'README.md': 'r' }), false);
    expectIbmError(await deploy(api, flat), 400, 'exactly one top-level folder');
    expectIbmError(await deploy(api, rawTar([{ name: 'sub/model.json', body: modelJson('m1') }, { name: '../../evil.py', body: 'x' }])), 400, "'..'");
    expectIbmError(await deploy(api, Buffer.from('this is not a tarball at all, just text that goes on for a while')), 400, 'tar');
    expectIbmError(await deploy(api, Buffer.alloc(0)), 400, 'empty');
    expect(existsSync(join(sb.stateDir, 'evil.py'))).toBe(false);
    expect(ModelList.parse((await api.get(`${API}/model`)).json)).toEqual([]);
    expect(readdirSync(join(sb.stateDir, 'tmp')).filter((f) => f.startsWith('edi-deploy-'))).toEqual([]);
  });

  it('deploys, lists, reads, and runs the echo kernel end to end through start, stop and undeploy', async () => {
    const res = await deploy(api, await echoSubmission('echo', { mk_environments: [{ name: 'WML_SPACE_ID', value: 'space-1' }] }));
    expect(res.status).toBe(200);
    const model = DeployResponse.parse(res.json);
    expect(model).toMatchObject({ name: 'echo', started_at: 0, service_uri: '', kernel_path: 'kernel.py', runtime: 'dlipy3', creator: 'admin', schema_version: '1', tag: 'test' });
    expect(model.mk_environments).toEqual([{ name: 'WML_SPACE_ID', value: 'space-1' }]);
    expect(model.model_path).toMatch(/\/echo\/echo-\d{8}-\d{6}$/);
    expect(readFileSync(join(model.model_path!, 'weights.bin'), 'utf8')).toBe('w'.repeat(100));
    expect(model.size).toBe(Buffer.byteLength(ECHO_KERNEL) + 'w'.repeat(100).length + '# echo\n'.length + Buffer.byteLength(modelJson('echo', { mk_environments: [{ name: 'WML_SPACE_ID', value: 'space-1' }] })));

    expectIbmError(await deploy(api, await echoSubmission('echo')), 409, 'already exists');
    expect(ModelList.parse((await api.get(`${API}/model`)).json).map((m) => m.name)).toEqual(['echo']);
    expect(Model.parse((await api.get(`${API}/model/echo`)).json).uid).toBe(model.uid);
    expectIbmError(await api.get(`${API}/model/nope`), 404, "model 'nope'");
    const ext = ModelExtension.parse((await api.get(`${API}/modelextension`)).json);
    expect(ext.extension_list).toEqual([{ name: 'echo', resource_plan: 'sample-project/inference' }]);
    expect(await instance(api, 'echo')).toEqual({ name: 'echo', state: 'disabled' });

    const profile = await profileOf(api, 'echo');
    expect(profile).toMatchObject({ name: 'echo', schema_version: '1.2', type: 'inference', replica: 1, policy: { kernel_min: 1, kernel_max: 100, task_execution_timeout: 60 }, kernel: { gpu: 'no', connection_timeout: 90 } });
    expect(profile.resource_allocation.kernel.resources).toBe('ncpus=0.5,ncpus_limit=2,mem=1024,mem_limit=4096');
    expect(profile.create_time).toMatch(/^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} \d{4} GMT$/);

    expect(Readme.parse((await api.get(`${API}/model/echo/readme`)).json).readme).toBe('# echo\n');
    expect((await api.put(`${API}/model/echo/readme`, { readme: '# Echo\nping-pong\n' })).status).toBe(200);
    expect(Readme.parse((await api.get(`${API}/model/echo/readme`)).json).readme).toBe('# Echo\nping-pong\n');

    expectIbmError(await infer(api, 'echo', '{"data":"123"}'), 503, 'is not started (it is stopped)');
    expectIbmError(await infer(api, 'ghost', '{}'), 404, "model 'ghost'");

    const enabled = await start(api, 'echo');
    expect(enabled.instances).toHaveLength(1);
    expect(enabled.instances![0]!.isd_container.map((c) => c.container_status)).toEqual(['IDLE']);
    const started = Model.parse((await api.get(`${API}/model/echo`)).json);
    expect(started.started_at).toBeGreaterThan(0);
    expect(started.service_uri).toBe(`${sb.url}/dlim/v1/inference/echo`);
    expect((await api.put(`${API}/model/echo/operation/start`)).status).toBe(200); // already started: no-op

    const pong = await infer(api, 'echo', '{"data":"123"}');
    expect(pong.status).toBe(200);
    expect(pong.text).toBe('{"data":"123"}');
    expect(pong.headers.get('content-type')).toMatch(/^application\/json/);
    const plain = await infer(api, 'echo', 'hello, kernel', { 'content-type': 'text/plain', 'x-user-token': api.token! });
    expect(plain.text).toBe('hello, kernel');
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain/);
    const unicode = await infer(api, 'echo', JSON.stringify({ text: 'Zellkern ✓ 核' }));
    expect(JSON.parse(unicode.text)).toEqual({ text: 'Zellkern ✓ 核' });

    const env = JSON.parse((await infer(api, 'echo', '{"env": true}')).text);
    expect(env).toMatchObject({ REDHARE_MODEL_NAME: 'echo', REDHARE_MODEL_PATH: model.model_path, WML_SPACE_ID: 'space-1', DLIM_MK_LOG_LEVEL: 'INFO', weight_path: './', model_path: model.model_path });
    expect(env.MSD_POD_NAME).toMatch(/^echo-kernel-\d+$/);
    expect(env.TASK_JOB_ID).toMatch(/^[0-9a-f-]{36}$/);
    expect(env.cwd).toBe(join(sb.stateDir, 'work', 'wmla-edi', 'run', 'echo', 'work'));
    expect(isPidAlive(env.pid)).toBe(true);

    const parallel = await Promise.all([1, 2, 3, 4].map((i) => infer(api, 'echo', JSON.stringify({ i }))));
    expect(parallel.map((r) => r.status === 200 ? JSON.parse(r.text).i : r.text)).toEqual([1, 2, 3, 4]);
    const busy = await instance(api, 'echo');
    const containers = busy.instances![0]!.isd_container;
    expect(containers.reduce((n, c) => n + (c.finished_task ?? 0), 0)).toBe(8);
    const log = readFileSync(join(sb.stateDir, 'work', 'wmla-edi', 'run', 'echo', 'logs', 'echo-kernel-1.log'), 'utf8');
    expect(log).toContain('module-level print before run()');
    expect(log).toContain('INFO: echo kernel started');
    expect(log).toContain('handling a task');

    expectIbmError(await putProfile(api, 'echo', (p) => (p.policy.kernel_max = 3)), 409, 'only while it is stopped (it is started)');
    expectIbmError(await api.delete(`${API}/model/echo`), 409, "The model cannot be removed if it's started.");
    expectIbmError(await deploy(api, await echoSubmission('echo'), 'echo'), 409, 'cannot be redeployed while it is started');

    await api.put(`${API}/model/echo/operation/stop`);
    expectIbmError(await infer(api, 'echo', '{}'), 503, 'is not started');
    await waitInstance(api, 'echo', 'disabled');
    await waitFor('the kernel process to end', async () => (isPidAlive(env.pid) ? undefined : true));
    expect(Model.parse((await api.get(`${API}/model/echo`)).json)).toMatchObject({ started_at: 0, service_uri: '' });

    const undeploy = await api.delete(`${API}/model/echo`);
    expect({ status: undeploy.status, body: undeploy.json }).toEqual({ status: 200, body: {} });
    expectIbmError(await api.get(`${API}/model/echo`), 404);
    expect(existsSync(model.model_path!)).toBe(false);
  });

  it('validates profile updates, keeps them across a redeploy, and starts kernels lazily with kernel_min 0', async () => {
    expect((await deploy(api, await echoSubmission('lazy'))).status).toBe(200);
    expectIbmError(await putProfile(api, 'lazy', (p) => ((p.policy.kernel_min = 3), (p.policy.kernel_max = 2))), 400, 'policy.kernel_max: must be -1 (unlimited) or at least kernel_min (3)');
    expectIbmError(await putProfile(api, 'lazy', (p) => (p.policy.task_execution_timeout = 0)), 400, 'policy.task_execution_timeout');
    expectIbmError(await putProfile(api, 'lazy', (p) => (p.kernel.gpu = 'always' as never)), 400, 'kernel.gpu');
    expectIbmError(await putProfile(api, 'lazy', (p) => (p.resource_allocation.kernel.resources = 'ncpus=8,mem=lots')), 400, "resource_allocation.kernel.resources: mem: expected a positive number, got 'lots'");
    expectIbmError(await putProfile(api, 'lazy', (p) => (p.name = 'other')), 400, "the profile is for 'other'");
    expectIbmError(await putProfile(api, 'lazy', (p) => (p.resource_allocation.kernel.namespace = 'elsewhere')), 400, 'namespace cannot be modified');
    expectIbmError(await api.put(`${API}/model/lazy/appprofile`, { name: 'lazy' }), 400, 'policy');

    const before = await profileOf(api, 'lazy');
    const put = await putProfile(api, 'lazy', (p) => {
      p.policy.kernel_min = 0;
      p.policy.kernel_max = 2;
      p.kernel.gpu = 'exclusive';
      p.resource_allocation.kernel.resources = 'ncpus=8,ncpus_limit=8,mem=1000,mem_limit=1000';
    });
    expect(put.status).toBe(200);
    const after = await profileOf(api, 'lazy');
    expect(after).toMatchObject({ policy: { kernel_min: 0, kernel_max: 2 }, kernel: { gpu: 'exclusive' }, create_time: before.create_time });
    expect(Date.parse(after.last_update_time.replace(' GMT', 'Z'))).toBeGreaterThanOrEqual(Date.parse(before.last_update_time.replace(' GMT', 'Z')));

    const redeployed = await deploy(api, await echoSubmission('lazy', { tag: 'v2' }), 'lazy');
    expect(redeployed.status).toBe(200);
    expect(DeployResponse.parse(redeployed.json)).toMatchObject({ tag: 'v2', started_at: 0 });
    expect((await profileOf(api, 'lazy')).policy.kernel_min).toBe(0);
    expectIbmError(await deploy(api, await echoSubmission('lazy'), 'other'), 404, "model 'other'");
    expect((await deploy(api, await echoSubmission('other'), 'lazy')).status).toBe(400);
    expect(readdirSync(join(sb.stateDir, 'work', 'wmla-edi', 'repo', 'lazy'))).toHaveLength(1); // the old version is gone

    const enabled = await start(api, 'lazy');
    expect(enabled.instances![0]!.isd_container).toEqual([]); // no kernel until a request comes
    expect(enabled.instances![0]!.gpu_mode).toBe('exclusive');
    expect((await infer(api, 'lazy', '{"first":1}')).text).toBe('{"first":1}');
    expect((await instance(api, 'lazy')).instances![0]!.isd_container.map((c) => c.container_status)).toEqual(['IDLE']);
    await stop(api, 'lazy');
  });

  it('answers 500 when the kernel raises or sets no output, 504 past task_execution_timeout, and keeps serving', async () => {
    await deploy(api, await submission({ 'model.json': modelJson('mischief'), 'kernel.py': MISCHIEF_KERNEL, 'README.md': 'r' }));
    expect((await putProfile(api, 'mischief', (p) => ((p.policy.task_execution_timeout = 1), (p.policy.kernel_max = 1)))).status).toBe(200);
    await start(api, 'mischief');

    expectIbmError(await infer(api, 'mischief', '{"raise": "boom 42"}'), 500, 'on_task_invoke raised ValueError: boom 42');
    expect((await infer(api, 'mischief', '{"ok": 1}')).text).toBe('{"ok": 1}');
    expectIbmError(await infer(api, 'mischief', '{"silent": true}'), 500, 'set no output');

    // An inference request over maxInferenceBytes is refused, whether its length is declared or it comes chunked.
    const big = JSON.stringify({ ok: 'x'.repeat(MAX_INFERENCE_BYTES) });
    expectIbmError(await infer(api, 'mischief', big), 413, `larger than ${MAX_INFERENCE_BYTES} bytes (config services.wmla-edi.maxInferenceBytes)`);
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    expectIbmError(await api.request('POST', `${API}/inference/mischief`, { raw: chunked, headers: { 'content-type': 'application/json' } }), 413, 'maxInferenceBytes');

    const stuck = (await instance(api, 'mischief')).instances![0]!.isd_container[0]!.container_uid;
    const timedOut = await infer(api, 'mischief', '{"sleep": 30}');
    expectIbmError(timedOut, 504, 'task_execution_timeout (1 s)');
    const after = await infer(api, 'mischief', '{"again": 2}');
    expect(after.text).toBe('{"again": 2}');
    const containers = (await instance(api, 'mischief')).instances![0]!.isd_container;
    expect(containers.map((c) => c.container_uid)).not.toContain(stuck); // the stuck kernel was replaced
    await stop(api, 'mischief');
  });

  it('reports a kernel that fails to start (503 with the reason), never a made-up prediction', async () => {
    await deploy(api, await submission({ 'model.json': modelJson('broken'), 'kernel.py': CRASHING_KERNEL, 'README.md': 'r' }));
    const enabled = await start(api, 'broken');
    const container = enabled.instances![0]!.isd_container[0]!;
    expect(container.container_status).toBe('ERROR');
    expect(String(container.status_message)).toContain('RuntimeError: weights missing');
    expectIbmError(await infer(api, 'broken', '{}'), 503, 'on_kernel_start raised RuntimeError: weights missing');
    await stop(api, 'broken');
  });

  it('serves the reusable template kernel: echo and threshold segmentation of a real PNG', async () => {
    const dir = join(mkdtempSync(join(work, 'tpl-')), 'threshold');
    cpSync(TEMPLATE, dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(TEMPLATE, 'model.json'), 'utf8')), name: 'tpl' }));
    expect((await deploy(api, await tarGzOf(dir))).status).toBe(200);
    await start(api, 'tpl');
    expect(JSON.parse((await infer(api, 'tpl', '{"ping": "pong"}')).text)).toEqual({ ping: 'pong' });

    const width = 23;
    const height = 17;
    const png = new PNG({ width, height });
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        png.data[i] = (x * 11) % 256;
        png.data[i + 1] = (y * 15) % 256;
        png.data[i + 2] = (x * y) % 256;
        png.data[i + 3] = 255;
      }
    }
    const threshold = 100;
    const res = await infer(api, 'tpl', JSON.stringify({ image: PNG.sync.write(png).toString('base64'), threshold }));
    expect(res.status).toBe(200);
    const out = JSON.parse(res.text);
    expect(out).toMatchObject({ status: 'finished', width, height, threshold });
    const mask = PNG.sync.read(Buffer.from(out.mask, 'base64'));
    let foreground = 0;
    for (let p = 0; p < width * height; p++) {
      const lum = (299 * png.data[p * 4]! + 587 * png.data[p * 4 + 1]! + 114 * png.data[p * 4 + 2]!) / 1000;
      const expected = lum >= threshold ? 255 : 0;
      if (expected) foreground++;
      expect(mask.data[p * 4]).toBe(expected);
    }
    expect(foreground).toBeGreaterThan(0);
    expect(foreground).toBeLessThan(width * height);
    expect(out.foreground_fraction).toBeCloseTo(foreground / (width * height), 10);
    const bad = JSON.parse((await infer(api, 'tpl', JSON.stringify({ image: 'bm90IGEgcG5n', threshold: 5 }))).text);
    expect(bad).toEqual({ status: 'failed', msg: 'Error: not a PNG' });
    await stop(api, 'tpl');
  });
});

describe('WMLA EDI without python', () => {
  it('answers 503 naming the missing interpreter', async () => {
    const sb = await startTestSandbox({ modules: [wmlaEdiModule], config: { services: { 'wmla-edi': { ...TIMING, pythonPath: '/nonexistent/python3' } } } });
    try {
      await deploy(sb.api, await echoSubmission('nopy'));
      const enabled = await start(sb.api, 'nopy');
      expect(enabled.instances![0]!.isd_container[0]!.container_status).toBe('ERROR');
      expectIbmError(await infer(sb.api, 'nopy', '{}'), 503, "'/nonexistent/python3' was not found (config services.wmla-edi.pythonPath)");
    } finally {
      await sb.close();
    }
  });
});

describe('WMLA EDI across a restart', () => {
  it('keeps models and profiles; a started model starts again, a stopped one stays stopped', async () => {
    const stateDir = tempStateDir('wmla-edi-restart-');
    const config = { services: { 'wmla-edi': TIMING } };
    try {
      let sb = await startTestSandbox({ stateDir, modules: [wmlaEdiModule], config });
      await deploy(sb.api, await echoSubmission('keeper'));
      await deploy(sb.api, await echoSubmission('sleeper'));
      expect((await putProfile(sb.api, 'keeper', (p) => ((p.policy.kernel_max = 2), (p.policy.task_execution_timeout = 30)))).status).toBe(200);
      await start(sb.api, 'keeper');
      const pid = JSON.parse((await infer(sb.api, 'keeper', '{"env": true}')).text).pid as number;
      const profileBefore = await profileOf(sb.api, 'keeper');
      const modelBefore = Model.parse((await sb.api.get(`${API}/model/keeper`)).json);
      await sb.close();
      expect(isPidAlive(pid)).toBe(false);

      sb = await startTestSandbox({ stateDir, modules: [wmlaEdiModule], config });
      try {
        const api = new Api(sb.url, await demoToken(sb.url));
        expect(await profileOf(api, 'keeper')).toEqual(profileBefore);
        const modelAfter = Model.parse((await api.get(`${API}/model/keeper`)).json);
        expect(modelAfter).toMatchObject({ uid: modelBefore.uid, model_path: modelBefore.model_path, create_time: modelBefore.create_time });
        expect(modelAfter.service_uri).toBe(`${sb.url}/dlim/v1/inference/keeper`);
        const enabled = await waitInstance(api, 'keeper', 'enabled');
        expect(enabled.instances![0]!.isd_container.map((c) => c.container_status)).toEqual(['IDLE']);
        const env = JSON.parse((await infer(api, 'keeper', '{"env": true}')).text);
        expect(env.pid).not.toBe(pid);
        expect(await instance(api, 'sleeper')).toEqual({ name: 'sleeper', state: 'disabled' });
        expect(ModelList.parse((await api.get(`${API}/model`)).json).map((m) => m.name)).toEqual(['keeper', 'sleeper']);
        await stop(api, 'keeper');
      } finally {
        await sb.close();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
