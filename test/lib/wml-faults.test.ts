import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { RemoteApiError } from '../../src/lib/http/errors';
import { startProxy } from '../helpers/proxy';
import { clientFor, sha256File, startWmlFixture, writeRandomFile, type WmlFixture } from './wml-helpers';

/**
 * Retries under injected faults: idempotent calls are retried by the HTTP client (a re-openable
 * body for PUT), non-idempotent POSTs are not re-sent blindly (lookup, then start over), failed
 * uploads leave no half asset, broken downloads restart and leave no partial file.
 */

let fx: WmlFixture;
let space: string;
beforeAll(async () => {
  fx = await startWmlFixture();
  space = await fx.space('faults');
});
afterAll(async () => {
  await fx.close();
});

let n = 0;
const fresh = () => `fault-${++n}-${Date.now().toString(36)}.bin`;

async function assetsNamed(name: string): Promise<{ id: string; complete: boolean }[]> {
  const res = await fx.sandbox.api.post(`/v2/asset_types/data_asset/search?space_id=${space}`, { query: `asset.name:"${name}"`, include: 'attachments' });
  return (res.json.results as { metadata: { asset_id: string }; attachments: { transfer_complete: boolean }[] }[]).map((r) => ({
    id: r.metadata.asset_id,
    complete: r.attachments.length > 0 && r.attachments.every((a) => a.transfer_complete),
  }));
}

/** Runs `fn` with these fault rules, then clears them and returns the hit counts. */
async function withFaults(rules: unknown[], fn: () => Promise<void>): Promise<number[]> {
  await fx.faults(rules);
  try {
    await fn();
  } finally {
    var hits = await fx.faultHits();
    await fx.faults([]);
  }
  return hits;
}

