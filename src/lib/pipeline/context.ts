/**
 * The run context of the MLOps pipeline: what A_MLOps_Pipeline hands the pipeline notebooks (A1, A2,
 * A3) it runs. The predecessor passed these values as environment variables that every notebook read
 * with `os.environ[...]` (a missing one was a KeyError deep in the run); here they are typed notebook
 * parameters, checked by the runner against each notebook's declared types before its kernel starts.
 */
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { parseOrThrow } from '../metadata/yaml-issues';

const Id = z.string({ error: 'expected an id' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, { error: 'expected an id (letters, digits, "-", "_", ".", ":")' });

/** What A passes on to every pipeline notebook. */
export const RunContext = z.strictObject({
  /** Connection profile name; '' means RUNBOOK_PROFILE, else the sandbox. */
  profile: z.string(),
  /** The WML deployment space holding the assets and the metadata files. */
  space_id: Id,
  /** The model asset id: the key of the deployment_metadata.yml entry. */
  model_asset_id: Id,
  /** Dry run: every notebook plans its changes and makes none. */
  plan: z.boolean(),
  /** A2: put demo tiles, ground truth and predictions into the monitors' storage volume. */
  seed_demo_data: z.boolean(),
  /** A3: the OpenScale service provider the subscription hangs off. */
  service_provider_name: z.string().min(1),
  /** A3: the subscription name ('' = "<deployment name> Monitor"). */
  subscription_name: z.string(),
  /** A3: trigger an evaluation run of every monitor and wait for it. */
  run_evaluation: z.boolean(),
  /** Plan mode: a local copy of deployment_metadata.yml as A's plan would leave it ('' = the space's). */
  metadata_file: z.string(),
});
export type RunContext = z.infer<typeof RunContext>;

/** The pipeline notebooks, in the order A runs them. */
export const PIPELINE_NOTEBOOKS = {
  training: 'A1_Submit_WMLA_Training',
  deploy: 'A2_WMLA_Model_Deploy',
  monitor: 'A3_OpenScale_Configuration',
} as const;

/** One child run of A: which notebook, where its executed copy goes, and its parameters. */
export interface ChildRun {
  readonly notebook: string;
  readonly input: string;
  readonly output: string;
  readonly parameters: Record<string, unknown>;
}

/** Options of {@link pipelineChildren}. */
export interface PipelineChildrenOptions {
  /** Run A1 (training) first. */
  readonly runTraining: boolean;
  /** Folder of the executed copies (see {@link childOutputDir}). */
  readonly outDir: string;
  /** Folder of the notebooks (default `notebooks` under the current directory, the project root in a kernel). */
  readonly notebooksDir?: string;
}

/**
 * The child runs of A for a context: A1 (only with `runTraining`), A2, A3, each with exactly the
 * parameters its `parameters` cell declares (the runner rejects unknown names and wrong types).
 */
export function pipelineChildren(context: RunContext, options: PipelineChildrenOptions): ChildRun[] {
  const ctx = parseOrThrow(RunContext, context, 'run context');
  const dir = resolve(options.notebooksDir ?? 'notebooks');
  const child = (notebook: string, parameters: Record<string, unknown>): ChildRun => ({
    notebook,
    input: join(dir, `${notebook}.ipynb`),
    output: resolve(options.outDir, `${notebook}.ipynb`),
    parameters,
  });
  const base = { profile: ctx.profile, plan: ctx.plan };
  const runs: ChildRun[] = [];
  if (options.runTraining) runs.push(child(PIPELINE_NOTEBOOKS.training, { ...base }));
  const metadata = { metadata_file: ctx.metadata_file };
  runs.push(child(PIPELINE_NOTEBOOKS.deploy, { ...base, space_id: ctx.space_id, model_asset_id: ctx.model_asset_id, seed_demo_data: ctx.seed_demo_data, ...metadata }));
  runs.push(
    child(PIPELINE_NOTEBOOKS.monitor, {
      ...base,
      space_id: ctx.space_id,
      model_asset_id: ctx.model_asset_id,
      service_provider_name: ctx.service_provider_name,
      subscription_name: ctx.subscription_name,
      run_evaluation: ctx.run_evaluation,
      ...metadata,
    }),
  );
  return runs;
}

/**
 * Where A saves its children's executed copies: `<folder of A's executed copy>/<A's run id>/` when
 * the runner ran A (it sets RUNBOOK_OUTPUT and RUNBOOK_RUN_ID), else `out/<run id or time>/` under
 * the current directory (A opened in Jupyter).
 */
export function childOutputDir(env: NodeJS.ProcessEnv = process.env, now: Date = new Date()): string {
  const runId = env.RUNBOOK_RUN_ID?.trim() || `manual-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
  const output = env.RUNBOOK_OUTPUT?.trim();
  return output ? join(dirname(resolve(output)), runId) : resolve('out', runId);
}

/**
 * The context values a pipeline notebook needs, checked: a missing space or model asset id (a
 * pipeline notebook opened on its own) is a ValidationError naming the parameter and saying where
 * the value comes from.
 */
export function requireIds(values: { space_id: string; model_asset_id: string }, notebook: string): { spaceId: string; modelAssetId: string } {
  const issues: { path: string; message: string }[] = [];
  for (const key of ['space_id', 'model_asset_id'] as const) {
    const v = values[key];
    if (!v || !Id.safeParse(v).success) issues.push({ path: key, message: v ? `not an id: ${JSON.stringify(v)}` : 'not set' });
  }
  if (issues.length) {
    throw new ValidationError(
      `${notebook}: ${issues.map((i) => `${i.path} ${i.message}`).join(', ')}. A_MLOps_Pipeline passes both; to run ${notebook} on its own, give them as parameters ` +
        `(runbook run notebooks/${notebook}.ipynb -p space_id=... -p model_asset_id=...; \`runbook metadata show --space ID\` lists the entries)`,
      issues,
    );
  }
  return { spaceId: values.space_id, modelAssetId: values.model_asset_id };
}
