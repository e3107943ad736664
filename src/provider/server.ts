/**
 * The provider's HTTP server: `POST /score` serves OpenScale's custom-metrics-provider calls (a
 * bearer token checked by the verifier, at most `maxConcurrentRuns` computations at once, the
 * others queued), `GET /health` answers without authentication. Everything else is 404/405.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROVIDER_HEALTH_PATH, PROVIDER_SCORE_PATH, PROVIDER_SERVICE } from './common';
import type { BearerVerifier } from '../lib/provider/auth';
import { handleRunRequest, rejection, type ProviderContext, type ProviderResponse, type RunOutcome } from '../lib/provider/run';


const MAX_BODY_BYTES = 1024 * 1024;

/** Options of {@link startProviderServer}. */
export interface ProviderServerOptions {
  readonly context: ProviderContext;
  /** Checks the Authorization header of runs; `'none'` accepts every call (tests of the handler only). */
  readonly verifier: BearerVerifier | 'none';
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Runs computed at once (default 2); more wait in line. */
  readonly maxConcurrentRuns?: number;
  /** Extra fields of the health answer (profile name, config source). */
  readonly health?: Record<string, unknown>;
  /** One line per request and run event. */
  readonly log?: (line: string) => void;
  /** Every finished run (tests, metrics). */
  readonly onRun?: (outcome: RunOutcome) => void;
}

/** A listening provider. */
export interface RunningProvider {
  /** `http://host:port`. */
  readonly url: string;
  /** The URL to register: `{url}/score`. */
  readonly endpoint: string;
  readonly instanceId: string;
  /** Stops accepting calls and waits up to `graceMs` (default 5 s) for running ones. */
  close(graceMs?: number): Promise<void>;
}

/** A counting semaphore. */
class Gate {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? 'too large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, r: ProviderResponse | { status: number; body: unknown }, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Starts the provider server; see the module comment. */
export async function startProviderServer(options: ProviderServerOptions): Promise<RunningProvider> {
  const instanceId = randomUUID();
  const startedAt = new Date().toISOString();
  const gate = new Gate(options.maxConcurrentRuns ?? 2);
  const log = options.log ?? (() => undefined);
  const inFlight = new Set<Promise<unknown>>();
  let url = '';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const receivedAt = Date.now();
    const path = (req.url ?? '/').split('?')[0];
    if (path === PROVIDER_HEALTH_PATH) {
      if (req.method !== 'GET') return send(res, { status: 405, body: { error: 'use GET' } }, { allow: 'GET' });
      req.resume();
      return send(res, {
        status: 200,
        body: { status: 'ok', service: PROVIDER_SERVICE, pid: process.pid, instanceId, startedAt, url, endpoint: `${url}${PROVIDER_SCORE_PATH}`, ...options.health },
      });
    }
    if (path !== PROVIDER_SCORE_PATH) {
      req.resume();
      return send(res, rejection(404, `no such endpoint ${path}: runs go to POST ${PROVIDER_SCORE_PATH}`));
    }
    if (req.method !== 'POST') {
      req.resume();
      return send(res, rejection(405, `use POST ${PROVIDER_SCORE_PATH}`), { allow: 'POST' });
    }
    const body = await readBody(req);
    if (options.verifier !== 'none') {
      const verdict = await options.verifier.verify(req.headers.authorization);
      if (!verdict.ok) {
        log(`POST ${PROVIDER_SCORE_PATH} → ${verdict.status}: ${verdict.reason}`);
        return send(res, rejection(verdict.status, verdict.reason), verdict.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      }
    }
    if (body === 'too large') return send(res, rejection(413, `the request body exceeds ${MAX_BODY_BYTES} bytes`));
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return send(res, rejection(400, `the request body is not JSON: ${(err as Error).message}`));
    }
    const outcome = await gate.run(() => handleRunRequest(options.context, payload, { receivedAt }));
    options.onRun?.(outcome);
    send(res, outcome);
  };

  const server = createServer((req, res) => {
    const p = handle(req, res).catch((err) => {
      log(`internal error: ${(err as Error).stack ?? String(err)}`);
      if (!res.headersSent) send(res, rejection(500, `internal provider error: ${(err as Error).message}`));
      else res.destroy();
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${addr.port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    endpoint: `${url}${PROVIDER_SCORE_PATH}`,
    instanceId,
    close(graceMs = 5000) {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, graceMs).unref())]);
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
