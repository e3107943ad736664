import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

/** A part of a multipart/form-data body: a file streamed from disk, or a text field. */
export type FormPart =
  | { readonly name: string; readonly filename: string; readonly file: string; readonly size: number; readonly contentType?: string }
  | { readonly name: string; readonly value: string; readonly contentType?: string };

/** A multipart/form-data body that can be produced again for a retry, with its exact length. */
export interface FormBody {
  /** A fresh stream of the whole body on every call. */
  readonly body: () => Readable;
  readonly contentType: string;
  readonly contentLength: number;
}

/** A Content-Disposition parameter value (quotes, CR, LF and backslashes replaced). */
function quoted(value: string): string {
  return `"${value.replace(/["\r\n\\]/g, '_')}"`;
}

/**
 * A multipart/form-data body of one or more parts (the volumes upload sends one file part
 * `upFile`; WMLA's `POST /execs` the `file` part and maybe a `data` text part). Files are read
 * from disk while the body is consumed, so memory stays flat; the length is exact, so the request
 * carries Content-Length instead of chunked encoding.
 */
export function formBody(parts: readonly FormPart[]): FormBody {
  const boundary = `----cpd-runbook-${randomBytes(12).toString('hex')}`;
  const pieces: (Buffer | { file: string; size: number })[] = [];
  for (const part of parts) {
    if ('file' in part) {
      pieces.push(
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.name)}; filename=${quoted(part.filename)}\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}\r\n\r\n`,
        ),
      );
      pieces.push({ file: part.file, size: part.size });
      pieces.push(Buffer.from('\r\n'));
    } else {
      const type = part.contentType ? `Content-Type: ${part.contentType}\r\n` : '';
      pieces.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name=${quoted(part.name)}\r\n${type}\r\n${part.value}\r\n`));
    }
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  const contentLength = pieces.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : p.size), 0);
  async function* generate(): AsyncGenerator<Buffer> {
    for (const p of pieces) {
      if (Buffer.isBuffer(p)) yield p;
      else for await (const chunk of createReadStream(p.file)) yield chunk as Buffer;
    }
  }
  return {
    body: () => Readable.from(generate(), { objectMode: false }),
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength,
  };
}
