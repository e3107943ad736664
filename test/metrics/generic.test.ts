import { describe, expect, it } from '@jest/globals';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../src/lib/errors';
import { isImageFile, listFolder, normalizeEntries, recentSince, type FileEntry } from '../../src/lib/metrics/files';
import { genericMetrics, genericMetricsForFolders } from '../../src/lib/metrics/generic';
import { GENERIC_MONITOR } from '../../src/lib/monitors/definitions';
import { setMtime, tempDir } from './helpers';

const DAY = 86_400_000;

describe('what counts as an image', () => {
  it('is a file whose name ends with .png .jpg .jpeg .tif .tiff, in any letter case', () => {
    for (const yes of ['a.png', 'b.PNG', 'dir/c.jpg', 'd.jpeg', 'e.Tif', 'f.tiff']) expect(isImageFile(yes)).toBe(true);
    for (const no of ['a.json', 'b.png.bak', 'c', '.png', 'dir.png/readme.txt', 'e.gif']) expect(isImageFile(no)).toBe(false);
    expect(isImageFile('x.bmp', ['.bmp'])).toBe(true);
  });
});

describe('recent', () => {
  it('starts at now − days × 24 h, in epoch time (time zones do not matter)', () => {
    const now = Date.parse('2024-03-31T12:00:00+02:00'); // a daylight-saving change weekend in Europe
    expect(new Date(recentSince(now, 5)).toISOString()).toBe('2024-03-26T10:00:00.000Z');
    expect(recentSince(new Date(now), 0.5)).toBe(now - DAY / 2);
    expect(() => recentSince(now, -1)).toThrow(ValidationError);
    expect(() => recentSince(now, Number.NaN)).toThrow(/most_recent must be a number of days/);
  });
});

describe('listings', () => {
  it('normalises a storage-volume listing: ISO and RFC 1123 dates, numbers and Dates', () => {
    const entries = normalizeEntries(
      [
        { path: 'a.png', size: 1, mtime: 'Mon, 03 Oct 2022 13:54:43 GMT' },
        { path: 'b.png', size: 2, mtime: '2022-10-03T15:54:43+02:00' },
        { path: 'c\\d.png', size: 3, mtime: 1664805283000 },
        { path: 'e.png', size: 4, mtime: new Date(1664805283000) },
      ],
      'gt listing',
    );
    expect(entries.map((e) => e.mtimeMs)).toEqual([1664805283000, 1664805283000, 1664805283000, 1664805283000]);
    expect(entries[2].path).toBe('c/d.png');
  });

  it('drops folders of a storage-volume listing (VolumeEntry shape) and keeps extra fields out', () => {
    const volumeListing = [
      { path: 'batch', type: 'directory' as const, size: 0, mtime: new Date(1000) },
      { path: 'batch/a.png', type: 'file' as const, size: 5, mtime: new Date(2000), extension: '.png' },
      { path: 'folder.png', type: 'directory' as const, size: 0, mtime: new Date(3000) },
    ];
    expect(normalizeEntries(volumeListing, 'gt')).toEqual([{ path: 'batch/a.png', size: 5, mtimeMs: 2000 }]);
  });

  it('rejects a malformed listing naming the entry', () => {
    expect(() => normalizeEntries([{ path: 'a.png', size: -1, mtime: 0 }], 'gt listing')).toThrow(/invalid file listing for gt listing: gt listing\[0\.size\]/);
    expect(() => normalizeEntries([{ path: 'a.png', size: 1, mtime: 'yesterday' }], 'pred listing')).toThrow('invalid file listing for pred listing: a.png: unreadable modification time "yesterday"');
  });

  it('lists the files of a local folder with sizes and times; folders are not entries', async () => {
    const dir = tempDir('list-');
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'b.png'), 'xx');
    writeFileSync(join(dir, 'a.png'), 'x');
    writeFileSync(join(dir, 'sub', 'c.png'), 'xyz');
    writeFileSync(join(dir, 'sub', 'deeper', 'd.tif'), '');
    symlinkSync(join(dir, 'a.png'), join(dir, 'link.png'));
    setMtime(join(dir, 'a.png'), new Date('2020-01-02T03:04:05Z'));
    const top = await listFolder(dir);
    expect(top.map((e) => [e.path, e.size])).toEqual([['a.png', 1], ['b.png', 2], ['link.png', 1]]);
    expect(top[0].mtimeMs).toBe(Date.parse('2020-01-02T03:04:05Z'));
    expect((await listFolder(dir, { recursive: true })).map((e) => e.path)).toEqual(['a.png', 'b.png', 'link.png', 'sub/c.png', 'sub/deeper/d.tif']);
  });

  it('names a missing folder and a file given as a folder', async () => {
    const dir = tempDir('list-');
    await expect(listFolder(join(dir, 'nope'))).rejects.toThrow(`folder not found: ${join(dir, 'nope')}`);
    writeFileSync(join(dir, 'f'), '');
    await expect(listFolder(join(dir, 'f'))).rejects.toThrow(`not a folder: ${join(dir, 'f')}`);
  });
});

