/**
 * The EDI deployment package (predecessor A2 cells 8–12, predecessor-runbook.md §5.5): one folder
 * named after the deployment holding the dependency folder's files, the kernel file, `model.json`
 * and `README.md`. Custom arguments become kernel environment variables (`mk_environments`), not
 * lines written into the kernel source as the predecessor's `kernel_file_prepare` did.
 *
 * Secrets: `mk_environments` are stored in `model.json` and shown by `GET /dlim/v1/model` to every
 * user of the WMLA console, so credential-looking variables (`CPD_API_KEY`, `*_TOKEN`, a JWT, the
 * profile's own key) are refused unless `allowSecretsInEnvironments` is set. Prefer giving the
 * kernel a narrowly scoped, short-lived credential when it really needs one.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { safeRelativePath } from '../archive/safe-path';
import { EdiModelName, ModelDescriptor, type KeyValue, type NameValue } from '../contracts/wmla-edi';
import { tokenizeExecArgs } from '../contracts/wmla-training';
import { ValidationError } from '../errors';
import { Redactor } from '../redact';
import { atomicWriteFile } from '../util/atomic-write';
import { copyTree, describeFolder, fingerprintFolder, outputFolder } from './files';
import { looksSecret } from './secrets';
import { invalid, parseOptions } from './validate';

/** The `model.json` attribute that records the package's content fingerprint (redeploys of the same content are skipped). */
export const CONTENT_ATTRIBUTE = 'runbook_content_sha256';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EnvMap = z.record(z.string().regex(ENV_NAME, 'expected an environment variable name'), z.string());

/** Options of {@link buildDeploymentPackage}. */
export const PackageOptions = z.strictObject({
  /** The folder with the kernel file and its dependencies (the unpacked dependency zip). */
  dependencyFolder: z.string().min(1),
  /** The deployment name (`model.json` name): lowercase letters, digits and inner dashes. */
  name: EdiModelName,
  /** The kernel file, relative to the dependency folder. Default `kernel.py`. */
  kernelFilename: z.string().min(1).default('kernel.py'),
  /** Becomes `WML_SPACE_MODEL` of the kernel (the model asset it downloads at start). */
  modelAssetName: z.string().min(1).optional(),
  /** Becomes `WML_SPACE_ID` of the kernel. */
  spaceId: z.string().min(1).optional(),
  /** README.md content; default the dependency folder's README.md, else a generated stub. */
  readme: z.string().optional(),
  /** More kernel environment variables. */
  mkEnvironments: EnvMap.optional(),
  /** The predecessor's CUSTOM_ARG: `K=V K2='a b'` (shell words, split at the first `=`) or a mapping; they become environment variables. */
  customArgs: z.union([z.string(), EnvMap]).optional(),
  tag: z.string().optional(),
  runtime: z.string().min(1).optional(),
  framework: z.string().min(1).optional(),
  weightPath: z.string().min(1).optional(),
  /** Allow credential-looking environment variables (see the module comment). Default false. */
  allowSecretsInEnvironments: z.boolean().default(false),
  /** Where to create the package folder; default a new temporary folder. */
  parentDir: z.string().min(1).optional(),
});
export type PackageOptions = z.input<typeof PackageOptions>;

/** A deployment folder ready for {@link EdiClient.deployModel}. */
export interface DeploymentPackage {
  /** The folder; its base name is the deployment name. */
  readonly dir: string;
  readonly name: string;
  /** `model.json` as written. */
  readonly descriptor: ModelDescriptor;
  /** SHA-256 of the content (files and descriptor), also in the `runbook_content_sha256` attribute. */
  readonly contentHash: string;
  readonly files: number;
  readonly bytes: number;
  /** True when README.md was generated. */
  readonly readmeCreated: boolean;
  /** Removes the folder (and the temporary parent this call created). */
  cleanup(): Promise<void>;
}

