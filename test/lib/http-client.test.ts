import { afterEach, describe, expect, it } from '@jest/globals';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { inspect } from 'node:util';
import { z } from 'zod';
import { Redactor } from '../../src/lib/redact';
import { createHttpClient, InvalidResponseError, RemoteApiError, staticTokenProvider, type HttpClientOptions, type RetryInfo } from '../../src/lib/http';
import { json, startServer, type Handler, type TestServer } from './helpers/servers';

const servers: TestServer[] = [];
afterEach(async () => {
  while (servers.length) await servers.pop()!.close();
});

async function serve(handler: Handler): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

/** A client that records retries and waits no real time between them. */
function client(baseUrl: string, extra: Partial<HttpClientOptions> = {}) {
  const retries: RetryInfo[] = [];
  const c = createHttpClient({
    baseUrl,
    retry: { retries: 4, baseDelayMs: 100, maxDelayMs: 1000 },
    sleep: async () => undefined,
    onRetry: (i) => retries.push(i),
    ...extra,
  });
  return { c, retries };
}

async function rejection(p: Promise<unknown>): Promise<RemoteApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RemoteApiError) return e;
    throw e;
  }
  throw new Error('expected a RemoteApiError');
}

describe('retries', () => {
  it('retries a GET on 503, 502 and 500 with growing backoff caps, then returns the body', async () => {
    const statuses = [503, 502, 500];
    const s = await serve((_req, res, _b, seen) => {
      const st = statuses[seen.length - 1];
      if (st) json(res, st, { trace: 't', errors: [{ code: 'busy', message: 'try later' }] });
      else json(res, 200, { ok: true });
    });
    const { c, retries } = client(s.url, { random: () => 0.999 });
    await expect(c.request({ path: '/v2/spaces' })).resolves.toEqual({ ok: true });
    expect(s.seen).toHaveLength(4);
    expect(retries.map((r) => r.reason)).toEqual(['503', '502', '500']);
    expect(retries.map((r) => r.delayMs)).toEqual([99, 199, 399]);
    expect(retries.every((r) => r.source === 'backoff')).toBe(true);
  });

  it('honours Retry-After in seconds and as an HTTP date, capped by maxRetryAfterMs', async () => {
    const afters = ['2', new Date(Date.now() + 30000).toUTCString(), '100000'];
    const s = await serve((_req, res, _b, seen) => {
      const a = afters[seen.length - 1];
      if (a) json(res, 429, { errors: [{ code: 'rate_limited', message: 'slow down' }], trace: 'x' }, { 'retry-after': a });
      else json(res, 200, {});
    });
    const { c, retries } = client(s.url, { retry: { retries: 3, maxRetryAfterMs: 60000 } });
    await c.request({ path: '/x' });
    expect(retries.map((r) => r.source)).toEqual(['retry-after', 'retry-after', 'retry-after']);
    expect(retries[0].delayMs).toBe(2000);
    expect(retries[1].delayMs).toBeGreaterThan(25000);
    expect(retries[1].delayMs).toBeLessThanOrEqual(30000);
    expect(retries[2].delayMs).toBe(60000);
  });

  it('really waits for Retry-After with the default timer', async () => {
    const s = await serve((_req, res, _b, seen) => {
      if (seen.length === 1) json(res, 503, {}, { 'retry-after': '1' });
      else json(res, 200, { n: seen.length });
    });
    const c = createHttpClient({ baseUrl: s.url });
    await expect(c.request({ path: '/slow' })).resolves.toEqual({ n: 2 });
    // A lower bound only: a loaded machine can be slower, never faster.
    expect(s.seen[1].at - s.seen[0].at).toBeGreaterThanOrEqual(950);
    c.close();
  });

  it('does not retry a POST unless it is marked idempotent', async () => {
    const s = await serve((_req, res) => json(res, 503, { trace: 'tr-1', errors: [{ code: 'unavailable', message: 'down' }] }));
    const { c, retries } = client(s.url, { retry: { retries: 2 } });
    const err = await rejection(c.request({ method: 'POST', path: '/v2/assets', body: { a: 1 } }));
    expect(s.seen).toHaveLength(1);
    expect(retries).toEqual([]);
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(1);
    const err2 = await rejection(c.request({ method: 'POST', path: '/v2/assets/search', body: { query: '*:*' }, idempotent: true }));
    expect(s.seen).toHaveLength(4);
    expect(err2.attempts).toBe(3);
    expect(err2.message).toContain('after 3 attempts');
    expect(JSON.parse(s.seen[3].body.toString())).toEqual({ query: '*:*' });
  });

  it('does not retry 4xx (other than 429) or 501', async () => {
    for (const status of [400, 404, 409, 501]) {
      const s = await serve((_req, res) => json(res, status, {}));
      const { c } = client(s.url);
      const err = await rejection(c.request({ path: '/x' }));
      expect(err.status).toBe(status);
      expect(s.seen).toHaveLength(1);
    }
  });

  it('retries a GET after the server drops the connection, but not a POST', async () => {
    const s = await serve((req, res, _b, seen) => {
      if (seen.filter((r) => r.method === req.method).length === 1) req.socket.destroy();
      else json(res, 200, { n: seen.length });
    });
    const { c, retries } = client(s.url);
    await expect(c.request({ path: '/x' })).resolves.toEqual({ n: 2 });
    expect(retries).toHaveLength(1);
    expect(retries[0].reason).toBe('ECONNRESET');
    const err = await rejection(c.request({ method: 'POST', path: '/x', body: 'payload' }));
    expect(err.status).toBeUndefined();
    expect(err.networkCode).toBe('ECONNRESET');
    expect(err.message).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/x → network error ECONNRESET/);
  });

  it('gives up on a refused connection after the allowed retries', async () => {
    const s = await serve((_req, res) => json(res, 200, {}));
    const url = s.url;
    await servers.pop()!.close();
    const { c, retries } = client(url, { retry: { retries: 2 } });
    const err = await rejection(c.request({ path: '/x' }));
    expect(err.networkCode).toBe('ECONNREFUSED');
    expect(err.attempts).toBe(3);
    expect(retries).toHaveLength(2);
  });

  it('times out a request that gets no answer, and retries it', async () => {
    const s = await serve(() => undefined /* never answers */);
    const { c, retries } = client(s.url, { timeoutMs: 200, retry: { retries: 1 } });
    const err = await rejection(c.request({ path: '/hang' }));
    expect(err.networkCode).toBe('ETIMEDOUT');
    expect(err.attempts).toBe(2);
    expect(retries).toHaveLength(1);
    expect(s.seen).toHaveLength(2);
  });

  it('stops at once when the caller cancels', async () => {
    const s = await serve(() => undefined);
    const { c, retries } = client(s.url);
    const ac = new AbortController();
    const p = rejection(c.request({ path: '/hang', signal: ac.signal }));
    setTimeout(() => ac.abort(), 50);
    const err = await p;
    expect(err.networkCode).toBe('ABORTED');
    expect(retries).toEqual([]);
  });
});

