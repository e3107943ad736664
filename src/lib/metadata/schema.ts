import { z } from 'zod';
import { ThresholdMap } from '../thresholds/schema';

/**
 * Schemas of the two metadata files the runbook keeps in the deployment space
 * (predecessor-runbook.md §3): `deployment_metadata.yml`, one entry per model asset id, and
 * `monitor_metadata.yml`, one entry per OpenScale custom monitor id. Every message says what
 * was expected, so a validation error reads `<path>: expected a positive integer, got "8"`.
 */

const expected = (form: string) => ({ error: `expected ${form}` });

function text(form: string) {
  return z.string(expected(form)).min(1, expected(form));
}
function positiveInt(form = 'a positive integer') {
  return z.number(expected(form)).int(expected(form)).positive(expected(form));
}
function nonNegativeInt(form = 'a non-negative integer') {
  return z.number(expected(form)).int(expected(form)).nonnegative(expected(form));
}
function httpUrl(form = 'an http(s) URL') {
  return z.string(expected(form)).regex(/^https?:\/\/[^\s/?#]+[^\s]*$/, expected(form));
}

/** Data asset ids, WML ids and OpenScale ids: no whitespace, no slashes. */
const IdString = z.string(expected('an id')).regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, expected('an id (letters, digits, "-", "_", ".", ":")'));

/** OpenScale derives monitor definition ids from names: lower case, digits and `_`. */
export const MonitorId = z
  .string(expected('a monitor definition id'))
  .regex(/^[a-z0-9][a-z0-9_]*$/, expected('an OpenScale monitor definition id (lower-case letters, digits and "_", e.g. segmentation_metrics)'));

/**
 * `enable_gpus`: a real boolean. The predecessor wrote the strings `'True'`/`'False'` and then took
 * Python truthiness, so `'False'` enabled GPUs (§8.9); here those strings are converted properly and
 * every other string is rejected.
 */
export const EnableGpus = z.union(
  [z.boolean(), z.enum(['True', 'False', 'true', 'false']).transform((s) => s.toLowerCase() === 'true')],
  expected("true or false (the strings 'True'/'False' are accepted and converted)"),
);

/** Defaults applied when a resource key is absent (the predecessor's A2 defaults, §5.4). */
export const RESOURCE_DEFAULTS = {
  n_cpus: 8,
  memory_allocation: 1000,
  n_replicas: 1,
  kernel_min: 1,
  kernel_max: 3,
  kernel_delay_release_time: 60,
  task_execution_timeout: 60,
} as const;

/**
 * WMLA EDI resources of a deployment (`wmla_deployment.resource_configs`).
 *
 * Key mapping to the EDI profile (predecessor §5.4): `enable_gpus` → `kernel.gpu = exclusive`;
 * `n_cpus` → `ncpus`/`ncpus_limit`; `memory_allocation` (MB) → `mem`/`mem_limit`; `n_replicas` →
 * `replica`; `kernel_min`, `kernel_max`, `kernel_delay_release_time` (s), `task_execution_timeout` (s)
 * → `policy.*`.
 *
 * `n_min_kernels` (the README's name) and `kernel_min` (A2's name) mean the same: the minimum
 * number of kernels. Either may be given; giving both with different values is an error (neither
 * silently wins). `kernel_max` must not be below the minimum.
 */
export const ResourceConfigs = z
  .strictObject(
    {
      enable_gpus: EnableGpus,
      n_cpus: positiveInt().optional(),
      memory_allocation: positiveInt('a positive integer (MB)').optional(),
      n_replicas: positiveInt().optional(),
      n_min_kernels: nonNegativeInt().optional(),
      kernel_min: nonNegativeInt().optional(),
      kernel_max: positiveInt().optional(),
      kernel_delay_release_time: nonNegativeInt('a non-negative integer (seconds)').optional(),
      task_execution_timeout: positiveInt('a positive integer (seconds)').optional(),
    },
    expected('a mapping of resource settings (enable_gpus, n_cpus, memory_allocation, ...)'),
  )
  .superRefine((rc, ctx) => {
    if (rc.n_min_kernels !== undefined && rc.kernel_min !== undefined && rc.n_min_kernels !== rc.kernel_min) {
      ctx.addIssue({
        code: 'custom',
        path: ['kernel_min'],
        input: rc.kernel_min,
        message: `kernel_min (${rc.kernel_min}) conflicts with n_min_kernels (${rc.n_min_kernels}): both set the minimum number of kernels; keep one`,
      });
    }
    const min = rc.kernel_min ?? rc.n_min_kernels;
    if (rc.kernel_max !== undefined && min !== undefined && rc.kernel_max < min) {
      ctx.addIssue({
        code: 'custom',
        path: ['kernel_max'],
        input: rc.kernel_max,
        message: `kernel_max (${rc.kernel_max}) is below the minimum number of kernels (${min})`,
      });
    }
  });
export type ResourceConfigs = z.infer<typeof ResourceConfigs>;
/** What a person may write (before `'True'` becomes `true`). */
export type ResourceConfigsInput = z.input<typeof ResourceConfigs>;

/** Resource settings with every default applied; names say the unit. */
export interface EffectiveResources {
  readonly enableGpus: boolean;
  readonly nCpus: number;
  readonly memoryMb: number;
  readonly replicas: number;
  readonly kernelMin: number;
  readonly kernelMax: number;
  readonly kernelDelayReleaseSeconds: number;
  readonly taskExecutionTimeoutSeconds: number;
}

/** The settings a WMLA client applies, defaults ({@link RESOURCE_DEFAULTS}) filled in. */
export function effectiveResources(rc: ResourceConfigs): EffectiveResources {
  const kernelMin = rc.kernel_min ?? rc.n_min_kernels ?? RESOURCE_DEFAULTS.kernel_min;
  return {
    enableGpus: rc.enable_gpus,
    nCpus: rc.n_cpus ?? RESOURCE_DEFAULTS.n_cpus,
    memoryMb: rc.memory_allocation ?? RESOURCE_DEFAULTS.memory_allocation,
    replicas: rc.n_replicas ?? RESOURCE_DEFAULTS.n_replicas,
    kernelMin,
    kernelMax: rc.kernel_max ?? Math.max(RESOURCE_DEFAULTS.kernel_max, kernelMin),
    kernelDelayReleaseSeconds: rc.kernel_delay_release_time ?? RESOURCE_DEFAULTS.kernel_delay_release_time,
    taskExecutionTimeoutSeconds: rc.task_execution_timeout ?? RESOURCE_DEFAULTS.task_execution_timeout,
  };
}

/**
 * Settings of one custom monitor for one deployment (`openscale_custom_metric_provider.<monitor id>`).
 * `thresholds` may be left out: the monitor definition's defaults then apply.
 * `parameters` holds anything a monitor of one's own needs besides these fields.
 */
export const MonitorConfig = z.strictObject(
  {
    dir_gt: text('a volume-relative folder of ground-truth images'),
    dir_pred: text('a volume-relative folder of predicted images'),
    volume_display_name: text('a storage volume display name'),
    most_recent: positiveInt('a positive integer (days)'),
    thresholds: ThresholdMap.optional(),
    parameters: z.record(z.string(), z.unknown(), expected('a mapping of monitor-specific parameters')).optional(),
  },
  expected('a mapping with dir_gt, dir_pred, volume_display_name, most_recent, thresholds'),
);
export type MonitorConfig = z.infer<typeof MonitorConfig>;

/** The WMLA EDI side of a deployment entry. */
export const WmlaDeployment = z.strictObject(
  {
    /** Null after the EDI deployment was deleted. */
    deployment_name: z
      .string(expected('a deployment name'))
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, expected('a deployment name of letters, digits, "-" and "_" (no spaces)'))
      .nullable(),
    deployment_url: httpUrl('the http(s) inference URL of the deployment').nullable(),
    dependency_filename: text('the data asset name of the EDI dependency zip'),
    volume_display_name: text('a storage volume display name').optional(),
    resource_configs: ResourceConfigs,
  },
  expected('a mapping with deployment_name, deployment_url, dependency_filename, resource_configs'),
);
export type WmlaDeployment = z.infer<typeof WmlaDeployment>;

