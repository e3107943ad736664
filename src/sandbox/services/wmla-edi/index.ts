import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, promises as fsp, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import {
  AppProfile,
  AppProfileUpdate,
  EdiTokenRequest,
  Readme,
  type EdiTokenResponse,
  type InstanceDetail,
  type ModelExtension,
  type ModelInstance,
} from '../../../lib/contracts/wmla-edi';
import { atomicWriteFile } from '../../../lib/util/atomic-write';
import { ApiError, badRequest, conflict, notFound, payloadTooLarge, unauthorized } from '../../errors';
import { readBodyLimited } from '../../http/body';
import { reply, type AuthMode, type RequestContext } from '../../http/router';
import { receiveUpload } from '../../http/upload';
import { projectRoot } from '../../../lib/util/project-root';
import { defineModule } from '../../module';
import { BlobTooLargeError } from '../../store';
import { unpackSubmission } from './deploy';
import { KernelPool } from './kernel-host';
import { defaultProfile, EdiModelDoc, INSTANCE_STATE, modelView, phaseOf, profileTime, type Phase } from './model';

export const WmlaEdiConfig = z.object({
  /** How long a started model stays `not-available` at least (kernels must also have reported in). */
  startMs: z.number().int().min(0).default(500),
  /** How long a stopped model still shows `enabled` before `disabled`. */
  stopMs: z.number().int().min(0).default(300),
  /** The interpreter that runs kernel files. */
  pythonPath: z.string().min(1).default('python3'),
  /** The folder holding the `redhareapi` stand-in; default the one shipped in this module's `python/`. */
  kernelApiPath: z.string().min(1).optional(),
  /** Most kernel processes of one model, whatever the profile asks (each is a real python process). */
  maxKernelsPerModel: z.number().int().min(1).default(4),
  /** How long `on_kernel_shutdown` may take before the kernel is killed. */
  stopGraceMs: z.number().int().min(0).default(1000),
  /** Largest deployment archive accepted (413 beyond). */
  maxDeployBytes: z.number().int().positive().default(2 * 1024 ** 3),
  /** Largest inference request body accepted (413 beyond). */
  maxInferenceBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /** Base of `service_uri` (the inference host); default this sandbox's URL. */
  inferenceUrl: z.string().url().optional(),
});
export type WmlaEdiConfig = z.infer<typeof WmlaEdiConfig>;

/** EDI accepts `Authorization: Bearer`, `X-Auth-Token` and `X-User-Token` (ibm-api-contracts.md §1.5). */
const EDI_AUTH: AuthMode = { headers: ['x-auth-token', 'x-user-token'] };
const API = '/dlim/v1';

/** The redhareapi stand-in: `config.kernelApiPath`, else next to this file (src), else in the project's src (dist builds). */
function findKernelApi(override: string | undefined): string | undefined {
  const candidates = override ? [override] : [join(__dirname, 'python')];
  if (!override) {
    try {
      candidates.push(join(projectRoot(), 'src', 'sandbox', 'services', 'wmla-edi', 'python'));
    } catch {
      /* not inside the project: only the first candidate */
    }
  }
  return candidates.find((dir) => existsSync(join(dir, 'redhareapi', '__init__.py')));
}

