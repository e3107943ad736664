/**
 * The training submission folder (predecessor A1 / `prepare_submission_folder_training`): a fresh
 * folder assembled from files and folders (globs resolved without a shell), with the distPyTorch
 * process-group snippet added to the training script, and optionally a file of secret environment
 * variables that travels inside the uploaded archive instead of the URL.
 */
import { chmod, rm, stat, writeFile } from 'node:fs/promises';
import { promises as fsp } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import { z } from 'zod';
import { safeRelativePath } from '../archive/safe-path';
import { ValidationError } from '../errors';
import { Redactor } from '../redact';
import { checkEntryName, copyTree, describeFolder, expandPattern, hasGlob, outputFolder } from './files';
import { insertPythonBlock, PROCESS_GROUP_SNIPPET, secretEnvSnippet } from './python-patch';
import { invalid, parseOptions } from './validate';

/** The file inside a submission folder that carries the `secretEnv` of {@link SubmissionFolderOptions} (JSON, read by the patched script). */
export const SECRET_ENV_FILE = '.runbook-env.json';

/** Frameworks whose main script must join a torch process group itself. */
export const PROCESS_GROUP_FRAMEWORKS: readonly string[] = ['distPyTorch'];

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Options of {@link prepareSubmissionFolder}. */
export const SubmissionFolderOptions = z.strictObject({
  /** Files to copy into the folder's top level (paths or globs). A glob copies every match, folders included. */
  files: z.array(z.string().min(1)).default(() => []),
  /** Folders to copy (recursively) into the folder's top level (paths or globs). */
  folders: z.array(z.string().min(1)).default(() => []),
  /** The entry script (`--model-main`), relative to the folder; it must be among what was copied. */
  mainScript: z.string().min(1).optional(),
  /** The `--exec-start` framework; `distPyTorch` gets the process-group snippet. */
  framework: z.string().min(1).optional(),
  /**
   * The script that gets the process-group snippet, when it is not the main script (the
   * predecessor's `train_command.py` shelled out to `cli.py`, which got the snippet). Default: mainScript.
   */
  processGroupScript: z.string().min(1).optional(),
  /** The folder's name (dlicmd's `--model-dir` basename). Default `submission`. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" and "-" (e.g. job_submission)')
    .default('submission'),
  /** Where to create the folder; default a new temporary folder. */
  parentDir: z.string().min(1).optional(),
  /** Replace `<parentDir>/<name>` if it exists (default false: an existing folder is an error). */
  replace: z.boolean().default(false),
  /** Base of relative paths and globs (default the current directory). */
  cwd: z.string().min(1).optional(),
  /**
   * Environment variables for the workers that must not appear in the exec's `args` (tokens, keys).
   * They are written to `.runbook-env.json` (mode 0600) in the folder, shipped inside the uploaded
   * archive (the request body), and loaded into `os.environ` by a block added to the main script.
   */
  secretEnv: z.record(z.string().regex(ENV_NAME, 'expected an environment variable name'), z.string()).optional(),
});
export type SubmissionFolderOptions = z.input<typeof SubmissionFolderOptions>;

/** One copied source. */
export interface CopiedEntry {
  /** The absolute source path. */
  readonly source: string;
  /** Its name in the submission folder. */
  readonly name: string;
  readonly kind: 'file' | 'folder';
  readonly files: number;
  readonly bytes: number;
}

/** A submission folder ready for {@link TrainingClient.submit}. */
export interface PreparedSubmission {
  /** The folder (its base name is `name`). */
  readonly dir: string;
  readonly name: string;
  readonly mainScript?: string;
  readonly framework?: string;
  readonly entries: readonly CopiedEntry[];
  readonly files: number;
  readonly bytes: number;
  /** Scripts that got a block added (relative paths); empty when they already had it. */
  readonly patched: readonly string[];
  /** Names of the variables shipped in {@link SECRET_ENV_FILE} (never their values). */
  readonly secretEnvNames: readonly string[];
  /** Removes the folder (and the temporary parent this call created). */
  cleanup(): Promise<void>;
}

async function kindOf(path: string): Promise<'file' | 'folder' | 'other'> {
  const s = await stat(path);
  return s.isFile() ? 'file' : s.isDirectory() ? 'folder' : 'other';
}

async function patchScript(dir: string, rel: string, block: string, field: string): Promise<boolean> {
  const file = join(dir, rel);
  let text: string;
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw invalid(field, `'${rel}' is not a file of the submission folder (it holds: ${await describeFolder(dir)})`);
  }
  const result = insertPythonBlock(text, block);
  if (result.changed) await fsp.writeFile(file, result.text);
  return result.changed;
}

/**
 * Builds a fresh submission folder: copies every file and folder named by `files` and `folders`
 * (paths or globs, no shell: names with spaces or quotes are fine, a pattern that matches nothing is
 * an error, two different sources with the same name are an error, links are copied as the files
 * they point to), checks that `mainScript` is there, adds the distPyTorch process-group snippet to
 * the training script (once: preparing twice never adds it twice) and writes `secretEnv`.
 *
 * @example
 * const sub = await prepareSubmissionFolder({
 *   files: ['deepliif-repo/*.py', 'train_command.py'], folders: ['deepliif-repo/deepliif'],
 *   mainScript: 'train_command.py', processGroupScript: 'cli.py', framework: 'distPyTorch',
 * });
 * try { await training.submit(sub, { framework: 'distPyTorch', modelMain: 'train_command.py', numWorker: 2 }); }
 * finally { await sub.cleanup(); }
 */