describe('errors', () => {
  it('carry method, URL, status, IBM codes, messages and the trace, in one readable line', async () => {
    const s = await serve((_req, res) => json(res, 404, { trace: 'abc123', errors: [{ code: 'not_found', message: 'Space 123 does not exist' }] }));
    const { c } = client(s.url);
    const err = await rejection(c.request({ path: '/v2/assets/a1', query: { space_id: '123' } }));
    expect(err).toMatchObject({ kind: 'remote', method: 'GET', status: 404, codes: ['not_found'], messages: ['Space 123 does not exist'], trace: 'abc123' });
    expect(err.url).toBe(`${s.url}/v2/assets/a1?space_id=123`);
    expect(err.message).toBe(`GET ${s.url}/v2/assets/a1?space_id=123 → 404 not_found: Space 123 does not exist (trace abc123)`);
  });

  it('take the trace from x-global-transaction-id when the body has none, and read IAM and plain-text errors', async () => {
    const bodies: Array<[number, string, Record<string, string>]> = [
      [400, JSON.stringify({ errorCode: 'BXNIM0415E', errorMessage: 'Provided API key could not be found', context: { requestId: 'iam-req-1' } }), {}],
      [502, '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>', { 'x-global-transaction-id': 'gt-9' }],
    ];
    const s = await serve((_req, res, _b, seen) => {
      const [st, body, headers] = bodies[seen.length - 1];
      res.writeHead(st, headers);
      res.end(body);
    });
    const { c } = client(s.url, { retry: { retries: 0 } });
    const iam = await rejection(c.request({ path: '/identity/token' }));
    expect(iam).toMatchObject({ codes: ['BXNIM0415E'], messages: ['Provided API key could not be found'], trace: 'iam-req-1' });
    const gw = await rejection(c.request({ path: '/x' }));
    expect(gw).toMatchObject({ status: 502, codes: [], messages: ['502 Bad Gateway'], trace: 'gt-9' });
  });

  it('never contain the API key, the bearer token or other secrets, even when the server echoes them', async () => {
    const apiKey = 'sEcReT-api-key-0123456789';
    const token = 'opaque-bearer-token-ABCDEFGHIJ';
    const s = await serve((req, res) =>
      json(res, 403, {
        trace: 'tr',
        errors: [{ code: 'forbidden', message: `denied for ${req.headers.authorization} with ${decodeURIComponent(req.url ?? '')}` }],
      }),
    );
    const redactor = new Redactor([apiKey]);
    const { c } = client(s.url, { auth: staticTokenProvider(token), redactor });
    const err = await rejection(c.request({ path: '/v2/x', query: { apikey: apiKey, access_token: 'another-secret-value', space_id: 's1' } }));
    const everything = [err.message, err.url, JSON.stringify(err), inspect(err, { depth: 10 }), err.stack ?? ''].join('\n');
    for (const secret of [apiKey, token, 'another-secret-value']) expect(everything).not.toContain(secret);
    expect(err.url).toBe(`${s.url}/v2/x?apikey=***&access_token=***&space_id=s1`);
    expect(err.message).toContain('forbidden: denied for Bearer ***');
    // The server did receive the real credentials.
    expect(s.seen[0].headers.authorization).toBe(`Bearer ${token}`);
  });

  it('network errors carry no secrets either', async () => {
    const s = await serve((req) => {
      req.socket.destroy();
    });
    const { c } = client(s.url, { retry: { retries: 0 } });
    const err = await rejection(c.request({ path: '/x', query: { api_key: 'zz-secret-zz-1234' } }));
    expect(inspect(err, { depth: 10 }) + err.message).not.toContain('zz-secret-zz-1234');
  });
});

