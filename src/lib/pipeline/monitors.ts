/**
 * A3's OpenScale steps that span several resources (runbook §2 A3 table, steps 0, 4 and 5): the
 * custom metrics provider registered and recorded in monitor_metadata.yml (what B2 does), one
 * monitor instance per monitor of the deployment entry with its thresholds, and evaluation runs
 * through OpenScale's runs API (the predecessor called the provider's WML deployment directly, so
 * OpenScale never knew of those runs, §8.18).
 */
import type { ProfileClients } from '../config/connect';
import { RunbookError, ValidationError } from '../errors';
import type { DeploymentEntry, DeploymentEntryInput, MonitorMetadataEntry } from '../metadata/schema';
import { monitorMetadata, type MetadataDocument } from '../metadata/space-store';
import type { OpenScaleHttp, WaitOptions } from '../openscale/common';
import { getMonitorDefinition } from '../openscale/monitor-definitions';
import { ensureMonitorInstance } from '../openscale/monitor-instances';
import { listRuns, runFailureMessage, startRun, waitForRun } from '../openscale/runs';
import { measurementHistory } from '../openscale/measurements';
import type { SubscriptionStatus } from '../openscale/status';
import { historyPoints, type HistoryPoint } from './status-view';
import { PLANNED_ID, type MutationOptions } from '../plan';
import { registerProvider, type ProviderRegistration } from '../provider/register';
import type { ThresholdChange } from '../thresholds/wire';
import type { ThresholdMap } from '../thresholds/schema';
import type { DataAssets } from '../wml/assets';

/** What {@link registerMonitorProvider} did. */
export interface ProviderSetup {
  readonly registration: ProviderRegistration;
  /** The monitor_metadata.yml entries of the provider's monitors (integrated system, endpoint). */
  readonly monitorMetadata: Readonly<Record<string, MonitorMetadataEntry>>;
  /** Whether monitor_metadata.yml was (or would be) written. */
  readonly metadataChanged: boolean;
  readonly planned: boolean;
}

/**
 * B2's registration: the provider's integrated system and both monitor definitions in OpenScale
 * (find-or-create; a moved endpoint is updated), then their entries in the space's
 * monitor_metadata.yml. Plan mode records every change and writes nothing.
 */
export async function registerMonitorProvider(clients: ProfileClients, assets: DataAssets, opts: MutationOptions & { endpointUrl: string; name?: string }): Promise<ProviderSetup> {
  const registration = await registerProvider(clients, { endpointUrl: opts.endpointUrl, name: opts.name, plan: opts.plan });
  const entries = registration.monitorMetadata;
  const doc = monitorMetadata(assets);
  if (registration.integratedSystem.id === PLANNED_ID) {
    opts.plan?.record({ service: 'metadata', action: 'update', resource: 'monitor_metadata.yml entry', target: Object.keys(entries).join(', '), detail: 'the new integrated system' });
    return { registration, monitorMetadata: entries, metadataChanged: true, planned: true };
  }
  const change = await doc.mutate((current) => ({ ...current, ...entries }), { plan: opts.plan, target: Object.keys(entries).join(', ') });
  return { registration, monitorMetadata: entries, metadataChanged: change.changed, planned: Boolean(opts.plan) };
}

/** One monitor instance of the deployment, as configured. */
export interface InstanceRow {
  readonly monitorId: string;
  readonly instanceId: string;
  readonly outcome: 'existing' | 'created' | 'updated';
  readonly planned: boolean;
  readonly changes: readonly string[];
  readonly thresholdChanges: readonly ThresholdChange[];
  readonly thresholds?: ThresholdMap;
}

/** Options of {@link configureMonitorInstances}. */
export interface ConfigureInstancesOptions extends MutationOptions {
  readonly entry: DeploymentEntry;
  /** monitor_metadata.yml entries by monitor id (the integrated system of each monitor). */
  readonly monitorMetadata: Readonly<Record<string, MonitorMetadataEntry>>;
  readonly subscriptionId: string;
  /** Seconds OpenScale waits for the provider on a run (the runbook's 360). */
  readonly waitTimeSeconds?: number;
  readonly wait?: WaitOptions;
}

