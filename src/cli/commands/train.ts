import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { Batch, ExecLogType } from '../../lib/contracts/wmla-training';
import { RunbookError } from '../../lib/errors';
import { loadYaml } from '../../lib/metadata/yaml';
import { Plan } from '../../lib/plan';
import { prepareSubmissionFolder } from '../../lib/wmla/submission';
import { createTrainingClient, execPhase, type TrainingClient } from '../../lib/wmla/training';
import type { TrainingOptionsInput } from '../../lib/wmla/training-options';
import { clientsFor, collect, intFlag, pairsFlag, printJson, processContext, profileOptions, secondsFlag, WaitDisplay, type CliContext, type ProfileFlags } from './wmla-cli';

/** Flags of `runbook train submit`. */
export interface SubmitFlags extends ProfileFlags {
  readonly framework?: string;
  readonly main?: string;
  readonly file?: string[];
  readonly folder?: string[];
  readonly name?: string;
  readonly processGroupScript?: string;
  readonly numWorker?: string;
  readonly workerDeviceType?: string;
  readonly workerDeviceNum?: string;
  readonly workerMemory?: string;
  readonly dataPath?: string;
  readonly msdEnv?: string[];
  readonly secretEnv?: string[];
  readonly condaEnv?: string;
  readonly appName?: string;
  readonly options?: string;
  readonly resubmit?: boolean;
  readonly allowSecretsInArgs?: boolean;
  readonly follow?: boolean;
  readonly timeout?: string;
  readonly plan?: boolean;
}

function describeExec(b: Batch): string {
  return `${b.id}  ${b.state.padEnd(22)}  ${b.framework ?? ''}${b.numWorker ? ` × ${b.numWorker}` : ''}  ${b.appName ?? ''}  ${b.createTime ?? ''}`.trimEnd();
}

/** Follows an exec with a progress display; returns the final exec (throws on ERROR/KILLED). */
async function followWithDisplay(training: TrainingClient, id: string, timeoutMs: number | undefined, ctx: CliContext): Promise<Batch> {
  const limit = timeoutMs ?? 2 * 3600 * 1000;
  const display = new WaitDisplay(ctx, `exec ${id}`, limit);
  try {
    return await training.follow(id, { timeoutMs: limit, onProgress: (p) => display.update(`${p.state} (${p.phase})`, p.elapsedMs) });
  } finally {
    display.stop();
  }
}

