/**
 * Typed options of a WMLA training exec (ibm-api-contracts.md §4.3) and their rendering into the
 * `args` string of `POST /execs?args=…`, quoted with the contract's shell-word rules so that values
 * with spaces or quotes arrive intact (the predecessor joined them unquoted, bug 6).
 */
import { z } from 'zod';
import { safeRelativePath } from '../archive/safe-path';
import { formatExecArgs } from '../contracts/wmla-training';
import { ValidationError } from '../errors';
import { Redactor } from '../redact';
import { looksSecret, containsSecret } from './secrets';
import { invalid, parseOptions } from './validate';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SIZE = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?[kKmMgGtT]?[iI]?[bB]?$/, 'expected a size such as 8g, 512m or 4096')]);
const CPU = z.union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?m?$/, 'expected a CPU count such as 2, 0.5 or 500m')]);
const TEXT = z.string().min(1).refine((s) => !s.startsWith('--'), 'a value may not start with "--" (WMLA would read it as a flag)');

/**
 * Options of an exec, named after dlicmd's flags (`--numWorker` → `numWorker`; dashed flags in
 * camelCase: `--model-main` → `modelMain`, `--cs-datastore-meta` → `csDatastoreMeta`). `framework`
 * is `--exec-start`. Give `modelMain` (a script of the submission folder) or `userCmd`.
 */
export const TrainingOptions = z
  .strictObject({
    /** `--exec-start`: a framework of `GET /execs/frameworks` (`PyTorch`, `distPyTorch`, `tensorflow`, `distTensorFlow`, …). */
    framework: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, 'expected a framework name such as distPyTorch'),
    /** `--model-main`: the entry script, relative to the submission folder. */
    modelMain: z.string().min(1).optional(),
    /** `--user-cmd -- <argv…>`: a command run instead of `--model-main` (no shell). */
    userCmd: z.array(z.string().min(1)).min(1).optional(),
    /** `--numWorker`: worker pods (distributed frameworks). */
    numWorker: z.number().int().min(1).optional(),
    workerDeviceType: z.enum(['cpu', 'gpu']).optional(),
    /** `--workerDeviceNum`: GPUs per worker. */
    workerDeviceNum: z.number().int().min(0).optional(),
    /** `--workerMemory`: e.g. `8g`. */
    workerMemory: SIZE.optional(),
    workerCPULimit: CPU.optional(),
    workerMemoryLimit: SIZE.optional(),
    driverDeviceType: z.enum(['cpu', 'gpu']).optional(),
    driverDeviceNum: z.number().int().min(0).optional(),
    driverMemory: SIZE.optional(),
    driverCPULimit: CPU.optional(),
    driverMemoryLimit: SIZE.optional(),
    /** `--cs-datastore-meta`: `type=fs,data_path=<folder>` or `{ dataPath }` (a folder of WMLA's data volume). */
    csDatastoreMeta: z.union([TEXT, z.strictObject({ type: z.literal('fs').default('fs'), dataPath: z.string().min(1) })]).optional(),
    /**
     * `--msd-env NAME=VALUE` (repeated): environment of the workers. These travel in the URL, so
     * secret-looking values are refused unless `allowSecretsInArgs` is set; use the submission
     * folder's `secretEnv` for tokens and keys.
     */
    msdEnv: z.union([z.record(z.string().regex(ENV_NAME, 'expected an environment variable name'), z.string()), z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*=/s, 'expected NAME=VALUE'))]).optional(),
    condaEnvName: TEXT.optional(),
    /** `--appName`: default a name derived from the content (see TrainingClient.submit). */
    appName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'expected up to 100 letters, digits, ".", "_" and "-"').optional(),
    consumer: TEXT.optional(),
    msdImageName: TEXT.optional(),
    msdImagePullSecret: TEXT.optional(),
    msdImagePullPolicy: z.enum(['Always', 'Never', 'IfNotPresent']).optional(),
    msdPriority: z.number().int().optional(),
    msdPendingTimeout: z.number().int().min(0).optional(),
    msdTask0NodeSelector: TEXT.optional(),
    msdTask12nNodeSelector: TEXT.optional(),
    msdPodaffinityRule: z.enum(['preferred', 'required']).optional(),
    msdPodaffinityTopologyKey: TEXT.optional(),
    msdPackId: TEXT.optional(),
    lsfGpuSyntax: TEXT.optional(),
    /** Arguments for the training script, passed through after the WMLA flags (e.g. `['--epochs', '3']`). */
    scriptArgs: z.array(z.string()).default(() => []),
  })
  .superRefine((o, ctx) => {
    if (o.modelMain === undefined && o.userCmd === undefined) {
      ctx.addIssue({ code: 'custom', path: ['modelMain'], message: 'required: modelMain (the entry script) or userCmd' });
    }
    if (o.modelMain !== undefined && o.userCmd !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['userCmd'], message: 'give either modelMain or userCmd, not both' });
    }
  });
