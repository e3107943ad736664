import { MonitoringRun, MonitoringRunCollection, RUN_FINAL_STATES, type MonitoringRunRequest, type RunState } from '../contracts/openscale';
import { RunbookError, TimeoutError } from '../errors';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { DEFAULT_WAIT_MS, failureText, type OpenScaleHttp } from './common';

const runsPath = (instanceId: string) => `/v2/monitor_instances/${encodeURIComponent(instanceId)}/runs`;

/** Options of {@link startRun}. */
export interface StartRunOptions extends MutationOptions {
  /** Default `user`. */
  readonly triggeredBy?: MonitoringRunRequest['triggered_by'];
  /** Merged over the instance parameters for this run (e.g. a shorter `custom_metrics_wait_time`). */
  readonly parameters?: Record<string, unknown>;
  /** The run errors if not done by then. */
  readonly expirationDate?: Date;
}

/** A started (or, in plan mode, recorded) run. */
export interface StartedRun {
  /** The run id; `(planned)` in plan mode. */
  readonly id: string;
  readonly planned: boolean;
  readonly run?: MonitoringRun;
}

/**
 * Triggers an evaluation run of a monitor instance (`POST …/runs`). Not retried: a repeated POST
 * could start a second run. OpenScale refuses a run while another one of the instance is going.
 */
export async function startRun(os: OpenScaleHttp, instanceId: string, options: StartRunOptions = {}): Promise<StartedRun> {
  if (options.plan) {
    options.plan.record({ service: 'openscale', action: 'run', resource: 'monitor_instance', target: instanceId, detail: 'evaluation run' });
    return { id: PLANNED_ID, planned: true };
  }
  const body: MonitoringRunRequest = { triggered_by: options.triggeredBy ?? 'user' };
  if (options.parameters) body.parameters = options.parameters;
  if (options.expirationDate) body.expiration_date = options.expirationDate.toISOString();
  const run = await os.request({ method: 'POST', path: runsPath(instanceId), body, schema: MonitoringRun });
  return { id: run.metadata.id, planned: false, run };
}

/** One evaluation run of a monitor instance, in whatever state it is now (see {@link waitForRun} to wait for the end). */
export async function getRun(os: OpenScaleHttp, instanceId: string, runId: string): Promise<MonitoringRun> {
  return os.request({ path: `${runsPath(instanceId)}/${encodeURIComponent(runId)}`, schema: MonitoringRun });
}

/** Options of {@link listRuns}. */
export interface ListRunsOptions {
  /** Page size (default 100). */
  readonly limit?: number;
  /** Stop after this many runs (default: every page). */
  readonly max?: number;
}

/** The runs of a monitor instance, following the `next` links of every page, newest first. */
export async function listRuns(os: OpenScaleHttp, instanceId: string, options: ListRunsOptions = {}): Promise<MonitoringRun[]> {
  const out: MonitoringRun[] = [];
  const max = options.max ?? Infinity;
  let page = await os.request({ path: runsPath(instanceId), query: { limit: options.limit ?? 100 }, schema: MonitoringRunCollection });
  const seen = new Set<string>();
  for (;;) {
    out.push(...page.runs);
    const next = page.next?.href;
    if (!next || out.length >= max || seen.has(next) || page.runs.length === 0) break;
    seen.add(next);
    page = await os.request({ path: next, schema: MonitoringRunCollection });
  }
  return sortNewestFirst(out).slice(0, max === Infinity ? undefined : max);
}

const startedAt = (r: MonitoringRun): string => r.entity.status.queued_at ?? r.metadata.created_at ?? r.entity.status.started_at ?? '';

function sortNewestFirst(runs: MonitoringRun[]): MonitoringRun[] {
  return [...runs].sort((a, b) => (startedAt(a) < startedAt(b) ? 1 : startedAt(a) > startedAt(b) ? -1 : 0));
}

/** The most recent run of an instance (by queue time; one page is read), or undefined. */
export async function latestRun(os: OpenScaleHttp, instanceId: string): Promise<MonitoringRun | undefined> {
  const page = await os.request({ path: runsPath(instanceId), query: { limit: 100 }, schema: MonitoringRunCollection });
  return sortNewestFirst(page.runs)[0];
}

/** Why a run failed (its failure messages, else its status message). */
export function runFailureMessage(run: MonitoringRun): string | undefined {
  if (run.entity.status.state !== 'error') return undefined;
  return run.entity.status.failure ? failureText(run.entity.status.failure) : (run.entity.status.message ?? 'no failure details given');
}

/** Options of {@link waitForRun}. */
export interface WaitForRunOptions {
  /** Default 5 minutes (the runbook's wait time is 360 s: pass more for real runs). */
  readonly timeoutMs?: number;
  /** Default 2 s. */
  readonly pollMs?: number;
  /** Each poll's state and elapsed time. */
  readonly onProgress?: (progress: { state: RunState; elapsedMs: number; run: MonitoringRun }) => void;
  readonly signal?: AbortSignal;
}

/**
 * Polls a run until it is `finished` or `error` and returns it (an `error` run is returned, not
 * thrown: see {@link runFailureMessage}). A TimeoutError names the run and its last state.
 */
export async function waitForRun(os: OpenScaleHttp, instanceId: string, runId: string, options: WaitForRunOptions = {}): Promise<MonitoringRun> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  const pollMs = options.pollMs ?? 2000;
  for (;;) {
    const run = await getRun(os, instanceId, runId);
    const elapsedMs = Date.now() - started;
    options.onProgress?.({ state: run.entity.status.state, elapsedMs, run });
    if (RUN_FINAL_STATES.includes(run.entity.status.state)) return run;
    if (options.signal?.aborted) throw new RunbookError('internal', `waiting for run ${runId} was cancelled`);
    if (elapsedMs >= timeoutMs) {
      throw new TimeoutError(`run ${runId} of monitor instance ${instanceId} is still ${run.entity.status.state} after ${Math.round(elapsedMs / 1000)} s (waited up to ${Math.round(timeoutMs / 1000)} s)`);
    }
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, timeoutMs - elapsedMs))));
  }
}
