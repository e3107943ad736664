import { z } from 'zod';

/**
 * Wire formats of WMLA Elastic Distributed Inference, `/dlim/v1` (ibm-api-contracts.md §1.5, §3),
 * shared by the sandbox (request validation) and the clients (response validation). Responses are
 * loose objects: real clusters add fields the project does not read. The profile rules of §3.1 are
 * enforced by {@link AppProfileUpdate} so a client can check a profile before sending it.
 */

// ---- Names and small pieces ----------------------------------------------------------------------

/** A deployment name (`model.json.name`): a DNS label, as the runbook validates it. */
export const EDI_MODEL_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const EdiModelName = z
  .string()
  .max(63, 'at most 63 characters (a DNS label)')
  .regex(EDI_MODEL_NAME, 'expected lowercase letters, digits and inner dashes (^[a-z0-9]([-a-z0-9]*[a-z0-9])?$)');

/** `mk_environments` / `kernel.envs` item: an environment variable of the kernel. */
export const NameValue = z.looseObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'),
  value: z.string(),
});
export type NameValue = z.infer<typeof NameValue>;

/** `attributes` item. */
export const KeyValue = z.looseObject({ key: z.string(), value: z.string() });
export type KeyValue = z.infer<typeof KeyValue>;

// ---- Auth (§1.5) ---------------------------------------------------------------------------------

/** `POST /dlim/v1/auth/token` JSON form (the web demo's); the other form is HTTP Basic with no body. */
export const EdiTokenRequest = z.looseObject({
  method: z.literal('password'),
  /** `user:password`, plain or base64-encoded (the exact encoding the console expects is not documented). */
  userpasswd: z.string().min(1),
});
export type EdiTokenRequest = z.infer<typeof EdiTokenRequest>;

export const EdiTokenResponse = z.looseObject({
  user_token: z.string().min(1),
  service_token: z.string().min(1),
});
export type EdiTokenResponse = z.infer<typeof EdiTokenResponse>;

// ---- model.json (§3.2) ---------------------------------------------------------------------------

/** The submission-folder descriptor `model.json`; `kernel_path` and the readme file must be in the folder. */
export const ModelDescriptor = z.looseObject({
  name: EdiModelName,
  kernel_path: z.string().min(1),
  readme: z.string().min(1).default('README.md'),
  tag: z.string().default(''),
  weight_path: z.string().default('./'),
  /** Ignored on input: the server fills it with where it put the folder. */
  model_path: z.string().optional(),
  runtime: z.string().min(1).default('dlipy3'),
  framework: z.string().optional(),
  schema_version: z.string().default('1'),
  mk_environments: z.array(NameValue).default(() => []),
  attributes: z.array(KeyValue).default(() => []),
});
export type ModelDescriptor = z.infer<typeof ModelDescriptor>;
export type ModelDescriptorInput = z.input<typeof ModelDescriptor>;

// ---- Model (§3.1) --------------------------------------------------------------------------------

/**
 * A deployed model. `started_at` is 0 and `service_uri` empty while stopped; once started they are
 * the start epoch (s) and `<inference host>/dlim/v1/inference/<name>`.
 */
export const Model = z.looseObject({
  name: z.string().min(1),
  uid: z.string().optional(),
  tag: z.string().optional(),
  size: z.number().optional(),
  weight_path: z.string().optional(),
  model_path: z.string().optional(),
  create_time: z.number().optional(),
  last_updated_time: z.number().optional(),
  started_at: z.number(),
  creator: z.string().optional(),
  runtime: z.string().optional(),
  kernel_path: z.string().optional(),
  service_uri: z.string(),
  stream_uri: z.string().optional(),
  attributes: z.array(KeyValue).optional(),
  mk_environments: z.array(NameValue).optional(),
  schema_version: z.string().optional(),
});
export type Model = z.infer<typeof Model>;

export const ModelList = z.array(Model);
export type ModelList = z.infer<typeof ModelList>;

/** `POST /dlim/v1/deployment/model[/{name}]` answers the deployed model (stopped). */
export const DeployResponse = Model;
export type DeployResponse = Model;

export const ModelExtension = z.looseObject({
  model_list: z.array(Model),
  extension_list: z.array(z.looseObject({ name: z.string(), resource_plan: z.string().optional() })),
});
export type ModelExtension = z.infer<typeof ModelExtension>;

