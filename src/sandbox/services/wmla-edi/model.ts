import { z } from 'zod';
import { AppProfile, ModelDescriptor, type Model } from '../../../lib/contracts/wmla-edi';

/**
 * The durable record of one deployment: its descriptor (model.json as deployed), where its folder
 * is, its app profile, and the start/stop requests the lifecycle is derived from.
 */
export const EdiModelDoc = z.object({
  name: z.string(),
  uid: z.string(),
  creator: z.string(),
  createTime: z.number().int(),
  lastUpdatedTime: z.number().int(),
  /** The deployed folder (absolute): `model_path`, and REDHARE_MODEL_PATH of the kernels. */
  folder: z.string(),
  size: z.number().int().min(0),
  descriptor: ModelDescriptor,
  profile: AppProfile,
  run: z.object({ startRequestedAt: z.number().optional(), stopRequestedAt: z.number().optional() }).default(() => ({})),
});
export type EdiModelDoc = z.infer<typeof EdiModelDoc>;

/** Our names for the lifecycle (the wire only shows `not-available` / `enabled` / `disabled`). */
export type Phase = 'stopped' | 'starting' | 'started' | 'stopping';

/**
 * The phase at `now`: stopped until a start; starting for `startMs` and until every kernel of the
 * pool has settled (ready or failed); started; after a stop, stopping for `stopMs`, then stopped.
 */
export function phaseOf(doc: EdiModelDoc, timing: { startMs: number; stopMs: number }, poolSettled: boolean, now = Date.now()): Phase {
  const { startRequestedAt, stopRequestedAt } = doc.run;
  if (startRequestedAt === undefined) return 'stopped';
  if (stopRequestedAt !== undefined) return now < stopRequestedAt + timing.stopMs ? 'stopping' : 'stopped';
  if (now < startRequestedAt + timing.startMs || !poolSettled) return 'starting';
  return 'started';
}

export const INSTANCE_STATE: Record<Phase, 'not-available' | 'enabled' | 'disabled'> = {
  stopped: 'disabled',
  starting: 'not-available',
  started: 'enabled',
  stopping: 'enabled',
};

/** The wire `Model`: `started_at`/`service_uri` are set from the start request until the stop completes. */
export function modelView(doc: EdiModelDoc, phase: Phase, inferenceBase: string): Model {
  const d = doc.descriptor;
  const live = phase !== 'stopped';
  return {
    name: doc.name,
    uid: doc.uid,
    tag: d.tag,
    size: doc.size,
    weight_path: d.weight_path,
    model_path: doc.folder,
    create_time: doc.createTime,
    last_updated_time: doc.lastUpdatedTime,
    started_at: live && doc.run.startRequestedAt !== undefined ? Math.floor(doc.run.startRequestedAt / 1000) : 0,
    creator: doc.creator,
    runtime: d.runtime,
    kernel_path: d.kernel_path,
    service_uri: live ? `${inferenceBase}/dlim/v1/inference/${doc.name}` : '',
    attributes: d.attributes,
    mk_environments: d.mk_environments,
    schema_version: d.schema_version,
  };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Wed Aug 10 08:17:46 2022 GMT`, the profile's date format. */
export function profileTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()} GMT`;
}

/** The profile a new deployment gets: WMLA 2.3.7's defaults (ibm-api-contracts.md §3.1). */
export function defaultProfile(name: string, now: number): AppProfile {
  const time = profileTime(now);
  return {
    schema_version: '1.2',
    type: 'inference',
    name,
    create_time: time,
    last_update_time: time,
    replica: 1,
    policy: {
      name: 'capacity',
      schedule_interval: 3,
      kernel_min: 1,
      kernel_max: 100,
      kernel_delay_release_time: 60,
      task_execution_timeout: 60,
      task_batch_size: 1,
      task_pipe_size: 1,
      task_parallel_size: 1,
      stream_number_per_group: 0,
      stream_discard_slow_tasks: true,
    },
    security: { ssl: { enable: true, server_crt: '${REDHARE_TOP}/security/tls.crt', server_key: '${REDHARE_TOP}/security/tls.key' } },
    resource_allocation: {
      service: { type: 'k8s', namespace: '', image_name: '', node_selector: '' },
      kernel: {
        type: 'msd',
        namespace: '',
        image_name: '',
        resource_plan: 'sample-project/inference',
        resources: 'ncpus=0.5,ncpus_limit=2,mem=1024,mem_limit=4096',
        accelerator_resources: '',
        gpu_pack_id: '',
        node_selector: '',
        scheduler: '',
      },
    },
    kernel: {
      working_directory: '${REDHARE_TOP}/work',
      connection_timeout: 90,
      log_directory: '${REDHARE_TOP}/logs',
      run_as: '',
      umask: '022',
      gpu: 'no',
      envs: [{ name: 'DLIM_MK_LOG_LEVEL', value: 'INFO' }],
    },
  };
}