describe('responses', () => {
  const Assets = z.object({ resources: z.array(z.object({ metadata: z.object({ asset_id: z.string(), name: z.string() }) })) });

  it('validates a JSON body with zod and returns the typed data', async () => {
    const s = await serve((_req, res) => json(res, 200, { resources: [{ metadata: { asset_id: 'a1', name: 'model.zip', extra: 1 } }] }));
    const { c } = client(s.url);
    const data = await c.request({ path: '/v2/assets', schema: Assets });
    expect(data.resources[0].metadata.asset_id).toBe('a1');
  });

  it('names the offending field when the body does not match', async () => {
    const s = await serve((_req, res) => json(res, 200, { resources: [{ metadata: { asset_id: 42, name: 'm' } }] }, { 'x-request-id': 'rq-7' }));
    const { c } = client(s.url);
    let err: unknown;
    try {
      await c.request({ path: '/v2/assets', schema: Assets });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidResponseError);
    const e = err as InvalidResponseError;
    expect(e.issues[0]).toMatchObject({ path: 'resources[0].metadata.asset_id', message: 'expected a string, got 42' });
    expect(e.message).toBe(`GET ${s.url}/v2/assets → 200: unexpected response body: resources[0].metadata.asset_id: expected a string, got 42 (trace rq-7)`);
    expect(e.kind).toBe('remote');
  });

  it('reports a non-JSON body where JSON was expected, and returns text, bytes and empty bodies', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello');
      }
    });
    const { c } = client(s.url);
    await expect(c.request({ path: '/t' })).rejects.toThrow(/expected JSON, got "hello"/);
    await expect(c.request({ path: '/t', responseType: 'text' })).resolves.toBe('hello');
    expect((await c.request<Buffer>({ path: '/t', responseType: 'buffer' })).toString()).toBe('hello');
    const r = await c.send({ path: '/empty' });
    expect(r.status).toBe(204);
    expect(r.data).toBeUndefined();
  });

  it('returns allowed non-2xx statuses instead of throwing', async () => {
    const s = await serve((_req, res) => json(res, 404, { trace: 't', errors: [{ code: 'not_found', message: 'no' }] }));
    const { c } = client(s.url);
    const r = await c.send({ path: '/maybe', allowStatus: [404] });
    expect(r.status).toBe(404);
  });

  it('follows same-origin redirects with the token and drops it for another origin', async () => {
    const other = await serve((req, res) => json(res, 200, { auth: req.headers.authorization ?? null }));
    const s = await serve((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/here' });
        res.end();
      } else if (req.url === '/away') {
        res.writeHead(307, { location: `${other.url}/there` });
        res.end();
      } else json(res, 200, { auth: req.headers.authorization ?? null });
    });
    const { c } = client(s.url, { auth: staticTokenProvider('tok-same-origin-1234') });
    expect(await c.request({ path: '/moved' })).toEqual({ auth: 'Bearer tok-same-origin-1234' });
    expect(await c.request({ path: '/away' })).toEqual({ auth: null });
  });
});

