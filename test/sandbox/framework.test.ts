import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CpdTokenClaims, IamTokenResponse } from '../../src/lib/contracts/auth';
import { SANDBOX_DEMO_IAM_API_KEY, SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { reply } from '../../src/sandbox/http/router';
import { signJwt } from '../../src/sandbox/jwt';
import { defineModule } from '../../src/sandbox/module';
import { startSandboxServer } from '../../src/sandbox/server';
import { Api, demoToken, expectIbmError, startTestSandbox, tempStateDir, type TestSandbox } from './helpers';

const Item = z.object({ id: z.string(), name: z.string(), count: z.number().int() });

/** A small module exercising the framework the way real service modules do. */
const probeModule = defineModule({
  name: 'probe',
  configSchema: z.object({ greeting: z.string().default('hello') }),
  async setup(host) {
    const items = await host.store.collection('probe-items', Item);
    host.post('/ml/v4/probe', { body: z.object({ name: z.string(), count: z.number().int() }) }, (ctx) =>
      reply.json(201, { echo: ctx.body, user: ctx.principal?.username, greeting: host.config.greeting }),
    );
    host.get('/v2/probe', (ctx) => reply.json(200, { version: ctx.searchParams.get('version') }));
    host.get('/edi/probe', { auth: { headers: ['x-auth-token'] } }, (ctx) => reply.json(200, { user: ctx.principal?.username }));
    host.put('/probe/items/:id', { body: z.object({ name: z.string(), count: z.number().int() }) }, async (ctx) => {
      const doc = await items.put(ctx.params.id!, { id: ctx.params.id!, ...ctx.body });
      return reply.json(200, doc);
    });
    host.get('/probe/items/:id', (ctx) => {
      const doc = items.get(ctx.params.id!);
      return doc ? reply.json(200, doc) : reply.json(404, { missing: ctx.params.id });
    });
    host.post('/probe/items/:id/increment', async (ctx) => {
      const doc = await host.store.lock(async () => {
        const current = items.get(ctx.params.id!) ?? { id: ctx.params.id!, name: 'counter', count: 0 };
        await new Promise((r) => setTimeout(r, 1)); // widen the race window
        return items.put(current.id, { ...current, count: current.count + 1 });
      });
      return reply.json(200, doc);
    });
    host.get('/probe/tail/*rest', (ctx) => reply.json(200, { rest: ctx.params.rest }));
    return {
      status: () => ({ title: 'Probe items', lines: items.values().map((i) => `${i.id}: ${i.count}`), data: items.values() }),
    };
  },
});

function decodeClaims(token: string): unknown {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('sandbox framework', () => {
  let sb: TestSandbox;
  let api: Api;
  beforeAll(async () => {
    sb = await startTestSandbox({ modules: [probeModule], config: { maxJsonBytes: 2048, services: { probe: { greeting: 'hi' } } } });
    api = sb.api;
  });
  afterAll(async () => {
    await sb.close();
  });

  it('answers health without a token and tags every answer with a request id', async () => {
    const res = await api.get('/sandbox/v1/health', { token: null });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'ok', service: 'cpd-runbook-sandbox', pid: process.pid, stateDir: sb.stateDir, url: sb.url });
    expect(res.json.modules).toEqual(['auth', 'sandbox', 'probe']);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe('CPD authorize', () => {
    it('mints a JWT for api_key and for password, with username, sub, uid, iat and exp = iat + ttl', async () => {
      for (const body of [
        { username: 'admin', api_key: SANDBOX_DEMO_USER.apiKey },
        { username: 'admin', password: SANDBOX_DEMO_USER.password, api_key: null },
      ]) {
        const res = await api.post('/icp4d-api/v1/authorize', body, { token: null });
        expect(res.status).toBe(200);
        expect(res.json._messageCode_).toBe('200');
        const claims = CpdTokenClaims.parse(decodeClaims(res.json.token)) as Record<string, unknown>;
        expect(claims).toMatchObject({ username: 'admin', sub: 'admin' });
        expect(typeof claims.uid).toBe('string');
        expect((claims.exp as number) - (claims.iat as number)).toBe(1200);
        const use = await api.get('/v2/probe', { token: res.json.token });
        expect(use.status).toBe(200);
      }
      const alt = await api.post('/v1/authorize', { username: 'admin', api_key: SANDBOX_DEMO_USER.apiKey }, { token: null });
      expect(alt.status).toBe(200);
    });

    it('answers 401 to wrong credentials and 400 naming the field to malformed bodies', async () => {
      expectIbmError(await api.post('/icp4d-api/v1/authorize', { username: 'admin', api_key: 'nope' }, { token: null }), 401, "user 'admin'");
      expectIbmError(await api.post('/icp4d-api/v1/authorize', { username: 'ghost', password: 'x' }, { token: null }), 401);
      expectIbmError(await api.post('/icp4d-api/v1/authorize', { api_key: 'x' }, { token: null }), 400, 'username');
      expectIbmError(await api.post('/icp4d-api/v1/authorize', { username: 'admin' }, { token: null }), 400, 'api_key');
      expectIbmError(await api.post('/icp4d-api/v1/authorize', { username: 'admin', api_key: 'a', password: 'b' }, { token: null }), 400, 'exactly one');
    });
  });

  describe('bearer tokens', () => {
    it('rejects a missing, malformed, forged, expired or orphaned token with 401', async () => {
      expectIbmError(await api.get('/v2/probe', { token: null }), 401, 'Missing token');
      expectIbmError(await api.get('/v2/probe', { token: null, headers: { authorization: 'Basic YWRtaW46eA==' } }), 401, 'Bearer');
      expectIbmError(await api.get('/v2/probe', { token: 'not-a-jwt' }), 401, 'not a JWT');
      const [h, p] = api.token!.split('.');
      const forgedPayload = Buffer.from(JSON.stringify({ ...(decodeClaims(api.token!) as object), username: 'root' })).toString('base64url');
      expectIbmError(await api.get('/v2/probe', { token: `${h}.${forgedPayload}.${api.token!.split('.')[2]}` }), 401, 'signature');
      expectIbmError(await api.get('/v2/probe', { token: signJwt(decodeClaims(api.token!) as never, Buffer.alloc(32, 7)) }), 401, 'signature');
      const secret = Buffer.from(readFileSync(join(sb.stateDir, 'secret.key'), 'utf8').trim(), 'hex');
      const now = Math.floor(Date.now() / 1000);
      const expired = signJwt({ username: 'admin', sub: 'admin', uid: '1', iat: now - 100, exp: now - 1, iss: 'cpd' }, secret);
      expectIbmError(await api.get('/v2/probe', { token: expired }), 401, 'expired');
      const orphan = signJwt({ username: 'ghost', sub: 'ghost', uid: '1', iat: now, exp: now + 100, iss: 'cpd' }, secret);
      expectIbmError(await api.get('/v2/probe', { token: orphan }), 401, 'ghost');
      void p;
    });

    it('accepts EDI-style token headers only on routes that declare them', async () => {
      const viaHeader = await api.get('/edi/probe', { token: null, headers: { 'x-auth-token': api.token! } });
      expect(viaHeader.status).toBe(200);
      expect(viaHeader.json.user).toBe('admin');
      expectIbmError(await api.get('/edi/probe', { token: null }), 401, 'x-auth-token');
      expectIbmError(await api.get('/v2/probe', { token: null, headers: { 'x-auth-token': api.token! } }), 401);
    });
  });

  describe('IAM API-key exchange', () => {
    const form = (fields: Record<string, string>) => ({
      raw: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      token: null,
    });

    it('exchanges the demo key for a bearer token in the IAM response shape, and refreshes it', async () => {
      const res = await api.request('POST', '/identity/token', form({ grant_type: 'urn:ibm:params:oauth:grant-type:apikey', apikey: SANDBOX_DEMO_IAM_API_KEY }));
      expect(res.status).toBe(200);
      const body = IamTokenResponse.parse(res.json);
      expect(body.token_type).toBe('Bearer');
      expect(body.expiration - Math.floor(Date.now() / 1000)).toBeGreaterThan(1100);
      expect((await api.get('/v2/probe', { token: body.access_token })).status).toBe(200);
      const refreshed = await api.request('POST', '/identity/token', form({ grant_type: 'refresh_token', refresh_token: body.refresh_token! }));
      expect(refreshed.status).toBe(200);
      expect((await api.get('/v2/probe', { token: refreshed.json.access_token })).status).toBe(200);
    });

    it('rejects unknown keys and grant types with 400', async () => {
      expectIbmError(await api.request('POST', '/identity/token', form({ grant_type: 'urn:ibm:params:oauth:grant-type:apikey', apikey: 'wrong' })), 400, 'could not be found');
      expectIbmError(await api.request('POST', '/identity/token', form({ grant_type: 'password', apikey: 'x' })), 400, 'grant_type');
      expectIbmError(await api.request('POST', '/identity/token', form({ apikey: 'x' })), 400, 'grant_type');
    });
  });

  describe('request validation', () => {
    it('answers 400 for malformed JSON and names missing or mistyped fields', async () => {
      const bad = await api.request('POST', '/ml/v4/probe?version=2024-01-01', { raw: '{"name": ', headers: { 'content-type': 'application/json' } });
      expectIbmError(bad, 400, 'not valid JSON');
      expect(bad.json.errors[0].code).toBe('invalid_json');
      expectIbmError(await api.post('/ml/v4/probe?version=2024-01-01', { count: 1 }), 400, 'name: expected string');
      expectIbmError(await api.post('/ml/v4/probe?version=2024-01-01', { name: 'x', count: 'many' }), 400, 'count: expected number');
      expectIbmError(await api.post('/ml/v4/probe?version=2024-01-01', [1, 2]), 400, 'body: expected object');
      expectIbmError(await api.post('/ml/v4/probe?version=2024-01-01'), 400, 'body:');
      const ok = await api.post('/ml/v4/probe?version=2024-01-01', { name: 'x', count: 2 });
      expect(ok.status).toBe(201);
      expect(ok.json).toEqual({ echo: { name: 'x', count: 2 }, user: 'admin', greeting: 'hi' });
    });

    it('answers 413 for JSON bodies over the configured limit', async () => {
      const big = { name: 'x'.repeat(4096), count: 1 };
      expectIbmError(await api.post('/ml/v4/probe?version=2024-01-01', big), 413, '2048');
      // Without a content-length (chunked), the limit still holds.
      const stream = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(JSON.stringify(big)));
          c.close();
        },
      });
      expectIbmError(await api.request('POST', '/ml/v4/probe?version=2024-01-01', { raw: stream, headers: { 'content-type': 'application/json' } }), 413);
    });

    it('requires version=YYYY-MM-DD on /ml/v4 and ignores it on /v2', async () => {
      expectIbmError(await api.post('/ml/v4/probe', { name: 'x', count: 1 }), 400, 'query.version');
      expectIbmError(await api.post('/ml/v4/probe?version=2024-13-45', { name: 'x', count: 1 }), 400, 'YYYY-MM-DD');
      expectIbmError(await api.post('/ml/v4/probe?version=yesterday', { name: 'x', count: 1 }), 400, 'YYYY-MM-DD');
      expect((await api.get('/v2/probe?version=whatever')).status).toBe(200);
    });

    it('answers 404 for unknown endpoints and 405 with Allow for wrong methods', async () => {
      expectIbmError(await api.get('/v2/nothing-here'), 404, 'No such endpoint');
      const res = await api.delete('/v2/probe');
      expectIbmError(res, 405);
      expect(res.headers.get('allow')).toBe('GET');
    });

    it('decodes route parameters and tails', async () => {
      const res = await api.get('/probe/tail/a%2Fb/c%20d');
      expect(res.json).toEqual({ rest: 'a/b/c d' });
      expectIbmError(await api.get('/probe/tail/%E0%A4%A'), 400, 'percent-encoded');
    });
  });

  describe('state store', () => {
    it('serializes read-modify-write under the store lock (parallel increments all count)', async () => {
      await Promise.all(Array.from({ length: 40 }, () => api.post('/probe/items/counter/increment')));
      const res = await api.get('/probe/items/counter');
      expect(res.json.count).toBe(40);
    });

    it('reports each module status section', async () => {
      const res = await api.get('/sandbox/v1/status');
      expect(res.status).toBe(200);
      const probe = res.json.sections.find((s: { module: string }) => s.module === 'probe');
      expect(probe.title).toBe('Probe items');
      expect(probe.lines).toContain('counter: 40');
      expectIbmError(await api.get('/sandbox/v1/status', { token: null }), 401);
    });

    it('refuses a second server on the same state dir', async () => {
      await expect(startSandboxServer({ stateDir: sb.stateDir, modules: [probeModule] })).rejects.toThrow(/already serves/);
    });
  });
});

