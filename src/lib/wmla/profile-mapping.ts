/**
 * How a deployment entry's `wmla_deployment.resource_configs` becomes an EDI app profile
 * (predecessor-runbook.md §5.4, fixed): every key is applied, `enable_gpus` is a real boolean,
 * `n_replicas` sets `replica`, and `n_min_kernels` (the README's name) and `kernel_min` (A2's)
 * both set `policy.kernel_min`.
 *
 * | resource_configs            | profile field                                        |
 * |-----------------------------|------------------------------------------------------|
 * | enable_gpus                 | kernel.gpu: `exclusive` when true, `no` when false    |
 * | n_cpus                      | resource_allocation.kernel.resources ncpus, ncpus_limit |
 * | memory_allocation (MB)      | resource_allocation.kernel.resources mem, mem_limit   |
 * | n_replicas                  | replica                                              |
 * | kernel_min / n_min_kernels  | policy.kernel_min                                    |
 * | kernel_max                  | policy.kernel_max                                    |
 * | kernel_delay_release_time   | policy.kernel_delay_release_time (s)                 |
 * | task_execution_timeout      | policy.task_execution_timeout (s)                    |
 *
 * Absent keys take the defaults of `RESOURCE_DEFAULTS` (src/lib/metadata/schema.ts), as A2 did.
 */
import { AppProfileUpdate, formatKernelResources, parseKernelResources, type AppProfile } from '../contracts/wmla-edi';
import { ValidationError } from '../errors';
import { issuesFromZod } from '../metadata/yaml-issues';
import { effectiveResources, ResourceConfigs, type ResourceConfigsInput } from '../metadata/schema';
import { parseOptions } from './validate';

/** One field the mapping changes. */
export interface ProfileChange {
  /** Dotted profile path, e.g. `policy.kernel_min`. */
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** The profile a set of resource settings asks for, and what differs from the current one. */
export interface DesiredProfile {
  readonly profile: AppProfileUpdate;
  readonly changes: readonly ProfileChange[];
}

/** Profile path → the resource_configs key that sets it (for messages). */
const SOURCE_KEY: Record<string, string> = {
  replica: 'n_replicas',
  'policy.kernel_min': 'kernel_min (or n_min_kernels)',
  'policy.kernel_max': 'kernel_max',
  'policy.kernel_delay_release_time': 'kernel_delay_release_time',
  'policy.task_execution_timeout': 'task_execution_timeout',
  'resource_allocation.kernel.resources': 'n_cpus / memory_allocation',
  'kernel.gpu': 'enable_gpus',
};

/** "a.b" of a nested value. */
function at(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** Renders one change: `policy.kernel_min: 1 → 2`. */
export function formatChange(c: ProfileChange): string {
  return `${c.path}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`;
}

/**
 * The profile `current` becomes with `resourceConfigs` applied, checked against the profile rules
 * (a value the service would refuse is a ValidationError naming the resource_configs key), and the
 * list of fields that change (empty: nothing to update). Fields the mapping does not own are kept.
 */
export function desiredProfile(current: AppProfile, resourceConfigs: ResourceConfigsInput): DesiredProfile {
  const rc = parseOptions(ResourceConfigs, resourceConfigs, 'resource_configs');
  const eff = effectiveResources(rc);
  const next = JSON.parse(JSON.stringify(current)) as AppProfile;
  next.kernel.gpu = eff.enableGpus ? 'exclusive' : 'no';
  const parsed = parseKernelResources(next.resource_allocation.kernel.resources);
  const resources = parsed.ok ? parsed.value : {};
  resources.ncpus = eff.nCpus;
  resources.ncpus_limit = eff.nCpus;
  resources.mem = eff.memoryMb;
  resources.mem_limit = eff.memoryMb;
  next.resource_allocation.kernel.resources = formatKernelResources(resources);
  next.replica = eff.replicas;
  next.policy.kernel_min = eff.kernelMin;
  next.policy.kernel_max = eff.kernelMax;
  next.policy.kernel_delay_release_time = eff.kernelDelayReleaseSeconds;
  next.policy.task_execution_timeout = eff.taskExecutionTimeoutSeconds;

  const checked = AppProfileUpdate.safeParse(next, { reportInput: true });
  if (!checked.success) {
    const issues = issuesFromZod(checked.error.issues).map((i) => {
      const key = SOURCE_KEY[i.path];
      return { path: key ? `resource_configs.${key.split(' ')[0]}` : `profile.${i.path}`, message: `${i.message}${key ? ` (EDI profile field ${i.path})` : ''}` };
    });
    throw new ValidationError(`resource_configs would give an app profile EDI refuses: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  const changes: ProfileChange[] = [];
  for (const path of Object.keys(SOURCE_KEY)) {
    const from = at(current, path);
    const to = at(next, path);
    if (path === 'resource_allocation.kernel.resources' && typeof from === 'string') {
      // Same values in another order are no change.
      const old = parseKernelResources(from);
      if (old.ok && formatKernelResources(old.value) === to) continue;
    }
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ path, from, to });
  }
  return { profile: checked.data, changes };
}