/**
 * One monitor instance per monitor of the entry's `openscale_custom_metric_provider` on the
 * subscription: created, or updated where its provider, wait time or thresholds differ (unlike the
 * predecessor, changed thresholds reach OpenScale), or left alone. A monitor without a
 * monitor_metadata.yml entry is a ValidationError pointing at B2.
 */
export async function configureMonitorInstances(os: OpenScaleHttp, opts: ConfigureInstancesOptions): Promise<InstanceRow[]> {
  const monitors = Object.entries(opts.entry.openscale_custom_metric_provider);
  const missing = monitors.map(([id]) => id).filter((id) => !opts.monitorMetadata[id]);
  if (missing.length) {
    throw new ValidationError(
      `no monitor_metadata.yml entry for ${missing.join(', ')}: register the custom metrics provider and its monitor definitions first (B2_OpenScale_Custom_Monitor_Deployment, or runbook provider register)`,
      missing.map((id) => ({ path: id, message: 'not in monitor_metadata.yml' })),
    );
  }
  const rows: InstanceRow[] = [];
  for (const [id, config] of monitors) {
    const integratedSystemId = opts.monitorMetadata[id]!.integrated_system_id;
    const unknownYet = opts.subscriptionId === PLANNED_ID || integratedSystemId === PLANNED_ID || !(await getMonitorDefinition(os, id));
    if (opts.plan && unknownYet) {
      // The subscription, provider or definition is itself only planned: the instance would be created.
      opts.plan.record({ service: 'openscale', action: 'create', resource: 'monitor_instance', target: `${id} on subscription ${opts.subscriptionId}`, detail: 'after the planned resources it depends on' });
      rows.push({ monitorId: id, instanceId: PLANNED_ID, outcome: 'created', planned: true, changes: ['created'], thresholdChanges: [], thresholds: config.thresholds });
      continue;
    }
    const r = await ensureMonitorInstance(
      os,
      { monitorDefinitionId: id, subscriptionId: opts.subscriptionId, integratedSystemId, waitTimeSeconds: opts.waitTimeSeconds, thresholds: config.thresholds },
      { plan: opts.plan, wait: opts.wait },
    );
    rows.push({ monitorId: id, instanceId: r.id, outcome: r.outcome, planned: r.planned, changes: r.changes, thresholdChanges: r.thresholdChanges, thresholds: r.thresholds });
  }
  return rows;
}

/** One evaluation run. */
export interface EvaluationRun {
  readonly monitorId: string;
  readonly instanceId: string;
  readonly runId: string;
  readonly state: string;
  readonly error?: string;
  readonly elapsedMs: number;
  readonly planned: boolean;
}

/** Options of {@link evaluateMonitors}. */
export interface EvaluateOptions extends MutationOptions {
  /** Per run (default 10 min). */
  readonly timeoutMs?: number;
  readonly pollMs?: number;
  readonly onProgress?: (monitorId: string, state: string, elapsedMs: number) => void;
}

/**
 * Triggers an evaluation run of every instance through OpenScale's runs API and waits until each
 * has finished or failed (runs of different instances go at once). Returns every run, failed ones
 * included (see {@link assertRunsFinished}). Plan mode records the runs and starts none.
 */
