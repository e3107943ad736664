/**
 * Shared set-up of the WML client tests: an in-process sandbox on port 0 (real HTTP on loopback),
 * a CPD client logged in as the demo user with fast retries, fault rules set through the sandbox's
 * own API, and small file helpers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpdTokenProvider } from '../../src/lib/http/auth';
import { createHttpClient, type HttpClient, type RetryInfo } from '../../src/lib/http/client';
import { createWmlClient, type WmlClient, type WmlOptions } from '../../src/lib/wml';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { faultHits, setFaults, startTestSandbox, type TestSandbox } from '../sandbox/helpers';

export interface WmlFixture {
  sandbox: TestSandbox;
  dir: string;
  /** Creates a fresh client (own connection pool and token). */
  client(options?: WmlOptions): TestClient;
  /** Replaces the sandbox's fault rules. */
  faults(rules: unknown[], seed?: number): Promise<void>;
  /** The hit counts of the current rules. */
  faultHits(): Promise<number[]>;
  /** A new active space for one test. */
  space(name?: string): Promise<string>;
  close(): Promise<void>;
}

export async function startWmlFixture(config: Record<string, unknown> = {}): Promise<WmlFixture> {
  const sandbox = await startTestSandbox({ config: { services: { wml: { spaceActivationDelayMs: 30 } }, ...config } as never });
  const dir = mkdtempSync(join(tmpdir(), 'wml-test-'));
  const clients: TestClient[] = [];
  const fixture: WmlFixture = {
    sandbox,
    dir,
    client(options = {}) {
      const made = clientFor(sandbox.url, options);
      clients.push(made);
      return made;
    },
    faults: (rules, seed) => setFaults(sandbox.api, rules, seed),
    faultHits: () => faultHits(sandbox.api),
    async space(name = `space-${randomBytes(4).toString('hex')}`) {
      const { wml } = fixture.client();
      return (await wml.ensureSpace(name)).space.id;
    },
    async close() {
      for (const c of clients) c.close();
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** Writes `size` pseudo-random bytes to `file` and returns their SHA-256. */
export async function writeRandomFile(file: string, size: number): Promise<string> {
  const data = randomBytes(size);
  await fsp.writeFile(file, data);
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  return createHash('sha256').update(await fsp.readFile(file)).digest('hex');
}

/** What the proxy does with one request. */
export type ProxyAction = 'pass' | 'lose-response' | { truncateAfter: number };

export interface FaultProxy {
  url: string;
  /** Requests seen, as `METHOD path`. */
  seen: string[];
  close(): Promise<void>;
}

/**
 * A real HTTP proxy in front of the sandbox for faults the sandbox's own rules cannot make: the
 * server acts but the answer is lost (`lose-response`: the whole response is read upstream, then
 * the client's socket is destroyed), or a body is cut mid-stream (`truncateAfter`).
 */
export async function startFaultProxy(target: string, decide: (method: string, path: string) => ProxyAction): Promise<FaultProxy> {
  const { createServer, request } = await import('node:http');
  const upstream = new URL(target);
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push(`${req.method} ${path.split('?')[0]}`);
    const action = decide(req.method ?? 'GET', path.split('?')[0]!);
    const up = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path, headers: { ...req.headers, host: upstream.host } },
      (upRes) => {
        if (action === 'lose-response') {
          upRes.resume();
          upRes.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        if (action === 'pass') {
          upRes.pipe(res);
          return;
        }
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= action.truncateAfter) return;
          const part = chunk.subarray(0, action.truncateAfter - sent);
          sent += part.length;
          res.write(part);
          if (sent >= action.truncateAfter) {
            upRes.destroy();
            setTimeout(() => req.socket.destroy(), 20);
          }
        });
        upRes.on('end', () => res.end());
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestClient {
  wml: WmlClient;
  http: HttpClient;
  /** Every retry the HTTP client made. */
  retries: RetryInfo[];
  /** Closes the sockets of the client and of its token provider. */
  close(): void;
}

/** A CPD client and WML client talking to `baseUrl` (e.g. a proxy) as the demo user, with fast retries. */
export function clientFor(baseUrl: string, options: WmlOptions = {}): TestClient {
  const retries: RetryInfo[] = [];
  const authClient = createHttpClient({ baseUrl });
  const http = createHttpClient({
    baseUrl,
    auth: cpdTokenProvider({ client: authClient, username: SANDBOX_DEMO_USER.username, apiKey: SANDBOX_DEMO_USER.apiKey }),
    retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 50 },
    onRetry: (r) => retries.push(r),
    // Short: the HTTP client re-arms its idle timer when a server answers before reading the whole
    // upload (reported to its owner); a short timeout keeps that stray timer from holding jest for 60 s.
    timeoutMs: 5000,
  });
  return {
    wml: createWmlClient(http, { settleMs: 50, pollMs: 20, ...options }),
    http,
    retries,
    close() {
      http.close();
      authClient.close();
    },
  };
}
