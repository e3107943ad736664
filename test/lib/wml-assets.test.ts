import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../src/lib/errors';
import { Plan, PLANNED_ID } from '../../src/lib/plan';
import { AssetExistsError, AssetNotFoundError, mimeTypeFor, pathSource, TransferIntegrityError, type TransferProgress } from '../../src/lib/wml';
import { readZip } from '../helpers/zip';
import { sha256File, startWmlFixture, writeRandomFile, type WmlFixture } from './wml-helpers';

let fx: WmlFixture;
let space: string;
beforeAll(async () => {
  fx = await startWmlFixture();
  space = await fx.space('assets');
});
afterAll(async () => {
  await fx.close();
});

let n = 0;
/** A fresh file name per test, so tests share one space without seeing each other's assets. */
const fresh = (ext = 'bin') => `f${++n}-${Date.now().toString(36)}.${ext}`;

/** The ids of the assets named `name`, straight from the sandbox. */
async function idsNamed(name: string): Promise<string[]> {
  const res = await fx.sandbox.api.post(`/v2/asset_types/data_asset/search?space_id=${space}`, { query: `asset.name:"${name}"` });
  return (res.json.results as { metadata: { asset_id: string } }[]).map((r) => r.metadata.asset_id);
}

describe('data asset upload and download', () => {
  it('uploads a file streaming, reports progress, and downloads it byte-identical and atomically', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh('pth');
    const file = join(fx.dir, name);
    const sha = await writeRandomFile(file, 3 * 1024 * 1024 + 17);
    const progress: TransferProgress[] = [];
    const up = await assets.upload(file, { onProgress: (p) => progress.push(p) });
    expect(up).toMatchObject({ action: 'uploaded', planned: false, bytes: 3 * 1024 * 1024 + 17, sha256: sha, deleted: [] });
    expect(up.asset).toMatchObject({ name, complete: true, size: 3 * 1024 * 1024 + 17, mimeType: 'application/octet-stream' });
    expect(up.asset.tags).toContain('cpd-runbook');
    const uploads = progress.filter((p) => p.phase === 'upload');
    expect(uploads.length).toBeGreaterThan(1);
    expect(uploads.map((p) => p.bytes)).toEqual([...uploads.map((p) => p.bytes)].sort((a, b) => a - b));
    expect(uploads[uploads.length - 1]).toEqual({ phase: 'upload', bytes: 3 * 1024 * 1024 + 17, totalBytes: 3 * 1024 * 1024 + 17 });
    expect(progress[progress.length - 1]!.phase).toBe('verify');

    const target = join(fx.dir, 'out', 'copy.pth');
    const down: TransferProgress[] = [];
    const got = await assets.download({ name }, target, { onProgress: (p) => down.push(p) });
    expect(got).toMatchObject({ file: target, bytes: 3 * 1024 * 1024 + 17, sha256: sha, checksumVerified: true });
    expect(await sha256File(target)).toBe(sha);
    expect(down.filter((p) => p.phase === 'download').pop()).toEqual({ phase: 'download', bytes: 3 * 1024 * 1024 + 17, totalBytes: 3 * 1024 * 1024 + 17 });
    expect((await fsp.readdir(join(fx.dir, 'out'))).filter((f) => f.endsWith('.part'))).toEqual([]);

    // Into an existing folder: the asset's name is used; by id works too.
    const folder = join(fx.dir, 'into');
    await fsp.mkdir(folder);
    const byId = await assets.download({ id: up.asset.id }, folder);
    expect(byId.file).toBe(join(folder, name));
    expect(await sha256File(byId.file)).toBe(sha);
  });

  it('uploads a folder as a zip holding the folder itself (files, nested and empty folders)', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const root = join(fx.dir, `model-${n++}`);
    await fsp.mkdir(join(root, 'weights', 'deep'), { recursive: true });
    await fsp.mkdir(join(root, 'empty'));
    const shas: Record<string, string> = {};
    const top = root.split('/').pop()!;
    shas[`${top}/kernel.py`] = await writeRandomFile(join(root, 'kernel.py'), 1000);
    shas[`${top}/weights/a.pth`] = await writeRandomFile(join(root, 'weights', 'a.pth'), 200_000);
    shas[`${top}/weights/deep/b.pth`] = await writeRandomFile(join(root, 'weights', 'deep', 'b.pth'), 5);
    await fsp.symlink('/etc/passwd', join(root, 'link')); // left out, like zipFolder does
    const up = await assets.upload(root, { compress: false });
    expect(up.asset).toMatchObject({ name: `${top}.zip`, mimeType: 'application/zip', complete: true });
    const zip = join(fx.dir, `${top}-down.zip`);
    const got = await assets.download({ name: `${top}.zip` }, zip);
    expect(got.sha256).toBe(up.sha256);
    expect(await readZip(zip, { content: 'sha256', folders: true })).toEqual({ ...shas, [`${top}/empty/`]: '<dir>' });
  });

  it('replace uploads first, then deletes the older copies; findLatest is the newest complete one', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh('zip');
    const file = join(fx.dir, name);
    await writeRandomFile(file, 1000);
    const first = await assets.upload(file);
    // A second copy made by hand (as the predecessor's overwrite=False did) and an unfinished upload.
    const dup = await assets.uploadContent(name, 'dup', { overwrite: 'keep' });
    expect(dup.action).toBe('kept');
    const half = await fx.sandbox.api.post(`/v2/assets?space_id=${space}`, { metadata: { name } });
    await fx.sandbox.api.post(`/v2/assets/${half.json.metadata.asset_id}/attachments?space_id=${space}`, { name });
    const sha2 = await writeRandomFile(file, 2000);
    const second = await assets.upload(file);
    expect(second.action).toBe('uploaded');
    expect(second.deleted).toEqual([first.asset.id]);
    // The fresh unfinished upload may belong to a run still uploading: kept.
    expect((await idsNamed(name)).sort()).toEqual([second.asset.id, half.json.metadata.asset_id].sort());
    const latest = await assets.findLatest(name);
    expect(latest!.id).toBe(second.asset.id); // the incomplete asset is newer but not content
    expect((await assets.download({ name }, join(fx.dir, 'latest.bin'))).sha256).toBe(sha2);
  });

  it('keep is find-or-create; error refuses an existing name; neither uploads then', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh('yml');
    const made = await assets.uploadContent(name, 'a: 1\n', { overwrite: 'keep' });
    expect(made.action).toBe('uploaded');
    expect(made.asset.mimeType).toBe('application/x-yaml');
    const again = await assets.uploadContent(name, 'a: 2\n', { overwrite: 'keep' });
    expect(again).toMatchObject({ action: 'kept', asset: { id: made.asset.id } });
    const err = await assets.uploadContent(name, 'a: 3\n', { overwrite: 'error' }).catch((e) => e);
    expect(err).toBeInstanceOf(AssetExistsError);
    expect(err.message).toContain(`"${name}" already exists`);
    expect(await idsNamed(name)).toEqual([made.asset.id]);
    expect((await assets.readContent({ name })).content.toString()).toBe('a: 1\n');
  });

  it('skipIfUnchanged uploads nothing for the same content (file or folder) and uploads a change', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const file = join(fx.dir, fresh());
    await writeRandomFile(file, 5000);
    const a = await assets.upload(file, { skipIfUnchanged: true });
    expect(a.action).toBe('uploaded');
    expect(a.asset.sha256).toBe(a.sha256);
    const hashes: TransferProgress[] = [];
    const b = await assets.upload(file, { skipIfUnchanged: true, onProgress: (p) => hashes.push(p) });
    expect(b).toMatchObject({ action: 'unchanged', asset: { id: a.asset.id } });
    expect(hashes.pop()).toEqual({ phase: 'hash', bytes: 5000, totalBytes: 5000 });
    await writeRandomFile(file, 5000);
    const c = await assets.upload(file, { skipIfUnchanged: true });
    expect(c).toMatchObject({ action: 'uploaded', deleted: [a.asset.id] });

    const root = join(fx.dir, `skip-${n++}`);
    await fsp.mkdir(join(root, 'x'), { recursive: true });
    await writeRandomFile(join(root, 'x', 'w.bin'), 3000);
    const f1 = await assets.upload(root, { skipIfUnchanged: true });
    await fsp.utimes(join(root, 'x', 'w.bin'), new Date(2001, 1, 1), new Date(2001, 1, 1)); // a new mtime: same content
    expect((await assets.upload(root, { skipIfUnchanged: true })).action).toBe('unchanged');
    await fsp.writeFile(join(root, 'x', 'new.txt'), 'more');
    const f3 = await assets.upload(root, { skipIfUnchanged: true });
    expect(f3).toMatchObject({ action: 'uploaded', deleted: [f1.asset.id] });
  });

  it('concurrent replace uploads of one name end with one copy, the newest; concurrent keeps agree on one', async () => {
    const name = fresh();
    const files = await Promise.all([0, 1, 2, 3].map(async (i) => {
      const f = join(fx.dir, `${name}.${i}`);
      await writeRandomFile(f, 50_000 + i);
      return f;
    }));
    const results = await Promise.all(files.map((f) => fx.client().wml.assets(space).upload(f, { name })));
    const left = await idsNamed(name);
    expect(left.length).toBe(1);
    const survivor = (await fx.client().wml.assets(space).findLatest(name))!;
    expect(left).toEqual([survivor.id]);
    // Each run either made the survivor, or saw that a newer upload finished first, or was replaced later.
    for (const r of results) expect(['uploaded', 'superseded']).toContain(r.action);
    expect(results.some((r) => r.action === 'uploaded' && r.asset.id === survivor.id)).toBe(true);
    for (const r of results.filter((x) => x.action === 'superseded')) expect(r.deleted).toHaveLength(1);

    const kname = fresh();
    const kept = await Promise.all([0, 1, 2, 3].map((i) => fx.client().wml.assets(space).uploadContent(kname, `copy ${i}`, { overwrite: 'keep' })));
    const kleft = await idsNamed(kname);
    expect(kleft.length).toBe(1);
    expect(new Set(kept.map((k) => k.asset.id))).toEqual(new Set(kleft));
  });

  it('records without content and their revisions: an append-only, numbered log', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const rec = await assets.createRecord(fresh('log'), { description: 'a marker', tags: ['x'] });
    expect(rec).toMatchObject({ complete: false, description: 'a marker' });
    expect(rec.tags).toEqual(expect.arrayContaining(['cpd-runbook', 'x']));
    expect(await assets.revisions(rec.id)).toEqual([]);
    const r1 = await assets.createRevision(rec.id, 'first');
    const r2 = await assets.createRevision(rec.id, 'second');
    expect([r1.revision_id, r2.revision_id]).toEqual([1, 2]);
    expect((await assets.revisions(rec.id)).map((r) => r.commit_message)).toEqual(['first', 'second']);
    await expect(assets.readContent({ id: rec.id })).rejects.toBeInstanceOf(AssetNotFoundError); // no content
    const err = await assets.get('00000000-0000-0000-0000-000000000000').catch((e) => e);
    expect(err.status).toBe(404);
  });

  it('lists exact names only (quotes, spaces, prefixes), and deletes by id and by name', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const base = fresh('zip');
    const odd = `my "model" ${base}`;
    await assets.uploadContent(base, 'x');
    await assets.uploadContent(`${base}.bak`, 'y');
    await assets.uploadContent(odd, 'z');
    expect((await assets.list({ name: base })).map((a) => a.name)).toEqual([base]);
    expect((await assets.list({ name: odd })).map((a) => a.name)).toEqual([odd]);
    const all = await assets.list({ pageSize: 2 });
    expect(all.map((a) => a.name)).toEqual(expect.arrayContaining([base, `${base}.bak`, odd]));
    expect(new Set(all.map((a) => a.id)).size).toBe(all.length);
    const times = all.map((a) => Date.parse(a.createdAt));
    expect([...times].sort((x, y) => x - y)).toEqual(times);

    const bak = (await assets.findLatest(`${base}.bak`))!;
    expect(await assets.delete(bak.id)).toBe(true);
    expect(await assets.delete(bak.id)).toBe(false);
    expect(await assets.deleteByName(odd)).toHaveLength(1);
    expect(await assets.findLatest(odd)).toBeUndefined();
    await expect(assets.download({ name: odd }, join(fx.dir, 'nope'))).rejects.toBeInstanceOf(AssetNotFoundError);
    await expect(assets.download({ id: bak.id }, join(fx.dir, 'nope'))).rejects.toThrow(/no data asset with id/);
  });

  it('plan mode: an upload records the upload and the deletions it would make, and changes nothing', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh();
    const file = join(fx.dir, name);
    await writeRandomFile(file, 123);
    const plan = new Plan();
    const first = await assets.upload(file, { plan });
    expect(first).toMatchObject({ planned: true, action: 'uploaded', asset: { id: PLANNED_ID, name, size: 123 }, deleted: [] });
    expect(await idsNamed(name)).toEqual([]);
    const real = await assets.upload(file);
    const plan2 = new Plan();
    const second = await assets.upload(file, { plan: plan2 });
    expect(second.deleted).toEqual([real.asset.id]);
    expect(plan2.changes.map((c) => `${c.service} ${c.action} ${c.resource}`)).toEqual(['wml upload data_asset', 'wml delete data_asset']);
    expect(await assets.delete(real.asset.id, { plan: plan2 })).toBe(true);
    expect(await assets.upload(file, { plan: new Plan(), overwrite: 'keep' })).toMatchObject({ action: 'kept', planned: true });
    await expect(assets.upload(file, { plan: new Plan(), overwrite: 'error' })).rejects.toBeInstanceOf(AssetExistsError);
    expect(await idsNamed(name)).toEqual([real.asset.id]);
  });

  it('refuses bad input with errors naming it', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    await expect(assets.upload(join(fx.dir, 'missing.bin'))).rejects.toThrow(/missing.bin does not exist/);
    await expect(assets.uploadContent(' padded', 'x')).rejects.toBeInstanceOf(ValidationError);
    await expect(assets.uploadContent('bad\nname', 'x')).rejects.toThrow(/asset name/);
    expect(() => wml.assets('')).toThrow(/space id is required/);
    expect(mimeTypeFor('m.tar.gz')).toBe('application/gzip');
    expect(mimeTypeFor('README')).toBe('application/octet-stream');
    expect(mimeTypeFor('x.CSV')).toBe('text/csv');
  });

  it('a file that changes while it is uploaded fails the upload and leaves no asset', async () => {
    const { wml } = fx.client(); // multipart, the default: a client aborting mid-part must not upset the sandbox
    const assets = wml.assets(space);
    const name = fresh();
    const file = join(fx.dir, name);
    await writeRandomFile(file, 10_000);
    const source = await pathSource(file);
    await fsp.appendFile(file, 'grown meanwhile');
    await expect(assets.uploadSource(source)).rejects.toBeInstanceOf(TransferIntegrityError);
    expect(await idsNamed(name)).toEqual([]);
    const shrunk = await pathSource(file);
    await fsp.truncate(file, 100);
    const err = await assets.uploadSource(shrunk).catch((e) => e);
    expect(err).toBeInstanceOf(TransferIntegrityError);
    expect(err.message).toMatch(/changed while it was uploaded: read 100 bytes/);
    expect(await idsNamed(name)).toEqual([]);
  });

  it('a download whose bytes do not match the checksum the service recorded leaves no file', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh();
    const up = await assets.uploadContent(name, 'the right bytes');
    // Corrupt the stored blob in place (same size), as a disk fault would.
    const blobs = join(fx.sandbox.stateDir, 'blobs', 'wml');
    for (const f of await fsp.readdir(blobs)) {
      const p = join(blobs, f);
      if ((await fsp.readFile(p)).toString() === 'the right bytes') await fsp.writeFile(p, 'the wrong bytes');
    }
    const target = join(fx.dir, 'corrupt.txt');
    const err = await assets.download({ id: up.asset.id }, target).catch((e) => e);
    expect(err).toBeInstanceOf(TransferIntegrityError);
    expect(err.message).toMatch(/differs from the service's ETag/);
    await expect(fsp.stat(target)).rejects.toThrow();
    expect((await fsp.readdir(fx.dir)).filter((f) => f.includes('corrupt'))).toEqual([]);
    await expect(assets.readContent({ id: up.asset.id })).rejects.toBeInstanceOf(TransferIntegrityError);
  });
});
