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
