import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProfileClients } from '../../src/lib/config';
import { ValidationError } from '../../src/lib/errors';
import { Plan } from '../../src/lib/plan';
import { deleteFromVolume, downloadFromVolume, downloadVolumeFile, listVolume, statVolumePath, uploadToVolume, volumePath } from '../../src/lib/volumes';
import { faultHits, type TestSandbox } from '../sandbox/helpers';
import { ageFile, SANDBOX_DEFAULT_VOLUME as VOL, sandboxClients, startFastSandbox, volumeFolder, writeFile } from '../provider/helpers';

/** The storage-volume client against the sandbox's zen-volumes API over real HTTP. */
describe('storage volume client', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  const local = mkdtempSync(join(tmpdir(), 'volumes-client-'));

  beforeAll(async () => {
    sb = await startFastSandbox();
    clients = await sandboxClients(sb);
  });
  afterAll(async () => {
    clients.close();
    await sb.close();
    rmSync(local, { recursive: true, force: true });
  });

  it('uploads a folder recursively and lists it with details, times as Dates', async () => {
    const src = join(local, 'src');
    writeFile(join(src, 'a.png'), Buffer.alloc(10, 1));
    writeFile(join(src, 'sub', 'b.json'), '{"x":1}');
    writeFile(join(src, 'sub', 'deeper', 'c name.png'), Buffer.alloc(3000, 7));
    const progress: string[] = [];
    const up = await uploadToVolume(clients.cpd, VOL, src, 'up/one', { onProgress: (p) => p.done && progress.push(p.path) });
    expect(up.planned).toBe(false);
    expect(up.bytes).toBe(10 + 7 + 3000);
    expect(progress.sort()).toEqual(['up/one/a.png', 'up/one/sub/b.json', 'up/one/sub/deeper/c name.png']);
    // The bytes are on the volume's backing folder.
    expect(readFileSync(join(volumeFolder(sb), 'up/one/sub/deeper/c name.png')).equals(Buffer.alloc(3000, 7))).toBe(true);

    const old = join(volumeFolder(sb), 'up/one/a.png');
    ageFile(old, 3);
    const entries = await listVolume(clients.cpd, VOL, 'up/one');
    expect(entries.map((e) => [e.path, e.type, e.size])).toEqual([
      ['a.png', 'file', 10],
      ['sub', 'directory', 0],
      ['sub/b.json', 'file', 7],
      ['sub/deeper', 'directory', 0],
      ['sub/deeper/c name.png', 'file', 3000],
    ]);
    const a = entries.find((e) => e.path === 'a.png')!;
    expect(a.mtime).toBeInstanceOf(Date);
    // RFC 1123 has whole seconds.
    expect(Math.abs(a.mtime.getTime() - statSync(old).mtimeMs)).toBeLessThan(1000);
    expect(a.extension).toBe('.png');

    const flat = await listVolume(clients.cpd, VOL, '/up/one/', { recursive: false, filesOnly: true });
    expect(flat.map((e) => e.path)).toEqual(['a.png']);
  });

  it('uploads a single file, replacing an existing one', async () => {
    const f = join(local, 'single.txt');
    writeFileSync(f, 'first');
    await uploadToVolume(clients.cpd, VOL, f, 'single/x.txt');
    writeFileSync(f, 'second version');
    await uploadToVolume(clients.cpd, VOL, f, 'single/x.txt');
    expect(readFileSync(join(volumeFolder(sb), 'single/x.txt'), 'utf8')).toBe('second version');
    expect(await statVolumePath(clients.cpd, VOL, 'single/x.txt')).toMatchObject({ path: 'single/x.txt', type: 'file', size: 14 });
    expect(await statVolumePath(clients.cpd, VOL, 'single')).toMatchObject({ type: 'directory' });
    expect(await statVolumePath(clients.cpd, VOL, 'single/nope.txt')).toBeUndefined();
    expect(await statVolumePath(clients.cpd, VOL, 'no/such/parent.txt')).toBeUndefined();
  });

  it('downloads a file atomically and a folder with its structure', async () => {
    const dst = join(local, 'dl');
    const n = await downloadVolumeFile(clients.cpd, VOL, 'up/one/sub/deeper/c name.png', join(dst, 'one.png'));
    expect(n).toBe(3000);
    expect(readdirSync(dst)).toEqual(['one.png']); // no temporary leftovers
    const folder = await downloadFromVolume(clients.cpd, VOL, 'up/one', join(dst, 'tree'));
    expect(folder.files.map((f) => f.remote).sort()).toEqual(['up/one/a.png', 'up/one/sub/b.json', 'up/one/sub/deeper/c name.png']);
    expect(readFileSync(join(dst, 'tree/sub/b.json'), 'utf8')).toBe('{"x":1}');
    expect(readFileSync(join(dst, 'tree/sub/deeper/c name.png')).length).toBe(3000);
    const single = await downloadFromVolume(clients.cpd, VOL, 'single/x.txt', join(dst, 'x.txt'));
    expect(single.bytes).toBe(14);
  });

  it('names the missing folder or file in its error', async () => {
    await expect(listVolume(clients.cpd, VOL, 'missing/dir')).rejects.toThrow(/folder sandbox-volume:missing\/dir does not exist/);
    await expect(listVolume(clients.cpd, 'no-such-volume', '')).rejects.toThrow(ValidationError);
    await expect(downloadVolumeFile(clients.cpd, VOL, 'up/none.png', join(local, 'n.png'))).rejects.toThrow(/file sandbox-volume:up\/none.png does not exist/);
    await expect(uploadToVolume(clients.cpd, VOL, join(local, 'absent'), 'x')).rejects.toThrow(/absent does not exist/);
    expect(() => volumePath('a/../../etc')).toThrow(/'\.\.' segment/);
    expect(volumePath('/a//b/')).toBe('a/b');
    expect(volumePath('/')).toBe('');
  });

  it('records uploads and deletes in plan mode without changing the volume', async () => {
    const plan = new Plan();
    const f = join(local, 'planned.txt');
    writeFileSync(f, 'p');
    const r = await uploadToVolume(clients.cpd, VOL, f, 'planned/p.txt', { plan });
    expect(r.planned).toBe(true);
    expect(await deleteFromVolume(clients.cpd, VOL, 'single', { plan, recursive: true })).toBe(true);
    expect(plan.changes.map((c) => `${c.service} ${c.action} ${c.target}`)).toEqual(['volumes upload sandbox-volume:planned/p.txt', 'volumes delete sandbox-volume:single']);
    expect(await statVolumePath(clients.cpd, VOL, 'planned/p.txt')).toBeUndefined();
    expect(await statVolumePath(clients.cpd, VOL, 'single/x.txt')).toBeDefined();
  });

  it('deletes files and folders (folders only with recursive)', async () => {
    await expect(deleteFromVolume(clients.cpd, VOL, 'single')).rejects.toThrow(/409.*recursive=true/);
    expect(await deleteFromVolume(clients.cpd, VOL, 'single/x.txt')).toBe(true);
    expect(await deleteFromVolume(clients.cpd, VOL, 'single', { recursive: true })).toBe(true);
    expect(await deleteFromVolume(clients.cpd, VOL, 'single', { missingOk: true })).toBe(false);
    await expect(deleteFromVolume(clients.cpd, VOL, 'single')).rejects.toThrow(/does not exist/);
    await expect(deleteFromVolume(clients.cpd, VOL, '/')).rejects.toThrow(/root cannot be deleted/);
  });
});

