/**
 * Library fixes the notebooks needed: safe zip extraction (A2 unpacks the deployment folder from the
 * space), a request on a kept-alive connection that the server closed at that moment (every pause
 * between notebook cells outlasts a 5 s server keep-alive), and module names tslab cannot load.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import ts from 'typescript';
import { ZipFile } from 'yazl';
import { extractZipSafely } from '../../src/lib/archive/unzip';
import { zipFolder } from '../../src/lib/archive/zip';
import { ValidationError } from '../../src/lib/errors';
import { createHttpClient } from '../../src/lib/http/client';
import { RemoteApiError } from '../../src/lib/http/errors';

const root = mkdtempSync(join(tmpdir(), 'nb-libfix-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function writeZip(file: string, entries: { name: string; data?: string; mode?: number }[]): Promise<void> {
  const zip = new ZipFile();
  for (const e of entries) zip.addBuffer(Buffer.from(e.data ?? ''), e.name, e.mode ? { mode: e.mode } : {});
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(file));
}

/** Replaces an entry name in a zip's local header and central directory (same length). */
function renameEntry(file: string, from: string, to: string): void {
  expect(to).toHaveLength(from.length);
  const bytes = readFileSync(file);
  const needle = Buffer.from(from);
  let at = bytes.indexOf(needle);
  let n = 0;
  while (at >= 0) {
    Buffer.from(to).copy(bytes, at);
    n++;
    at = bytes.indexOf(needle, at + 1);
  }
  expect(n).toBe(2);
  writeFileSync(file, bytes);
}

describe('extractZipSafely', () => {
  it('gives back a zipped folder byte for byte, the folder at the top', async () => {
    const src = join(root, 'deps', 'edi-kernel');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'kernel.py'), 'print("hi")\n');
    writeFileSync(join(src, 'lib', 'data.bin'), Buffer.from([0, 1, 2, 255, 254]));
    mkdirSync(join(src, 'empty'));
    const zip = join(root, 'edi-kernel.zip');
    await pipeline(zipFolder(src, { includeFolder: true }), createWriteStream(zip));
    const dest = join(root, 'out1');
    const r = await extractZipSafely(zip, dest);
    expect(r.topLevel).toEqual(['edi-kernel']);
    expect(r.files).toBe(2);
    expect(readFileSync(join(dest, 'edi-kernel', 'kernel.py'), 'utf8')).toBe('print("hi")\n');
    expect([...readFileSync(join(dest, 'edi-kernel', 'lib', 'data.bin'))]).toEqual([0, 1, 2, 255, 254]);
    expect(statSync(join(dest, 'edi-kernel', 'empty')).isDirectory()).toBe(true);
  });

  it('refuses an entry that climbs out of the destination, and leaves nothing behind', async () => {
    const zip = join(root, 'evil.zip');
    await writeZip(zip, [{ name: 'ok.txt', data: 'fine' }, { name: 'zz/escape.txt', data: 'evil' }]);
    renameEntry(zip, 'zz/escape.txt', '../escape.txt');
    const dest = join(root, 'out-evil');
    await expect(extractZipSafely(zip, dest)).rejects.toThrow(/\.\.\/escape\.txt/);
    expect(readdirSync(root).filter((n) => n.includes('out-evil'))).toEqual([]);
    expect(() => statSync(join(root, 'escape.txt'))).toThrow();
  });

  it('refuses symbolic links, a non-empty destination and a file that is not a zip', async () => {
    const zip = join(root, 'link.zip');
    await writeZip(zip, [{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]);
    await expect(extractZipSafely(zip, join(root, 'out-link'))).rejects.toThrow(/symbolic link/);
    const busy = join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'x'), '');
    await expect(extractZipSafely(zip, busy)).rejects.toThrow(ValidationError);
    const notZip = join(root, 'not.zip');
    writeFileSync(notZip, 'plain text, not a zip');
    await expect(extractZipSafely(notZip, join(root, 'out-nz'))).rejects.toThrow(/not a readable zip archive/);
  });
});

