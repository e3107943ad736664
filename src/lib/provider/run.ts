/**
 * One custom-metrics-provider run (ibm-api-contracts.md §5.9, predecessor-runbook.md §4.1/§4.4):
 * read OpenScale's payload, compute the monitor's metrics from the storage volume, post them as a
 * measurement under the definition's metric names, report the run finished or failed — through
 * the runs API (`PATCH …/runs/{run_id}`) and through the legacy `parameters.run_details` of the
 * monitor instance, keeping every other parameter — and build the reply OpenScale expects
 * (`{predictions:[{values:[…]}]}`, or `{predictions:[], error_msg:[…]}`; both with HTTP 200, as the
 * predecessor answered). A bad payload gets HTTP 400.
 */
import { z } from 'zod';
import {
  CustomMetricsProviderInvocation,
  MonitorInstance,
  type CustomMetricsProviderReply,
  type JsonPatch,
  type Measurement,
} from '../contracts/openscale';
import type { HttpClient } from '../http/client';
import { issuesFromZod } from '../metadata/yaml-issues';
import { JSON_PATCH } from '../openscale/common';
import { publishMeasurements } from '../openscale/measurements';
import type { Redactor } from '../redact';
import { computeMonitorMetrics, type ComputeOptions } from './compute';
import type { MonitorConfigSource } from './config-source';
import { monitorKindFor, type MonitorKindRules } from './kinds';

/** What the provider needs to serve runs. */
export interface ProviderContext {
  /** CPD client with the provider's own credentials (storage volumes). */
  readonly cpd: HttpClient;
  /** OpenScale client of a data mart (the payload's `data_mart_id`; on CPD, the service instance id). */
  openscaleFor(dataMartId: string): HttpClient;
  readonly configSource: MonitorConfigSource;
  readonly monitorKinds?: MonitorKindRules;
  readonly workers?: ComputeOptions['workers'];
  readonly downloadConcurrency?: number;
  readonly tempRoot?: string;
  /** Masks secrets in messages the provider sends or logs. */
  readonly redactor?: Redactor;
  /** Structured progress and outcome events (the server logs them). */
  readonly log?: (event: ProviderEvent) => void;
}

/** A log event of a run. */
export interface ProviderEvent {
  readonly level: 'info' | 'error';
  readonly runId?: string;
  readonly monitorId?: string;
  readonly step: string;
  readonly message: string;
}

/** The HTTP answer to OpenScale. */
export interface ProviderResponse {
  readonly status: number;
  readonly body: CustomMetricsProviderReply;
}

/** What happened in a run (for logs and tests). */
export interface RunOutcome extends ProviderResponse {
  readonly runId?: string;
  readonly state: 'finished' | 'error' | 'rejected';
  /** The failure (state `error`/`rejected`). */
  readonly message?: string;
  readonly metrics?: Record<string, number>;
  /** What the metrics were computed from (pairs, window, how the counting ran). */
  readonly details?: Record<string, unknown>;
  /** How each status report went: `ok` or the error message. */
  readonly reports?: { readonly runsApi: string; readonly instanceParameters: string };
}

