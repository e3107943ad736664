/**
 * A real HTTP proxy in front of a test server (the sandbox) for what the sandbox's own fault rules
 * cannot do: it records every request, can hold a request back until the test lets it through, and
 * can lose an answer the server already acted on or cut a body mid-stream.
 */
import { createServer, request } from 'node:http';

/** What the proxy does with one request. */
export type ProxyAction =
  | 'pass'
  /** The request reaches the server and is carried out; the whole answer is read, then the client's socket is destroyed. */
  | 'lose-response'
  /** The answer's body is cut after this many bytes and the connection dropped. */
  | { truncateAfter: number };

/** One request the proxy passed on. */
export interface SeenRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  /** Request headers as sent (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

export interface Proxy {
  url: string;
  /** Every request, in arrival order. */
  seen: SeenRequest[];
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** What to do with a request, given its method and path (no query); default `pass`. */
  decide?: (method: string, path: string) => ProxyAction;
  /** Awaited before a request is passed on (to line requests up in a chosen order). */
  hold?: (method: string, path: string) => Promise<void> | undefined;
}

/** Starts a proxy to `target` on a free loopback port. */
export async function startProxy(target: string, options: ProxyOptions = {}): Promise<Proxy> {
  const upstream = new URL(target);
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const path = url.split('?')[0]!;
    seen.push({ method, url, headers: { ...req.headers } });
    const action = options.decide?.(method, path) ?? 'pass';
    req.pause();
    const forward = (): void => {
      const up = request({ host: upstream.hostname, port: upstream.port, method, path: url, headers: { ...req.headers, host: upstream.host } }, (upRes) => {
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
      });
      up.on('error', () => req.socket.destroy());
      req.pipe(up);
      req.resume();
    };
    void Promise.resolve(options.hold?.(method, path)).then(forward);
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
