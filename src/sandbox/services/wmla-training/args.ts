import { safeRelativePath } from '../../../lib/archive/safe-path';
import { tokenizeExecArgs, type Framework } from '../../../lib/contracts/wmla-training';
import { ValidationError } from '../../../lib/errors';
import { badRequest } from '../../errors';

/** A framework `--exec-start` accepts; `distributed` ones run `numWorker` processes. */
export interface FrameworkDef extends Framework {
  distributed: boolean;
}

/** What `GET /execs/frameworks` lists. The sandbox runs every one the same way: python3 on --model-main. */
export const FRAMEWORKS: readonly FrameworkDef[] = [
  { name: 'PyTorch', frameworkVersion: 'sandbox', desc: ['Single-worker PyTorch: one process runs --model-main.'], distributed: false },
  {
    name: 'distPyTorch',
    frameworkVersion: 'sandbox',
    desc: ['Distributed PyTorch: --numWorker processes with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set.'],
    distributed: true,
  },
  { name: 'tensorflow', frameworkVersion: 'sandbox', desc: ['Single-worker TensorFlow: one process runs --model-main.'], distributed: false },
  {
    name: 'distTensorFlow',
    frameworkVersion: 'sandbox',
    desc: ['Distributed TensorFlow: --numWorker processes with TF_CONFIG set.'],
    distributeStrategy: 'MultiWorkerMirroredStrategy',
    distributed: true,
  },
];

/** WMLA flags that take one value and are consumed by the service (not passed to the script). */
const VALUE_FLAGS = new Set([
  '--exec-start',
  '--numWorker',
  '--model-dir',
  '--model-main',
  '--workerDeviceType',
  '--workerDeviceNum',
  '--workerMemory',
  '--workerCPULimit',
  '--workerMemoryLimit',
  '--driverDeviceType',
  '--driverDeviceNum',
  '--driverMemory',
  '--driverCPULimit',
  '--driverMemoryLimit',
  '--cs-datastore-meta',
  '--msd-env',
  '--msd-image-name',
  '--msd-image-pull-secret',
  '--msd-image-pull-policy',
  '--msd-priority',
  '--msd-pending-timeout',
  '--msd-task0-node-selector',
  '--msd-task12n-node-selector',
  '--msd-podaffinity-rule',
  '--msd-podaffinity-topology-key',
  '--msd-pack-id',
  '--lsf-gpu-syntax',
  '--appName',
  '--consumer',
  '--conda-env-name',
  '--pbmodel-name',
]);

const ENUM_FLAGS: Record<string, readonly string[]> = {
  '--workerDeviceType': ['cpu', 'gpu'],
  '--driverDeviceType': ['cpu', 'gpu'],
  '--msd-image-pull-policy': ['Always', 'Never', 'IfNotPresent'],
  '--msd-podaffinity-rule': ['preferred', 'required'],
};

const INT_FLAGS = new Set(['--numWorker', '--workerDeviceNum', '--driverDeviceNum', '--msd-pending-timeout', '--msd-priority']);

/** What the sandbox will run for an exec, parsed from its `args`. */
export interface ExecPlan {
  tokens: string[];
  framework: FrameworkDef;
  numWorker: number;
  /** The basename dlicmd puts in `--model-dir` (the folder itself comes as the `file` part). */
  modelDir?: string;
  /** The entry script, relative to the model folder. */
  modelMain?: string;
  /** `--user-cmd [--] <argv…>`: a command run instead of `--model-main`. */
  userCmd?: string[];
  msdEnv: { name: string; value: string }[];
  /** `--cs-datastore-meta type=fs,data_path=<rel>`: `DATA_DIR` of the workers. */
  dataPath?: string;
  appName?: string;
  /** Tokens the service does not consume: passed to the script after `--model-main`. */
  scriptArgs: string[];
  /** Notes for the exec's log (flags accepted but meaningless in the sandbox). */
  notes: string[];
}

const fail = (message: string): never => {
  throw badRequest(`args: ${message}`, 'invalid_args');
};

/**
 * Parses and validates an exec's `args` (ibm-api-contracts.md §4.3): `--exec-start` must name a
 * framework of {@link FRAMEWORKS}; one of `--model-dir`, `--model-main`, `--user-cmd` is required
 * (dlicmd's rule), and since the sandbox runs a process, `--model-main` or `--user-cmd` must say what.
 * Throws a 400 naming the flag at fault.
 */