/** One entry of `deployment_metadata.yml`, i.e. the value under a model asset id. */
export const DeploymentEntry = z.strictObject(
  {
    model_asset: text('the data asset name of the model file or zip'),
    model_name: z.string(expected('a display name')).nullable().optional(),
    deployment_id: IdString.nullable().optional(),
    deployment_space_id: IdString,
    openscale_subscription_id: IdString.nullable().optional(),
    openscale_custom_metric_provider: z.record(MonitorId, MonitorConfig, expected('a mapping of monitor id to monitor settings ({} for none)')),
    wmla_deployment: WmlaDeployment,
  },
  expected('a deployment entry mapping (model_asset, deployment_space_id, openscale_custom_metric_provider, wmla_deployment, ...)'),
);
export type DeploymentEntry = z.infer<typeof DeploymentEntry>;
/** What a person or caller may write for a {@link DeploymentEntry}: `resource_configs.enable_gpus` may still be `'True'`/`'False'`. */
export type DeploymentEntryInput = z.input<typeof DeploymentEntry>;

/** The whole `deployment_metadata.yml`: entries keyed by model asset id. */
export const DeploymentMetadata = z.record(IdString, DeploymentEntry, expected('a mapping of model asset id to deployment entry'));
export type DeploymentMetadata = z.infer<typeof DeploymentMetadata>;

/**
 * One entry of `monitor_metadata.yml`, keyed by monitor definition id: the OpenScale integrated system
 * (custom metrics provider) and where the provider runs, either a WML deployment or a URL.
 */
export const MonitorMetadataEntry = z
  .strictObject(
    {
      integrated_system_id: IdString,
      wml_deployment_id: IdString.nullable().optional(),
      provider_endpoint: httpUrl('the http(s) URL of the metrics provider').optional(),
      provider_function_id: IdString.optional(),
      monitor_name: text('the monitor display name').optional(),
    },
    expected('a mapping with integrated_system_id and wml_deployment_id or provider_endpoint'),
  )
  .superRefine((e, ctx) => {
    if (!e.wml_deployment_id && !e.provider_endpoint) {
      ctx.addIssue({ code: 'custom', path: ['wml_deployment_id'], message: 'required: wml_deployment_id or provider_endpoint (where the metrics provider runs)' });
    }
  });
export type MonitorMetadataEntry = z.infer<typeof MonitorMetadataEntry>;

/** The whole `monitor_metadata.yml`. */
export const MonitorMetadata = z.record(MonitorId, MonitorMetadataEntry, expected('a mapping of monitor id to monitor entry'));
export type MonitorMetadata = z.infer<typeof MonitorMetadata>;