export type TrainingOptions = z.output<typeof TrainingOptions>;
/** What callers pass to {@link parseTrainingOptions}: defaulted fields such as `scriptArgs` may be left out. */
export type TrainingOptionsInput = z.input<typeof TrainingOptions>;

/** Option key → flag, in the order flags are written. `framework` comes first, as dlicmd requires. */
const FLAGS: readonly (readonly [keyof TrainingOptions, string])[] = [
  ['framework', '--exec-start'],
  ['appName', '--appName'],
  ['numWorker', '--numWorker'],
  ['workerDeviceType', '--workerDeviceType'],
  ['workerDeviceNum', '--workerDeviceNum'],
  ['workerMemory', '--workerMemory'],
  ['workerCPULimit', '--workerCPULimit'],
  ['workerMemoryLimit', '--workerMemoryLimit'],
  ['driverDeviceType', '--driverDeviceType'],
  ['driverDeviceNum', '--driverDeviceNum'],
  ['driverMemory', '--driverMemory'],
  ['driverCPULimit', '--driverCPULimit'],
  ['driverMemoryLimit', '--driverMemoryLimit'],
  ['condaEnvName', '--conda-env-name'],
  ['consumer', '--consumer'],
  ['msdImageName', '--msd-image-name'],
  ['msdImagePullSecret', '--msd-image-pull-secret'],
  ['msdImagePullPolicy', '--msd-image-pull-policy'],
  ['msdPriority', '--msd-priority'],
  ['msdPendingTimeout', '--msd-pending-timeout'],
  ['msdTask0NodeSelector', '--msd-task0-node-selector'],
  ['msdTask12nNodeSelector', '--msd-task12n-node-selector'],
  ['msdPodaffinityRule', '--msd-podaffinity-rule'],
  ['msdPodaffinityTopologyKey', '--msd-podaffinity-topology-key'],
  ['msdPackId', '--msd-pack-id'],
  ['lsfGpuSyntax', '--lsf-gpu-syntax'],
];

/** Every flag WMLA consumes itself; script arguments may not reuse them. */
export const WMLA_FLAGS: ReadonlySet<string> = new Set([
  ...FLAGS.map(([, f]) => f),
  '--model-dir',
  '--model-main',
  '--cs-datastore-meta',
  '--msd-env',
  '--user-cmd',
  '--pbmodel-name',
]);