export function parseExecArgs(args: string, options: { maxWorkers: number }): ExecPlan {
  let tokens: string[];
  try {
    tokens = tokenizeExecArgs(args);
  } catch (err) {
    if (err instanceof ValidationError) throw badRequest(err.message, 'invalid_args');
    throw err;
  }
  const values = new Map<string, string[]>();
  const scriptArgs: string[] = [];
  let userCmd: string[] | undefined;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === '--user-cmd') {
      const rest = tokens.slice(i + 1);
      userCmd = rest[0] === '--' ? rest.slice(1) : rest;
      if (userCmd.length === 0) fail('--user-cmd needs a command after it (--user-cmd -- <command> <args…>)');
      break;
    }
    const eq = token.startsWith('--') ? token.indexOf('=') : -1;
    const flag = eq > 0 ? token.slice(0, eq) : token;
    if (!VALUE_FLAGS.has(flag)) {
      scriptArgs.push(token);
      continue;
    }
    let value: string;
    if (eq > 0) value = token.slice(eq + 1);
    else {
      const next = tokens[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) fail(`${flag} needs a value`);
      value = next!;
      i++;
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }

  const one = (flag: string): string | undefined => {
    const all = values.get(flag);
    if (!all) return undefined;
    if (all.length > 1 && flag !== '--msd-env') fail(`${flag} is given ${all.length} times`);
    return all[0];
  };
  for (const [flag, allowed] of Object.entries(ENUM_FLAGS)) {
    const v = one(flag);
    if (v !== undefined && !allowed.includes(v)) fail(`${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
  }
  for (const flag of INT_FLAGS) {
    const v = one(flag);
    if (v !== undefined && !/^-?\d+$/.test(v)) fail(`${flag} must be an integer, got '${v}'`);
  }

  const start = one('--exec-start');
  if (start === undefined) fail(`--exec-start is required (one of ${FRAMEWORKS.map((f) => f.name).join(', ')})`);
  const framework = FRAMEWORKS.find((f) => f.name === start);
  if (!framework) fail(`--exec-start '${start}' is not a framework of GET /execs/frameworks (${FRAMEWORKS.map((f) => f.name).join(', ')})`);

  if (one('--pbmodel-name') !== undefined) fail('--pbmodel-name is not supported by the sandbox (it has no model repository); send --model-dir with --model-main');
  const modelDirRaw = one('--model-dir');
  const modelMainRaw = one('--model-main');
  if (modelDirRaw === undefined && modelMainRaw === undefined && userCmd === undefined) {
    fail('one of --model-dir, --model-main or --user-cmd is required');
  }
  if (modelMainRaw === undefined && userCmd === undefined) {
    fail('--model-dir needs --model-main (the entry script) or --user-cmd: the sandbox runs one of them');
  }
  if (modelMainRaw !== undefined && userCmd !== undefined) fail('give either --model-main or --user-cmd, not both');

  let modelMain: string | undefined;
  if (modelMainRaw !== undefined) modelMain = relativeOrFail(modelMainRaw, '--model-main');
  const modelDir = modelDirRaw === undefined ? undefined : modelDirRaw.split('/').filter((s) => s !== '').pop() ?? modelDirRaw;

  const notes: string[] = [];
  let numWorker = 1;
  const workers = one('--numWorker');
  if (workers !== undefined) {
    const n = Number(workers);
    if (n < 1) fail(`--numWorker must be at least 1, got ${n}`);
    if (framework!.distributed) {
      if (n > options.maxWorkers) fail(`--numWorker ${n} is more than this sandbox runs (config services.wmla-training.maxWorkers = ${options.maxWorkers})`);
      numWorker = n;
    } else if (n !== 1) {
      notes.push(`--numWorker ${n} ignored: ${framework!.name} runs one worker (use distPyTorch or distTensorFlow for several)`);
    }
  }

  const msdEnv: { name: string; value: string }[] = [];
  for (const pair of values.get('--msd-env') ?? []) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (!m) fail(`--msd-env expects NAME=VALUE with NAME a valid environment variable name, got '${pair.split('=')[0]}=…'`);
    msdEnv.push({ name: m![1]!, value: m![2]! });
  }

  let dataPath: string | undefined;
  const datastore = one('--cs-datastore-meta');
  if (datastore !== undefined) {
    const fields = new Map<string, string>();
    for (const part of datastore.split(',')) {
      const e = part.indexOf('=');
      if (e <= 0) fail(`--cs-datastore-meta expects type=fs,data_path=<folder>, got '${datastore}'`);
      fields.set(part.slice(0, e), part.slice(e + 1));
    }
    if (fields.has('type') && fields.get('type') !== 'fs') fail(`--cs-datastore-meta type must be fs, got '${fields.get('type')}'`);
    const path = fields.get('data_path');
    if (path === undefined || path === '') fail(`--cs-datastore-meta needs data_path=<folder>, got '${datastore}'`);
    dataPath = relativeOrFail(path!, '--cs-datastore-meta data_path');
  }

  for (const flag of ['--workerDeviceNum', '--driverDeviceNum']) {
    const v = one(flag);
    if (v !== undefined && Number(v) > 0) notes.push(`${flag} ${v}: the sandbox has no GPUs; workers run on the CPU`);
  }

  return {
    tokens,
    framework: framework!,
    numWorker,
    modelDir,
    modelMain,
    userCmd,
    msdEnv,
    dataPath,
    appName: one('--appName'),
    scriptArgs,
    notes,
  };
}

function relativeOrFail(path: string, flag: string): string {
  try {
    return safeRelativePath(path, flag);
  } catch (err) {
    if (err instanceof ValidationError) fail(err.message);
    throw err;
  }
}
