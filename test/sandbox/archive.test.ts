import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, createWriteStream, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { readZip } from '../helpers/zip';
import { rawTar, type TarEntrySpec } from './wmla-fixtures';
import { createTarGz, extractTarSafely, safeRelativePath, writeTarGz, zipFolder } from '../../src/lib/archive';

function tmp(prefix = 'archive-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function writeArchive(dir: string, buf: Buffer, gz = false): string {
  const file = join(dir, gz ? 'a.tar.gz' : 'a.tar');
  writeFileSync(file, gz ? gzipSync(buf) : buf);
  return file;
}

/** The folder as {relative path: content | '->target'} for comparisons. */
function snapshot(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) out[prefix + name] = `->${readlinkSync(full)}`;
    else if (st.isDirectory()) Object.assign(out, snapshot(full, `${prefix}${name}/`));
    else out[prefix + name] = readFileSync(full, 'utf8');
  }
  return out;
}

describe('safeRelativePath', () => {
  it('normalises harmless paths', () => {
    expect(safeRelativePath('a/./b//c')).toBe('a/b/c');
    expect(safeRelativePath('./model.json')).toBe('model.json');
    expect(safeRelativePath('my file (1).zip')).toBe('my file (1).zip');
  });
  it.each([
    ['', 'empty'],
    ['../x', "'..'"],
    ['a/../../x', "'..'"],
    ['a/..', "'..'"],
    ['/etc/passwd', 'absolute'],
    ['C:/x', 'drive letter'],
    ['a\\..\\b', 'backslash'],
    ['a\u0000b', 'NUL'],
    ['./.', 'names no file'],
  ])('rejects %j (%s)', (path, why) => {
    expect(() => safeRelativePath(path, 'entry')).toThrow(why);
  });
});

