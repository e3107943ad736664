/**
 * Small real HTTP(S) servers on loopback for the client tests. Each records the requests it saw
 * (method, url, headers, body) and answers with a handler written in the test.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly at: number;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, seen: SeenRequest[]) => void | Promise<void>;

export interface TestServer {
  readonly url: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

function wrap(handler: Handler, seen: SeenRequest[]) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now() });
      Promise.resolve(handler(req, res, body, seen)).catch((err) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  };
}

async function listen(server: http.Server | https.Server, scheme: string, seen: SeenRequest[]): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An HTTP server on 127.0.0.1 with a random port. */
export function startServer(handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  return listen(http.createServer(wrap(handler, seen)), 'http', seen);
}

/** A self-signed certificate for 127.0.0.1/localhost made with the openssl binary; undefined when openssl is missing. */
export function selfSignedCert(): { key: string; cert: string; certPath: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyPath, '-out', certPath,
    ], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
}

/** An HTTPS server with the given key and certificate. */
export function startHttpsServer(tls: { key: string; cert: string }, handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  return listen(https.createServer({ key: tls.key, cert: tls.cert }, wrap(handler, seen)), 'https', seen);
}

/** A JWT with the given claims (unsigned: the client only reads `exp`). */
export function makeJwt(claims: Record<string, unknown>): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}.${Buffer.from('test-signature').toString('base64url')}`;
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function writeTemp(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tmpfile-'));
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