/** Time kept back from OpenScale's wait for reporting the outcome after computing. */
function computeBudgetMs(waitSeconds: number): number {
  const waitMs = waitSeconds * 1000;
  return Math.max(1000, waitMs - Math.min(30_000, waitMs * 0.2));
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

async function patchRunStatus(os: HttpClient, instanceId: string, runId: string, state: 'finished' | 'error', message: string, at: string): Promise<void> {
  const ops: JsonPatch = [
    { op: 'replace', path: '/status/state', value: state },
    { op: 'add', path: '/status/completed_at', value: at },
    { op: 'add', path: '/status/message', value: message },
  ];
  if (state === 'error') ops.push({ op: 'add', path: '/status/failure', value: { trace: runId, errors: [{ code: 'custom_metrics_provider_error', message }] } });
  await os.request({
    method: 'PATCH',
    path: `/v2/monitor_instances/${encodeURIComponent(instanceId)}/runs/${encodeURIComponent(runId)}`,
    body: ops,
    headers: { 'content-type': JSON_PATCH },
    idempotent: true,
  });
}

async function patchRunDetails(os: HttpClient, instanceId: string, fallback: Record<string, unknown>, details: Record<string, unknown>, at: string): Promise<void> {
  // Read the instance's current parameters so that nothing stored there is dropped (predecessor §8.17).
  const mi = await os.request({ path: `/v2/monitor_instances/${encodeURIComponent(instanceId)}`, schema: MonitorInstance });
  const current = (mi.entity.parameters as Record<string, unknown> | undefined) ?? fallback;
  const value = { ...current, run_details: details, last_run_time: at };
  await os.request({
    method: 'PATCH',
    path: `/v2/monitor_instances/${encodeURIComponent(instanceId)}`,
    query: { update_metadata_only: 'true' },
    body: [{ op: mi.entity.parameters ? 'replace' : 'add', path: '/parameters', value }],
    idempotent: true,
  });
}

/**
 * Serves one run request. Never throws: every failure becomes a run reported as `error` (when the
 * payload named a run) and an `error_msg` reply. `receivedAt` (epoch ms, default now) is when the
 * request arrived: time spent queued behind other runs counts against OpenScale's wait.
 */
export async function handleRunRequest(ctx: ProviderContext, payload: unknown, options: { receivedAt?: number } = {}): Promise<RunOutcome> {
  const redact = (s: string) => (ctx.redactor ? ctx.redactor.redact(s) : s);
  const log = (e: ProviderEvent) => ctx.log?.({ ...e, message: redact(e.message) });
  const parsed = CustomMetricsProviderInvocation.safeParse(payload);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error.issues, { schema: CustomMetricsProviderInvocation as z.ZodType });
    const message = `not a custom metrics provider request: ${issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`).join('; ')}`;
    log({ level: 'error', step: 'request', message });
    return { status: 400, body: { predictions: [], error_msg: [message] }, state: 'rejected', message };
  }
  const v = parsed.data.input_data[0]!.values;
  const params = v.custom_monitor_instance_params;
  const runId = params.run_details.run_id;
  const monitorId = v.custom_monitor_id;
  const instanceId = v.custom_monitor_instance_id;
  const os = ctx.openscaleFor(v.data_mart_id);
  const at = () => new Date().toISOString();
  log({ level: 'info', runId, monitorId, step: 'start', message: `run ${runId} of ${monitorId} on subscription ${v.subscription_id} (instance ${instanceId}, wait ${params.custom_metrics_wait_time} s)` });

  const budget = computeBudgetMs(params.custom_metrics_wait_time);
  const signal = AbortSignal.timeout(Math.max(1, budget - (Date.now() - (options.receivedAt ?? Date.now()))));
  let metrics: Record<string, number> | undefined;
  let details: Record<string, unknown> | undefined;
  let published: Measurement[] | undefined;
  let failure: string | undefined;
  try {
    const kind = monitorKindFor(monitorId, ctx.monitorKinds);
    const config = await ctx.configSource.monitorConfig(v.subscription_id, monitorId);
    const computed = await computeMonitorMetrics(kind, config, {
      cpd: ctx.cpd,
      signal,
      tempRoot: ctx.tempRoot,
      downloadConcurrency: ctx.downloadConcurrency,
      workers: ctx.workers,
      onStep: (step, detail) => log({ level: 'info', runId, monitorId, step, message: detail }),
    });
    metrics = computed.metrics;
    details = computed.details;
    log({ level: 'info', runId, monitorId, step: 'publish', message: `${Object.keys(metrics).length} metrics (${JSON.stringify(details)})` });
    published = await publishMeasurements(os, instanceId, [{ timestamp: at(), run_id: runId, metrics: [metrics] }]);
  } catch (err) {
    failure = signal.aborted
      ? `the run did not finish within ${Math.round(budget / 1000)} s (custom_metrics_wait_time ${params.custom_metrics_wait_time} s, less time kept for reporting): ${messageOf(err)}`
      : messageOf(err);
    failure = redact(failure);
    log({ level: 'error', runId, monitorId, step: published ? 'report' : metrics ? 'publish' : 'compute', message: failure });
  }

  const state = failure === undefined ? 'finished' : 'error';
  const message = failure ?? `published ${Object.keys(metrics ?? {}).length} metrics`;
  const completedAt = at();
  const report = async (what: string, fn: () => Promise<void>): Promise<string> => {
    try {
      await fn();
      return 'ok';
    } catch (err) {
      const m = redact(messageOf(err));
      log({ level: 'error', runId, monitorId, step: 'report', message: `${what}: ${m}` });
      return m;
    }
  };
  // The runs API first: a current OpenScale ends the run on it; older ones watch run_details.
  const runsApi = await report('runs API', () => patchRunStatus(os, instanceId, runId, state, message, completedAt));
  const runDetails: Record<string, unknown> = { run_id: runId, run_status: state };
  if (failure !== undefined) runDetails.run_error_msg = failure;
  const instanceParameters = await report('monitor instance run_details', () => patchRunDetails(os, instanceId, params, runDetails, completedAt));
  const reports = { runsApi, instanceParameters };
  const unreported = runsApi !== 'ok' && instanceParameters !== 'ok';

  if (failure !== undefined || unreported) {
    const errors = failure !== undefined ? [failure] : [];
    if (unreported) errors.push(`the run status could not be reported: runs API: ${runsApi}; monitor instance: ${instanceParameters}`);
    log({ level: 'error', runId, monitorId, step: 'done', message: `error: ${errors.join('; ')}` });
    return {
      status: 200,
      body: { predictions: [], error_msg: errors, log_msg: [`runs API: ${runsApi}`, `monitor instance run_details: ${instanceParameters}`] },
      runId,
      state: 'error',
      message: errors.join('; '),
      metrics,
      details,
      reports,
    };
  }
  log({ level: 'info', runId, monitorId, step: 'done', message: `finished: ${message}` });
  return { status: 200, body: { predictions: [{ values: published ?? [] }] }, runId, state: 'finished', metrics, details, reports };
}

/** A run request the provider refuses before looking at it (authentication). */
export function rejection(status: number, message: string): ProviderResponse {
  return { status, body: { predictions: [], error_msg: [message] } };
}