describe('WML client under faults', () => {
  it('retries 503s on the search and on the byte upload (re-opening the file), with a correct result', async () => {
    const { wml, retries } = fx.client();
    const name = fresh();
    const file = join(fx.dir, name);
    const sha = await writeRandomFile(file, 2 * 1024 * 1024);
    let result: Awaited<ReturnType<ReturnType<typeof wml.assets>['upload']>> | undefined;
    const hits = await withFaults(
      [
        { route: 'POST /v2/asset_types/data_asset/search', errorRate: 1, statuses: [503], retryAfterSeconds: 0, maxHits: 2 },
        { route: 'PUT /v2/asset_files/*', errorRate: 1, statuses: [503], maxHits: 2 },
        { route: 'GET /v2/assets/*', errorRate: 1, statuses: [429], retryAfterSeconds: 0, maxHits: 1 },
      ],
      async () => {
        result = await wml.assets(space).upload(file);
      },
    );
    expect(hits).toEqual([2, 2, 1]);
    expect(result).toMatchObject({ action: 'uploaded', sha256: sha, bytes: 2 * 1024 * 1024 });
    // The sandbox answers 503 before reading the body, so the client sees the 503 or a broken pipe: both are retried.
    const putRetries = retries.filter((r) => r.method === 'PUT').map((r) => r.reason);
    expect(putRetries.length).toBe(2);
    for (const reason of putRetries) expect(reason).toMatch(/^(503|EPIPE|ECONNRESET)$/);
    expect(retries.filter((r) => r.method === 'POST').every((r) => r.url.includes('/search'))).toBe(true);
    expect(retries.some((r) => r.status === 429 && r.source === 'retry-after')).toBe(true);
    expect(await assetsNamed(name)).toEqual([{ id: result!.asset.id, complete: true }]);
    expect((await wml.assets(space).download({ name }, join(fx.dir, 'back.bin'))).sha256).toBe(sha);
  });

  it('does not re-send a failed asset create blindly: it looks for its tagged asset, then creates once more', async () => {
    const { wml, retries } = fx.client();
    const name = fresh();
    const file = join(fx.dir, name);
    await writeRandomFile(file, 1000);
    const hits = await withFaults([{ route: 'POST /v2/assets', errorRate: 1, statuses: [503], maxHits: 1 }], async () => {
      await wml.assets(space).upload(file);
    });
    expect(hits).toEqual([1]);
    expect(retries.filter((r) => r.method === 'POST' && /\/v2\/assets(\?|$)/.test(r.url))).toEqual([]);
    const found = await assetsNamed(name);
    expect(found.length).toBe(1);
    expect(found[0]!.complete).toBe(true);
  });

  it('adopts the asset when the create happened but its answer was lost (no twin)', async () => {
    let lose = 1;
    const proxy = await startProxy(fx.sandbox.url, { decide: (method, path) => (method === 'POST' && path === '/v2/assets' && lose-- > 0 ? 'lose-response' : 'pass') });
    try {
      const { wml, close } = clientFor(proxy.url);
      const name = fresh();
      const file = join(fx.dir, name);
      const sha = await writeRandomFile(file, 5000);
      const r = await wml.assets(space).upload(file);
      expect(r.sha256).toBe(sha);
      expect(proxy.seen.filter((r) => r.method === 'POST' && r.url.split('?')[0] === '/v2/assets').length).toBe(1);
      expect(await assetsNamed(name)).toEqual([{ id: r.asset.id, complete: true }]);
      close();
    } finally {
      await proxy.close();
    }
  });

  it('an ambiguous attachment create discards the half asset and starts over', async () => {
    const { wml } = fx.client();
    const name = fresh();
    const file = join(fx.dir, name);
    await writeRandomFile(file, 1000);
    const hits = await withFaults([{ route: 'POST /v2/assets/*/attachments', errorRate: 1, statuses: [502], maxHits: 1 }], async () => {
      await wml.assets(space).upload(file);
    });
    expect(hits).toEqual([1]);
    const found = await assetsNamed(name);
    expect(found.length).toBe(1);
    expect(found[0]!.complete).toBe(true);
  });

  it('an upload that cannot complete deletes its half asset and leaves the previous copy in place', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh();
    const file = join(fx.dir, name);
    const oldSha = await writeRandomFile(file, 1000);
    const old = await assets.upload(file);
    await writeRandomFile(file, 2000);
    let err: unknown;
    await withFaults([{ route: 'POST /v2/assets/*/attachments/*/complete', errorRate: 1, statuses: [500], maxHits: 100 }], async () => {
      err = await assets.upload(file).catch((e) => e);
    });
    expect(err).toBeInstanceOf(RemoteApiError);
    expect((err as RemoteApiError).status).toBe(500);
    expect((err as RemoteApiError).attempts).toBeGreaterThan(1); // complete is idempotent: it was retried
    expect(await assetsNamed(name)).toEqual([{ id: old.asset.id, complete: true }]);
    expect((await assets.download({ name }, join(fx.dir, 'still-old.bin'))).sha256).toBe(oldSha);
  });

  it('a download cut mid-stream starts over and still yields the exact bytes, with no partial file left', async () => {
    const name = fresh();
    const file = join(fx.dir, name);
    const sha = await writeRandomFile(file, 3 * 1024 * 1024);
    await fx.client().wml.assets(space).upload(file);
    let cuts = 2;
    const proxy = await startProxy(fx.sandbox.url, {
      decide: (method, path) => (method === 'GET' && path.startsWith('/v2/asset_files/') && cuts-- > 0 ? { truncateAfter: 1024 * 1024 } : 'pass'),
    });
    try {
      const { wml, close } = clientFor(proxy.url);
      const out = join(fx.dir, 'cut', 'whole.bin');
      const got = await wml.assets(space).download({ name }, out);
      expect(got.sha256).toBe(sha);
      expect(await sha256File(out)).toBe(sha);
      expect(proxy.seen.filter((r) => r.method === 'GET' && r.url.startsWith('/v2/asset_files/')).length).toBe(3);
      expect(await fsp.readdir(join(fx.dir, 'cut'))).toEqual(['whole.bin']);
      close();
    } finally {
      await proxy.close();
    }
  });

  it('dropped connections on the download are retried; a download that keeps failing reports the attempts and leaves nothing', async () => {
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const name = fresh();
    const file = join(fx.dir, name);
    const sha = await writeRandomFile(file, 4096);
    await assets.upload(file);
    const hits = await withFaults([{ route: 'GET /v2/asset_files/*', dropRate: 1, maxHits: 2 }], async () => {
      expect((await assets.download({ name }, join(fx.dir, 'dropped.bin'))).sha256).toBe(sha);
    });
    expect(hits).toEqual([2]);
    let err: unknown;
    await withFaults([{ route: 'GET /v2/asset_files/*', errorRate: 1, statuses: [503], maxHits: 100 }], async () => {
      err = await assets.download({ name }, join(fx.dir, 'never.bin')).catch((e) => e);
    });
    expect(err).toBeInstanceOf(RemoteApiError);
    expect((err as RemoteApiError).status).toBe(503);
    expect((err as RemoteApiError).attempts).toBe(5);
    expect((await fsp.readdir(fx.dir)).filter((f) => f.includes('never'))).toEqual([]);
  });
});
