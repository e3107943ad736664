/**
 * WMLA Elastic Distributed Inference (`/dlim/v1`, ibm-api-contracts.md §3) over the profile's
 * `wmlaConsole` (management) and `wmlaInference` (inference) clients: deploy or redeploy a package,
 * put resource settings on the app profile, start, wait until a kernel is ready, stop, undeploy,
 * and call the model. Every step is find-or-create and safe to run twice; every mutating step has
 * a plan (dry-run) mode; every failure raises (the predecessor's `dlim` wrappers swallowed them).
 *
 * States as the client reads them (§3.4): `disabled` is stopped; `not-available` is starting, or
 * stopped on clusters that report a freshly deployed model so (its `started_at` is then 0);
 * `enabled` is started (or, briefly, stopping).
 */
import type { Readable } from 'node:stream';
import type { ProfileClients } from '../config/connect';
import { AppProfile, DeployResponse, EDI_MODEL_NAME, EmptyObject, Model, ModelInstance, ModelList, Readme, type AppProfileUpdate, type IsdContainer } from '../contracts/wmla-edi';
import type { ResourceConfigsInput } from '../metadata/schema';
import { ConfigError, RunbookError, TimeoutError, ValidationError } from '../errors';
import type { HttpClient } from '../http/client';
import { RemoteApiError, isAmbiguousFailure } from '../http/errors';
import { createTarGz } from '../archive/tarball';
import type { MutationOptions } from '../plan';
import { CONTENT_ATTRIBUTE, type DeploymentPackage } from './package';
import { desiredProfile, formatChange, type ProfileChange } from './profile-mapping';
import { Deadline, formatDuration, sleep } from './wait';

/** Base path of the EDI API. */
export const EDI_API = '/dlim/v1';

/** The client's reading of a model's state. */
export type ModelPhase = 'stopped' | 'starting' | 'started';

/** The phase of a model from its instance (and `started_at`, see the module comment). */
export function modelPhase(model: Pick<Model, 'started_at'>, instance: Pick<ModelInstance, 'state'>): ModelPhase {
  if (instance.state === 'disabled') return 'stopped';
  if (instance.state === 'not-available') return model.started_at > 0 ? 'starting' : 'stopped';
  return 'started';
}

/** Settings of an {@link EdiClient}. */
export interface EdiClientOptions {
  /** Poll interval of waits (default 2000 ms). */
  readonly pollMs?: number;
}

/** No deployment of that name. */
export class ModelNotFoundError extends RunbookError {
  constructor(readonly modelName: string) {
    super('remote', `EDI model '${modelName}' is not deployed`);
  }
}

/** A step needs the model stopped and was not allowed to stop it. */
export class ModelNotStoppedError extends RunbookError {
  constructor(readonly modelName: string, readonly phase: ModelPhase, what: string) {
    super('remote', `${what} needs EDI model '${modelName}' stopped, and it is ${phase}: stop it first (runbook edi stop ${modelName}) or allow the step to stop it (stopIfRunning; --stop on the CLI)`);
  }
}

/** Options of {@link EdiClient.deployModel}. */
export interface DeployOptions extends MutationOptions {
  /**
   * When a model of that name exists: `redeploy` (default) uploads the package again unless the
   * deployed content is the same (same `runbook_content_sha256`); `keep` leaves it; `error` throws.
   */
  readonly ifExists?: 'redeploy' | 'keep' | 'error';
  /** A redeploy needs the model stopped: stop it first (default false: throw {@link ModelNotStoppedError}). */
  readonly stopIfRunning?: boolean;
  /** Limit of the stop wait (default 2 min). */
  readonly timeoutMs?: number;
}

/** The outcome of {@link EdiClient.deployModel}. */
export interface DeployResult {
  /** The model after the step (undefined for a planned creation). */
  readonly model?: Model;
  /** `created`, `redeployed`, `unchanged` (same content already deployed), `kept` (ifExists keep). */
  readonly outcome: 'created' | 'redeployed' | 'unchanged' | 'kept';
  /** True when this step stopped the model to redeploy it (it is left stopped). */
  readonly stopped: boolean;
  readonly planned: boolean;
}

/** The outcome of {@link EdiClient.applyResourceConfigs}. */
export interface ProfileResult {
  /** The profile after the step (before it, for a planned update). */
  readonly profile?: AppProfile;
  readonly outcome: 'updated' | 'unchanged';
  readonly changes: readonly ProfileChange[];
  readonly stopped: boolean;
  readonly planned: boolean;
}