/** Parses CUSTOM_ARG-style text: shell words of `NAME=VALUE` (a value may hold `=` and, quoted, spaces). */
export function parseCustomArgs(text: string): { name: string; value: string }[] {
  let words: string[];
  try {
    words = tokenizeExecArgs(text);
  } catch (err) {
    throw invalid('customArgs', (err as Error).message.replace(/^args: /, ''));
  }
  return words.map((word, i) => {
    const eq = word.indexOf('=');
    const name = eq < 0 ? word : word.slice(0, eq);
    if (eq < 0 || !ENV_NAME.test(name)) throw invalid(`customArgs[${i}]`, `'${name}' is not NAME=VALUE with an environment variable name`);
    return { name, value: word.slice(eq + 1) };
  });
}

function readmeStub(name: string, kernel: string): string {
  return `# ${name}

Deployed with cpd-runbook on WMLA Elastic Distributed Inference (EDI). This file is required by EDI;
its content has no effect on the deployment.

## Summary

Kernel file: \`${kernel}\`.

## Payload

A JSON body, handed unchanged to the kernel's \`on_task_invoke\`.

## Response

The JSON text the kernel sets with \`task_context.set_output_data\`.

## Caller example

\`\`\`sh
curl -X POST "$WMLA_INFERENCE_URL/dlim/v1/inference/${name}" \\
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"data": "123"}'
\`\`\`
`;
}

/** Reads an existing model.json of the dependency folder (its tag, runtime, attributes, … are kept). */
async function readBaseDescriptor(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('expected a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw invalid('dependencyFolder', `${file} is not valid JSON (${(err as Error).message}): fix or remove it; model.json is written by the package builder`);
  }
}

/**
 * Builds the deployment folder `<parentDir or a temp dir>/<name>/`: a copy of `dependencyFolder`
 * (links followed), the kernel file checked, `README.md` kept, given or generated, and `model.json`
 * written last (name, kernel_path, readme, mk_environments; tag, weight_path, runtime, framework and
 * attributes kept from a model.json already in the folder, else the runbook's defaults `dlipy3`,
 * `PyTorch`, `./`). Every problem is a ValidationError naming the option or file.
 *
 * @example
 * const pkg = await buildDeploymentPackage({ dependencyFolder: 'deploy/deepliif', name: 'deepliif-edi',
 *   spaceId, modelAssetName: 'deepliif-base.zip', customArgs: 'VOLUME_DISPLAY_NAME=DeepLIIFData' });
 * try { await edi.deployModel(pkg); } finally { await pkg.cleanup(); }
 */
