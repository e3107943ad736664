import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readZip } from '../helpers/zip';
import { DirectoryListingResponse, VolumeWriteResponse, parseLastModified } from '../../src/lib/contracts/volumes';
import { SANDBOX_DEFAULT_VOLUME } from '../../src/sandbox/config';
import { Api, expectIbmError, rawRequest, startTestSandbox, tempStateDir, type TestSandbox } from './helpers';

const enc = (p: string) => encodeURIComponent(p);
const vol = `/zen-volumes/${enc(SANDBOX_DEFAULT_VOLUME)}/v1/volumes`;

async function upload(api: Api, path: string, content: string | Buffer, form: 'multipart' | 'raw' = 'multipart', field = 'upFile') {
  if (form === 'raw') return api.request('PUT', `${vol}/files/${enc(path)}`, { raw: Buffer.from(content), headers: { 'content-type': 'application/octet-stream' } });
  const fd = new FormData();
  fd.append(field, new Blob([Buffer.from(content)]), path);
  return api.request('PUT', `${vol}/files/${enc(path)}`, { raw: fd });
}

describe('storage volumes', () => {
  let sb: TestSandbox;
  let api: Api;
  let root: string;
  beforeAll(async () => {
    sb = await startTestSandbox();
    api = sb.api;
    root = join(sb.stateDir, 'volumes', SANDBOX_DEFAULT_VOLUME);
  });
  afterAll(async () => {
    await sb.close();
  });

  it('starts with the default volume, empty', async () => {
    const res = await api.get(`${vol}/directories/${enc('/')}?include_details=true&recursive=true`);
    expect(res.status).toBe(200);
    expect(DirectoryListingResponse.parse(res.json).responseObject.directoryContents).toEqual([]);
    expect((await api.get(`${vol}/directories/?include_details=true`)).json.responseObject.directoryContents).toEqual([]);
  });

  it('uploads (multipart upFile or raw), creating parent folders, and lists recursively with details', async () => {
    const put = await upload(api, 'test_output/sub/x.png', 'PNGDATA');
    expect(put.status).toBe(200);
    VolumeWriteResponse.parse(put.json);
    expect((await upload(api, '/test_output/notes', 'plain', 'raw')).status).toBe(200);
    expect(readFileSync(join(root, 'test_output', 'sub', 'x.png'), 'utf8')).toBe('PNGDATA');

    const when = new Date('2022-02-15T22:34:51Z');
    utimesSync(join(root, 'test_output', 'sub', 'x.png'), when, when);
    const res = await api.get(`${vol}/directories/${enc('/test_output')}?include_details=true&recursive=true`);
    const entries = DirectoryListingResponse.parse(res.json).responseObject.directoryContents;
    expect(entries).toEqual([
      { path: 'notes', type: 'file', content_length: 5, last_modified: expect.stringMatching(/GMT$/), file_extension: '' },
      { path: 'sub', type: 'directory', content_length: 0, last_modified: expect.stringMatching(/GMT$/) },
      { path: 'sub/x.png', type: 'file', content_length: 7, last_modified: 'Tue, 15 Feb 2022 22:34:51 GMT', file_extension: '.png' },
    ]);
    expect(parseLastModified((entries[2] as { last_modified: string }).last_modified)).toBe(when.getTime());

    const flat = await api.get(`${vol}/directories/${enc('test_output')}?include_details=true&recursive=false`);
    expect(flat.json.responseObject.directoryContents.map((e: { path: string }) => e.path)).toEqual(['notes', 'sub']);
    const names = await api.get(`${vol}/directories/${enc('/')}?recursive=true`);
    expect(names.json.responseObject.directoryContents).toEqual(['test_output', 'test_output/notes', 'test_output/sub', 'test_output/sub/x.png']);
  });

  it('answers 404 for missing folders and files and for listing a file', async () => {
    expectIbmError(await api.get(`${vol}/directories/${enc('/nope')}?include_details=true`), 404, 'nope');
    expectIbmError(await api.get(`${vol}/directories/${enc('test_output/notes')}`), 404, 'it is a file');
    expectIbmError(await api.get(`${vol}/files/${enc('nope.txt')}`), 404);
    expectIbmError(await api.get(`/zen-volumes/unknown/v1/volumes/directories/${enc('/')}`), 404, "volume 'unknown'");
    expectIbmError(await api.get(`${vol}/directories/${enc('/')}`, { token: null }), 401);
  });

  it('downloads files, and folders as zip with compress=zip', async () => {
    await upload(api, 'dl/a.txt', 'AAA');
    await upload(api, 'dl/deep/b.txt', 'BBB');
    const file = await fetch(`${sb.url}${vol}/files/${enc('dl/a.txt')}`, { headers: { authorization: `Bearer ${api.token}` } });
    expect(await file.text()).toBe('AAA');
    expect(file.headers.get('content-length')).toBe('3');
    expectIbmError(await api.get(`${vol}/files/${enc('dl')}`), 400, 'compress=zip');
    const zip = await fetch(`${sb.url}${vol}/files/${enc('dl')}?compress=zip`, { headers: { authorization: `Bearer ${api.token}` } });
    expect(zip.headers.get('content-type')).toBe('application/zip');
    expect(await readZip(Buffer.from(await zip.arrayBuffer()))).toEqual({ 'a.txt': 'AAA', 'deep/b.txt': 'BBB' });
    const single = await fetch(`${sb.url}${vol}/files/${enc('dl/a.txt')}?compress=zip`, { headers: { authorization: `Bearer ${api.token}` } });
    expect(await readZip(Buffer.from(await single.arrayBuffer()))).toEqual({ 'a.txt': 'AAA' });
    expectIbmError(await api.get(`${vol}/files/${enc('dl')}?compress=tar`), 400, 'query.compress');
  });

  it('overwrites files atomically and refuses to write over folders or under files', async () => {
    await upload(api, 'over/f.txt', 'one');
    await upload(api, 'over/f.txt', 'two, longer');
    expect(readFileSync(join(root, 'over', 'f.txt'), 'utf8')).toBe('two, longer');
    expectIbmError(await upload(api, 'over', 'x'), 409, 'is a directory');
    expectIbmError(await upload(api, 'over/f.txt/inner', 'x'), 409, 'is a file');
    expectIbmError(await upload(api, '/', 'x'), 400, 'volume root');
    expectIbmError(await upload(api, 'over/g.txt', 'x', 'multipart', 'file'), 400, "part 'upFile' is required");
    expect(existsSync(join(root, 'over', 'g.txt'))).toBe(false);
  });

  it.each([
    ['an encoded ../ path', `files/${enc('../../etc/passwd')}`],
    ['a raw ../ path', 'files/a/../../../etc/passwd'],
    ['a double-encoded ..', `files/${enc('%2e%2e/x')}`],
    ['an encoded %2e%2e segment', 'files/%2e%2e/x'],
    ['a NUL byte', `files/${enc('a\u0000b')}`],
    ['a backslash', `files/${enc('..\\x')}`],
    ['a drive letter', `files/${enc('C:/x')}`],
    ['a listing that climbs', `directories/${enc('/../..')}`],
  ])('rejects %s with 400', async (_label, suffix) => {
    // Sent verbatim: fetch would normalise `..` segments away before they reach the server.
    expectIbmError(await rawRequest(sb.url, 'GET', `${vol}/${suffix}`, api.token), 400);
    expectIbmError(await rawRequest(sb.url, 'PUT', `${vol}/${suffix.replace(/^directories/, 'files')}`, api.token, 'evil'), 400);
    expect(existsSync(join(sb.stateDir, 'etc'))).toBe(false);
  });

  it('does not follow symlinks that lead out of the volume', async () => {
    const outside = join(sb.stateDir, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    symlinkSync(outside, join(root, 'escape'));
    symlinkSync(join(outside, 'secret.txt'), join(root, 'secret-link'));
    expectIbmError(await api.get(`${vol}/files/${enc('escape/secret.txt')}`), 403, 'outside the volume');
    expectIbmError(await api.get(`${vol}/files/${enc('secret-link')}`), 403);
    expectIbmError(await upload(api, 'escape/planted.txt', 'x'), 403);
    expect(existsSync(join(outside, 'planted.txt'))).toBe(false);
    const listing = await api.get(`${vol}/directories/${enc('/')}?recursive=true`);
    expect(listing.json.responseObject.directoryContents).not.toContain('escape');
    expect(listing.json.responseObject.directoryContents).not.toContain('secret-link');
  });

  it('deletes files, and folders only with recursive=true', async () => {
    await upload(api, 'del/x.txt', 'x');
    expectIbmError(await api.delete(`${vol}/files/${enc('del')}`), 409, 'recursive=true');
    expect((await api.delete(`${vol}/files/${enc('del/x.txt')}`)).status).toBe(200);
    expectIbmError(await api.delete(`${vol}/files/${enc('del/x.txt')}`), 404);
    expect((await api.delete(`${vol}/files/${enc('del')}?recursive=true`)).status).toBe(200);
    expect(existsSync(join(root, 'del'))).toBe(false);
    expectIbmError(await api.delete(`${vol}/files/${enc('/')}`), 400, 'root');
  });

  it('adds volumes at runtime, backed by any folder, and reports them in status', async () => {
    const folder = tempStateDir('volume-backing-');
    writeFileSync(join(folder, 'existing.csv'), 'a,b');
    const res = await api.put(`/sandbox/v1/volumes/${enc('Project Volume')}`, { path: folder });
    expect(res.status).toBe(201);
    expect((await api.put(`/sandbox/v1/volumes/${enc('Project Volume')}`, { path: folder })).status).toBe(200);
    expectIbmError(await api.put(`/sandbox/v1/volumes/${enc('bad/name')}`, {}), 400, 'name');
    expectIbmError(await api.put(`/sandbox/v1/volumes/${enc('.hidden')}`, {}), 400, 'name');
    const listing = await api.get(`/zen-volumes/${enc('Project Volume')}/v1/volumes/directories/${enc('/')}?include_details=true`);
    expect(listing.json.responseObject.directoryContents.map((e: { path: string }) => e.path)).toEqual(['existing.csv']);
    const status = await api.get('/sandbox/v1/status');
    const section = status.json.sections.find((s: { module: string }) => s.module === 'volumes');
    expect(section.title).toBe('Storage volumes');
    expect(section.lines.join('\n')).toContain(`Project Volume → ${folder}: 1 file(s), 3 bytes`);
  });
});

describe('volumes across restarts', () => {
  it('keeps runtime volumes and sweeps partial uploads', async () => {
    const stateDir = tempStateDir();
    const first = await startTestSandbox({ stateDir });
    await first.api.put('/sandbox/v1/volumes/later', {});
    await first.close();
    const partial = join(stateDir, 'volumes', 'later', 'sub', '.sandbox-upload-1234.tmp');
    mkdirSync(join(stateDir, 'volumes', 'later', 'sub'), { recursive: true });
    writeFileSync(partial, 'half');
    const second = await startTestSandbox({ stateDir });
    try {
      expect(existsSync(partial)).toBe(false);
      const res = await second.api.get(`/zen-volumes/later/v1/volumes/directories/${enc('/')}?recursive=true`);
      expect(res.json.responseObject.directoryContents).toEqual(['sub']);
    } finally {
      await second.close();
    }
  });

  it('rejects a bad volume in config naming the field', async () => {
    await expect(startTestSandbox({ config: { services: { volumes: { volumes: [{ name: '../x' }] } } } })).rejects.toThrow(/config\.services\.volumes: volumes\.0\.name/);
  });
});
