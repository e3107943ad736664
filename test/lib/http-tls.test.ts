import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '../../src/lib/errors';
import { createHttpClient, INSECURE_TLS_WARNING, RemoteApiError } from '../../src/lib/http';
import { json, selfSignedCert, startHttpsServer, writeTemp, type TestServer } from './helpers/servers';

// openssl makes the self-signed certificate; without it these tests cannot run (and say so).
const cert = selfSignedCert();
const describeTls = cert ? describe : describe.skip;
if (!cert) process.stderr.write('http-tls tests skipped: openssl is not available\n');

describeTls('TLS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startHttpsServer(cert!, (_req, res) => json(res, 200, { tls: true }));
  });
  afterAll(async () => {
    await server.close();
  });

  it('verifies certificates by default: a self-signed one fails with a hint and is not retried', async () => {
    const c = createHttpClient({ baseUrl: server.url, sleep: async () => undefined });
    let err: unknown;
    try {
      await c.request({ path: '/v2/spaces' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RemoteApiError);
    const e = err as RemoteApiError;
    expect(e.status).toBeUndefined();
    expect(e.networkCode).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    expect(e.attempts).toBe(1);
    expect(e.message).toContain('set caBundle in the profile');
    expect(server.seen).toHaveLength(0);
  });

  it('trusts the server with the CA bundle option, without warnings', async () => {
    const warnings: string[] = [];
    const c = createHttpClient({ baseUrl: server.url, tls: { caBundle: cert!.certPath }, onWarning: (w) => warnings.push(w) });
    await expect(c.request({ path: '/v2/spaces' })).resolves.toEqual({ tls: true });
    expect(warnings).toEqual([]);
    c.close();
  });

  it('connects with the insecure switch and warns through onWarning', async () => {
    const warnings: string[] = [];
    const c = createHttpClient({ baseUrl: server.url, tls: { insecure: true }, onWarning: (w) => warnings.push(w) });
    await expect(c.request({ path: '/v2/spaces' })).resolves.toEqual({ tls: true });
    expect(warnings).toEqual([INSECURE_TLS_WARNING]);
    c.close();
  });

  it('rejects a CA bundle that is missing or holds no certificate, naming the file', () => {
    expect(() => createHttpClient({ baseUrl: server.url, tls: { caBundle: '/nonexistent/ca.pem' } })).toThrow(ConfigError);
    expect(() => createHttpClient({ baseUrl: server.url, tls: { caBundle: '/nonexistent/ca.pem' } })).toThrow(/\/nonexistent\/ca\.pem cannot be read/);
    const empty = writeTemp('ca.pem', 'not a certificate\n');
    expect(() => createHttpClient({ baseUrl: server.url, tls: { caBundle: empty } })).toThrow(/contains no PEM certificate/);
  });
});
