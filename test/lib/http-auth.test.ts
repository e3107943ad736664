import { afterEach, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { Redactor } from '../../src/lib/redact';
import {
  cpdTokenProvider,
  createHttpClient,
  decodeJwtClaims,
  defaultRefreshMargin,
  iamTokenProvider,
  RemoteApiError,
  staticTokenProvider,
} from '../../src/lib/http';
import { json, makeJwt, startServer, type TestServer } from './helpers/servers';

const servers: TestServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

/**
 * A CPD stand-in: /icp4d-api/v1/authorize issues JWTs valid for `lifetimeS` seconds (by the
 * server's clock) to admin/good-key; /v2/spaces accepts only tokens it issued, not revoked.
 */
async function cpd(opts: { lifetimeS?: number; revokeFirst?: boolean; rejectAll?: boolean } = {}) {
  const issued = new Set<string>();
  const revoked = new Set<string>();
  let authorizeCalls = 0;
  let n = 0;
  const s = await startServer((req, res, body) => {
    if (req.url === '/icp4d-api/v1/authorize') {
      authorizeCalls++;
      const b = JSON.parse(body.toString() || '{}');
      if (b.username !== 'admin' || (b.api_key !== 'good-key-123' && b.password !== 'good-password')) {
        return json(res, 401, { _messageCode_: '401', message: 'Invalid username or password' });
      }
      const iat = Math.floor(Date.now() / 1000);
      const token = makeJwt({ username: 'admin', sub: 'admin', iat, exp: iat + (opts.lifetimeS ?? 120), n: n++ });
      issued.add(token);
      if (opts.revokeFirst && issued.size === 1) revoked.add(token);
      return json(res, 200, { token, _messageCode_: '200', message: 'Success' });
    }
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (opts.rejectAll || !issued.has(token) || revoked.has(token)) {
      return json(res, 401, { trace: 'auth-trace', errors: [{ code: 'authentication_failed', message: 'token is not valid' }] });
    }
    return json(res, 200, { resources: [] });
  });
  servers.push(s);
  return { s, calls: () => authorizeCalls };
}

function clients(url: string, now: () => number, creds: { apiKey?: string; password?: string } = { apiKey: 'good-key-123' }) {
  const redactor = new Redactor();
  const anon = createHttpClient({ baseUrl: url, redactor, sleep: async () => undefined });
  const tokens = cpdTokenProvider({ client: anon, username: 'admin', ...creds, now });
  const api = createHttpClient({ baseUrl: url, auth: tokens, redactor, sleep: async () => undefined });
  return { tokens, api, redactor };
}

describe('CPD authorize tokens', () => {
  it('obtains a token once, reuses it, and renews it before expiry (max(60 s, 10 %) margin)', async () => {
    const { s, calls } = await cpd({ lifetimeS: 120 });
    let clock = Date.now();
    const { api, tokens } = clients(s.url, () => clock);
    await api.request({ path: '/v2/spaces' });
    expect(calls()).toBe(1);
    clock += 30000;
    await api.request({ path: '/v2/spaces' });
    expect(calls()).toBe(1);
    clock += 31000; // 61 s after issue: less than 60 s of the 120 s remain
    await api.request({ path: '/v2/spaces' });
    expect(calls()).toBe(2);
    expect(tokens.info()).toMatchObject({ kind: 'cpd-apikey', subject: 'admin' });
    expect(tokens.info()!.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    // Every request carried a token the server issued.
    const sent = s.seen.filter((r) => r.url === '/v2/spaces').map((r) => r.headers.authorization);
    expect(new Set(sent).size).toBe(2);
  });

  it('uses 10 % of the lifetime as margin for long-lived tokens', () => {
    expect(defaultRefreshMargin(120000)).toBe(60000);
    expect(defaultRefreshMargin(12 * 3600 * 1000)).toBe(72 * 60 * 1000);
  });

  it('shares one authorize call between concurrent requests', async () => {
    const { s, calls } = await cpd();
    const { api } = clients(s.url, Date.now);
    await Promise.all(Array.from({ length: 6 }, () => api.request({ path: '/v2/spaces' })));
    expect(calls()).toBe(1);
  });

  it('authenticates with a password too', async () => {
    const { s, calls } = await cpd();
    const { api } = clients(s.url, Date.now, { password: 'good-password' });
    await api.request({ path: '/v2/spaces' });
    expect(calls()).toBe(1);
    expect(JSON.parse(s.seen[0].body.toString())).toEqual({ username: 'admin', password: 'good-password' });
  });

  it('re-authenticates once after a 401 and succeeds with the new token', async () => {
    const { s, calls } = await cpd({ revokeFirst: true });
    const { api } = clients(s.url, Date.now);
    await expect(api.request({ path: '/v2/spaces' })).resolves.toEqual({ resources: [] });
    expect(calls()).toBe(2);
  });

  it('fails clearly when the new token is rejected too, without a third authorize', async () => {
    const { s, calls } = await cpd({ rejectAll: true });
    const { api } = clients(s.url, Date.now);
    let err: unknown;
    try {
      await api.request({ path: '/v2/spaces' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RemoteApiError);
    expect((err as RemoteApiError).status).toBe(401);
    expect((err as Error).message).toContain('authentication_failed: token is not valid (trace auth-trace');
    expect((err as Error).message).toContain('Rejected again after obtaining a new token');
    expect(calls()).toBe(2);
    expect(s.seen.filter((r) => r.url === '/v2/spaces')).toHaveLength(2);
  });

  it('reports bad credentials with the authorize URL and a hint, without the key', async () => {
    const { s, calls } = await cpd();
    const { api } = clients(s.url, Date.now, { apiKey: 'wrong-key-456' });
    let err: unknown;
    try {
      await api.request({ path: '/v2/spaces' });
    } catch (e) {
      err = e;
    }
    const e = err as RemoteApiError;
    expect(e.message).toBe(`POST ${s.url}/icp4d-api/v1/authorize → 401 Invalid username or password. Authentication failed: check the username (admin) and the API key (CPD_API_KEY) of the profile`);
    expect(inspect(e)).not.toContain('wrong-key-456');
    expect(calls()).toBe(1);
  });

  it('a fixed bearer token is not renewed: a 401 fails at once', async () => {
    const { s } = await cpd();
    const api = createHttpClient({ baseUrl: s.url, auth: staticTokenProvider('not-issued-token-1234') });
    await expect(api.request({ path: '/v2/spaces' })).rejects.toThrow(/401 authentication_failed.*The token was rejected/);
    expect(s.seen).toHaveLength(1);
  });

  it('reads the expiry of JWT bearer tokens', () => {
    const exp = Math.floor(Date.now() / 1000) + 600;
    expect(staticTokenProvider(makeJwt({ sub: 'u', exp })).info()!.expiresAt!.getTime()).toBe(exp * 1000);
    expect(decodeJwtClaims('not.a.jwt')).toBeUndefined();
    expect(decodeJwtClaims('opaque')).toBeUndefined();
  });
});

describe('IAM API-key tokens', () => {
  it('exchanges the key with a form-encoded grant and renews on expiry', async () => {
    let calls = 0;
    let clock = Date.now();
    const s = await startServer((req, res, body) => {
      if (req.url === '/identity/token') {
        calls++;
        const form = new URLSearchParams(body.toString());
        expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
        if (form.get('grant_type') !== 'urn:ibm:params:oauth:grant-type:apikey' || form.get('apikey') !== 'iam-key-789') {
          return json(res, 400, { errorCode: 'BXNIM0415E', errorMessage: 'Provided API key could not be found', context: { requestId: 'r1' } });
        }
        const now = Math.floor(clock / 1000);
        return json(res, 200, { access_token: `iam-token-${calls}`, refresh_token: 'r', token_type: 'Bearer', expires_in: 3600, expiration: now + 3600 });
      }
      return json(res, 200, { auth: req.headers.authorization });
    });
    servers.push(s);
    const iam = createHttpClient({ baseUrl: s.url });
    const tokens = iamTokenProvider({ client: iam, apiKey: 'iam-key-789', now: () => clock });
    const api = createHttpClient({ baseUrl: s.url, auth: tokens });
    expect(await api.request({ path: '/ml/v4/deployments' })).toEqual({ auth: 'Bearer iam-token-1' });
    clock += 3000 * 1000; // 50 min later: 10 min remain, more than the 6 min margin (10 % of 1 h)
    expect(await api.request({ path: '/ml/v4/deployments' })).toEqual({ auth: 'Bearer iam-token-1' });
    clock += 300 * 1000; // 5 min remain < 6 min margin
    expect(await api.request({ path: '/ml/v4/deployments' })).toEqual({ auth: 'Bearer iam-token-2' });
    expect(calls).toBe(2);

    const bad = iamTokenProvider({ client: iam, apiKey: 'wrong-iam-key' });
    const badApi = createHttpClient({ baseUrl: s.url, auth: bad });
    await expect(badApi.request({ path: '/x' })).rejects.toThrow(/400 BXNIM0415E: Provided API key could not be found \(trace r1\)\. Authentication failed: check the IBM Cloud API key/);
  });
});
