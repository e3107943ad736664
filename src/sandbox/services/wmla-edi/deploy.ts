import { randomUUID } from 'node:crypto';
import { existsSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { extractTarSafely, safeRelativePath } from '../../../lib/archive';
import { ModelDescriptor } from '../../../lib/contracts/wmla-edi';
import { ValidationError } from '../../../lib/errors';
import { ApiError, badRequest, formatZodIssues } from '../../errors';

/** A submission folder that passed the checks, still in its temporary place. */
export interface Submission {
  /** The extraction folder (remove it when done). */
  workDir: string;
  /** The one top-level folder of the archive, inside workDir. */
  folder: string;
  topName: string;
  descriptor: ModelDescriptor;
  size: number;
}

const REQUIRED = 'a deployment archive holds one folder with model.json, the kernel file (model.json kernel_path) and README.md';

async function folderSize(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderSize(full);
    else if (entry.isFile()) total += (await fsp.stat(full)).size;
  }
  return total;
}

function requireFile(folder: string, rel: string, what: string, topName: string): void {
  let safe: string;
  try {
    safe = safeRelativePath(rel, what);
  } catch (err) {
    if (err instanceof ValidationError) throw badRequest(`model.json: ${err.message}`, 'invalid_model_json');
    throw err;
  }
  const full = join(folder, safe);
  if (!existsSync(full) || !statSync(full).isFile()) {
    throw new ApiError(400, 'missing_file', `${rel} (${what}) is missing from the deployment folder '${topName}': ${REQUIRED}`);
  }
}

/**
 * Extracts a deployment tarball (tar or tar.gz, detected) under `tmpRoot` and checks it: exactly one
 * top-level folder; `model.json` in it, valid (name a DNS label, kernel_path given); the kernel file
 * and the readme (`readme`, default README.md) present. Every failure is a 400 naming the file; the
 * extraction is removed then. Traversal, links out and devices are refused by extractTarSafely.
 */
export async function unpackSubmission(archive: string, tmpRoot: string, maxBytes: number): Promise<Submission> {
  const workDir = join(tmpRoot, `edi-deploy-${randomUUID()}`);
  try {
    try {
      await extractTarSafely(archive, workDir, { maxBytes });
    } catch (err) {
      if (err instanceof ValidationError) throw badRequest(`The deployment archive: ${err.message}`, 'invalid_archive');
      throw err;
    }
    const top = readdirSync(workDir);
    if (top.length !== 1 || !statSync(join(workDir, top[0]!)).isDirectory()) {
      throw badRequest(`The deployment archive must hold exactly one top-level folder; it holds ${top.length === 0 ? 'nothing' : top.slice(0, 10).join(', ')} (${REQUIRED})`, 'invalid_archive');
    }
    const topName = top[0]!;
    const folder = join(workDir, topName);
    const descriptorFile = join(folder, 'model.json');
    if (!existsSync(descriptorFile)) {
      throw new ApiError(400, 'missing_file', `model.json is missing from the deployment folder '${topName}': ${REQUIRED}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(descriptorFile, 'utf8'));
    } catch (err) {
      throw badRequest(`model.json is not valid JSON: ${(err as Error).message}`, 'invalid_model_json');
    }
    const parsed = ModelDescriptor.safeParse(raw);
    if (!parsed.success) throw badRequest(formatZodIssues(parsed.error.issues, 'model.json').join('; '), 'invalid_model_json'); // `model.json.name: …`
    const descriptor = parsed.data;
    requireFile(folder, descriptor.kernel_path, 'model.json kernel_path', topName);
    requireFile(folder, descriptor.readme, 'model.json readme', topName);
    return { workDir, folder, topName, descriptor, size: await folderSize(folder) };
  } catch (err) {
    await fsp.rm(workDir, { recursive: true, force: true });
    throw err;
  }
}