/** What {@link EdiClient.waitUntilReady} reports on every poll. */
export interface ReadyProgress {
  readonly name: string;
  /** The instance's wire state: `not-available`, `enabled`, `disabled`. */
  readonly state: string;
  /** Kernel statuses (`IDLE`, `STARTING`, `BUSY`, `ERROR`, …). */
  readonly kernels: readonly string[];
  readonly elapsedMs: number;
}

/** Options of {@link EdiClient.waitUntilReady}. */
export interface ReadyOptions {
  /** Default 5 min (the predecessor waited 60 × 5 s). */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  /** Called after every poll with the instance state and its kernels' statuses. */
  readonly onProgress?: (p: ReadyProgress) => void;
  readonly signal?: AbortSignal;
}

/** A model ready to serve. */
export interface ReadyResult {
  readonly model: Model;
  readonly instance: ModelInstance;
  /** The inference URL as EDI reports it (`service_uri`), never put together by hand. */
  readonly serviceUri: string;
  readonly elapsedMs: number;
}

/** A model with its instance and profile. */
export interface ModelDescription {
  readonly model: Model;
  readonly instance: ModelInstance;
  readonly profile: AppProfile;
  readonly phase: ModelPhase;
}

/** Options of {@link EdiClient.infer}. */
export interface InferOptions {
  /** Inactivity limit of the call (default the client's). */
  readonly timeoutMs?: number;
  /** Retry on 5xx/network errors (only for kernels without side effects; default false). */
  readonly idempotent?: boolean;
  readonly signal?: AbortSignal;
}

function kernelsOf(instance: ModelInstance): IsdContainer[] {
  return (instance.instances ?? []).flatMap((i) => i.isd_container ?? []);
}

