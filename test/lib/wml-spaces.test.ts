import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { TimeoutError } from '../../src/lib/errors';
import { RemoteApiError } from '../../src/lib/http/errors';
import { Plan, PLANNED_ID } from '../../src/lib/plan';
import { startProxy } from '../helpers/proxy';
import { clientFor, startWmlFixture, type WmlFixture } from './wml-helpers';

let fx: WmlFixture;
beforeAll(async () => {
  // Spaces stay `preparing` for 300 ms, so waiting for `active` is really exercised.
  fx = await startWmlFixture({ services: { wml: { spaceActivationDelayMs: 300 } } });
});
afterAll(async () => {
  await fx.close();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

async function spacesNamed(name: string): Promise<string[]> {
  const res = await fx.sandbox.api.get('/v2/spaces?limit=1000');
  return (res.json.resources as { metadata: { id: string }; entity: { name: string } }[]).filter((s) => s.entity.name === name).map((s) => s.metadata.id);
}

describe('WML spaces', () => {
  it('ensureSpace creates a space, waits until it is active, and finds it the second time', async () => {
    const { wml } = fx.client();
    const name = unique('runbook');
    const first = await wml.ensureSpace(name, { description: 'for tests', tags: ['t1'] });
    expect(first).toMatchObject({ created: true, planned: false });
    expect(first.space).toMatchObject({ name, description: 'for tests', tags: ['t1'], state: 'active' });
    const second = await wml.ensureSpace(name);
    expect(second).toMatchObject({ created: false, space: { id: first.space.id, state: 'active' } });
    expect(await spacesNamed(name)).toEqual([first.space.id]);
    expect((await wml.getSpace(first.space.id)).name).toBe(name);
    expect((await wml.findSpaceByName(name))!.id).toBe(first.space.id);
  });

  it('four runs ensuring the same space at once end with one space, and all get its id', async () => {
    const name = unique('race');
    const results = await Promise.all([0, 1, 2, 3].map(() => fx.client().wml.ensureSpace(name)));
    const ids = new Set(results.map((r) => r.space.id));
    expect(ids.size).toBe(1);
    expect(await spacesNamed(name)).toEqual([...ids]);
    expect(results.filter((r) => r.created).length).toBe(1);
    expect(results.every((r) => r.space.state === 'active')).toBe(true);
  });

  it('lists every space across pages, oldest first', async () => {
    const { wml } = fx.client();
    const names = [unique('page'), unique('page'), unique('page'), unique('page'), unique('page')];
    for (const n of names) await fx.sandbox.api.post('/v2/spaces', { name: n });
    const all = await wml.listSpaces({ pageSize: 2 });
    const ours = all.filter((s) => names.includes(s.name)).map((s) => s.name);
    expect(ours).toEqual(names);
    const times = all.map((s) => Date.parse(s.createdAt));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
  });

  it('get of an unknown space is a 404 error; find returns undefined; delete is idempotent', async () => {
    const { wml } = fx.client();
    const err = await wml.getSpace('00000000-0000-0000-0000-000000000000').catch((e) => e);
    expect(err).toBeInstanceOf(RemoteApiError);
    expect(err.status).toBe(404);
    expect(await wml.findSpace('00000000-0000-0000-0000-000000000000')).toBeUndefined();
    const { space } = await wml.ensureSpace(unique('gone'));
    expect(await wml.deleteSpace(space.id)).toBe(true);
    expect(await wml.deleteSpace(space.id)).toBe(false);
    expect(await wml.findSpace(space.id)).toBeUndefined();
  });

  it('plan mode: ensureSpace and deleteSpace record the change and make none', async () => {
    const { wml } = fx.client();
    const name = unique('planned');
    const plan = new Plan();
    const r = await wml.ensureSpace(name, { plan });
    expect(r).toMatchObject({ planned: true, created: true, space: { id: PLANNED_ID, name } });
    expect(plan.changes).toEqual([{ service: 'wml', action: 'create', resource: 'space', target: name, detail: 'no space of that name' }]);
    expect(await spacesNamed(name)).toEqual([]);

    const { space } = await wml.ensureSpace(name);
    const plan2 = new Plan();
    expect(await wml.ensureSpace(name, { plan: plan2 })).toMatchObject({ created: false, planned: true, space: { id: space.id } });
    expect(await wml.deleteSpace(space.id, { plan: plan2 })).toBe(true);
    expect(await wml.deleteSpace('00000000-0000-0000-0000-000000000000', { plan: plan2 })).toBe(false);
    expect(plan2.changes.map((c) => `${c.action} ${c.resource}`)).toEqual(['delete space']);
    expect(await spacesNamed(name)).toEqual([space.id]);
  });

  it('waiting for a space that stays preparing times out with a TimeoutError naming it', async () => {
    const slow = await startWmlFixture({ services: { wml: { spaceActivationDelayMs: 60_000 } } });
    try {
      const { wml } = slow.client();
      const res = await slow.sandbox.api.post('/v2/spaces', { name: unique('slow') });
      const err = await wml.waitForSpace(res.json.metadata.id, { timeoutMs: 100 }).catch((e) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err.message).toMatch(new RegExp(`space ${res.json.metadata.id} .* is still preparing after 100 ms`));
      const ensure = await wml.ensureSpace(res.json.entity.name, { timeoutMs: 100 }).catch((e) => e);
      expect(ensure).toBeInstanceOf(TimeoutError); // find-or-create found it, and waits for it too
    } finally {
      await slow.close();
    }
  });

  it('a failed create is not re-sent blindly: a 503 is followed by a lookup, then one new POST', async () => {
    const { wml, retries } = fx.client();
    const name = unique('flaky');
    await fx.faults([{ route: 'POST /v2/spaces', errorRate: 1, statuses: [503], maxHits: 1 }]);
    try {
      const r = await wml.ensureSpace(name);
      expect(r.created).toBe(true);
      expect(await fx.faultHits()).toEqual([1]);
    } finally {
      await fx.faults([]);
    }
    expect(retries.filter((x) => x.method === 'POST' && x.url.includes('/v2/spaces'))).toEqual([]); // the HTTP client did not retry the POST
    expect((await spacesNamed(name)).length).toBe(1);
  });

  it('a create whose answer is lost adopts the space the service made instead of making a second one', async () => {
    let lost = 0;
    const proxy = await startProxy(fx.sandbox.url, { decide: (method, path) => (method === 'POST' && path === '/v2/spaces' && lost++ === 0 ? 'lose-response' : 'pass') });
    try {
      const { wml, close } = clientFor(proxy.url);
      const name = unique('lost');
      const r = await wml.ensureSpace(name);
      expect(await spacesNamed(name)).toEqual([r.space.id]);
      expect(r.space.state).toBe('active');
      expect(proxy.seen.filter((r) => r.method === 'POST' && r.url.split('?')[0] === '/v2/spaces').length).toBe(1);
      close();
    } finally {
      await proxy.close();
    }
  });
});
