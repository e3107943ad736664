import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

/** A multipart/form-data body with one file part, streamed from disk and replayable (for retries). */
export interface MultipartFile {
  /** A fresh stream of the whole body on every call. */
  readonly body: () => Readable;
  readonly contentType: string;
  readonly contentLength: number;
}

/** Quotes a file name for a Content-Disposition parameter (no quotes, CR or LF inside). */
function quoted(name: string): string {
  return `"${name.replace(/["\r\n\\]/g, '_')}"`;
}

/**
 * The body of a form upload with a single file part `field` (the zen-volumes API wants `upFile`).
 * The length is exact, so the request carries a Content-Length instead of chunked encoding.
 */
export function multipartFile(field: string, fileName: string, localPath: string, size: number): MultipartFile {
  const boundary = `----cpd-runbook-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(field)}; filename=${quoted(fileName)}\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    for await (const chunk of createReadStream(localPath)) yield chunk as Buffer;
    yield tail;
  }
  return {
    body: () => Readable.from(parts(), { objectMode: false }),
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength: head.length + size + tail.length,
  };
}
