import { randomUUID } from 'node:crypto';
import {
  JsonPatch,
  MonitoringRunEntity,
  MonitoringRunRequest,
  RUN_FINAL_STATES,
  type CustomMetricsProviderInvocation,
  type MonitoringRunStatus,
  type RunState,
} from '../../../lib/contracts/openscale';
import { conflict, notFound } from '../../errors';
import { reply } from '../../http/router';
import { findIn, instanceOf, intParam, lookupIn, nowIso, patchEntity, readyState, V2, type OpenScaleState } from './context';
import type { IntegratedSystemDoc, MonitorInstanceDoc, RunDoc, RunReport } from './model';
import { invokeProvider, ProviderCallError } from './provider-client';
import { runView } from './views';

const isFinal = (state: RunState): boolean => RUN_FINAL_STATES.includes(state);

function messageOf(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Drives monitoring runs: `queued` → `running` (the custom metrics provider is invoked) → `finished`
 * once the provider has posted a measurement with the run id AND reported the run finished (through
 * the instance's `parameters.run_details` or `PATCH …/runs/{id}`), or `error` when it reports an
 * error, its call fails, or `custom_metrics_wait_time` passes. Every transition is a stored document
 * written under the store lock; provider calls run outside it (the provider calls back in).
 */
export class RunDriver {
  private readonly calls = new Map<string, AbortController>();
  private readonly timers = new Map<string, NodeJS.Timeout[]>();

  constructor(private readonly state: OpenScaleState) {}

  private get host() {
    return this.state.host;
  }

  /** Records a `queued` run (caller holds the lock) and schedules its start. */
  async create(mi: MonitorInstanceDoc, body: MonitoringRunRequest, username: string): Promise<RunDoc> {
    if (readyState(mi.ready_at) !== 'active') throw conflict(`monitor instance ${mi.id} is preparing; runs can start once it is active`, 'instance_not_active');
    const busy = this.state.runs.find((r) => r.monitor_instance_id === mi.id && r.instance === mi.instance && !isFinal(r.entity.status.state))[0];
    if (busy) throw conflict(`run ${busy.id} of monitor instance ${mi.id} is still ${busy.entity.status.state}; wait for it to end`, 'run_in_progress');
    const id = randomUUID();
    const now = nowIso();
    const doc = await this.state.runs.put(id, {
      key: id,
      id,
      instance: mi.instance,
      monitor_instance_id: mi.id,
      created_at: now,
      created_by: username,
      entity: {
        triggered_by: body.triggered_by ?? 'user',
        parameters: body.parameters ?? {},
        ...(body.expiration_date ? { expiration_date: body.expiration_date } : {}),
        status: { state: 'queued', queued_at: now, updated_at: now },
      },
    });
    this.arm(doc.key, this.host.config.runQueueMs, () => this.start(doc.key));
    return doc;
  }

  /** After a restart: start queued runs, resume waiting for running ones, or fail those past their deadline. */
  async recover(): Promise<void> {
    await this.host.store.lock(async () => {
      for (const run of this.state.runs.values()) {
        const s = run.entity.status.state;
        if (s === 'queued') this.arm(run.key, this.host.config.runQueueMs, () => this.start(run.key));
        if (s !== 'running') continue;
        const after = await this.evaluate(run, { restarted: true });
        if (after && after.entity.status.state === 'running') this.armDeadline(after);
      }
    });
  }

  /** The provider's legacy report: `parameters.run_details` written into the monitor instance. */
  async onInstancePatched(mi: MonitorInstanceDoc): Promise<void> {
    const details = mi.entity.parameters?.run_details;
    if (!details) return;
    const run = this.state.runs.find((r) => r.instance === mi.instance && r.monitor_instance_id === mi.id && r.id === details.run_id)[0];
    if (!run || isFinal(run.entity.status.state)) return;
    const status = details.run_status.toLowerCase();
    if (status !== 'finished' && status !== 'error') return; // e.g. the `Running` OpenScale itself sent
    const report: RunReport = { state: status, message: messageOf(details.run_error_msg), via: 'monitor_instance', at: nowIso() };
    const saved = await this.state.runs.put(run.key, { ...run, report });
    await this.evaluate(saved);
  }

  /** A measurement with `runId` arrived for monitor instance `miId` (caller holds the lock). */
  async onMeasurement(instance: string, miId: string, runId: string): Promise<void> {
    const run = this.state.runs.find((r) => r.instance === instance && r.monitor_instance_id === miId && r.id === runId)[0];
    if (run && !isFinal(run.entity.status.state)) await this.evaluate(run);
  }

  /**
   * `PATCH …/runs/{id}` (caller holds the lock). Fields are patched as sent, except that a provider
   * setting `status.state` to `finished`/`error` files a report: the run ends by the same rule as
   * through the legacy protocol (finished needs a measurement with the run id).
   */
  async patch(run: RunDoc, patch: JsonPatch): Promise<RunDoc> {
    const entity = patchEntity(run.entity, patch, MonitoringRunEntity, 'monitoring run');
    const from = run.entity.status.state;
    const to = entity.status.state;
    if (to === from) return this.state.runs.put(run.key, { ...run, entity, modified_at: nowIso() });
    if (isFinal(from)) throw conflict(`run ${run.id} is already ${from}; its state cannot change to ${to}`, 'run_final');
    if (!isFinal(to)) throw conflict(`run ${run.id} cannot be moved from ${from} to ${to}: a PATCH may only report finished or error`, 'invalid_transition');
    const report: RunReport = {
      state: to as 'finished' | 'error',
      message: entity.status.failure?.errors[0]?.message ?? entity.status.message,
      via: 'runs_api',
      at: nowIso(),
    };
    const saved = await this.state.runs.put(run.key, { ...run, entity: { ...entity, status: { ...entity.status, state: from } }, report, modified_at: nowIso() });
    return (await this.evaluate(saved)) ?? saved;
  }

  /** Stops the provider calls and timers of a monitor instance's runs (it is being deleted). */
  forgetInstance(instance: string, miId: string): void {
    for (const run of this.state.runs.find((r) => r.instance === instance && r.monitor_instance_id === miId)) this.forget(run.key);
  }

  close(): void {
    for (const key of [...this.calls.keys(), ...this.timers.keys()]) this.forget(key);
  }

  /** Clears the run's timers and aborts its provider call. */
  private forget(key: string): void {
    this.calls.get(key)?.abort();
    this.calls.delete(key);
    this.clearTimers(key);
  }

  private clearTimers(key: string): void {
    for (const t of this.timers.get(key) ?? []) this.host.timers.clear(t);
    this.timers.delete(key);
  }

  private arm(key: string, ms: number, fn: () => Promise<void>): void {
    const t = this.host.timers.setTimeout(fn, ms);
    this.timers.set(key, [...(this.timers.get(key) ?? []), t]);
  }

  private armDeadline(run: RunDoc): void {
    if (!run.deadline_at) return;
    const ms = Math.max(0, Date.parse(run.deadline_at) - Date.now()) + 5;
    this.arm(run.key, ms, () =>
      this.host.store.lock(async () => {
        const current = this.state.runs.get(run.key);
        if (current) await this.evaluate(current);
      }),
    );
  }

  /** `queued` → `running`, then the provider call (outside the lock). */
  private async start(key: string): Promise<void> {
    const plan = await this.host.store.lock(async () => {
      const run = this.state.runs.get(key);
      if (!run || run.entity.status.state !== 'queued' || this.host.closing()) return undefined;
      const mi = lookupIn(this.state.instances, run.instance, run.monitor_instance_id);
      if (!mi) return undefined; // deleted with its runs
      const definition = lookupIn(this.state.definitions, run.instance, mi.entity.monitor_definition_id);
      const params: Record<string, unknown> = { ...(mi.entity.parameters ?? {}), ...(run.entity.parameters ?? {}) };
      delete params.run_details;
      const providerId = typeof params.custom_metrics_provider_id === 'string' ? params.custom_metrics_provider_id : undefined;
      const runtime = definition?.entity.monitor_runtime?.type;
      const now = Date.now();
      const running: RunDoc = {
        ...run,
        entity: { ...run.entity, status: { ...run.entity.status, state: 'running', started_at: new Date(now).toISOString(), updated_at: new Date(now).toISOString() } },
      };
      if (runtime !== 'custom_metrics_provider' && providerId === undefined) {
        await this.finish(running, 'error', 'no_custom_metrics_provider',
          `monitor definition '${mi.entity.monitor_definition_id}' has monitor_runtime ${runtime ?? '(unset)'} and the instance has no parameters.custom_metrics_provider_id; the sandbox evaluates only custom metrics provider monitors`);
        return undefined;
      }
      if (providerId === undefined) {
        await this.finish(running, 'error', 'no_custom_metrics_provider', `monitor instance ${mi.id} has no parameters.custom_metrics_provider_id`);
        return undefined;
      }
      const system = lookupIn(this.state.systems, run.instance, providerId);
      if (!system || system.entity.type !== 'custom_metrics_provider') {
        await this.finish(running, 'error', 'no_custom_metrics_provider', `parameters.custom_metrics_provider_id '${providerId}' is not an integrated system of type custom_metrics_provider`);
        return undefined;
      }
      const wait = typeof params.custom_metrics_wait_time === 'number' && params.custom_metrics_wait_time > 0 ? params.custom_metrics_wait_time : this.host.config.defaultWaitSeconds;
      let deadline = now + wait * 1000 * this.host.config.waitTimeScale;
      if (run.entity.expiration_date) deadline = Math.min(deadline, Date.parse(run.entity.expiration_date));
      const endpoint = system.entity.connection?.endpoint ?? '';
      const saved = await this.state.runs.put(key, {
        ...running,
        deadline_at: new Date(deadline).toISOString(),
        wait_seconds: wait,
        provider: { integrated_system_id: system.id, endpoint, invoked_at: new Date(now).toISOString() },
      });
      const payload: CustomMetricsProviderInvocation = {
        input_data: [
          {
            values: {
              data_mart_id: mi.entity.data_mart_id,
              subscription_id: mi.entity.target.target_id,
              custom_monitor_id: mi.entity.monitor_definition_id,
              custom_monitor_instance_id: mi.id,
              custom_monitor_instance_params: {
                ...params,
                custom_metrics_provider_id: providerId,
                custom_metrics_wait_time: wait,
                run_details: { run_id: run.id, run_status: 'Running' },
              },
            },
          },
        ],
      };
      return { run: saved, system, payload };
    });
    if (!plan) return;
    this.armDeadline(plan.run);
    await this.invoke(plan.run, plan.system, plan.payload);
  }

  private async invoke(run: RunDoc, system: IntegratedSystemDoc, payload: CustomMetricsProviderInvocation): Promise<void> {
    const controller = new AbortController();
    this.calls.set(run.key, controller);
    const timeout = AbortSignal.timeout(Math.max(1, Date.parse(run.deadline_at!) - Date.now()));
    let failure: ProviderCallError | undefined;
    let httpStatus: number | undefined;
    try {
      httpStatus = (await invokeProvider(run.provider!.endpoint, system.entity.credentials, payload, AbortSignal.any([controller.signal, timeout]))).httpStatus;
    } catch (err) {
      if (controller.signal.aborted || this.host.closing()) return; // instance deleted or sandbox closing
      if (timeout.aborted) return; // the deadline timer ends the run with a timeout
      if (err instanceof ProviderCallError) failure = err;
      else failure = new ProviderCallError(`the custom metrics provider call failed: ${(err as Error).message}`, 'custom_metrics_provider_error');
    } finally {
      if (this.calls.get(run.key) === controller) this.calls.delete(run.key);
    }
    await this.host.store.lock(async () => {
      const current = this.state.runs.get(run.key);
      if (!current || isFinal(current.entity.status.state) || this.host.closing()) return;
      const provider = { ...current.provider!, replied_at: nowIso(), http_status: httpStatus ?? failure?.httpStatus, failure: failure?.message };
      const saved = await this.state.runs.put(current.key, { ...current, provider });
      if (failure) await this.finish(saved, 'error', failure.code, failure.message);
      else await this.evaluate(saved);
    });
  }

  /**
   * Ends the run when its outcome is known (caller holds the lock); returns the stored run (or
   * undefined when it is gone). `restarted`: the run was found running after a restart.
   */
  private async evaluate(run: RunDoc, options: { restarted?: boolean } = {}): Promise<RunDoc | undefined> {
    if (this.state.runs.get(run.key) === undefined) return undefined;
    if (run.entity.status.state !== 'running') return run;
    if (run.provider?.failure) return this.finish(run, 'error', 'custom_metrics_provider_error', run.provider.failure);
    if (run.report?.state === 'error') {
      return this.finish(run, 'error', 'custom_metrics_provider_error', `the custom metrics provider reported an error: ${run.report.message ?? '(no message)'}`);
    }
    const measured = this.state.measurements.find((m) => m.instance === run.instance && m.monitor_instance_id === run.monitor_instance_id && m.entity.run_id === run.id).length > 0;
    if (run.report?.state === 'finished' && measured) return this.finish(run, 'finished');
    if (!run.deadline_at || Date.now() < Date.parse(run.deadline_at)) return run;
    const missing: string[] = [];
    if (!run.provider?.replied_at) missing.push(`the endpoint ${run.provider?.endpoint ?? ''} did not answer`);
    if (!measured) missing.push(`no measurement with run_id ${run.id} was posted`);
    if (!run.report) missing.push('the run status was not reported (parameters.run_details of the monitor instance, or PATCH …/runs/{run_id})');
    const scale = this.host.config.waitTimeScale;
    const wait = `${run.wait_seconds ?? '?'} s (custom_metrics_wait_time${scale !== 1 ? `, scaled ×${scale} by services.openscale.waitTimeScale` : ''})`;
    if (options.restarted) {
      return this.finish(run, 'error', 'sandbox_restarted', `the sandbox restarted during the run and the custom metrics provider did not complete it within ${wait}: ${missing.join('; ')}`);
    }
    return this.finish(run, 'error', 'custom_metrics_provider_timeout', `timed out after ${wait} waiting for the custom metrics provider: ${missing.join('; ')}`);
  }

  private async finish(run: RunDoc, state: 'finished' | 'error', code?: string, message?: string): Promise<RunDoc> {
    const now = nowIso();
    const status: MonitoringRunStatus = { ...run.entity.status, state, updated_at: now, completed_at: now };
    if (state === 'error') {
      status.message = message;
      status.failure = { trace: run.id, errors: [{ code: code ?? 'run_failed', message: message ?? 'the run failed' }] };
    } else {
      delete status.failure;
    }
    const saved = await this.state.runs.put(run.key, { ...run, entity: { ...run.entity, status }, modified_at: now });
    // A provider call still open (the legacy provider reports before it answers) may finish; its
    // answer no longer changes the run.
    this.clearTimers(run.key);
    return saved;
  }
}

/** `POST|GET …/monitor_instances/{id}/runs`, `GET|PATCH …/runs/{run_id}` (§5.9). */
export function registerRunRoutes(state: OpenScaleState, driver: RunDriver): void {
  const { host } = state;
  const RUNS = `${V2}/monitor_instances/:mi/runs`;

  host.post(RUNS, { body: MonitoringRunRequest.optional() }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
      const run = await driver.create(mi, ctx.body ?? {}, ctx.principal?.username ?? 'unknown');
      return reply.json(201, runView(run, ctx.baseUrl));
    }),
  );

  host.get(RUNS, (ctx) => {
    const instance = instanceOf(state, ctx);
    const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
    const limit = intParam(ctx, 'limit', 100, 1, 1000);
    // `start` is the page token of OpenScale's links; the sandbox's tokens are offsets.
    const start = intParam(ctx, 'start', 0, 0, Number.MAX_SAFE_INTEGER);
    const all = state.runs
      .find((r) => r.instance === instance && r.monitor_instance_id === mi.id)
      .sort((a, b) => (a.created_at > b.created_at ? -1 : a.created_at < b.created_at ? 1 : a.key < b.key ? -1 : 1));
    const base = `${ctx.baseUrl}/openscale/${instance}/v2/monitor_instances/${mi.id}/runs?limit=${limit}`;
    const page = (offset: number) => ({ href: offset === 0 ? base : `${base}&start=${offset}` });
    const lastOffset = all.length === 0 ? 0 : Math.floor((all.length - 1) / limit) * limit;
    return reply.json(200, {
      runs: all.slice(start, start + limit).map((r) => runView(r, ctx.baseUrl)),
      limit,
      total_count: all.length,
      first: page(0),
      last: page(lastOffset),
      ...(start + limit < all.length ? { next: page(start + limit) } : {}),
      ...(start > 0 ? { prev: page(Math.max(0, start - limit)) } : {}),
    });
  });

  const findRun = (instance: string, miId: string, runId: string): RunDoc => {
    const run = state.runs.find((r) => r.instance === instance && r.monitor_instance_id === miId && r.id === runId)[0];
    if (!run) throw notFound('monitoring run', runId);
    return run;
  };

  host.get(`${RUNS}/:run`, (ctx) => {
    const instance = instanceOf(state, ctx);
    const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
    return reply.json(200, runView(findRun(instance, mi.id, ctx.params.run!), ctx.baseUrl));
  });

  host.patch(`${RUNS}/:run`, { body: JsonPatch }, (ctx) =>
    host.store.lock(async () => {
      const instance = instanceOf(state, ctx);
      const mi = findIn(state.instances, instance, ctx.params.mi!, 'monitor instance');
      const run = await driver.patch(findRun(instance, mi.id, ctx.params.run!), ctx.body);
      return reply.json(200, runView(run, ctx.baseUrl));
    }),
  );
}