/** A raw HTTP/1.1 server: `onRequest(connection number, request number on it, socket)` answers or drops. */
function rawServer(onRequest: (conn: number, nth: number, socket: Socket) => void): Promise<{ server: Server; port: number; requests: { conn: number; nth: number; line: string }[] }> {
  const requests: { conn: number; nth: number; line: string }[] = [];
  let conns = 0;
  const server = createServer((socket) => {
    const conn = ++conns;
    let nth = 0;
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString();
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        nth++;
        requests.push({ conn, nth, line: head.split('\r\n')[0]! });
        onRequest(conn, nth, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ server, port: (server.address() as { port: number }).port, requests })));
}

const ok = (socket: Socket, body: string) =>
  socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: keep-alive\r\n\r\n${body}`);

describe('HTTP client: a kept-alive connection closed by the server as a request goes out', () => {
  it('sends a request that must not be repeated (POST) over a fresh connection, never a kept-alive one', async () => {
    const s = await rawServer((conn, nth, socket) => ok(socket, JSON.stringify({ conn, nth })));
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${s.port}` });
    try {
      await client.request({ path: '/a' });
      await client.request({ method: 'POST', path: '/runs', body: { a: 1 } });
      await client.request({ method: 'POST', path: '/runs', body: { a: 2 } });
      await client.request({ path: '/b' });
      // The GETs share connection 1; each POST gets its own, so no idle close can race it.
      expect(s.requests.map((r) => [r.conn, r.nth, r.line.split(' ')[0]])).toEqual([
        [1, 1, 'GET'], [2, 1, 'POST'], [3, 1, 'POST'], [1, 2, 'GET'],
      ]);
    } finally {
      client.close();
      s.server.close();
    }
  });

  it('sends an idempotent request again at once when the reused connection is reset before any answer', async () => {
    // Connection 1 answers its first request, then drops the second unanswered (the keep-alive race).
    const s = await rawServer((conn, nth, socket) => (conn === 1 && nth === 2 ? socket.destroy() : ok(socket, JSON.stringify({ conn, nth }))));
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${s.port}`, retry: { retries: 0 } });
    try {
      expect(await client.request({ path: '/a' })).toEqual({ conn: 1, nth: 1 });
      expect(await client.request({ method: 'PUT', path: '/b', body: { a: 2 } })).toEqual({ conn: 2, nth: 1 });
      expect(s.requests.map((r) => [r.conn, r.nth])).toEqual([[1, 1], [1, 2], [2, 1]]);
    } finally {
      client.close();
      s.server.close();
    }
  });

  it('does not send a POST again when its connection is reset (the server may have acted on it)', async () => {
    const s = await rawServer((_conn, _nth, socket) => socket.destroy());
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${s.port}` });
    try {
      const err = await client.request({ method: 'POST', path: '/runs', body: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteApiError);
      expect((err as RemoteApiError).networkCode).toBe('ECONNRESET');
      expect(s.requests).toHaveLength(1);
    } finally {
      client.close();
      s.server.close();
    }
  });

  it('sends again only once: a second reset of the new connection is an error', async () => {
    const s = await rawServer((conn, nth, socket) => (conn === 1 && nth === 1 ? ok(socket, '{}') : socket.destroy()));
    const client = createHttpClient({ baseUrl: `http://127.0.0.1:${s.port}`, retry: { retries: 0 } });
    try {
      await client.request({ path: '/a' });
      await expect(client.request({ path: '/b' })).rejects.toThrow(RemoteApiError);
      expect(s.requests.map((r) => [r.conn, r.nth])).toEqual([[1, 1], [1, 2], [2, 1]]);
    } finally {
      client.close();
      s.server.close();
    }
  });
});

describe('modules tslab can load', () => {
  const srcRoot = join(__dirname, '..', '..', 'src');
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));

  it('no module imports a package whose name is a sibling file (tslab would load the sibling)', () => {
    const clashes: string[] = [];
    for (const file of files(join(srcRoot, 'lib')).concat(files(join(srcRoot, 'runner')), files(join(srcRoot, 'provider')))) {
      const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
      const siblings = new Set(readdirSync(dirname(file)).filter((n) => n.endsWith('.ts')).map((n) => basename(n, '.ts')));
      for (const st of sf.statements) {
        if (!ts.isImportDeclaration(st) || st.importClause?.isTypeOnly) continue;
        const spec = (st.moduleSpecifier as ts.StringLiteral).text;
        if (!spec.startsWith('.') && !spec.startsWith('node:') && siblings.has(spec)) clashes.push(`${file}: '${spec}'`);
      }
    }
    expect(clashes).toEqual([]);
  });
});