describe('extractTarSafely', () => {
  it('round-trips a folder made by createTarGz (contents or folder on top), including nested and empty names', async () => {
    const work = tmp();
    const src = join(work, 'model');
    mkdirSync(join(src, 'weights', 'deep'), { recursive: true });
    writeFileSync(join(src, 'model.json'), '{"name":"m"}');
    writeFileSync(join(src, 'weights', 'deep', 'w.bin'), 'x'.repeat(70_000));
    writeFileSync(join(src, 'README with spaces.md'), '# hi');
    symlinkSync('weights/deep/w.bin', join(src, 'latest'));
    const file = join(work, 'm.tar.gz');
    expect((await writeTarGz(src, file)).size).toBeGreaterThan(0);
    const out = join(work, 'out');
    const res = await extractTarSafely(file, out);
    expect(snapshot(out)).toEqual(snapshot(src));
    expect(res).toMatchObject({ files: 3, links: 1, bytes: 70_000 + 12 + 4 });

    const out2 = join(work, 'out2');
    await extractTarSafely(createTarGz(src, { includeFolder: true }), out2);
    expect(readdirSync(out2)).toEqual(['model']);
    expect(snapshot(join(out2, 'model'))).toEqual(snapshot(src));
  });

  it('accepts plain (not gzipped) archives from a stream and an empty existing destination', async () => {
    const work = tmp();
    const dest = join(work, 'dest');
    mkdirSync(dest);
    const buf = rawTar([{ name: 'dir/', type: '5' }, { name: 'dir/a.txt', body: 'A' }, { name: 'dir/hard', type: '1', linkname: 'dir/a.txt' }]);
    const res = await extractTarSafely(Readable.from([buf]), dest);
    expect(snapshot(dest)).toEqual({ 'dir/a.txt': 'A', 'dir/hard': 'A' });
    expect(res.links).toBe(1);
  });

  const hostile: [string, TarEntrySpec[], RegExp][] = [
    ['a ../ entry', [{ name: 'ok.txt', body: 'fine' }, { name: '../evil.txt', body: 'x' }], /'\.\.'/],
    ['a nested ../ entry', [{ name: 'a/../../evil.txt', body: 'x' }], /'\.\.'/],
    ['an absolute entry', [{ name: '/tmp/evil.txt', body: 'x' }], /absolute/],
    ['a backslash entry', [{ name: '..\\evil.txt', body: 'x' }], /backslash/],
    ['a symlink to an absolute path', [{ name: 'l', type: '2', linkname: '/etc/passwd' }], /outside the destination/],
    ['a symlink climbing out', [{ name: 'sub/l', type: '2', linkname: '../../etc' }], /outside the destination/],
    ['a symlink escaping through another link', [{ name: 'a', type: '2', linkname: '.' }, { name: 'b', type: '2', linkname: 'a/../x' }, { name: 'x', body: '' }], /outside the destination|does not exist/],
    ['a hard link out of the archive', [{ name: 'h', type: '1', linkname: '../../etc/passwd' }], /'\.\.'/],
    ['a hard link to an absolute path', [{ name: 'h', type: '1', linkname: '/etc/passwd' }], /absolute/],
    ['a hard link to a missing file', [{ name: 'h', type: '1', linkname: 'nope' }], /not a file of the archive/],
    ['a character device', [{ name: 'dev', type: '3' }], /unsupported type CharacterDevice/],
    ['a FIFO', [{ name: 'fifo', type: '6' }], /unsupported type FIFO/],
  ];

  it.each(hostile)('rejects %s and leaves nothing behind', async (_label, entries, message) => {
    const work = tmp();
    for (const gz of [false, true]) {
      const dest = join(work, gz ? 'out-gz' : 'out');
      await expect(extractTarSafely(writeArchive(work, rawTar(entries), gz), dest)).rejects.toThrow(message);
      expect(existsSync(dest)).toBe(false);
    }
    expect(readdirSync(work).filter((n) => n.includes('extract'))).toEqual([]);
    expect(existsSync(join(work, '..', 'evil.txt'))).toBe(false);
  });

  it('enforces maxEntries and maxBytes', async () => {
    const work = tmp();
    const many = rawTar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: 'abc' })));
    await expect(extractTarSafely(writeArchive(work, many), join(work, 'o1'), { maxEntries: 10 })).rejects.toThrow('more than 10 entries');
    await expect(extractTarSafely(writeArchive(work, many), join(work, 'o2'), { maxBytes: 30 })).rejects.toThrow('more than 30 bytes');
    await expect(extractTarSafely(writeArchive(work, many), join(work, 'o3'), { maxEntries: 20, maxBytes: 60 })).resolves.toMatchObject({ files: 20, bytes: 60 });
  });

  it('refuses a non-empty destination, garbage input and empty archives', async () => {
    const work = tmp();
    const dest = join(work, 'full');
    mkdirSync(dest);
    writeFileSync(join(dest, 'x'), 'x');
    await expect(extractTarSafely(writeArchive(work, rawTar([{ name: 'a', body: 'a' }])), dest)).rejects.toThrow('empty directory');
    const junk = join(work, 'junk.tar');
    writeFileSync(junk, Buffer.from('this is not a tarball at all'.repeat(40)));
    await expect(extractTarSafely(junk, join(work, 'o'))).rejects.toThrow();
    await expect(extractTarSafely(writeArchive(work, Buffer.alloc(1024)), join(work, 'o4'))).rejects.toThrow(/empty|not a valid tar archive/);
    expect(existsSync(join(work, 'o'))).toBe(false);
  });
});

describe('zipFolder', () => {
  it('zips files and empty folders, leaves symlinks out, and can put the folder on top', async () => {
    const work = tmp();
    const src = join(work, 'results');
    mkdirSync(join(src, 'a', 'b'), { recursive: true });
    mkdirSync(join(src, 'empty'));
    writeFileSync(join(src, 'a', 'b', 'x.png'), 'PNG');
    writeFileSync(join(src, 'top.txt'), 'top');
    writeFileSync(join(work, 'secret.txt'), 'outside');
    symlinkSync(join(work, 'secret.txt'), join(src, 'leak'));
    const file = join(work, 'r.zip');
    await pipeline(zipFolder(src), createWriteStream(file));
    expect(await readZip(file, { folders: true })).toEqual({ 'a/b/x.png': 'PNG', 'empty/': '<dir>', 'top.txt': 'top' });
    const file2 = join(work, 'r2.zip');
    await pipeline(zipFolder(src, { includeFolder: true, compress: false }), createWriteStream(file2));
    expect(Object.keys(await readZip(file2, { folders: true })).sort()).toEqual(['results/a/b/x.png', 'results/empty/', 'results/top.txt']);
  });

  it('errors when the folder does not exist', async () => {
    const work = tmp();
    await expect(pipeline(zipFolder(join(work, 'nope')), createWriteStream(join(work, 'x.zip')))).rejects.toThrow('not a folder');
  });
});
