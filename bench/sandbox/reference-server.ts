/**
 * The reference of the load benchmark: a bare node:http server in its own process that reads each
 * request's JSON body, parses it, and answers with a prepared JSON body of the size the sandbox
 * answers (captured from the sandbox in the same run). No routing framework, no auth, no
 * validation, no storage: the floor a Node server on this machine sets for the same client load.
 *
 * Run by {@link startReferenceServer} (fork); it exits when its parent goes away.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';

/** An answer for requests whose path ends with `pathSuffix`. */
export interface CannedRoute {
  readonly pathSuffix: string;
  readonly status: number;
  readonly body: string;
}

export interface ReferenceServer {
  readonly url: string;
  readonly pid: number;
  close(): Promise<void>;
}

/** Forks this file as a server answering `routes`; resolves once it listens on a free loopback port. */
export function startReferenceServer(routes: readonly CannedRoute[]): Promise<ReferenceServer> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(__filename, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`the reference server exited before listening (${signal ?? `exit code ${code}`})`)));
    child.once('message', (m) => {
      const port = (m as { port?: number }).port;
      if (!port) return reject(new Error(`the reference server sent ${JSON.stringify(m)}`));
      resolve({
        url: `http://127.0.0.1:${port}`,
        pid: child.pid!,
        close: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.send({ routes });
  });
}

function serve(routes: readonly CannedRoute[]): void {
  const prepared = routes.map((r) => ({ ...r, bytes: Buffer.from(r.body, 'utf8') }));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!;
      const route = prepared.find((r) => path.endsWith(r.pathSuffix));
      try {
        if (chunks.length) JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(route.status, { 'content-type': 'application/json', 'content-length': String(route.bytes.length) });
      res.end(route.bytes);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send!({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

if (require.main === module && process.argv.includes('--serve')) {
  process.once('message', (m) => serve((m as { routes: CannedRoute[] }).routes));
}