/** Reads `--options FILE` (YAML or JSON): exec options, overridden by the flags. */
function readOptionsFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunbookError('usage', `--options: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const doc = loadYaml(text, file);
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new RunbookError('validation', `${file}: expected a mapping of training options (framework, modelMain, numWorker, …)`);
  return doc as Record<string, unknown>;
}

/** `runbook train submit`: prepare the folder, submit (find-or-submit), optionally follow. Exported for tests. */
export async function trainSubmit(flags: SubmitFlags, scriptArgs: readonly string[], ctx: CliContext): Promise<void> {
  const fromFile = readOptionsFile(flags.options);
  const msdEnv = pairsFlag(flags.msdEnv, '--msd-env', (fromFile.msdEnv as Record<string, string> | undefined) ?? {});
  const secretEnv: Record<string, string> = {};
  for (const name of flags.secretEnv ?? []) {
    const value = (ctx.env ?? process.env)[name];
    if (value === undefined) throw new RunbookError('usage', `--secret-env ${name}: the environment variable ${name} is not set (the value is read from it, never from the command line)`);
    secretEnv[name] = value;
  }
  const options = {
    ...fromFile,
    ...(flags.framework !== undefined ? { framework: flags.framework } : {}),
    ...(flags.main !== undefined ? { modelMain: flags.main } : {}),
    ...(flags.numWorker !== undefined ? { numWorker: intFlag(flags.numWorker, '--num-worker') } : {}),
    ...(flags.workerDeviceType !== undefined ? { workerDeviceType: flags.workerDeviceType } : {}),
    ...(flags.workerDeviceNum !== undefined ? { workerDeviceNum: intFlag(flags.workerDeviceNum, '--worker-device-num') } : {}),
    ...(flags.workerMemory !== undefined ? { workerMemory: flags.workerMemory } : {}),
    ...(flags.dataPath !== undefined ? { csDatastoreMeta: { type: 'fs', dataPath: flags.dataPath } } : {}),
    ...(Object.keys(msdEnv).length > 0 ? { msdEnv } : {}),
    ...(flags.condaEnv !== undefined ? { condaEnvName: flags.condaEnv } : {}),
    ...(flags.appName !== undefined ? { appName: flags.appName } : {}),
    ...(scriptArgs.length > 0 ? { scriptArgs: [...scriptArgs] } : {}),
  } as TrainingOptionsInput;
  if (!options.framework) throw new RunbookError('usage', '--framework is required (e.g. distPyTorch), or framework in --options');
  const files = flags.file ?? [];
  const folders = flags.folder ?? [];
  const clients = await clientsFor(flags, ctx);
  try {
    const training = createTrainingClient(clients);
    const sub =
      files.length + folders.length > 0
        ? await prepareSubmissionFolder({
            files,
            folders,
            mainScript: options.modelMain,
            framework: options.framework,
            processGroupScript: flags.processGroupScript,
            name: flags.name,
            secretEnv: Object.keys(secretEnv).length > 0 ? secretEnv : undefined,
          })
        : undefined;
    try {
      const plan = flags.plan ? new Plan() : undefined;
      if (sub && !flags.json) ctx.err(`submission folder: ${sub.files} files, ${sub.bytes} bytes${sub.patched.length ? `; added to ${sub.patched.join(', ')}: ${sub.framework === 'distPyTorch' ? 'process-group snippet' : 'environment loader'}` : ''}\n`);
      const result = await training.submit(sub, options, { plan, resubmit: flags.resubmit, allowSecretsInArgs: flags.allowSecretsInArgs });
      let final: Batch | undefined;
      if (flags.follow && !result.planned) final = await followWithDisplay(training, result.exec.id, secondsFlag(flags.timeout, '--timeout'), ctx);
      if (flags.json) {
        printJson(ctx, { ...result, exec: final ?? result.exec, plan: plan?.changes ?? [] }, clients.profile.redactor);
        return;
      }
      if (plan) ctx.out(`${plan.toText()}\n`);
      else ctx.out(`${result.outcome === 'existing' ? 'already submitted' : 'submitted'}: ${describeExec(final ?? result.exec)}\n`);
    } finally {
      await sub?.cleanup();
    }
  } finally {
    clients.close();
  }
}

/** Runs `fn` with a training client of the profile. */
async function withTraining<T>(flags: ProfileFlags, ctx: CliContext, fn: (t: TrainingClient, redact: (v: unknown) => unknown) => Promise<T>): Promise<T> {
  const clients = await clientsFor(flags, ctx);
  try {
    return await fn(createTrainingClient(clients), (v) => clients.profile.redactor.redactDeep(v));
  } finally {
    clients.close();
  }
}

/** `runbook train status <id>`. Exported for tests. */
export async function trainStatus(id: string, flags: ProfileFlags & { follow?: boolean; timeout?: string }, ctx: CliContext): Promise<Batch> {
  return withTraining(flags, ctx, async (training) => {
    const exec = flags.follow ? await followWithDisplay(training, id, secondsFlag(flags.timeout, '--timeout'), ctx) : await training.get(id);
    if (flags.json) printJson(ctx, exec);
    else ctx.out(`${describeExec(exec)}  (${execPhase(exec.state)})\n`);
    return exec;
  });
}

/** `runbook train` and its subcommands. */
export function register(program: Command): void {
  const ctx = processContext();
  const train = program.command('train').description('WMLA deep-learning training: submit a folder, follow it, read its logs, stop it');

  profileOptions(
    train
      .command('submit')
      .description('assemble a submission folder, submit it as a training exec (not again if the same exec runs or finished), optionally follow it')
      .argument('[script-args...]', 'arguments for the training script (put them after --)')
      .option('--framework <name>', 'WMLA framework (--exec-start): PyTorch, distPyTorch, tensorflow, distTensorFlow, …')
      .option('--main <script>', 'entry script in the submission folder (--model-main)')
      .option('--file <path-or-glob>', 'file(s) to copy into the submission folder (repeatable; a glob copies folders it matches too)', collect)
      .option('--folder <path-or-glob>', 'folder(s) to copy into the submission folder (repeatable)', collect)
      .option('--name <name>', 'submission folder name (--model-dir)', 'submission')
      .option('--process-group-script <script>', 'distPyTorch: the script that gets the process-group snippet (default --main)')
      .option('--num-worker <n>', 'worker pods')
      .option('--worker-device-type <type>', 'cpu or gpu')
      .option('--worker-device-num <n>', 'GPUs per worker')
      .option('--worker-memory <size>', 'memory per worker, e.g. 8g')
      .option('--data-path <folder>', 'data folder in the WMLA data volume (--cs-datastore-meta type=fs,data_path=…)')
      .option('--msd-env <NAME=VALUE>', 'environment variable of the workers; travels in the URL, so no secrets (repeatable)', collect)
      .option('--secret-env <NAME>', 'pass the environment variable NAME (from this shell) to the workers inside the uploaded archive, not the URL (repeatable)', collect)
      .option('--conda-env <name>', 'conda environment (--conda-env-name)')
      .option('--app-name <name>', 'exec name (default: derived from the content, which makes resubmitting the same thing a no-op)')
      .option('--options <file>', 'YAML/JSON file of exec options (framework, modelMain, numWorker, msdEnv, …); flags override it')
      .option('--resubmit', 'submit even if the same exec is running or finished')
      .option('--allow-secrets-in-args', 'allow credential-looking --msd-env values (they end up in server logs)')
      .option('--follow', 'wait for the exec to end, showing its state')
      .option('--timeout <seconds>', 'limit of --follow (default 7200)')
      .option('--plan', 'show what would be submitted; change nothing'),
  )
    .addHelpText(
      'after',
      `
Example:
  runbook train submit --framework distPyTorch --num-worker 2 --main train_command.py \\
    --file 'deepliif-repo/*.py' --file train_command.py --folder deepliif-repo/deepliif \\
    --process-group-script cli.py --data-path DeepLIIF_Datasets/ --secret-env USER_ACCESS_TOKEN --follow -- --epochs 3

Exit status: 0 submitted (or already there), 2 bad flags, 5 --follow timed out, 8 bad options file or folders, 9 service error or the exec failed.`,
    )
    .action(async (scriptArgs: string[], flags: SubmitFlags) => trainSubmit(flags, scriptArgs, ctx));

  profileOptions(
    train
      .command('status <exec-id>')
      .description("show an exec's state; --follow waits until it ends (exit 9 when it ends ERROR or KILLED)")
      .option('--follow', 'wait for the end, showing progress')
      .option('--timeout <seconds>', 'limit of --follow (default 7200)'),
  ).action(async (id: string, flags: ProfileFlags & { follow?: boolean; timeout?: string }) => {
    await trainStatus(id, flags, ctx);
  });

  profileOptions(train.command('list').description("list the user's execs, oldest first").option('--state <states>', 'only these states (comma list, e.g. RUNNING,FINISHED)')).action(
    async (flags: ProfileFlags & { state?: string }) =>
      withTraining(flags, ctx, async (training) => {
        const list = await training.list({ state: flags.state });
        if (flags.json) printJson(ctx, list);
        else ctx.out(list.length ? list.map(describeExec).join('\n') + '\n' : 'no execs\n');
      }),
  );

  profileOptions(train.command('logs <exec-id>').description("print an exec's log (available while it runs)").option('--type <type>', 'outlog (stdout), errlog (stderr) or outerrlog', 'outlog'), false).action(
    async (id: string, flags: ProfileFlags & { type: string }) =>
      withTraining(flags, ctx, async (training) => {
        if (!['outlog', 'errlog', 'outerrlog'].includes(flags.type)) throw new RunbookError('usage', `--type: expected outlog, errlog or outerrlog, got ${JSON.stringify(flags.type)}`);
        ctx.out(await training.logs(id, flags.type as ExecLogType));
      }),
  );

  profileOptions(train.command('stop <exec-id>').description('stop an exec and wait until it shows KILLED').option('--plan', 'show what would happen; change nothing')).action(
    async (id: string, flags: ProfileFlags & { plan?: boolean }) =>
      withTraining(flags, ctx, async (training) => {
        const plan = flags.plan ? new Plan() : undefined;
        const result = await training.stop(id, { plan });
        if (flags.json) printJson(ctx, { ...result, plan: plan?.changes ?? [] });
        else if (plan) ctx.out(`${plan.toText()}\n`);
        else ctx.out(`${result.outcome === 'already-ended' ? 'already ended' : 'stopped'}: ${describeExec(result.exec)}\n`);
      }),
  );

  profileOptions(
    train
      .command('delete <exec-id>')
      .description('delete an ended exec with its logs and result')
      .option('--stop-first', 'stop it first if it is still active')
      .option('--plan', 'show what would happen; change nothing'),
  ).action(async (id: string, flags: ProfileFlags & { plan?: boolean; stopFirst?: boolean }) =>
    withTraining(flags, ctx, async (training) => {
      const plan = flags.plan ? new Plan() : undefined;
      const deleted = await training.delete(id, { plan, stopFirst: flags.stopFirst });
      if (flags.json) printJson(ctx, { deleted, plan: plan?.changes ?? [] });
      else if (plan) ctx.out(`${plan.toText()}\n`);
      else ctx.out(deleted ? `deleted ${id}\n` : `${id} does not exist (nothing to delete)\n`);
    }),
  );

  profileOptions(train.command('result <exec-id> <file>').description("download a FINISHED exec's result zip"), false).action(async (id: string, file: string, flags: ProfileFlags) =>
    withTraining(flags, ctx, async (training) => {
      const got = await training.downloadResult(id, file);
      ctx.out(`wrote ${got.file} (${got.bytes} bytes)\n`);
    }),
  );
}
