import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { badRequest } from '../errors';

/** What the sink learns about the upload besides its bytes. */
export interface UploadInfo {
  /** `multipart` when the bytes came from a form part, `raw` for a plain body. */
  form: 'multipart' | 'raw';
  /** The part's file name (multipart) — informational only, never used as a storage path. */
  filename?: string;
  mimeType?: string;
}

/**
 * Streams an upload into `sink`: either a multipart/form-data body (the part named `field`; other
 * parts are drained) or a raw body of any other content type. The sink sees one Readable and must
 * consume it; memory stays flat. Rejects with 400 when the multipart body has no `field` part, and
 * with the stream's error when the client aborts mid-way (the sink must then clean up, as
 * BlobNamespace.write does).
 */
export function receiveUpload<T>(
  req: IncomingMessage,
  field: string,
  sink: (stream: Readable, info: UploadInfo) => Promise<T>,
): Promise<T> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) {
    return sink(req, { form: 'raw', mimeType: type || undefined });
  }
  return new Promise<T>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { fields: 100, parts: 200 } });
    } catch (err) {
      reject(badRequest(`multipart body: ${(err as Error).message}`, 'invalid_multipart'));
      return;
    }
    let result: Promise<T> | undefined;
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      req.resume();
      reject(err);
    };
    parser.on('file', (name, stream, info) => {
      // A truncated form or an aborted client errors the part stream after the sink (or the drain
      // below) may have stopped listening; the parser reports it too, so never let it go unhandled.
      stream.on('error', () => undefined);
      if (name !== field || result) {
        stream.resume(); // not ours, or a second copy: drain
        return;
      }
      // If the client goes away mid-part, busboy never finishes the part: end it with an error.
      const onClose = (): void => {
        if (!req.complete) stream.destroy(new Error('the client closed the connection during the upload'));
      };
      req.once('close', onClose);
      result = sink(stream, { form: 'multipart', filename: info.filename, mimeType: info.mimeType });
      result.then(
        () => req.off('close', onClose),
        (err) => {
          req.off('close', onClose);
          fail(err);
        },
      );
    });
    parser.on('error', (err: Error) => fail(badRequest(`multipart body: ${err.message}`, 'invalid_multipart')));
    parser.on('close', () => {
      if (settled) return;
      if (!result) {
        fail(badRequest(`multipart body: the part '${field}' is required`, 'missing_file_part'));
        return;
      }
      result.then(
        (value) => {
          if (settled) return;
          settled = true;
          resolve(value);
        },
        fail,
      );
    });
    req.on('error', fail);
    req.pipe(parser);
  });
}