export const Readme = z.looseObject({ readme: z.string() });
export type Readme = z.infer<typeof Readme>;

// ---- Instance (§3.1, §3.4) -----------------------------------------------------------------------

/** `not-available` while starting, `enabled` when serving (and briefly while stopping), `disabled` when stopped. */
export const ModelInstanceState = z.enum(['not-available', 'enabled', 'disabled']);
export type ModelInstanceState = z.infer<typeof ModelInstanceState>;

/**
 * One kernel of an instance. `container_status` is the kernel's status; `IDLE` means ready (what
 * `dlim model view -s -a` prints as `Status`). The legacy spec names `finished_task` `finish_task`.
 */
export const IsdContainer = z.looseObject({
  container_uid: z.string(),
  container_host: z.string().optional(),
  container_status: z.string(),
  total_task: z.number().optional(),
  running_task: z.number().optional(),
  finished_task: z.number().optional(),
  finish_task: z.number().optional(),
  failed_task: z.number().optional(),
});
export type IsdContainer = z.infer<typeof IsdContainer>;

export const InstanceDetail = z.looseObject({
  isd_uid: z.string(),
  pj_jobid: z.string().optional(),
  gpu_mode: z.string().optional(),
  gpu_packid: z.string().optional(),
  client_number: z.number().optional(),
  pending_tasks: z.number().optional(),
  pending_number: z.number().optional(),
  request_per_sec: z.number().optional(),
  data_size_per_sec: z.number().optional(),
  isd_container: z.array(IsdContainer).default(() => []),
});
export type InstanceDetail = z.infer<typeof InstanceDetail>;

/** `GET /dlim/v1/model/{name}/instance`. `instances` is omitted unless the model is `enabled`. */
export const ModelInstance = z.looseObject({
  name: z.string(),
  state: z.string(),
  instances: z.array(InstanceDetail).optional(),
});
export type ModelInstance = z.infer<typeof ModelInstance>;

// ---- App profile (§3.1) --------------------------------------------------------------------------

const KERNEL_RESOURCE_KEYS = ['ncpus', 'ncpus_limit', 'mem', 'mem_limit'] as const;
export type KernelResources = Partial<Record<(typeof KERNEL_RESOURCE_KEYS)[number], number>>;

/**
 * Parses `resource_allocation.kernel.resources` (`ncpus=0.5,ncpus_limit=2,mem=1024,mem_limit=4096`;
 * mem in MB). Returns the values or a list of problems: unknown or repeated keys, non-positive
 * numbers, a limit below its request.
 */
export function parseKernelResources(text: string): { ok: true; value: KernelResources } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const value: KernelResources = {};
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) problems.push('expected ncpus=…,ncpus_limit=…,mem=…,mem_limit=…');
  for (const item of items) {
    const m = /^([a-z_]+)=(.*)$/.exec(item);
    if (!m) {
      problems.push(`'${item}' is not key=value`);
      continue;
    }
    const key = m[1] as (typeof KERNEL_RESOURCE_KEYS)[number];
    if (!(KERNEL_RESOURCE_KEYS as readonly string[]).includes(key)) {
      problems.push(`unknown key '${m[1]}' (expected ${KERNEL_RESOURCE_KEYS.join(', ')})`);
      continue;
    }
    if (value[key] !== undefined) {
      problems.push(`'${key}' is given twice`);
      continue;
    }
    const n = Number(m[2]);
    if (m[2]!.trim() === '' || !Number.isFinite(n) || n <= 0) {
      problems.push(`${key}: expected a positive number, got '${m[2]}'`);
      continue;
    }
    value[key] = n;
  }
  if (value.ncpus !== undefined && value.ncpus_limit !== undefined && value.ncpus_limit < value.ncpus) {
    problems.push(`ncpus_limit (${value.ncpus_limit}) is below ncpus (${value.ncpus})`);
  }
  if (value.mem !== undefined && value.mem_limit !== undefined && value.mem_limit < value.mem) {
    problems.push(`mem_limit (${value.mem_limit}) is below mem (${value.mem})`);
  }
  return problems.length === 0 ? { ok: true, value } : { ok: false, problems };
}

/** The `resources` string for these values, keys in the documented order. */
export function formatKernelResources(values: KernelResources): string {
  return KERNEL_RESOURCE_KEYS.filter((k) => values[k] !== undefined)
    .map((k) => `${k}=${values[k]}`)
    .join(',');
}