export async function prepareSubmissionFolder(options: SubmissionFolderOptions): Promise<PreparedSubmission> {
  const secrets = new Redactor();
  const given = (options as { secretEnv?: unknown }).secretEnv;
  if (given && typeof given === 'object') for (const v of Object.values(given)) if (typeof v === 'string') secrets.add(v);
  const opts = parseOptions(SubmissionFolderOptions, options, 'submission folder options', secrets);
  const cwd = resolve(opts.cwd ?? process.cwd());
  if (opts.files.length === 0 && opts.folders.length === 0) {
    throw new ValidationError('submission folder options: give at least one entry in files or folders', [{ path: 'files', message: 'nothing to copy' }]);
  }
  const mainScript = opts.mainScript === undefined ? undefined : safeRelativePath(opts.mainScript, 'mainScript');
  const needsGroup = opts.framework !== undefined && PROCESS_GROUP_FRAMEWORKS.includes(opts.framework);
  const groupScript = opts.processGroupScript !== undefined ? safeRelativePath(opts.processGroupScript, 'processGroupScript') : mainScript;
  if (needsGroup && groupScript === undefined) {
    throw invalid('mainScript', `${opts.framework} needs the script that joins the process group: give mainScript (or processGroupScript)`);
  }
  const secretNames = Object.keys(opts.secretEnv ?? {}).sort();
  if (secretNames.length > 0 && mainScript === undefined) {
    throw invalid('secretEnv', 'needs mainScript: the main Python script loads the variables from the submission folder');
  }

  // Resolve every pattern before touching the disk, so a typo fails fast and leaves nothing behind.
  const planned = new Map<string, { source: string; kind: 'file' | 'folder' }>();
  const collect = async (list: readonly string[], field: 'files' | 'folders'): Promise<void> => {
    for (let i = 0; i < list.length; i++) {
      const pattern = list[i]!;
      const matches = await expandPattern(pattern, cwd);
      if (matches.length === 0) throw invalid(`${field}[${i}]`, `'${pattern}' matches nothing (looked in ${cwd})`);
      for (const source of matches) {
        const kind = await kindOf(source).catch(() => 'other' as const);
        if (kind === 'other') throw invalid(`${field}[${i}]`, `'${source}' is not a regular file or folder`);
        if (!hasGlob(pattern)) {
          if (field === 'files' && kind === 'folder') throw invalid(`${field}[${i}]`, `'${pattern}' is a folder: list it under folders`);
          if (field === 'folders' && kind === 'file') throw invalid(`${field}[${i}]`, `'${pattern}' is a file: list it under files`);
        }
        const name = checkEntryName(source.split(/[\\/]/).pop() ?? '', `${field}[${i}]`);
        const real = await fsp.realpath(source);
        const earlier = planned.get(name);
        if (earlier) {
          if ((await fsp.realpath(earlier.source)) === real) continue; // the same thing named twice
          throw invalid(`${field}[${i}]`, `'${source}' and '${earlier.source}' would both be '${name}' in the submission folder`);
        }
        if (name === SECRET_ENV_FILE && secretNames.length > 0) throw invalid(`${field}[${i}]`, `'${name}' is reserved for secretEnv`);
        planned.set(name, { source, kind });
      }
    }
  };
  await collect(opts.files, 'files');
  await collect(opts.folders, 'folders');

  const out = await outputFolder(opts.name, opts.parentDir, 'cpd-runbook-train-', cwd);
  const { dir, cleanup } = out;
  try {
    const existing = await stat(dir).catch(() => undefined);
    if (existing) {
      if (!opts.replace) throw invalid('name', `${dir} already exists: remove it, choose another name, or set replace: true`);
      await rm(dir, { recursive: true, force: true });
    }
    await fsp.mkdir(dir);
    out.claim();
    const entries: CopiedEntry[] = [];
    for (const [name, { source, kind }] of planned) {
      const got = await copyTree(source, join(dir, name));
      entries.push({ source, name, kind, ...got });
    }
    if (mainScript !== undefined && !(await stat(join(dir, mainScript)).then((s) => s.isFile(), () => false))) {
      throw invalid('mainScript', `'${mainScript}' is not in the submission folder (it holds: ${await describeFolder(dir)})`);
    }
    const patched: string[] = [];
    if (secretNames.length > 0) {
      const file = join(dir, SECRET_ENV_FILE);
      await writeFile(file, JSON.stringify(opts.secretEnv), { mode: 0o600 });
      await chmod(file, 0o600);
      const depth = mainScript!.split('/').length - 1;
      const relative = posix.join(...Array.from({ length: depth }, () => '..'), SECRET_ENV_FILE);
      if (await patchScript(dir, mainScript!, secretEnvSnippet(relative), 'mainScript')) patched.push(mainScript!);
    }
    if (needsGroup && (await patchScript(dir, groupScript!, PROCESS_GROUP_SNIPPET, opts.processGroupScript !== undefined ? 'processGroupScript' : 'mainScript'))) {
      if (!patched.includes(groupScript!)) patched.push(groupScript!);
    }
    return {
      dir,
      name: opts.name,
      mainScript,
      framework: opts.framework,
      entries,
      files: entries.reduce((n, e) => n + e.files, 0),
      bytes: entries.reduce((n, e) => n + e.bytes, 0),
      patched,
      secretEnvNames: secretNames,
      cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
