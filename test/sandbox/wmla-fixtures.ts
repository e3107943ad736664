/**
 * Fixtures shared by the WMLA and archive sandbox tests: real tar/tar.gz archives (also hostile,
 * hand-written ones), polling, and process checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createTarGz } from '../../src/lib/archive';

/** Writes `files` (relative path → content) under `dir`. */
export function writeTree(dir: string, files: Record<string, string | Buffer>): string {
  for (const [rel, content] of Object.entries(files)) {
    const target = join(dir, rel);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
  return dir;
}

/** A gzipped tar of `dir`, with the folder itself on top (`<name>/…`) unless told otherwise. */
export async function tarGzOf(dir: string, includeFolder = true): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createTarGz(dir, { includeFolder })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One entry of a hand-written tar: `type` is the ustar type flag ('0' file, '1' hard link, '2' symlink, '5' folder). */
export interface TarEntrySpec {
  name: string;
  type?: string;
  body?: string | Buffer;
  linkname?: string;
  /** The size the header declares (default: the body's); another value makes a lying header. */
  size?: number;
}

/** One hand-written ustar entry (header + padded body), so tests can craft hostile archives. */
function tarEntry(e: TarEntrySpec): Buffer {
  const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
  const h = Buffer.alloc(512, 0);
  const put = (s: string, off: number, len: number): void => {
    Buffer.from(s, 'utf8').copy(h, off, 0, len);
  };
  const octal = (n: number, len: number): string => n.toString(8).padStart(len - 1, '0') + '\0';
  put(e.name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(e.size ?? body.length, 12), 124, 12);
  put(octal(1700000000, 12), 136, 12);
  put('        ', 148, 8);
  put(e.type ?? '0', 156, 1);
  put(e.linkname ?? '', 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512, 0)]);
}

/** A plain tar of hand-written entries (names are written as given: `../x` stays `../x`). */
export function rawTar(entries: TarEntrySpec[]): Buffer {
  return Buffer.concat([...entries.map(tarEntry), Buffer.alloc(1024, 0)]);
}

/** Polls `probe` until it returns a value other than undefined; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 40): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A multipart body with `bytes` as the part `field` (what dlicmd sends). */
export function multipartFile(bytes: Buffer, filename: string, field = 'file'): FormData {
  const form = new FormData();
  form.append(field, new Blob([bytes]), filename);
  return form;
}