export const KERNEL_GPU_MODES = ['no', 'shared', 'exclusive'] as const;

const positiveInt = z.number().int().positive();

export const AppProfilePolicy = z.looseObject({
  name: z.string(),
  schedule_interval: positiveInt,
  kernel_min: z.number().int().min(0),
  kernel_max: z.number().int().min(-1),
  kernel_delay_release_time: positiveInt,
  task_execution_timeout: z.number().int().min(-1),
  task_batch_size: positiveInt,
  task_pipe_size: positiveInt,
  task_parallel_size: positiveInt,
  stream_number_per_group: z.number().int().min(0),
  stream_discard_slow_tasks: z.boolean(),
});

export const AppProfileKernelAllocation = z.looseObject({
  type: z.string(),
  namespace: z.string(),
  image_name: z.string(),
  resource_plan: z.string(),
  resources: z.string(),
  accelerator_resources: z.string(),
  gpu_pack_id: z.string(),
  node_selector: z.string(),
  scheduler: z.string(),
});

export const AppProfileKernel = z.looseObject({
  working_directory: z.string(),
  connection_timeout: positiveInt,
  log_directory: z.string(),
  run_as: z.string(),
  umask: z.string(),
  gpu: z.enum(KERNEL_GPU_MODES),
  envs: z.array(NameValue),
});

const AppProfileFields = {
  schema_version: z.string(),
  type: z.string(),
  name: z.string(),
  replica: positiveInt,
  policy: AppProfilePolicy,
  security: z.looseObject({}),
  resource_allocation: z.looseObject({
    service: z.looseObject({}),
    kernel: AppProfileKernelAllocation,
  }),
  kernel: AppProfileKernel,
};

type ProfileShape = {
  policy: { kernel_min: number; kernel_max: number; task_execution_timeout: number };
  resource_allocation: { kernel: { resources: string } };
};

/** The §3.1 rules that a field's own type cannot express. */
function checkProfileRules(p: ProfileShape, ctx: z.RefinementCtx): void {
  const { kernel_min, kernel_max, task_execution_timeout } = p.policy;
  if (kernel_max !== -1 && kernel_max < kernel_min) {
    ctx.addIssue({ code: 'custom', path: ['policy', 'kernel_max'], message: `must be -1 (unlimited) or at least kernel_min (${kernel_min}), got ${kernel_max}` });
  }
  if (task_execution_timeout === 0) {
    ctx.addIssue({ code: 'custom', path: ['policy', 'task_execution_timeout'], message: 'must be -1 (no timeout) or a positive number of seconds, got 0' });
  }
  const resources = parseKernelResources(p.resource_allocation.kernel.resources);
  // `'problems' in`: tslab's non-strict TypeScript does not narrow the union on `!resources.ok`.
  if ('problems' in resources) {
    ctx.addIssue({ code: 'custom', path: ['resource_allocation', 'kernel', 'resources'], message: resources.problems.join('; ') });
  }
}

/** `GET /dlim/v1/model/{name}/appprofile` (dates like `Wed Aug 10 08:17:46 2022 GMT`). */
export const AppProfile = z.looseObject({
  ...AppProfileFields,
  create_time: z.string(),
  last_update_time: z.string(),
});
export type AppProfile = z.infer<typeof AppProfile>;

/**
 * The body of `PUT /dlim/v1/model/{name}/appprofile`: the full profile (as `GET` gave it, edited);
 * `create_time`/`last_update_time` are the server's and may be left out. Enforces the §3.1 rules:
 * kernel_min ≥ 0, kernel_max -1 or ≥ kernel_min, task_execution_timeout -1 or > 0, positive
 * intervals and sizes, kernel.gpu no|shared|exclusive, and a valid `resources` string.
 */
export const AppProfileUpdate = z
  .looseObject({
    ...AppProfileFields,
    create_time: z.string().optional(),
    last_update_time: z.string().optional(),
  })
  .superRefine(checkProfileRules);
export type AppProfileUpdate = z.infer<typeof AppProfileUpdate>;

/** `GET`/`PUT …/operation/start|stop` answer `{}` (the change is asynchronous: poll `/instance`). */
export const EmptyObject = z.looseObject({});
