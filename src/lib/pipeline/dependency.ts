/**
 * A2's first step (predecessor A2 cell 9): the EDI deployment folder comes from the space, as the
 * `<folder>.zip` data asset A staged, so A2 deploys exactly what the metadata entry names, wherever
 * it runs.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractZipSafely } from '../archive/unzip';
import { ValidationError } from '../errors';
import type { AssetInfo, DataAssets } from '../wml/assets';

/** A dependency folder downloaded from the space. */
export interface FetchedFolder {
  /** The unpacked folder (the zip's single top folder, else the unpack root). */
  readonly dir: string;
  readonly asset: AssetInfo;
  /** Its files, relative, sorted. */
  readonly files: readonly string[];
  readonly bytes: number;
  /** Removes the temporary folder. */
  cleanup(): Promise<void>;
}

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, r)));
    else out.push(r);
  }
  return out;
}

/**
 * Downloads the latest complete data asset `assetName` (a folder zipped by the upload, `*.zip`) into
 * a temporary folder and unpacks it safely. A missing asset is a ValidationError saying to stage it.
 */
export async function fetchDependencyFolder(assets: DataAssets, assetName: string, opts: { parentDir?: string } = {}): Promise<FetchedFolder> {
  if (!assetName.toLowerCase().endsWith('.zip')) {
    throw new ValidationError(`wmla_deployment.dependency_filename ${JSON.stringify(assetName)}: expected the zip of the EDI deployment folder (<folder>.zip)`, [
      { path: 'wmla_deployment.dependency_filename', message: 'expected a .zip data asset' },
    ]);
  }
  const latest = await assets.findLatest(assetName);
  if (!latest) {
    throw new ValidationError(`the space has no data asset ${JSON.stringify(assetName)} (wmla_deployment.dependency_filename): stage the deployment folder first (A_MLOps_Pipeline step 2, or runbook assets upload)`, [
      { path: 'wmla_deployment.dependency_filename', message: 'no such data asset' },
    ]);
  }
  const root = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'cpd-runbook-deps-'));
  const cleanup = () => rm(root, { recursive: true, force: true });
  try {
    const zip = join(root, 'download.zip');
    const got = await assets.download({ id: latest.id }, zip);
    const unpacked = join(root, 'unpacked');
    const result = await extractZipSafely(zip, unpacked);
    await rm(zip, { force: true });
    const single = result.topLevel.length === 1 && (await stat(join(unpacked, result.topLevel[0]!))).isDirectory();
    const dir = single ? join(unpacked, result.topLevel[0]!) : unpacked;
    return { dir, asset: got.asset, files: await listFiles(dir), bytes: result.bytes, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
