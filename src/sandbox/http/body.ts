import type { IncomingMessage } from 'node:http';
import { payloadTooLarge } from '../errors';

/**
 * The whole body of a request, refused with a 413 once it passes `limit` bytes: at once when its
 * Content-Length says so, else as soon as that many bytes have arrived. `tooLarge` words the
 * message, given the declared length when that was the reason.
 */
export function readBodyLimited(req: IncomingMessage, limit: number, tooLarge: (declaredBytes?: number) => string): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(payloadTooLarge(tooLarge(declared)));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(payloadTooLarge(tooLarge()));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
  });
}