/** The `NAME=VALUE` pairs of `msdEnv`, in order. */
export function msdEnvPairs(msdEnv: TrainingOptions['msdEnv']): { name: string; value: string }[] {
  if (msdEnv === undefined) return [];
  if (Array.isArray(msdEnv)) {
    return msdEnv.map((pair) => {
      const eq = pair.indexOf('=');
      return { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
    });
  }
  return Object.entries(msdEnv).map(([name, value]) => ({ name, value }));
}

/** Validates exec options; a ValidationError names each field (secret values never appear in it). */
export function parseTrainingOptions(input: TrainingOptionsInput, known?: Redactor): TrainingOptions {
  const secrets = new Redactor();
  if (known) secrets.merge(known);
  const env = (input as { msdEnv?: unknown }).msdEnv;
  if (Array.isArray(env)) for (const p of env) if (typeof p === 'string') secrets.add(p.slice(p.indexOf('=') + 1));
  if (env && typeof env === 'object' && !Array.isArray(env)) for (const v of Object.values(env)) if (typeof v === 'string') secrets.add(v);
  const opts = parseOptions(TrainingOptions, input, 'training options', secrets);
  if (opts.modelMain !== undefined) safeRelativePath(opts.modelMain, 'modelMain');
  opts.scriptArgs.forEach((arg, i) => {
    const flag = arg.split('=')[0]!;
    if (WMLA_FLAGS.has(flag)) throw invalid(`scriptArgs[${i}]`, `'${flag}' is a WMLA flag: set it through its own option, not as a script argument`);
  });
  return opts;
}

/** What {@link renderTrainingArgs} needs besides the options. */
export interface RenderContext {
  /** The submission folder's name (`--model-dir`), when a folder is uploaded. */
  readonly modelDir?: string;
  /** Secrets the caller knows of (the profile's); values equal to one are refused too. */
  readonly known?: Redactor;
  /** Allow secret-looking values in the args (they then travel in the URL); default false. */
  readonly allowSecretsInArgs?: boolean;
}

/**
 * The exec's flags as tokens: `--exec-start` first, then the WMLA flags in a fixed order, `--model-dir`,
 * `--model-main`, the data store, every `--msd-env`, the script arguments, and `--user-cmd -- …`
 * last. Throws a ValidationError naming the variable (not its value) when a value looks like a
 * credential, unless `allowSecretsInArgs`: the args are sent in the URL query string, which proxies
 * and servers log.
 */
export function trainingArgTokens(opts: TrainingOptions, ctx: RenderContext = {}): string[] {
  const tokens: string[] = [];
  for (const [key, flag] of FLAGS) {
    const value = opts[key];
    if (value === undefined) continue;
    tokens.push(flag, String(value));
  }
  if (ctx.modelDir !== undefined) tokens.push('--model-dir', ctx.modelDir);
  if (opts.modelMain !== undefined) tokens.push('--model-main', opts.modelMain);
  if (opts.csDatastoreMeta !== undefined) {
    const meta = opts.csDatastoreMeta;
    tokens.push('--cs-datastore-meta', typeof meta === 'string' ? meta : `type=${meta.type},data_path=${meta.dataPath}`);
  }
  const pairs = msdEnvPairs(opts.msdEnv);
  for (const { name, value } of pairs) {
    if (!ctx.allowSecretsInArgs && looksSecret(name, value, ctx.known)) {
      throw new ValidationError(
        `msdEnv.${name}: looks like a credential, and training args travel in the URL query string (POST /execs?args=…), where proxies and servers log them. ` +
          'Pass it with the submission folder\u2019s secretEnv (shipped inside the uploaded archive; --secret-env NAME on the CLI), or set allowSecretsInArgs if you accept the exposure',
        [{ path: `msdEnv.${name}`, message: 'a credential may not be sent in args' }],
      );
    }
    tokens.push('--msd-env', `${name}=${value}`);
  }
  opts.scriptArgs.forEach((arg, i) => {
    if (!ctx.allowSecretsInArgs && containsSecret(arg, ctx.known)) {
      throw invalid(`scriptArgs[${i}]`, 'looks like a credential (a token or a key of the profile); args travel in the URL: pass it through secretEnv instead');
    }
  });
  tokens.push(...opts.scriptArgs);
  if (opts.userCmd !== undefined) tokens.push('--user-cmd', '--', ...opts.userCmd);
  return tokens;
}

/** {@link trainingArgTokens} joined into the `args` string (quoted where needed). */
export function renderTrainingArgs(opts: TrainingOptions, ctx: RenderContext = {}): string {
  return formatExecArgs(trainingArgTokens(opts, ctx));
}
