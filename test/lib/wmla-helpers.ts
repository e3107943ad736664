/**
 * Shared set-up of the WMLA client tests: an in-process sandbox on port 0 (real HTTP on loopback,
 * real python workers and kernels) with short state timings, console and inference clients logged
 * in as the demo user with fast retries, fault rules through the sandbox's own API, and temp folders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpdTokenProvider } from '../../src/lib/http/auth';
import { createHttpClient, type HttpClient, type RetryInfo } from '../../src/lib/http/client';
import { Redactor } from '../../src/lib/redact';
import { EdiClient } from '../../src/lib/wmla/edi';
import { TrainingClient } from '../../src/lib/wmla/training';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { faultHits, setFaults, startTestSandbox, type TestSandbox } from '../sandbox/helpers';

export interface WmlaFixture {
  sandbox: TestSandbox;
  /** A temp folder removed at close. */
  dir: string;
  /** A fresh client of the sandbox (or of `baseUrl`, e.g. a proxy), closed with the fixture. */
  client(baseUrl?: string, redactor?: Redactor): WmlaTestClient;
  faults(rules: unknown[], seed?: number): Promise<void>;
  faultHits(): Promise<number[]>;
  close(): Promise<void>;
}

export interface WmlaTestClient {
  http: HttpClient;
  training: TrainingClient;
  edi: EdiClient;
  /** Every retry the HTTP clients made. */
  retries: RetryInfo[];
  close(): void;
}

export const FAST_TIMINGS = {
  'wmla-training': { submittedMs: 20, pendingMs: 20, minRunningMs: 60 },
  'wmla-edi': { startMs: 60, stopMs: 40, stopGraceMs: 300 },
};

export async function startWmlaFixture(services: Record<string, unknown> = FAST_TIMINGS): Promise<WmlaFixture> {
  const sandbox = await startTestSandbox({ config: { services } as never });
  const dir = mkdtempSync(join(tmpdir(), 'wmla-test-'));
  const clients: WmlaTestClient[] = [];
  return {
    sandbox,
    dir,
    client(baseUrl = sandbox.url, redactor?: Redactor) {
      const made = clientFor(baseUrl, redactor);
      clients.push(made);
      return made;
    },
    faults: (rules, seed) => setFaults(sandbox.api, rules, seed),
    faultHits: () => faultHits(sandbox.api),
    async close() {
      for (const c of clients) c.close();
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Console + inference clients for `baseUrl` as the demo user, with fast retries. */
export function clientFor(baseUrl: string, redactor = new Redactor()): WmlaTestClient {
  const retries: RetryInfo[] = [];
  const authClient = createHttpClient({ baseUrl, redactor });
  const auth = cpdTokenProvider({ client: authClient, username: SANDBOX_DEMO_USER.username, apiKey: SANDBOX_DEMO_USER.apiKey });
  const common = { baseUrl, auth, redactor, retry: { baseDelayMs: 5, maxDelayMs: 40, maxRetryAfterMs: 40 }, onRetry: (r: RetryInfo) => retries.push(r) };
  const http = createHttpClient(common);
  const inference = createHttpClient(common);
  return {
    http,
    training: new TrainingClient(http, { pollMs: 50 }),
    edi: new EdiClient(http, inference, { pollMs: 50 }),
    retries,
    close() {
      http.close();
      inference.close();
      authClient.close();
    },
  };
}