describe('streaming', () => {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);

  it('retries a streaming upload made from a body factory, sending the whole body again', async () => {
    const s = await serve((_req, res, body, seen) => {
      if (seen.length === 1) json(res, 503, {});
      else json(res, 200, { received: body.length });
    });
    const dir = mkdtempSync(join(tmpdir(), 'upload-'));
    const file = join(dir, 'model.zip');
    writeFileSync(file, big);
    const { c } = client(s.url);
    const progress: number[] = [];
    const r = await c.request({ method: 'PUT', path: '/upload', body: () => createReadStream(file), contentLength: big.length, onUploadProgress: (n) => progress.push(n) });
    expect(r).toEqual({ received: big.length });
    expect(s.seen.map((x) => x.body.length)).toEqual([big.length, big.length]);
    expect(s.seen[1].headers['content-length']).toBe(String(big.length));
    expect(progress[progress.length - 1]).toBe(big.length);
  });

  it('does not retry an upload of a one-shot stream', async () => {
    const s = await serve((_req, res) => json(res, 503, {}));
    const { c, retries } = client(s.url);
    const err = await rejection(c.request({ method: 'PUT', path: '/upload', body: Readable.from([Buffer.from('abc')]) }));
    expect(err.status).toBe(503);
    expect(s.seen).toHaveLength(1);
    expect(retries).toEqual([]);
  });

  it('downloads to a file, restarting a transfer that breaks halfway, and leaves no partial file', async () => {
    const s = await serve((_req, res, _b, seen) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(big.length) });
      if (seen.length === 1) {
        res.write(big.subarray(0, 1024 * 1024));
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.end(big);
    });
    const dir = mkdtempSync(join(tmpdir(), 'download-'));
    const file = join(dir, 'out', 'model.zip');
    const { c, retries } = client(s.url);
    const seenTotals: Array<number | undefined> = [];
    const r = await c.downloadToFile({ path: '/file', file, onProgress: (_n, total) => seenTotals.push(total) });
    expect(r.bytes).toBe(big.length);
    expect(readFileSync(file).equals(big)).toBe(true);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(readdirSync(join(dir, 'out'))).toEqual(['model.zip']);
    expect(seenTotals[0]).toBe(big.length);
  });

  it('returns a stream for responseType stream', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200);
      res.end('streamed');
    });
    const { c } = client(s.url);
    const stream = await c.request<Readable>({ path: '/s', responseType: 'stream' });
    const chunks: Buffer[] = [];
    for await (const ch of stream) chunks.push(ch as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('streamed');
  });
});