export async function buildDeploymentPackage(options: PackageOptions): Promise<DeploymentPackage> {
  const secrets = new Redactor();
  for (const key of ['mkEnvironments', 'customArgs'] as const) {
    const v = (options as Record<string, unknown>)[key];
    if (v && typeof v === 'object') for (const x of Object.values(v)) if (typeof x === 'string') secrets.add(x);
  }
  const opts = parseOptions(PackageOptions, options, 'deployment package options', secrets);
  const source = resolve(opts.dependencyFolder);
  if (!(await fsp.stat(source).then((s) => s.isDirectory(), () => false))) {
    throw invalid('dependencyFolder', `${source} is not a folder`);
  }
  const kernel = safeRelativePath(opts.kernelFilename, 'kernelFilename');
  if (!(await fsp.stat(join(source, kernel)).then((s) => s.isFile(), () => false))) {
    throw invalid('kernelFilename', `the kernel file '${kernel}' is missing from ${source} (it holds: ${await describeFolder(source)})`);
  }
  const base = (await readBaseDescriptor(join(source, 'model.json'))) ?? {};

  // Kernel environment: model.json's own, then the space and asset, then mkEnvironments, then customArgs.
  const env = new Map<string, string>();
  const baseEnv = Array.isArray(base.mk_environments) ? (base.mk_environments as NameValue[]) : [];
  for (const e of baseEnv) if (e && typeof e.name === 'string' && typeof e.value === 'string') env.set(e.name, e.value);
  if (opts.spaceId !== undefined) env.set('WML_SPACE_ID', opts.spaceId);
  if (opts.modelAssetName !== undefined) env.set('WML_SPACE_MODEL', opts.modelAssetName);
  for (const [k, v] of Object.entries(opts.mkEnvironments ?? {})) env.set(k, v);
  const custom = typeof opts.customArgs === 'string' ? parseCustomArgs(opts.customArgs) : Object.entries(opts.customArgs ?? {}).map(([name, value]) => ({ name, value }));
  for (const { name, value } of custom) env.set(name, value);
  if (!opts.allowSecretsInEnvironments) {
    for (const [name, value] of env) {
      if (looksSecret(name, value)) {
        throw new ValidationError(
          `kernel environment ${name}: looks like a credential; EDI stores mk_environments in model.json and GET /dlim/v1/model shows them to every console user. ` +
            'Leave it out, or set allowSecretsInEnvironments if you accept that exposure',
          [{ path: `mkEnvironments.${name}`, message: 'a credential may not be a kernel environment variable' }],
        );
      }
    }
  }

  const out = await outputFolder(opts.name, opts.parentDir, 'cpd-runbook-edi-');
  const { dir, cleanup } = out;
  try {
    if (await fsp.stat(dir).then(() => true, () => false)) throw invalid('parentDir', `${dir} already exists: remove it or use another parentDir`);
    out.claim();
    const copied = await copyTree(source, dir);
    const readmeName = typeof base.readme === 'string' && base.readme !== '' ? safeRelativePath(base.readme, 'model.json readme') : 'README.md';
    let readmeCreated = false;
    if (opts.readme !== undefined) await atomicWriteFile(join(dir, readmeName), opts.readme);
    else if (!(await fsp.stat(join(dir, readmeName)).then((s) => s.isFile(), () => false))) {
      await atomicWriteFile(join(dir, readmeName), readmeStub(opts.name, kernel));
      readmeCreated = true;
    }
    const attributes = (Array.isArray(base.attributes) ? (base.attributes as KeyValue[]) : []).filter((a) => a && a.key !== CONTENT_ATTRIBUTE);
    const draft = {
      ...base,
      name: opts.name,
      kernel_path: kernel,
      readme: readmeName,
      tag: opts.tag ?? (typeof base.tag === 'string' ? base.tag : 'runbook'),
      weight_path: opts.weightPath ?? (typeof base.weight_path === 'string' && base.weight_path !== '' ? base.weight_path : './'),
      model_path: '',
      runtime: opts.runtime ?? (typeof base.runtime === 'string' && base.runtime !== '' ? base.runtime : 'dlipy3'),
      framework: opts.framework ?? (typeof base.framework === 'string' && base.framework !== '' ? base.framework : 'PyTorch'),
      schema_version: typeof base.schema_version === 'string' ? base.schema_version : '1',
      mk_environments: [...env].map(([name, value]) => ({ name, value })),
      attributes,
    };
    const checked = ModelDescriptor.safeParse(draft);
    if (!checked.success) {
      throw invalid('model.json', checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    }
    // The fingerprint covers the files and the descriptor, so a changed environment is a change too.
    const filesHash = await fingerprintFolder(dir, ['model.json']);
    const contentHash = createHash('sha256').update(`${filesHash}\n${JSON.stringify(checked.data)}`).digest('hex');
    const descriptor: ModelDescriptor = { ...checked.data, attributes: [...checked.data.attributes, { key: CONTENT_ATTRIBUTE, value: contentHash }] };
    await atomicWriteFile(join(dir, 'model.json'), JSON.stringify(descriptor, null, 2) + '\n');
    return { dir, name: opts.name, descriptor, contentHash, files: copied.files + (readmeCreated ? 1 : 0), bytes: copied.bytes, readmeCreated, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