describe('state survives a restart', () => {
  it('keeps documents written before close', async () => {
    const stateDir = tempStateDir();
    const first = await startTestSandbox({ modules: [probeModule], stateDir });
    expect((await first.api.put('/probe/items/kept', { name: 'kept', count: 7 })).status).toBe(200);
    await first.close();
    const second = await startTestSandbox({ modules: [probeModule], stateDir });
    try {
      const res = await second.api.get('/probe/items/kept');
      expect(res.json).toEqual({ id: 'kept', name: 'kept', count: 7 });
      // The signing key is per state dir: a token from the first run is still valid.
      expect((await second.api.get('/probe/items/kept', { token: first.api.token })).status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it('quarantines unreadable documents and removes half-written temp files instead of failing', async () => {
    const stateDir = tempStateDir();
    const first = await startTestSandbox({ modules: [probeModule], stateDir });
    await first.api.put('/probe/items/good', { name: 'good', count: 1 });
    await first.close();
    const dir = join(stateDir, 'data', 'probe-items');
    writeFileSync(join(dir, 'broken.json'), '{"id": "broken", "na');
    writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ id: 'wrong', name: 3, count: 'x' }));
    writeFileSync(join(dir, '.good.json.123.abcd.tmp'), 'partial');
    const lines: string[] = [];
    const second = await startTestSandbox({ modules: [probeModule], stateDir, log: (l) => lines.push(l) });
    try {
      expect((await second.api.get('/probe/items/good')).json.count).toBe(1);
      expect((await second.api.get('/probe/items/broken')).status).toBe(404);
      expect(readdirSync(dir)).toEqual(['good.json']);
      expect(readdirSync(join(stateDir, 'data', '.quarantine', 'probe-items')).sort()).toEqual(['broken.json', 'wrong.json']);
      expect(lines.join('\n')).toMatch(/probe-items\/wrong\.json is unreadable \(document\.name: expected string/);
    } finally {
      await second.close();
    }
  });

  it('rejects an invalid module config section naming the field', async () => {
    const stateDir = tempStateDir();
    await expect(startSandboxServer({ stateDir, modules: [probeModule], config: { services: { probe: { greeting: 5 } } } })).rejects.toThrow(/config\.services\.probe: greeting/);
    // The failed start released the lock: a correct start works.
    const ok = await startSandboxServer({ stateDir, modules: [probeModule] });
    await ok.close();
  });
});

describe('fault injection', () => {
  const statusesOf = async (api: Api, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await api.get('/v2/probe')).status);
    return out;
  };

  it('answers configured errors in the IBM envelope with Retry-After, and never touches health', async () => {
    const sb = await startTestSandbox({ modules: [probeModule], config: { faults: [{ route: 'GET /v2/probe', errorRate: 1, statuses: [429], retryAfterSeconds: 7 }] } });
    try {
      const res = await sb.api.get('/v2/probe');
      expectIbmError(res, 429, 'Injected fault');
      expect(res.headers.get('retry-after')).toBe('7');
      expect((await sb.api.get('/sandbox/v1/health')).status).toBe(200);
      expect((await sb.api.post('/ml/v4/probe?version=2024-01-01', { name: 'x', count: 1 })).status).toBe(201); // other routes untouched
    } finally {
      await sb.close();
    }
  });

  it('is reproducible for a seed and differs between seeds', async () => {
    const rule = { route: '/v2/probe', errorRate: 0.5, statuses: [500, 502, 503] as (500 | 502 | 503)[] };
    const runs: number[][] = [];
    for (const seed of [42, 42, 7]) {
      const sb = await startTestSandbox({ modules: [probeModule], config: { seed, faults: [rule] } });
      try {
        runs.push(await statusesOf(sb.api, 40));
      } finally {
        await sb.close();
      }
    }
    expect(runs[0]).toEqual(runs[1]);
    expect(runs[0]).not.toEqual(runs[2]);
    expect(new Set(runs[0])).toEqual(new Set([200, 500, 502, 503]));
  });

  it('can be changed at runtime, limited by maxHits, and cleared', async () => {
    const sb = await startTestSandbox({ modules: [probeModule] });
    try {
      expect(await statusesOf(sb.api, 2)).toEqual([200, 200]);
      const set = await sb.api.put('/sandbox/v1/faults', { seed: 3, faults: [{ route: 'GET /v2/*', errorRate: 1, statuses: [502], maxHits: 2 }] });
      expect(set.status).toBe(200);
      expect(await statusesOf(sb.api, 4)).toEqual([502, 502, 200, 200]);
      expect((await sb.api.get('/sandbox/v1/faults')).json.faults[0].hits).toBe(2);
      expectIbmError(await sb.api.put('/sandbox/v1/faults', { faults: [{ route: '/x', errorRate: 2 }] }), 400, 'faults[0].errorRate');
      expectIbmError(await sb.api.put('/sandbox/v1/faults', { faults: [{ route: '/x', statuses: [200] }] }), 400, 'faults[0].statuses[0]');
      await sb.api.put('/sandbox/v1/faults', { faults: [{ route: '/v2/probe', errorRate: 1 }] });
      expect(await statusesOf(sb.api, 1)).toEqual([503]);
      expect((await sb.api.delete('/sandbox/v1/faults')).json.faults).toEqual([]);
      expect(await statusesOf(sb.api, 1)).toEqual([200]);
    } finally {
      await sb.close();
    }
  });

  it('drops connections and adds latency', async () => {
    const sb = await startTestSandbox({ modules: [probeModule], config: { faults: [{ route: 'GET /v2/probe', dropRate: 1 }, { route: '/probe/tail', latencyMs: 150 }] } });
    try {
      await expect(sb.api.get('/v2/probe')).rejects.toThrow();
      const began = Date.now();
      const res = await sb.api.get('/probe/tail/x');
      expect(res.status).toBe(200);
      expect(Date.now() - began).toBeGreaterThanOrEqual(140); // a lower bound only: the delay was added
    } finally {
      await sb.close();
    }
  });
});

describe('users come from config', () => {
  it('authorizes configured users and not the demo user when it was replaced', async () => {
    const sb = await startTestSandbox({
      modules: [probeModule],
      config: { users: [{ username: 'admin', apiKey: SANDBOX_DEMO_USER.apiKey }, { username: 'alice', password: 'wonderland', uid: '4242' }] },
    });
    try {
      const res = await sb.api.post('/icp4d-api/v1/authorize', { username: 'alice', password: 'wonderland' }, { token: null });
      expect(res.status).toBe(200);
      expect(decodeClaims(res.json.token)).toMatchObject({ username: 'alice', uid: '4242' });
      expectIbmError(await sb.api.post('/icp4d-api/v1/authorize', { username: 'admin', password: SANDBOX_DEMO_USER.password }, { token: null }), 401);
      expect(await demoToken(sb.url)).toBeTruthy();
    } finally {
      await sb.close();
    }
  });
});