function checkName(name: string): string {
  if (typeof name !== 'string' || !EDI_MODEL_NAME.test(name) || name.length > 63) {
    throw new ValidationError(`model name ${JSON.stringify(name)}: expected lowercase letters, digits and inner dashes (a DNS label of at most 63 characters)`, [
      { path: 'name', message: 'expected ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    ]);
  }
  return name;
}

const modelPath = (name: string): string => `${EDI_API}/model/${encodeURIComponent(checkName(name))}`;

/** EDI deployments over a console client and an inference client. Create with {@link createEdiClient}. */
export class EdiClient {
  private readonly pollMs: number;

  /**
   * @param http the WMLA console client (`/dlim/v1` management calls)
   * @param inference the WMLA inference client (`/dlim/v1/inference/…`); only {@link infer} needs it
   */
  constructor(readonly http: HttpClient, readonly inference?: HttpClient, options: EdiClientOptions = {}) {
    this.pollMs = options.pollMs ?? 2000;
  }

  /** Every deployed model. */
  listModels(): Promise<Model[]> {
    return this.http.request({ path: `${EDI_API}/model`, schema: ModelList });
  }

  /** A model, or undefined when none of that name is deployed. */
  async findModel(name: string): Promise<Model | undefined> {
    const res = await this.http.send({ path: modelPath(name), schema: Model, allowStatus: [404] });
    return res.status === 404 ? undefined : (res.data as Model);
  }

  /** A model; {@link ModelNotFoundError} when there is none. */
  async getModel(name: string): Promise<Model> {
    const m = await this.findModel(name);
    if (!m) throw new ModelNotFoundError(name);
    return m;
  }

  /** The instance (state and kernels) of a model. */
  async instance(name: string): Promise<ModelInstance> {
    const res = await this.http.send({ path: `${modelPath(name)}/instance`, schema: ModelInstance, allowStatus: [404] });
    if (res.status === 404) throw new ModelNotFoundError(name);
    return res.data as ModelInstance;
  }

  /** The app profile of a model. */
  async getProfile(name: string): Promise<AppProfile> {
    const res = await this.http.send({ path: `${modelPath(name)}/appprofile`, schema: AppProfile, allowStatus: [404] });
    if (res.status === 404) throw new ModelNotFoundError(name);
    return res.data as AppProfile;
  }

  /** The README of a deployed model. */
  async readme(name: string): Promise<string> {
    return (await this.http.request({ path: `${modelPath(name)}/readme`, schema: Readme })).readme;
  }

  /** The phase of a model (see the module comment). */
  async phase(name: string): Promise<ModelPhase> {
    const model = await this.getModel(name);
    return modelPhase(model, await this.instance(name));
  }

  /** A model with its instance, profile and phase; undefined when it is not deployed. */
  async describeModel(name: string): Promise<ModelDescription | undefined> {
    const model = await this.findModel(name);
    if (!model) return undefined;
    const [instance, profile] = await Promise.all([this.instance(name), this.getProfile(name)]);
    return { model, instance, profile, phase: modelPhase(model, instance) };
  }

  /**
   * Deploys a package (`POST /deployment/model`), or redeploys it over a model of the same name
   * (`POST /deployment/model/{name}`) per `ifExists`. A redeploy of the very content already
   * deployed is skipped (`unchanged`), so running the step twice changes nothing. A redeploy needs
   * the model stopped. A first deploy whose answer was lost is completed with a redeploy instead of
   * a blind second create. Plan mode reads and records.
   */
  async deployModel(pkg: DeploymentPackage, opts: DeployOptions = {}): Promise<DeployResult> {
    const name = checkName(pkg.name);
    const ifExists = opts.ifExists ?? 'redeploy';
    const existing = await this.findModel(name);
    const detail = `${pkg.files} files, ${pkg.bytes} bytes, kernel ${pkg.descriptor.kernel_path}`;
    if (!existing) {
      if (opts.plan) {
        opts.plan.record({ service: 'wmla-edi', action: 'create', resource: 'edi_model', target: name, detail });
        return { outcome: 'created', stopped: false, planned: true };
      }
      try {
        const model = await this.upload(pkg, `${EDI_API}/deployment/model`, false);
        return { model, outcome: 'created', stopped: false, planned: false };
      } catch (err) {
        const exists = err instanceof RemoteApiError && err.status === 409;
        if (!isAmbiguousFailure(err) && !exists) throw err;
        if (!(await this.findModel(name))) throw err;
        if (exists && ifExists !== 'redeploy') return this.deployModel(pkg, opts); // someone else just deployed it: decide again
        // The model is there (ours, whose answer was lost, or a concurrent one): make it ours.
        const model = await this.upload(pkg, `${EDI_API}/deployment/model/${encodeURIComponent(name)}`, true);
        return { model, outcome: 'created', stopped: false, planned: false };
      }
    }
    if (ifExists === 'error') throw new RunbookError('remote', `EDI model '${name}' is already deployed (ifExists: error)`);
    if (ifExists === 'keep') return { model: existing, outcome: 'kept', stopped: false, planned: false };
    const deployedHash = existing.attributes?.find((a) => a.key === CONTENT_ATTRIBUTE)?.value;
    if (deployedHash === pkg.contentHash) return { model: existing, outcome: 'unchanged', stopped: false, planned: false };
    const stopped = await this.ensureStopped(name, existing, 'a redeploy', opts);
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-edi', action: 'update', resource: 'edi_model', target: name, detail: `redeploy: ${detail}` });
      return { model: existing, outcome: 'redeployed', stopped, planned: true };
    }
    const model = await this.upload(pkg, `${EDI_API}/deployment/model/${encodeURIComponent(name)}`, true);
    return { model, outcome: 'redeployed', stopped, planned: false };
  }

  /** Streams the package as a gzip tar (one top folder) to a deploy endpoint. */
  private async upload(pkg: DeploymentPackage, path: string, idempotent: boolean): Promise<Model> {
    // A server that answers before reading the whole body leaves the stream unread: close what we opened.
    const opened: Readable[] = [];
    try {
      return await this.http.request({
        method: 'POST',
        path,
        body: () => {
          const stream = createTarGz(pkg.dir, { includeFolder: true });
          opened.push(stream);
          return stream;
        },
        headers: { 'content-type': 'application/octet-stream' },
        idempotent,
        schema: DeployResponse,
      });
    } finally {
      for (const stream of opened) stream.destroy();
    }
  }

  /** Makes sure a model is stopped before `what`; returns true when this call stopped it. */
  private async ensureStopped(name: string, model: Model, what: string, opts: MutationOptions & { stopIfRunning?: boolean; timeoutMs?: number }): Promise<boolean> {
    const phase = modelPhase(model, await this.instance(name));
    if (phase === 'stopped') return false;
    if (!opts.stopIfRunning) throw new ModelNotStoppedError(name, phase, what);
    await this.stopModel(name, { plan: opts.plan, timeoutMs: opts.timeoutMs });
    return true;
  }

  /**
   * Puts a deployment's `resource_configs` on the model's app profile (mapping in
   * profile-mapping.ts). Only a profile that differs is sent (a second run makes no PUT). EDI takes
   * profile changes only while the model is stopped: a started model is stopped first with
   * `stopIfRunning`, otherwise this throws {@link ModelNotStoppedError}. Changes apply at the next start.
   */
  async applyResourceConfigs(name: string, resourceConfigs: ResourceConfigsInput, opts: MutationOptions & { stopIfRunning?: boolean; timeoutMs?: number } = {}): Promise<ProfileResult> {
    const model = await this.getModel(name);
    const current = await this.getProfile(name);
    const { profile, changes } = desiredProfile(current, resourceConfigs);
    if (changes.length === 0) return { profile: current, outcome: 'unchanged', changes, stopped: false, planned: false };
    const stopped = await this.ensureStopped(name, model, 'an app profile change', opts);
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-edi', action: 'update', resource: 'app_profile', target: name, detail: changes.map(formatChange).join(', ') });
      return { profile: current, outcome: 'updated', changes, stopped, planned: true };
    }
    const updated = await this.putProfile(name, profile);
    return { profile: updated, outcome: 'updated', changes, stopped, planned: false };
  }

  /** `PUT …/appprofile` with a full profile (the service refuses it unless the model is stopped). */
  putProfile(name: string, profile: AppProfileUpdate): Promise<AppProfile> {
    return this.http.request({ method: 'PUT', path: `${modelPath(name)}/appprofile`, body: profile as unknown as Record<string, unknown>, schema: AppProfile });
  }

  /**
   * Starts a model (asynchronous: see {@link waitUntilReady}). A model that is starting or started
   * is left alone (`already-started`); one still stopping is waited for, then started.
   */
  async startModel(name: string, opts: MutationOptions & { timeoutMs?: number } = {}): Promise<{ outcome: 'started' | 'already-started'; planned: boolean }> {
    const model = await this.getModel(name);
    const phase = modelPhase(model, await this.instance(name));
    if (phase !== 'stopped') return { outcome: 'already-started', planned: false };
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-edi', action: 'start', resource: 'edi_model', target: name });
      return { outcome: 'started', planned: true };
    }
    try {
      await this.http.request({ method: 'PUT', path: `${modelPath(name)}/operation/start`, schema: EmptyObject });
    } catch (err) {
      if (!(err instanceof RemoteApiError && err.status === 409)) throw err;
      // Still stopping: wait until it is stopped, then start once more.
      await this.waitForPhase(name, 'stopped', opts.timeoutMs ?? 120000);
      await this.http.request({ method: 'PUT', path: `${modelPath(name)}/operation/start`, schema: EmptyObject });
    }
    return { outcome: 'started', planned: false };
  }

  /**
   * Waits until a started model can serve: the instance is `enabled` and, when the profile's
   * `kernel_min` is above 0, a kernel reports `IDLE`. Fails at once when every kernel failed (the
   * message carries the kernels' own), when the model stays stopped (it was not started), and with a
   * TimeoutError after `timeoutMs`. Returns the model with the `service_uri` EDI reports.
   */
  async waitUntilReady(name: string, opts: ReadyOptions = {}): Promise<ReadyResult> {
    const deadline = new Deadline(opts.timeoutMs ?? 5 * 60 * 1000);
    const pollMs = opts.pollMs ?? this.pollMs;
    const kernelMin = (await this.getProfile(name)).policy.kernel_min;
    let stoppedSince: number | undefined;
    for (;;) {
      const instance = await this.instance(name);
      const kernels = kernelsOf(instance);
      opts.onProgress?.({ name, state: instance.state, kernels: kernels.map((k) => k.container_status), elapsedMs: deadline.elapsedMs });
      if (instance.state === 'enabled') {
        stoppedSince = undefined;
        if (kernelMin === 0 || kernels.some((k) => k.container_status === 'IDLE')) {
          const model = await this.getModel(name);
          if (model.service_uri) return { model, instance, serviceUri: model.service_uri, elapsedMs: deadline.elapsedMs };
        } else if (kernels.length > 0 && kernels.every((k) => k.container_status === 'ERROR')) {
          const why = [...new Set(kernels.map((k) => String((k as Record<string, unknown>).status_message ?? 'no message')))].join('; ');
          throw new RunbookError('remote', `EDI model '${name}' started, but its kernel${kernels.length > 1 ? 's' : ''} failed: ${why}`);
        }
      } else {
        const model = instance.state === 'not-available' ? await this.getModel(name) : undefined;
        const stopped = instance.state === 'disabled' || (model !== undefined && model.started_at === 0);
        if (stopped) {
          stoppedSince ??= deadline.elapsedMs;
          // A start shows up at once on EDI; a model that stays stopped was never started.
          if (deadline.elapsedMs - stoppedSince > Math.min(15000, deadline.timeoutMs / 2)) {
            throw new RunbookError('remote', `EDI model '${name}' is stopped: start it (runbook edi start ${name}) before waiting for it`);
          }
        } else stoppedSince = undefined;
      }
      if (deadline.expired) {
        const statuses = kernels.map((k) => k.container_status).join(', ') || 'none';
        throw new TimeoutError(`EDI model '${name}' is not ready after ${formatDuration(deadline.elapsedMs)}: instance ${instance.state}, kernels ${statuses}${kernelMin > 0 ? ' (waiting for one IDLE)' : ''}`);
      }
      await sleep(Math.min(pollMs, Math.max(1, deadline.leftMs)), opts.signal);
    }
  }

  /** Polls until the model reaches `phase`. */
  private async waitForPhase(name: string, phase: ModelPhase, timeoutMs: number): Promise<void> {
    const deadline = new Deadline(timeoutMs);
    for (;;) {
      const now = modelPhase(await this.getModel(name), await this.instance(name));
      if (now === phase) return;
      if (deadline.expired) throw new TimeoutError(`EDI model '${name}' is still ${now} after ${formatDuration(deadline.elapsedMs)} (waiting for ${phase})`);
      await sleep(Math.min(this.pollMs, 500, Math.max(1, deadline.leftMs)));
    }
  }

  /**
   * Stops a model and (unless `wait: false`) waits until its instance is `disabled`. A stopped model
   * is left alone (`already-stopped`).
   */
  async stopModel(name: string, opts: MutationOptions & { wait?: boolean; timeoutMs?: number } = {}): Promise<{ outcome: 'stopped' | 'already-stopped'; planned: boolean }> {
    const model = await this.getModel(name);
    if (modelPhase(model, await this.instance(name)) === 'stopped') return { outcome: 'already-stopped', planned: false };
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-edi', action: 'stop', resource: 'edi_model', target: name });
      return { outcome: 'stopped', planned: true };
    }
    await this.http.request({ method: 'PUT', path: `${modelPath(name)}/operation/stop`, schema: EmptyObject });
    if (opts.wait !== false) await this.waitForPhase(name, 'stopped', opts.timeoutMs ?? 120000);
    return { outcome: 'stopped', planned: false };
  }

  /**
   * Removes a deployment; false when none of that name exists. EDI refuses while the model runs
   * ("The model cannot be removed if it's started."): `stopIfRunning` stops it first, otherwise
   * {@link ModelNotStoppedError}. Plan mode records the stop and the removal.
   */
  async undeployModel(name: string, opts: MutationOptions & { stopIfRunning?: boolean; timeoutMs?: number } = {}): Promise<boolean> {
    const model = await this.findModel(name);
    if (!model) return false;
    await this.ensureStopped(name, model, 'undeploying', opts);
    if (opts.plan) {
      opts.plan.record({ service: 'wmla-edi', action: 'delete', resource: 'edi_model', target: name });
      return true;
    }
    const res = await this.http.send({ method: 'DELETE', path: modelPath(name), allowStatus: [404], responseType: 'text' });
    return res.status !== 404;
  }

  /**
   * Calls a started model: `POST /dlim/v1/inference/{name}` on the inference host with a JSON body
   * (an object is serialised; a string is sent as it is). Answers the kernel's output, parsed when
   * it is JSON. Kernel-level errors come back as the kernel chose (often a 200 with `status: failed`).
   */
  async infer(name: string, body: unknown, opts: InferOptions = {}): Promise<unknown> {
    if (!this.inference) throw new ConfigError('inference needs the WMLA inference URL: set WMLA_INFERENCE_URL (or wmlaInferenceUrl in the profile)');
    const payload = typeof body === 'string' ? body : JSON.stringify(body ?? null);
    const text = await this.inference.request<string>({
      method: 'POST',
      path: `${EDI_API}/inference/${encodeURIComponent(checkName(name))}`,
      body: payload,
      headers: { 'content-type': 'application/json' },
      responseType: 'text',
      idempotent: opts.idempotent,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
    });
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
}

/**
 * An EDI client over a profile's clients (the console one is required: a ConfigError names the
 * missing setting), or over explicit console and inference clients.
 *
 * @example
 * const edi = createEdiClient(connect(await resolveProfile()));
 * const ready = await edi.waitUntilReady('deepliif-edi', { onProgress: (p) => console.log(p.state) });
 */
export function createEdiClient(clients: ProfileClients | HttpClient, inference?: HttpClient, options: EdiClientOptions = {}): EdiClient {
  if ('require' in clients) return new EdiClient(clients.require('wmlaConsole'), clients.wmlaInference, options);
  return new EdiClient(clients, inference, options);
}
