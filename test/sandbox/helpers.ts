/**
 * Shared helpers for sandbox tests (also for service modules added later): an in-process server on
 * port 0 with a temp state dir, a token for the demo user, and a small fetch-based client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { IbmErrorEnvelope } from '../../src/lib/contracts/ibm-error';
import { SANDBOX_DEMO_USER, type SandboxConfigInput } from '../../src/sandbox/config';
import type { SandboxModule } from '../../src/sandbox/module';
import { startSandboxServer, type RunningSandbox } from '../../src/sandbox/server';

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
}

export interface RequestOptions {
  /** JSON body (serialized) — or use `raw`. */
  body?: unknown;
  raw?: NonNullable<RequestInit['body']>;
  headers?: Record<string, string>;
  /** Bearer token; `null` sends none; default the helper's demo-user token. */
  token?: string | null;
}

export class Api {
  constructor(
    readonly url: string,
    public token: string | undefined,
  ) {}

  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const token = options.token === undefined ? this.token : options.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: NonNullable<RequestInit['body']> | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const init: RequestInit & { duplex?: 'half' } = { method, headers, body };
    if (body && typeof (body as ReadableStream).getReader === 'function') init.duplex = 'half';
    const res = await fetch(this.url + path, init);
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  post(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('POST', path, { ...options, body });
  }
  put(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('PUT', path, { ...options, body });
  }
  patch(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('PATCH', path, { ...options, body });
  }
  delete(path: string, options?: RequestOptions) {
    return this.request('DELETE', path, options);
  }
}

export interface TestSandbox {
  url: string;
  stateDir: string;
  sandbox: RunningSandbox;
  api: Api;
  close(): Promise<void>;
}

/** A fresh temp state dir (removed by the caller or left in tmp for debugging). */
export function tempStateDir(prefix = 'sandbox-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Logs in as the demo user and returns the CPD token. */
export async function demoToken(url: string): Promise<string> {
  const res = await fetch(`${url}/icp4d-api/v1/authorize`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: SANDBOX_DEMO_USER.username, api_key: SANDBOX_DEMO_USER.apiKey }),
  });
  const body = (await res.json()) as { token: string };
  if (res.status !== 200) throw new Error(`authorize answered ${res.status}`);
  return body.token;
}

/** Starts an in-process sandbox on port 0 with a temp state dir and a demo-user token. */
export async function startTestSandbox(
  options: { config?: SandboxConfigInput; modules?: readonly SandboxModule<any>[]; stateDir?: string; log?: (line: string) => void } = {},
): Promise<TestSandbox> {
  const stateDir = options.stateDir ?? tempStateDir();
  const sandbox = await startSandboxServer({
    stateDir,
    port: 0,
    config: { logRequests: false, ...(options.config ?? {}) },
    modules: options.modules,
    log: options.log,
  });
  const api = new Api(sandbox.url, await demoToken(sandbox.url));
  return {
    url: sandbox.url,
    stateDir: sandbox.stateDir,
    sandbox,
    api,
    close: async () => {
      await sandbox.close();
      if (!options.stateDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Replaces the sandbox's fault rules through its own API (`PUT /sandbox/v1/faults`). */
export async function setFaults(api: Api, rules: unknown[], seed = 1): Promise<void> {
  const res = await api.put('/sandbox/v1/faults', { seed, faults: rules });
  if (res.status !== 200) throw new Error(`faults: ${res.status} ${res.text}`);
}

/** How often each current fault rule has fired, in rule order. */
export async function faultHits(api: Api): Promise<number[]> {
  const res = await api.get('/sandbox/v1/faults');
  return (res.json.faults as { hits: number }[]).map((f) => f.hits);
}

/** Asserts IBM's error envelope with this status, and that `trace` is the x-request-id header. */
export function expectIbmError(res: ApiResponse, status: number, messagePart?: string | RegExp): void {
  expect({ status: res.status, body: res.json }).toMatchObject({ status });
  const parsed = IbmErrorEnvelope.safeParse(res.json);
  expect(parsed.success).toBe(true);
  expect(res.json.trace).toBe(res.headers.get('x-request-id'));
  if (messagePart !== undefined) {
    const message = res.json.errors.map((e: { message: string }) => e.message).join(' | ');
    if (typeof messagePart === 'string') expect(message).toContain(messagePart);
    else expect(message).toMatch(messagePart);
  }
}

/**
 * A request whose path is sent exactly as given (fetch normalizes `..` and `%2e%2e` segments away,
 * so traversal attempts must be sent this way to reach the server).
 */
export function rawRequest(url: string, method: string, path: string, token?: string, body?: Buffer | string): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve({ status: res.statusCode ?? 0, headers: h, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