export async function evaluateMonitors(os: OpenScaleHttp, instances: readonly { monitorId: string; instanceId: string }[], opts: EvaluateOptions = {}): Promise<EvaluationRun[]> {
  return Promise.all(
    instances.map(async ({ monitorId, instanceId }): Promise<EvaluationRun> => {
      const started = Date.now();
      if (opts.plan || instanceId === PLANNED_ID) {
        opts.plan?.record({ service: 'openscale', action: 'run', resource: 'monitor_instance', target: `${monitorId} (${instanceId})`, detail: 'evaluation run' });
        return { monitorId, instanceId, runId: PLANNED_ID, state: 'planned', elapsedMs: 0, planned: true };
      }
      const run = await startRun(os, instanceId);
      let last = '';
      const done = await waitForRun(os, instanceId, run.id, {
        timeoutMs: opts.timeoutMs ?? 10 * 60 * 1000,
        pollMs: opts.pollMs,
        onProgress: (p) => {
          if (p.state !== last) opts.onProgress?.(monitorId, p.state, p.elapsedMs);
          last = p.state;
        },
      });
      return { monitorId, instanceId, runId: run.id, state: done.entity.status.state, error: runFailureMessage(done), elapsedMs: Date.now() - started, planned: false };
    }),
  );
}

/** Throws a RunbookError (remote) naming every run that ended in error, with OpenScale's reason. */
export function assertRunsFinished(runs: readonly EvaluationRun[]): void {
  const failed = runs.filter((r) => !r.planned && r.state !== 'finished');
  if (failed.length === 0) return;
  throw new RunbookError('remote', `evaluation run${failed.length > 1 ? 's' : ''} failed: ${failed.map((r) => `${r.monitorId} run ${r.runId} ${r.state}${r.error ? `: ${r.error}` : ''}`).join('; ')}`);
}

/**
 * Runbook A3 step 3: `openscale_subscription_id` of the entry. Returns what happened:
 * `recorded`, `unchanged`, or in plan mode `would be recorded` / `unchanged`.
 */
export async function recordSubscriptionId(
  meta: MetadataDocument<DeploymentEntry, DeploymentEntryInput>,
  key: string,
  subscriptionId: string,
  opts: MutationOptions = {},
): Promise<'recorded' | 'unchanged' | 'would be recorded'> {
  if (subscriptionId === PLANNED_ID) {
    opts.plan?.record({ service: 'metadata', action: 'update', resource: `${meta.what} entry`, target: key, detail: 'openscale_subscription_id ← the new subscription' });
    return 'would be recorded';
  }
  const change = await meta.update(key, { openscale_subscription_id: subscriptionId }, { plan: opts.plan });
  return change.changed ? (change.planned ? 'would be recorded' : 'recorded') : 'unchanged';
}

/** One run of a monitor instance, for a table. */
export interface RunRow {
  readonly monitorId: string;
  readonly runId: string;
  readonly state: string;
  readonly triggeredBy?: string;
  readonly queuedAt?: string;
  readonly completedAt?: string;
  readonly error?: string;
}

/** The most recent runs of every monitor instance of a status (runbook §4 `list_runs`), newest first. */
export async function recentRuns(os: OpenScaleHttp, status: SubscriptionStatus, max = 5): Promise<RunRow[]> {
  const rows: RunRow[] = [];
  for (const m of status.monitors) {
    for (const r of await listRuns(os, m.instanceId, { max })) {
      const s = r.entity.status;
      rows.push({ monitorId: m.monitorDefinitionId, runId: r.metadata.id, state: s.state, triggeredBy: (r.entity as { triggered_by?: string }).triggered_by, queuedAt: s.queued_at, completedAt: s.completed_at, error: runFailureMessage(r) });
    }
  }
  return rows;
}

/** Every measurement of every monitor of a status in [start, end], as chart points. */
export async function monitorHistory(os: OpenScaleHttp, status: SubscriptionStatus, range: { start: Date; end: Date }): Promise<HistoryPoint[]> {
  const points: HistoryPoint[] = [];
  for (const m of status.monitors) {
    const [measurements, definition] = await Promise.all([measurementHistory(os, m.instanceId, range), getMonitorDefinition(os, m.monitorDefinitionId)]);
    points.push(...historyPoints(m.monitorDefinitionId, measurements, definition));
  }
  return points;
}