describe('storage volume client under injected faults', () => {
  let sb: TestSandbox;
  let clients: ProfileClients;
  const retries: string[] = [];
  const local = mkdtempSync(join(tmpdir(), 'volumes-faults-'));

  beforeAll(async () => {
    sb = await startFastSandbox({
      seed: 11,
      faults: [
        { route: 'GET /zen-volumes/*', errorRate: 0.3, statuses: [503, 502], retryAfterSeconds: 0 },
        { route: 'PUT /zen-volumes/*', errorRate: 1, statuses: [500, 504], maxHits: 3 },
      ],
    });
    // Random faults on every read: enough retries that a request failing every time is practically impossible.
    clients = await sandboxClients(sb, { retry: { retries: 12, baseDelayMs: 2, maxDelayMs: 10, maxRetryAfterMs: 10 }, onRetry: (i) => retries.push(`${i.method} ${i.reason}`) });
  });
  afterAll(async () => {
    clients.close();
    await sb.close();
    rmSync(local, { recursive: true, force: true });
  });

  it('retries listings, uploads (replayable multipart) and downloads until they succeed', async () => {
    const src = join(local, 'src');
    for (let i = 0; i < 6; i++) writeFile(join(src, `f${i}.bin`), Buffer.alloc(1000 + i, i));
    await uploadToVolume(clients.cpd, VOL, src, 'faulty', { concurrency: 2 });
    const listed = await listVolume(clients.cpd, VOL, 'faulty');
    expect(listed.map((e) => e.size)).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
    const got = await downloadFromVolume(clients.cpd, VOL, 'faulty', join(local, 'back'));
    expect(got.bytes).toBe(6015);
    for (let i = 0; i < 6; i++) expect(readFileSync(join(local, 'back', `f${i}.bin`)).equals(Buffer.alloc(1000 + i, i))).toBe(true);
    const hits = await faultHits(sb.api);
    expect(hits[0]).toBeGreaterThan(0);
    expect(hits[1]).toBe(3);
    expect(retries.some((r) => r.startsWith('PUT'))).toBe(true);
    expect(retries.some((r) => r.startsWith('GET'))).toBe(true);
  });
});