/** `YYYYMMDD-HHMMSS` (UTC), the suffix of a deployed folder. */
function folderStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** `user:password`, given plain or base64-encoded. */
function splitUserPasswd(value: string): [string, string] | undefined {
  const plain = value.indexOf(':') > 0 ? value : Buffer.from(value, 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  return colon > 0 ? [plain.slice(0, colon), plain.slice(colon + 1)] : undefined;
}

/**
 * WMLA Elastic Distributed Inference (`/dlim/v1`, ibm-api-contracts.md §3): deploy a submission
 * folder from a tarball, app profiles, start/stop with the instance states of §3.4, undeploy, and
 * inference through real Python kernels (the deployed kernel file on the `redhareapi` stand-in of
 * `python/`). No prediction is ever made up: without a working kernel the answer is 503.
 */
export const wmlaEdiModule = defineModule({
  name: 'wmla-edi',
  configSchema: WmlaEdiConfig,
  async setup(host) {
    const cfg = host.config;
    const models = await host.store.collection('wmla-edi-models', EdiModelDoc);
    const repoRoot = join(host.stateDir, 'work', 'wmla-edi', 'repo');
    const runRoot = join(host.stateDir, 'work', 'wmla-edi', 'run');
    const tmpRoot = join(host.stateDir, 'tmp');
    mkdirSync(repoRoot, { recursive: true });
    mkdirSync(runRoot, { recursive: true });
    const apiDir = findKernelApi(cfg.kernelApiPath);
    const pools = new Map<string, KernelPool>();
    const stopping = new Map<string, Promise<void>>();
    const timing = { startMs: cfg.startMs, stopMs: cfg.stopMs };

    const phase = (doc: EdiModelDoc): Phase => phaseOf(doc, timing, pools.get(doc.name)?.settled() ?? true);
    const inferenceBase = (): string => (cfg.inferenceUrl ?? host.baseUrl()).replace(/\/+$/, '');
    const view = (doc: EdiModelDoc) => modelView(doc, phase(doc), inferenceBase());
    const modelOr404 = (name: string): EdiModelDoc => {
      const doc = models.get(name);
      if (!doc) throw notFound('model', name);
      return doc;
    };

    /** Starts the kernels of a model per its profile (replica × kernel_min at once, up to the cap). */
    const launchPool = (doc: EdiModelDoc): KernelPool => {
      const { policy, replica, kernel } = doc.profile;
      const capacity = Math.min(cfg.maxKernelsPerModel, policy.kernel_max === -1 ? Number.POSITIVE_INFINITY : replica * policy.kernel_max);
      const runDir = join(runRoot, doc.name);
      const description = JSON.stringify({ ...doc.descriptor, name: doc.name, model_path: doc.folder });
      const pool = new KernelPool({
        modelName: doc.name,
        initial: replica * policy.kernel_min,
        capacity,
        launch: (kernelId) => ({
          python: cfg.pythonPath,
          apiDir: apiDir ?? '',
          kernelFile: join(doc.folder, doc.descriptor.kernel_path),
          cwd: join(runDir, 'work'),
          logFile: join(runDir, 'logs', `${kernelId}.log`),
          connectionTimeoutMs: kernel.connection_timeout * 1000,
          env: {
            REDHARE_MODEL_NAME: doc.name,
            REDHARE_MODEL_PATH: doc.folder,
            REDHARE_MODEL_DESCRIPTION: description,
            MSD_POD_NAME: kernelId,
            HOSTNAME: kernelId,
            ...Object.fromEntries(kernel.envs.map((e) => [e.name, e.value])),
            ...Object.fromEntries(doc.descriptor.mk_environments.map((e) => [e.name, e.value])),
          },
        }),
      });
      pools.set(doc.name, pool);
      if (!apiDir) pool.startFailure = `the redhareapi stand-in was not found (config services.wmla-edi.kernelApiPath${cfg.kernelApiPath ? ` = ${cfg.kernelApiPath}` : ''})`;
      else pool.start();
      return pool;
    };

    const stopPool = (name: string, graceMs: number): Promise<void> => {
      const pool = pools.get(name);
      if (!pool) return stopping.get(name) ?? Promise.resolve();
      pools.delete(name);
      const done = pool.stop(graceMs).finally(() => {
        if (stopping.get(name) === done) stopping.delete(name);
      });
      stopping.set(name, done);
      return done;
    };

    // Recovery after a restart: kernels do not outlive their sandbox (they exit when stdin closes).
    // A model that was started (or starting) is started again; one that was stopping is stopped.
    for (const doc of models.values()) {
      if (doc.run.startRequestedAt !== undefined && doc.run.stopRequestedAt === undefined) {
        const restarted = await models.put(doc.name, { ...doc, run: { startRequestedAt: Date.now() } });
        host.log(`model ${doc.name} was started before the restart: starting its kernels again`);
        launchPool(restarted);
      } else if (doc.run.startRequestedAt !== undefined || doc.run.stopRequestedAt !== undefined) {
        await models.put(doc.name, { ...doc, run: {} });
      }
    }
    // Folders without a record (an undeploy or a redeploy cut short).
    for (const name of readdirSync(repoRoot)) {
      const doc = models.get(name);
      if (!doc) {
        rmSync(join(repoRoot, name), { recursive: true, force: true });
        continue;
      }
      for (const version of readdirSync(join(repoRoot, name))) {
        if (join(repoRoot, name, version) !== doc.folder) rmSync(join(repoRoot, name, version), { recursive: true, force: true });
      }
    }
    await host.blobs.sweepUnreferenced(new Set()); // deployment archives are deleted once extracted

    // ---- auth -------------------------------------------------------------------------------------

    host.post(`${API}/auth/token`, { auth: 'none', body: EdiTokenRequest.optional() }, (ctx) => {
      const header = ctx.req.headers.authorization;
      let user = header && /^Basic\s/i.test(header) ? host.auth.checkBasic(header) : undefined;
      if (!user && ctx.body) {
        const pair = splitUserPasswd(ctx.body.userpasswd);
        if (pair) user = host.auth.checkCredentials(pair[0], { password: pair[1] }) ?? host.auth.checkCredentials(pair[0], { apiKey: pair[1] });
      }
      if (!user) {
        throw unauthorized(header || ctx.body ? 'Authentication failed: wrong user name or password' : 'Send HTTP Basic credentials or {"method":"password","userpasswd":"<user>:<password>"}');
      }
      const body: EdiTokenResponse = { user_token: host.auth.mint(user).token, service_token: host.auth.mint(user, { iss: 'edi' }).token };
      return reply.json(200, body);
    });

    host.post(`${API}/auth/token/inference`, { auth: EDI_AUTH }, (ctx) => {
      const user = host.auth.user(ctx.principal!.username)!;
      return reply.json(200, { service_token: host.auth.mint(user, { iss: 'edi' }).token });
    });

    // ---- deployment -------------------------------------------------------------------------------

    const deploy = async (ctx: RequestContext<unknown, unknown>, redeployName: string | undefined) => {
      if (redeployName !== undefined) modelOr404(redeployName); // early answer; checked again under the lock
      let blob;
      try {
        blob = await receiveUpload(ctx.req, 'file', (stream) => host.blobs.write(stream, { maxBytes: cfg.maxDeployBytes }));
      } catch (err) {
        if (err instanceof BlobTooLargeError) throw payloadTooLarge(`The deployment archive is larger than ${cfg.maxDeployBytes} bytes (config services.wmla-edi.maxDeployBytes)`);
        throw err;
      }
      let submission;
      try {
        if (blob.size === 0) throw badRequest('The request body is empty: send the deployment folder as a tar or tar.gz (Content-Type: application/octet-stream)', 'invalid_archive');
        submission = await unpackSubmission(host.blobs.path(blob.key), tmpRoot, cfg.maxDeployBytes * 20);
      } finally {
        await host.blobs.delete(blob.key);
      }
      try {
        const name = submission.descriptor.name;
        if (redeployName !== undefined && name !== redeployName) {
          throw badRequest(`model.json name '${name}' does not match the model being redeployed ('${redeployName}')`, 'name_mismatch');
        }
        return await host.store.lock(async () => {
          const existing = models.get(name);
          if (redeployName === undefined && existing) {
            throw conflict(`Model ${name} already exists; redeploy it with POST ${API}/deployment/model/${name}`, 'model_exists');
          }
          if (redeployName !== undefined && !existing) throw notFound('model', name);
          if (existing && phase(existing) !== 'stopped') {
            throw conflict(`Model ${name} cannot be redeployed while it is ${phase(existing)}; stop it first`, 'model_started');
          }
          const now = Date.now();
          let folder = join(repoRoot, name, `${name}-${folderStamp(now)}`);
          for (let n = 2; existsSync(folder); n++) folder = join(repoRoot, name, `${name}-${folderStamp(now)}-${n}`);
          mkdirSync(join(repoRoot, name), { recursive: true });
          renameSync(submission.folder, folder);
          const seconds = Math.floor(now / 1000);
          const doc: EdiModelDoc = {
            name,
            uid: existing?.uid ?? randomUUID(),
            creator: existing?.creator ?? ctx.principal!.username,
            createTime: existing?.createTime ?? seconds,
            lastUpdatedTime: seconds,
            folder,
            size: submission.size,
            descriptor: submission.descriptor,
            profile: existing?.profile ?? defaultProfile(name, now),
            run: {},
          };
          await models.put(name, doc);
          if (existing && existing.folder !== folder) rmSync(existing.folder, { recursive: true, force: true });
          host.log(`model ${name} ${existing ? 'redeployed' : 'deployed'} from '${submission.topName}' (${submission.size} bytes)`);
          return reply.json(200, view(doc));
        });
      } finally {
        await fsp.rm(submission.workDir, { recursive: true, force: true });
      }
    };

    host.post(`${API}/deployment/model`, { auth: EDI_AUTH, body: 'stream' }, (ctx) => deploy(ctx, undefined));
    host.post(`${API}/deployment/model/:name`, { auth: EDI_AUTH, body: 'stream' }, (ctx) => deploy(ctx, ctx.params.name!));

    // ---- models -----------------------------------------------------------------------------------

    const sortedModels = (): EdiModelDoc[] => models.values().sort((a, b) => a.createTime - b.createTime || (a.name < b.name ? -1 : 1));

    host.get(`${API}/model`, { auth: EDI_AUTH }, () => reply.json(200, sortedModels().map(view)));

    host.get(`${API}/modelextension`, { auth: EDI_AUTH }, () => {
      const list = sortedModels();
      const body: ModelExtension = {
        model_list: list.map(view),
        extension_list: list.map((d) => ({ name: d.name, resource_plan: String(d.profile.resource_allocation.kernel.resource_plan) })),
      };
      return reply.json(200, body);
    });

    host.get(`${API}/model/:name`, { auth: EDI_AUTH }, (ctx) => reply.json(200, view(modelOr404(ctx.params.name!))));

    host.delete(`${API}/model/:name`, { auth: EDI_AUTH }, async (ctx) => {
      await stopping.get(ctx.params.name!); // a stop's kernels finish shutting down first (outside the lock)
      return host.store.lock(async () => {
        const doc = modelOr404(ctx.params.name!);
        if (phase(doc) !== 'stopped') throw conflict("The model cannot be removed if it's started.", 'model_started');
        await models.delete(doc.name);
        rmSync(join(repoRoot, doc.name), { recursive: true, force: true });
        rmSync(join(runRoot, doc.name), { recursive: true, force: true });
        host.log(`model ${doc.name} undeployed`);
        return reply.json(200, {});
      });
    });

    host.put(`${API}/model/:name/operation/start`, { auth: EDI_AUTH }, async (ctx) => {
      await stopping.get(ctx.params.name!); // kernels of the previous run are gone before new ones start
      return host.store.lock(async () => {
        const doc = modelOr404(ctx.params.name!);
        const now = phase(doc);
        if (now === 'starting' || now === 'started') return reply.json(200, {});
        if (now === 'stopping') throw conflict(`Model ${doc.name} is stopping; start it once GET ${API}/model/${doc.name}/instance shows disabled`, 'model_stopping');
        const started = await models.put(doc.name, { ...doc, run: { startRequestedAt: Date.now() } });
        launchPool(started);
        host.log(`model ${doc.name} starting (${started.profile.replica} × ${started.profile.policy.kernel_min} kernel(s))`);
        return reply.json(200, {});
      });
    });

    host.put(`${API}/model/:name/operation/stop`, { auth: EDI_AUTH }, (ctx) =>
      host.store.lock(async () => {
        const doc = modelOr404(ctx.params.name!);
        const now = phase(doc);
        if (now === 'stopped' || now === 'stopping') return reply.json(200, {});
        await models.put(doc.name, { ...doc, run: { ...doc.run, stopRequestedAt: Date.now() } });
        void stopPool(doc.name, cfg.stopGraceMs);
        host.log(`model ${doc.name} stopping`);
        return reply.json(200, {});
      }),
    );

    host.get(`${API}/model/:name/instance`, { auth: EDI_AUTH }, (ctx) => {
      const doc = modelOr404(ctx.params.name!);
      const state = INSTANCE_STATE[phase(doc)];
      const body: ModelInstance = { name: doc.name, state };
      if (state === 'enabled') {
        const pool = pools.get(doc.name);
        const kernels = (pool?.kernels ?? []).filter((k) => k.status !== 'EXITED');
        const instances: InstanceDetail[] = [];
        for (let r = 0; r < doc.profile.replica; r++) {
          instances.push({
            isd_uid: `${doc.uid.slice(0, 8)}-isd-${r}`,
            pj_jobid: `edi-${doc.name}-${doc.uid.slice(0, 8)}`,
            gpu_mode: doc.profile.kernel.gpu,
            gpu_packid: `edi-${doc.name}`,
            client_number: 0,
            pending_tasks: r === 0 ? (pool?.pending ?? 0) : 0,
            request_per_sec: r === 0 ? (pool?.requestRate() ?? 0) : 0,
            data_size_per_sec: 0,
            isd_container: kernels
              .filter((_, i) => i % doc.profile.replica === r)
              .map((k) => ({
                container_uid: k.id,
                container_host: '127.0.0.1',
                container_status: k.status,
                total_task: k.counters.total,
                running_task: k.counters.running,
                finished_task: k.counters.finished,
                failed_task: k.counters.failed,
                ...(k.failure ? { status_message: k.failure } : {}),
              })),
          });
        }
        body.instances = instances;
      }
      return reply.json(200, body);
    });

    // ---- profile and readme -----------------------------------------------------------------------

    host.get(`${API}/model/:name/appprofile`, { auth: EDI_AUTH }, (ctx) => reply.json(200, modelOr404(ctx.params.name!).profile));

    host.put(`${API}/model/:name/appprofile`, { auth: EDI_AUTH, body: AppProfileUpdate }, (ctx) =>
      host.store.lock(async () => {
        const doc = modelOr404(ctx.params.name!);
        const now = phase(doc);
        if (now !== 'stopped') throw conflict(`The app profile of model ${doc.name} can be updated only while it is stopped (it is ${now}); stop it first`, 'model_started');
        if (ctx.body.name !== doc.name) throw badRequest(`name: the profile is for '${ctx.body.name}', not for '${doc.name}'`);
        const namespace = doc.profile.resource_allocation.kernel.namespace;
        if (ctx.body.resource_allocation.kernel.namespace !== namespace) {
          throw badRequest(`resource_allocation.kernel.namespace cannot be modified (it is '${namespace}')`);
        }
        const profile = AppProfile.parse({ ...ctx.body, create_time: doc.profile.create_time, last_update_time: profileTime(Date.now()) });
        await models.put(doc.name, { ...doc, profile });
        host.log(`model ${doc.name}: app profile updated`);
        return reply.json(200, profile);
      }),
    );

    const readmeFile = (doc: EdiModelDoc): string => join(doc.folder, doc.descriptor.readme);

    host.get(`${API}/model/:name/readme`, { auth: EDI_AUTH }, (ctx) => {
      const doc = modelOr404(ctx.params.name!);
      const file = readmeFile(doc);
      return reply.json(200, { readme: existsSync(file) ? readFileSync(file, 'utf8') : '' });
    });

    host.put(`${API}/model/:name/readme`, { auth: EDI_AUTH, body: Readme }, (ctx) =>
      host.store.lock(async () => {
        const doc = modelOr404(ctx.params.name!);
        await atomicWriteFile(readmeFile(doc), ctx.body.readme);
        return reply.json(200, {});
      }),
    );

    // ---- inference --------------------------------------------------------------------------------

    host.post(`${API}/inference/:name`, { auth: EDI_AUTH, body: 'stream' }, async (ctx) => {
      const doc = modelOr404(ctx.params.name!);
      const now = phase(doc);
      const pool = pools.get(doc.name);
      if (now !== 'started' || !pool) {
        throw new ApiError(503, 'model_not_started', `Model ${doc.name} is not started (it is ${now}): start it with PUT ${API}/model/${doc.name}/operation/start and wait until GET ${API}/model/${doc.name}/instance shows enabled`);
      }
      const input = (await readBodyLimited(ctx.req, cfg.maxInferenceBytes, () => `The inference request is larger than ${cfg.maxInferenceBytes} bytes (config services.wmla-edi.maxInferenceBytes)`)).toString('utf8');
      const timeout = doc.profile.policy.task_execution_timeout;
      const output = await pool.invoke(randomUUID(), input, timeout === -1 ? undefined : timeout * 1000);
      let json = false;
      try {
        JSON.parse(output);
        json = true;
      } catch {
        /* plain text output */
      }
      return reply.text(200, output, { 'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8' });
    });

    return {
      status: () => {
        const list = sortedModels();
        return {
          title: 'WMLA EDI models',
          lines:
            list.length === 0
              ? ['no models deployed']
              : list.map((d) => {
                  const kernels = pools.get(d.name)?.kernels.filter((k) => k.status !== 'EXITED') ?? [];
                  const counts = kernels.length === 0 ? '' : `  kernels: ${kernels.map((k) => k.status).join(', ')}`;
                  return `${d.name}  ${phase(d)} (${INSTANCE_STATE[phase(d)]})  ${basename(d.folder)}${counts}`;
                }),
          data: list.map((d) => ({ ...view(d), state: INSTANCE_STATE[phase(d)] })),
        };
      },
      close: async () => {
        const names = [...pools.keys()];
        await Promise.all([...names.map((n) => stopPool(n, Math.min(cfg.stopGraceMs, 300))), ...stopping.values()]);
      },
    };
  },
});