describe('generic metrics', () => {
  const now = Date.UTC(2024, 0, 10, 0, 0, 0);
  const e = (path: string, daysAgo: number): FileEntry => ({ path, size: 1, mtimeMs: now - daysAgo * DAY });

  it('counts images in total and recent, under the monitor definition\'s names', () => {
    const r = genericMetrics(
      [e('a.png', 0), e('b.png', 4.99), e('c.png', 5), e('d.png', 5.0001), e('notes.txt', 0), e('sub/e.png', 1)],
      [e('a_SegRefined.png', 1), e('a_Seg.png', 1), e('a.json', 1), e('old.png', 30)],
      { mostRecentDays: 5, now },
    );
    expect(r.metrics).toEqual({
      num_images_total_ground_truth: 5,
      num_images_total_predicted: 3,
      num_images_recent_ground_truth: 4, // exactly 5 days old is recent; 5 days and 9 s is not
      num_images_recent_predicted: 2,
    });
    expect(Object.keys(r.metrics).sort()).toEqual(GENERIC_MONITOR.metrics.map((m) => m.name).sort());
    expect(r.since).toBe('2024-01-05T00:00:00.000Z');
    expect(r.ignored).toEqual({ groundTruth: 1, predicted: 1 });
  });

  it('can count other extensions and rejects bad options', () => {
    expect(genericMetrics([e('a.bmp', 0)], [], { mostRecentDays: 1, now, imageExtensions: ['.bmp'] }).metrics.num_images_total_ground_truth).toBe(1);
    expect(() => genericMetrics([], [], { mostRecentDays: -2 })).toThrow(/invalid generic metrics options: mostRecentDays/);
    expect(() => genericMetrics([], [], { mostRecentDays: 1, imageExtensions: ['png'] })).toThrow(/imageExtensions/);
  });

  it('counts files in local folders recursively, using their modification times', async () => {
    const root = tempDir('generic-');
    const gt = join(root, 'gt');
    const pred = join(root, 'pred');
    mkdirSync(join(gt, 'batch1'), { recursive: true });
    mkdirSync(join(pred, 'run.png'), { recursive: true }); // a folder named like an image is not one
    for (const f of ['x.png', 'batch1/y.png', 'batch1/z.jpg']) writeFileSync(join(gt, f), '');
    for (const f of ['x_SegRefined.png', 'x_Seg.png', 'x.json', 'run.png/inner.png']) writeFileSync(join(pred, f), '');
    setMtime(join(gt, 'batch1', 'y.png'), new Date(Date.now() - 8 * DAY));
    setMtime(join(pred, 'x_Seg.png'), new Date(Date.now() - 2 * DAY));
    const r = await genericMetricsForFolders({ groundTruth: gt, prediction: pred }, { mostRecentDays: 7 });
    expect(r.metrics).toEqual({ num_images_total_ground_truth: 3, num_images_total_predicted: 3, num_images_recent_ground_truth: 2, num_images_recent_predicted: 3 });
    const narrow = await genericMetricsForFolders({ groundTruth: gt, prediction: pred }, { mostRecentDays: 1 });
    expect(narrow.metrics.num_images_recent_predicted).toBe(2);
    await expect(genericMetricsForFolders({ groundTruth: join(root, 'missing'), prediction: pred }, { mostRecentDays: 1 })).rejects.toThrow(/folder not found: .*missing/);
  });
});
