import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import {
  Asset,
  AssetSearchResponse,
  AttachmentCreateResponse,
  AttachmentDetails,
  GlobalSearchResponse,
  Revision,
  RevisionList,
  Space,
  SpaceList,
} from '../../src/lib/contracts/wml';
import { Api, expectIbmError, startTestSandbox, type TestSandbox } from './helpers';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function waitActive(api: Api, id: string): Promise<unknown> {
  for (let i = 0; i < 200; i++) {
    const res = await api.get(`/v2/spaces/${id}`);
    if (res.json.entity.status.state === 'active') return res.json;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('space never became active');
}

async function newSpace(api: Api, name = 'runbook space'): Promise<string> {
  const res = await api.post('/v2/spaces', { name });
  expect(res.status).toBe(202);
  await waitActive(api, res.json.metadata.id);
  return res.json.metadata.id as string;
}

interface Uploaded {
  assetId: string;
  attachmentId: string;
  url1: string;
}

/** The four-step upload of §2.3 (#1–#4), raw body or multipart part `file`. */
async function uploadAsset(api: Api, container: string, name: string, bytes: Buffer | string, form: 'raw' | 'multipart' = 'raw'): Promise<Uploaded> {
  const created = await api.post(`/v2/assets?${container}&version=2021-06-01`, {
    metadata: { name, description: 'test', asset_type: 'data_asset', origin_country: 'us', asset_category: 'USER' },
    entity: { data_asset: { mime_type: 'application/zip' } },
  });
  expect(created.status).toBe(201);
  const assetId = created.json.metadata.asset_id as string;
  const att = await api.post(`/v2/assets/${assetId}/attachments?${container}`, { asset_type: 'data_asset', name, mime: 'application/zip' });
  expect(att.status).toBe(201);
  const { attachment_id: attachmentId, url1 } = AttachmentCreateResponse.parse(att.json);
  let put;
  if (form === 'raw') {
    put = await api.request('PUT', url1, { raw: Buffer.from(bytes), token: null, headers: { 'content-type': 'application/octet-stream' } });
  } else {
    const fd = new FormData();
    fd.append('note', 'ignored field');
    fd.append('file', new Blob([Buffer.from(bytes)]), name);
    put = await api.request('PUT', url1, { raw: fd });
  }
  expect(put.status).toBe(201);
  const done = await api.post(`/v2/assets/${assetId}/attachments/${attachmentId}/complete?${container}`, {});
  expect(done.status).toBe(200);
  return { assetId, attachmentId, url1 };
}

describe('WML spaces and data assets', () => {
  let sb: TestSandbox;
  let api: Api;
  let space: string;
  let q: string;
  beforeAll(async () => {
    sb = await startTestSandbox({ config: { services: { wml: { spaceActivationDelayMs: 0, maxUploadBytes: 1024 * 1024 } } } });
    api = sb.api;
    space = await newSpace(api);
    q = `space_id=${space}`;
  });
  afterAll(async () => {
    await sb.close();
  });

  describe('spaces', () => {
    it('creates (202 preparing), gets, patches, lists with paging and deletes (202, then 404)', async () => {
      const created = await api.post('/v2/spaces', { name: 'paging a', description: 'd', tags: ['t1'] });
      expect(created.status).toBe(202);
      expect(Space.parse(created.json).entity.status.state).toBe('preparing');
      const id = created.json.metadata.id;
      const got = Space.parse(await waitActive(api, id));
      expect(got.entity).toMatchObject({ name: 'paging a', description: 'd', tags: ['t1'] });
      expect(got.metadata.url).toBe(`/v2/spaces/${id}`);

      const patched = await api.patch(`/v2/spaces/${id}`, [{ op: 'replace', path: '/name', value: 'renamed' }, { op: 'add', path: '/tags', value: ['a', 'b'] }]);
      expect(patched.status).toBe(200);
      expect(patched.json.entity).toMatchObject({ name: 'renamed', tags: ['a', 'b'] });
      expectIbmError(await api.patch(`/v2/spaces/${id}`, [{ op: 'replace', path: '/entity/owner', value: 'x' }]), 400, 'body[0].path');
      expectIbmError(await api.patch(`/v2/spaces/${id}`, [{ op: 'replace', path: '/name', value: '' }]), 400, 'body[0].value');
      expectIbmError(await api.patch(`/v2/spaces/${id}`, { op: 'replace' }), 400, 'body: expected array');

      await api.post('/v2/spaces', { name: 'paging b' });
      const seen: string[] = [];
      let href: string | undefined = '/v2/spaces?limit=2';
      let pages = 0;
      while (href) {
        const page = SpaceList.parse((await api.get(href)).json);
        expect(page.resources.length).toBeLessThanOrEqual(2);
        seen.push(...page.resources.map((r) => r.metadata.id));
        expect(page.total_results).toBe(3);
        href = page.next?.href;
        pages++;
      }
      expect(pages).toBe(2);
      expect(new Set(seen).size).toBe(3);
      expect(seen).toContain(id);

      const del = await api.delete(`/v2/spaces/${id}`);
      expect(del.status).toBe(202);
      expectIbmError(await api.get(`/v2/spaces/${id}`), 404, id);
      expectIbmError(await api.delete(`/v2/spaces/${id}`), 404);
    });

    it('validates bodies and paging parameters', async () => {
      expectIbmError(await api.post('/v2/spaces', { description: 'no name' }), 400, 'name: expected string');
      expectIbmError(await api.post('/v2/spaces', { name: 42 }), 400, 'name: expected string');
      expectIbmError(await api.post('/v2/spaces', { name: 'x', tags: 'one' }), 400, 'tags: expected array');
      expectIbmError(await api.get('/v2/spaces?limit=0'), 400, 'query.limit');
      expectIbmError(await api.get('/v2/spaces?limit=ten'), 400, 'query.limit');
      expectIbmError(await api.get('/v2/spaces?start=invalid'), 400, 'query.start');
      expectIbmError(await api.get('/v2/spaces/does-not-exist'), 404, "space 'does-not-exist'");
      expectIbmError(await api.get('/v2/spaces', { token: null }), 401);
    });

    it('refuses assets in a space that is still preparing (409) until it is active', async () => {
      const slow = await startTestSandbox({ config: { services: { wml: { spaceActivationDelayMs: 400 } } } });
      try {
        const id = (await slow.api.post('/v2/spaces', { name: 'slow' })).json.metadata.id;
        expect((await slow.api.get(`/v2/spaces/${id}`)).json.entity.status.state).toBe('preparing');
        expectIbmError(await slow.api.post(`/v2/assets?space_id=${id}`, { metadata: { name: 'x' } }), 409, 'preparing');
        await waitActive(slow.api, id);
        expect((await slow.api.post(`/v2/assets?space_id=${id}`, { metadata: { name: 'x' } })).status).toBe(201);
      } finally {
        await slow.close();
      }
    });

    it('deleting a space deletes its assets and their bytes', async () => {
      const id = await newSpace(api, 'doomed');
      const up = await uploadAsset(api, `space_id=${id}`, 'doomed.zip', 'bytes of doomed');
      const blobDir = join(sb.stateDir, 'blobs', 'wml');
      const before = readdirSync(blobDir).length;
      expect((await api.delete(`/v2/spaces/${id}`)).status).toBe(202);
      expect(readdirSync(blobDir).length).toBe(before - 1);
      expectIbmError(await api.get(`/v2/assets/${up.assetId}?space_id=${id}`), 404, 'space');
      expectIbmError(await api.get(`/v2/asset_files/data_asset/${up.attachmentId}?${q}`), 404);
    });
  });

  describe('data assets', () => {
    it('runs the four-step upload with raw bytes and serves them back three ways', async () => {
      const bytes = Buffer.from('PK\u0003\u0004 fake zip with a name that has spaces');
      const before = Date.now();
      const { assetId, attachmentId } = await uploadAsset(api, q, 'deepliif base v2.zip', bytes);
      const res = await api.get(`/v2/assets/${assetId}?${q}&version=2021-06-01`);
      expect(res.status).toBe(200);
      const asset = Asset.parse(res.json);
      expect(asset.metadata).toMatchObject({ asset_id: assetId, name: 'deepliif base v2.zip', asset_type: 'data_asset', space_id: space, size: bytes.length });
      expect(asset.metadata.usage!.last_update_time).toBeGreaterThanOrEqual(before - 1000);
      expect(asset.metadata.usage!.last_update_time).toBe(Date.parse(asset.metadata.last_updated_at!));
      expect(asset.entity?.data_asset?.mime_type).toBe('application/zip');
      expect(asset.attachments).toHaveLength(1);
      const [att] = asset.attachments!;
      expect(att).toMatchObject({ id: attachmentId, transfer_complete: true, size: bytes.length });

      const details = AttachmentDetails.parse((await api.get(`/v2/assets/${assetId}/attachments/${attachmentId}?${q}`)).json);
      expect(details.url).toBeDefined();
      const viaUrl = await fetch(sb.url + details.url);
      expect(viaUrl.status).toBe(200);
      expect(Buffer.from(await viaUrl.arrayBuffer())).toEqual(bytes);
      expect(viaUrl.headers.get('content-type')).toBe('application/zip');
      expect(viaUrl.headers.get('content-disposition')).toContain("filename*=UTF-8''deepliif%20base%20v2.zip");

      const viaKey = await fetch(`${sb.url}/v2/asset_files/${att!.handle!.key}?${q}`, { headers: { authorization: `Bearer ${api.token}` } });
      expect(Buffer.from(await viaKey.arrayBuffer())).toEqual(bytes);
      const encodedKey = await fetch(`${sb.url}/v2/asset_files/${encodeURIComponent(att!.handle!.key)}?${q}`, { headers: { authorization: `Bearer ${api.token}` } });
      expect(encodedKey.status).toBe(200);

      expectIbmError(await api.get(`/v2/asset_files/${att!.handle!.key}?${q}`, { token: null }), 401);
      expectIbmError(await api.get(`/v2/asset_files/${att!.handle!.key}?${q}&signature=forged`, { token: null }), 401, 'signature');
      expectIbmError(await api.get(`/v2/asset_files/${att!.handle!.key}`), 400, 'space_id');
    });

    it('accepts a multipart upload with the part `file` and rejects one without it', async () => {
      const bytes = Buffer.alloc(200_000, 7);
      const { assetId } = await uploadAsset(api, q, 'multi.bin', bytes, 'multipart');
      const asset = (await api.get(`/v2/assets/${assetId}?${q}`)).json;
      expect(asset.metadata.size).toBe(bytes.length);
      const down = await fetch(`${sb.url}/v2/asset_files/${asset.attachments[0].handle.key}?${q}`, { headers: { authorization: `Bearer ${api.token}` } });
      expect(sha(Buffer.from(await down.arrayBuffer()))).toBe(sha(bytes));

      const created = await api.post(`/v2/assets?${q}`, { metadata: { name: 'nofile' } });
      const att = await api.post(`/v2/assets/${created.json.metadata.asset_id}/attachments?${q}`, { name: 'nofile' });
      const fd = new FormData();
      fd.append('upFile', new Blob(['x']), 'x');
      expectIbmError(await api.request('PUT', att.json.url1, { raw: fd }), 400, "part 'file' is required");
    });

    it('answers 400 to a truncated multipart form and keeps serving', async () => {
      const created = await api.post(`/v2/assets?${q}`, { metadata: { name: 'truncated.bin' } });
      const att = await api.post(`/v2/assets/${created.json.metadata.asset_id}/attachments?${q}`, { name: 'truncated.bin' });
      const boundary = 'cut-here-boundary';
      for (const partName of ['file', 'other']) {
        // The body ends inside a part (no closing boundary): busboy fails that part's stream.
        const body = `--${boundary}\r\nContent-Disposition: form-data; name="${partName}"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${'x'.repeat(5000)}`;
        const res = await api.request('PUT', att.json.url1, { raw: body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
        expectIbmError(res, 400);
      }
      // The half-written blob of the truncated `file` part is swept: nothing is left behind.
      const tmp = join(sb.stateDir, 'tmp');
      for (let i = 0; i < 200 && readdirSync(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(tmp)).toEqual([]);
      expect((await api.get(`/v2/assets/${created.json.metadata.asset_id}?${q}`)).status).toBe(200);
    });

    it('enforces the attachment state machine: no complete before upload, no upload after complete', async () => {
      const created = await api.post(`/v2/assets?${q}`, { metadata: { name: 'states.txt' } });
      const assetId = created.json.metadata.asset_id;
      const att = await api.post(`/v2/assets/${assetId}/attachments?${q}`, { name: 'states.txt', mime: 'text/plain' });
      const aid = att.json.attachment_id;
      expectIbmError(await api.post(`/v2/assets/${assetId}/attachments/${aid}/complete?${q}`, {}), 409, 'no uploaded bytes');
      const pending = (await api.get(`/v2/assets/${assetId}/attachments/${aid}?${q}`)).json;
      expect(pending.url).toBeUndefined();
      expect(pending.transfer_complete).toBe(false);
      expectIbmError(await api.get(`/v2/asset_files/data_asset/${aid}?${q}`), 409, 'not complete');
      // A second upload before complete replaces the first.
      await api.request('PUT', att.json.url1, { raw: 'first', token: null });
      await api.request('PUT', att.json.url1, { raw: 'second!', token: null });
      expect((await api.post(`/v2/assets/${assetId}/attachments/${aid}/complete?${q}`)).status).toBe(200);
      expect((await api.post(`/v2/assets/${assetId}/attachments/${aid}/complete?${q}`)).status).toBe(200); // idempotent
      const asset = (await api.get(`/v2/assets/${assetId}?${q}`)).json;
      expect(asset.metadata.size).toBe(7);
      expectIbmError(await api.request('PUT', att.json.url1, { raw: 'third', token: null }), 409, 'complete');
      const text = await (await fetch(`${sb.url}/v2/asset_files/data_asset/${aid}?${q}`, { headers: { authorization: `Bearer ${api.token}` } })).text();
      expect(text).toBe('second!');
      // A signature is bound to its attachment and purpose.
      const other = await api.post(`/v2/assets/${assetId}/attachments?${q}`, { name: 'other' });
      const sig = new URL(sb.url + att.json.url1).searchParams.get('signature');
      expectIbmError(await api.request('PUT', `/v2/asset_files/data_asset/${other.json.attachment_id}?${q}&signature=${sig}`, { raw: 'x', token: null }), 401);
    });

    it('requires exactly one container and scopes assets to it', async () => {
      const { assetId } = await uploadAsset(api, q, 'scoped.txt', 'scoped');
      expectIbmError(await api.post('/v2/assets', { metadata: { name: 'x' } }), 400, 'exactly one of space_id, project_id or catalog_id');
      expectIbmError(await api.post(`/v2/assets?${q}&project_id=p1`, { metadata: { name: 'x' } }), 400, 'space_id, project_id');
      expectIbmError(await api.post('/v2/assets?space_id=nope', { metadata: { name: 'x' } }), 404, "space 'nope'");
      expectIbmError(await api.get(`/v2/assets/${assetId}?project_id=p1`), 404, assetId);
      const other = await newSpace(api, 'other');
      expectIbmError(await api.get(`/v2/assets/${assetId}?space_id=${other}`), 404, 'asset');
      const inProject = await uploadAsset(api, 'project_id=proj-1', 'in-project.txt', 'p');
      expect((await api.get(`/v2/assets/${inProject.assetId}?project_id=proj-1`)).json.metadata.project_id).toBe('proj-1');
      expectIbmError(await api.get(`/v2/assets/unknown-id?${q}`), 404, "asset 'unknown-id'");
    });

    it.each([
      ['../escape.zip', "'..'"],
      ['a/../../escape.zip', "'..'"],
      ['/etc/passwd', 'absolute'],
      ['nul\u0000byte.zip', 'NUL'],
      ['C:/win.zip', 'drive letter'],
    ])('rejects the asset name %j and the attachment name with 400', async (name, why) => {
      const res = await api.post(`/v2/assets?${q}`, { metadata: { name } });
      expectIbmError(res, 400, 'metadata.name');
      expectIbmError(res, 400, why);
      const ok = await api.post(`/v2/assets?${q}`, { metadata: { name: 'fine name.zip' } });
      expectIbmError(await api.post(`/v2/assets/${ok.json.metadata.asset_id}/attachments?${q}`, { name }), 400, 'body.name');
    });

    it('validates asset and attachment bodies naming the field', async () => {
      expectIbmError(await api.post(`/v2/assets?${q}`, { entity: {} }), 400, 'metadata: expected object');
      expectIbmError(await api.post(`/v2/assets?${q}`, { metadata: { name: 5 } }), 400, 'metadata.name: expected string');
      expectIbmError(await api.post(`/v2/assets?${q}`, { metadata: { name: 'x', asset_type: 'wml_model' } }), 400, 'metadata.asset_type');
      expectIbmError(await api.post(`/v2/assets?${q}`, { metadata: { name: 'x', tags: [1] } }), 400, 'metadata.tags[0]');
      const ok = await api.post(`/v2/assets?${q}`, { metadata: { name: 'x' } });
      const id = ok.json.metadata.asset_id;
      expectIbmError(await api.post(`/v2/assets/${id}/attachments?${q}`, { mime: 'x' }), 400, 'name: expected string');
      expectIbmError(await api.post(`/v2/assets/${id}/attachments?${q}`, { name: 'r', is_remote: true, connection_id: 'c' }), 400, 'not supported');
      expectIbmError(await api.post(`/v2/assets/${id}/attachments/nope/complete?${q}`), 404, "attachment 'nope'");
    });

    it('deletes attachments and assets (204) and their bytes', async () => {
      const blobDir = join(sb.stateDir, 'blobs', 'wml');
      const { assetId, attachmentId } = await uploadAsset(api, q, 'gone.txt', 'bye');
      const count = readdirSync(blobDir).length;
      expect((await api.delete(`/v2/assets/${assetId}/attachments/${attachmentId}?${q}`)).status).toBe(204);
      expect(readdirSync(blobDir).length).toBe(count - 1);
      expect((await api.get(`/v2/assets/${assetId}?${q}`)).json.attachments).toEqual([]);
      expect((await api.delete(`/v2/assets/${assetId}?${q}`)).status).toBe(204);
      expectIbmError(await api.get(`/v2/assets/${assetId}?${q}`), 404);
      expectIbmError(await api.delete(`/v2/assets/${assetId}?${q}`), 404);
    });

    it('answers 413 to an upload over maxUploadBytes and keeps nothing of it', async () => {
      const blobDir = join(sb.stateDir, 'blobs', 'wml');
      const count = readdirSync(blobDir).length;
      const created = await api.post(`/v2/assets?${q}`, { metadata: { name: 'huge.bin' } });
      const att = await api.post(`/v2/assets/${created.json.metadata.asset_id}/attachments?${q}`, { name: 'huge.bin' });
      expectIbmError(await api.request('PUT', att.json.url1, { raw: Buffer.alloc(1024 * 1024 + 1), token: null }), 413, 'limit');
      expect(readdirSync(blobDir).length).toBe(count);
      expect(readdirSync(join(sb.stateDir, 'tmp'))).toEqual([]);
    });

    it.each(['raw', 'multipart'] as const)('cleans up when the client aborts a %s upload half-way', async (form) => {
      const created = await api.post(`/v2/assets?${q}`, { metadata: { name: `aborted-${form}.bin` } });
      const assetId = created.json.metadata.asset_id;
      const att = await api.post(`/v2/assets/${assetId}/attachments?${q}`, { name: 'a.bin' });
      const boundary = 'xxBOUNDARYxx';
      const u = new URL(sb.url + att.json.url1);
      const headers: Record<string, string> = form === 'raw'
        ? { 'content-type': 'application/octet-stream', 'content-length': String(50 * 1024 * 1024) }
        : { 'content-type': `multipart/form-data; boundary=${boundary}` };
      const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'PUT', headers });
      req.on('error', () => undefined);
      if (form === 'multipart') req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
      // Stay under the suite's 1 MiB maxUploadBytes: past it the server answers 413 and drops the temp file at once.
      for (let i = 0; i < 4; i++) req.write(Buffer.alloc(128 * 1024, 1));
      // Wait until the server has started writing, then vanish.
      const tmp = join(sb.stateDir, 'tmp');
      for (let i = 0; i < 200 && readdirSync(tmp).length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(tmp).length).toBe(1);
      req.destroy();
      for (let i = 0; i < 200 && readdirSync(tmp).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(tmp)).toEqual([]);
      const asset = (await api.get(`/v2/assets/${assetId}?${q}`)).json;
      expect(asset.attachments[0]).toMatchObject({ transfer_complete: false, size: 0 });
      expectIbmError(await api.post(`/v2/assets/${assetId}/attachments/${att.json.attachment_id}/complete?${q}`), 409);
    });

    it('stores parallel uploads independently and correctly', async () => {
      const payloads = Array.from({ length: 8 }, (_, i) => Buffer.alloc(50_000 + i * 1000, i + 1));
      const done = await Promise.all(payloads.map((p, i) => uploadAsset(api, q, `parallel-${i}.bin`, p, i % 2 ? 'multipart' : 'raw')));
      for (let i = 0; i < payloads.length; i++) {
        const body = await fetch(`${sb.url}/v2/asset_files/data_asset/${done[i]!.attachmentId}?${q}`, { headers: { authorization: `Bearer ${api.token}` } });
        expect(sha(Buffer.from(await body.arrayBuffer()))).toBe(sha(payloads[i]!));
      }
    });
  });

  describe('search', () => {
    let sq: string;
    beforeAll(async () => {
      sq = `space_id=${await newSpace(api, 'search space')}`;
      for (const name of ['dup.zip', 'my file.zip', 'dup.zip', 'deepliif-base.zip', 'dup.zip', 'say "hi".txt']) await uploadAsset(api, sq, name, name);
    });

    const search = (body: unknown) => api.post(`/v2/asset_types/data_asset/search?${sq}&version=2021-06-01`, body);

    it('lists everything with *:* and finds names exactly (quoted, bare, escaped)', async () => {
      const all = AssetSearchResponse.parse((await search({ query: '*:*' })).json);
      expect(all.total_rows).toBe(6);
      expect(all.results.map((r) => r.metadata.name)).toEqual(['dup.zip', 'my file.zip', 'dup.zip', 'deepliif-base.zip', 'dup.zip', 'say "hi".txt']);
      expect(all.next).toBeUndefined();
      expect(all.results[0]!.metadata.usage!.last_update_time).toEqual(expect.any(Number));
      const names = async (query: string) => ((await search({ query })).json.results as { metadata: { name: string } }[]).map((r) => r.metadata.name);
      expect(await names('asset.name:dup.zip')).toEqual(['dup.zip', 'dup.zip', 'dup.zip']);
      expect(await names('asset.name:"my file.zip"')).toEqual(['my file.zip']);
      expect(await names('asset.name:my file.zip')).toEqual(['my file.zip']);
      expect(await names('asset.name:deepliif\\-base.zip')).toEqual(['deepliif-base.zip']);
      expect(await names('asset.name:"say \\"hi\\".txt"')).toEqual(['say "hi".txt']);
      expect(await names('asset.name:nothing')).toEqual([]);
      const one = (await search({ query: '*:*', limit: 1 })).json.results[0];
      expect(await names(`asset.asset_id:${one.metadata.asset_id}`)).toEqual([one.metadata.name]);
    });

    it('pages with limit and next (the body to POST again) without gaps or repeats', async () => {
      const seen: string[] = [];
      let body: unknown = { query: '*:*', limit: 4, include: 'entity,attachments' };
      let pages = 0;
      while (body) {
        const page = AssetSearchResponse.parse((await search(body)).json);
        expect(page.total_rows).toBe(6);
        expect(page.results[0]!.attachments).toHaveLength(1);
        seen.push(...page.results.map((r) => r.metadata.asset_id));
        body = page.next;
        pages++;
      }
      expect(pages).toBe(2);
      expect(new Set(seen).size).toBe(6);
      const nameOnly = AssetSearchResponse.parse((await search({ query: 'asset.name:dup.zip', limit: 2 })).json);
      expect(nameOnly.next).toMatchObject({ query: 'asset.name:dup.zip', limit: 2 });
      expect(AssetSearchResponse.parse((await search(nameOnly.next)).json).results).toHaveLength(1);
    });

    it('rejects unsupported queries, bad limits and foreign bookmarks', async () => {
      expectIbmError(await search({ query: 'asset.owner:me' }), 400, 'query: unsupported');
      expectIbmError(await search({ query: 'asset.name:"open' }), 400, 'unterminated');
      expectIbmError(await search({}), 400, 'query: expected string');
      expectIbmError(await search({ query: '*:*', limit: 500 }), 400, 'limit');
      expectIbmError(await search({ query: '*:*', bookmark: 'garbage' }), 400, 'body.bookmark');
      expectIbmError(await api.post('/v2/asset_types/data_asset/search', { query: '*:*' }), 400, 'space_id');
    });

    it('answers the /v3/search form of name lookups', async () => {
      const space = sq.split('=')[1];
      const res = await api.get(`/v3/search?query=${encodeURIComponent(`metadata.name:dup.zip AND entity.assets.space_id:${space}`)}`);
      const body = GlobalSearchResponse.parse(res.json);
      expect(body.size).toBe(3);
      expect(body.rows.every((r) => r.metadata.name === 'dup.zip')).toBe(true);
      expectIbmError(await api.get('/v3/search?query=owner:x'), 400, 'unsupported');
    });
  });

  describe('revisions', () => {
    it('follows the add-revision pattern: new attachment, delete old, commit; old revisions keep their bytes', async () => {
      const { assetId, attachmentId: first } = await uploadAsset(api, q, 'deployment_metadata.yml', 'version: 1\n');
      const r1 = await api.post(`/v2/assets/${assetId}/revisions?${q}`, { commit_message: 'first' });
      expect(r1.status).toBe(201);
      expect(Revision.parse(r1.json)).toMatchObject({ revision_id: 1, commit_message: 'first' });

      const att = await api.post(`/v2/assets/${assetId}/attachments?${q}`, { asset_type: 'data_asset', name: 'deployment_metadata.yml', mime: 'text/yaml' });
      const fd = new FormData();
      fd.append('file', new Blob(['version: 2\n']), 'deployment_metadata.yml');
      expect((await api.request('PUT', att.json.url1, { raw: fd })).status).toBe(201);
      await api.post(`/v2/assets/${assetId}/attachments/${att.json.attachment_id}/complete?${q}`);
      expect((await api.delete(`/v2/assets/${assetId}/attachments/${first}?${q}`)).status).toBe(204);
      const r2 = await api.post(`/v2/assets/${assetId}/revisions?${q}`, { commit_message: 'second' });
      expect(r2.json.revision_id).toBe(2);

      const list = RevisionList.parse((await api.get(`/v2/assets/${assetId}/revisions?${q}`)).json);
      expect(list.results.map((r) => r.revision_id)).toEqual([1, 2]);
      const old = Asset.parse((await api.get(`/v2/assets/${assetId}?${q}&revision_id=1`)).json);
      expect(old.metadata.revision_id).toBe(1);
      const oldKey = old.attachments![0]!.handle!.key;
      const current = Asset.parse((await api.get(`/v2/assets/${assetId}?${q}`)).json);
      const newKey = current.attachments![0]!.handle!.key;
      expect(oldKey).not.toBe(newKey);
      const get = async (key: string) => (await fetch(`${sb.url}/v2/asset_files/${key}?${q}`, { headers: { authorization: `Bearer ${api.token}` } })).text();
      expect(await get(oldKey)).toBe('version: 1\n');
      expect(await get(newKey)).toBe('version: 2\n');
      expectIbmError(await api.get(`/v2/assets/${assetId}?${q}&revision_id=9`), 404, 'revision');
      expectIbmError(await api.get(`/v2/assets/${assetId}?${q}&revision_id=x`), 400, 'query.revision_id');
    });
  });

  it('reports spaces and assets in the status section', async () => {
    const res = await api.get('/sandbox/v1/status');
    const wml = res.json.sections.find((s: { module: string }) => s.module === 'wml');
    expect(wml.title).toBe('WML spaces and data assets');
    expect(wml.lines.join('\n')).toContain('space "runbook space"');
    expect(wml.lines.join('\n')).toMatch(/deepliif base v2\.zip \([0-9a-f-]+\) \d+ bytes/);
  });
});
