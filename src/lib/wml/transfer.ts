import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RunbookError } from '../errors';
import { RemoteApiError } from '../http/errors';
import { DEFAULT_RETRY_POLICY, isTransientNetworkCode, retryDelay } from '../http/retry';
import { call, type WmlContext } from './context';
import type { UploadSource } from './source';

/** Progress of a long transfer, for progress bars (the library prints nothing itself). */
export interface TransferProgress {
  /** `hash`: fingerprinting the source (skipIfUnchanged); `upload`/`download`: bytes moving; `verify`: checking sizes and checksums. */
  readonly phase: 'hash' | 'upload' | 'download' | 'verify';
  /** Bytes of the source read (upload), or received (download), so far in this phase. */
  readonly bytes: number;
  /** Known for files and in-memory content, and for downloads; unknown while zipping a folder. */
  readonly totalBytes?: number;
}

/** What a finished byte upload measured. */
export interface SentBytes {
  readonly bytes: number;
  readonly sha256: string;
  /** The service's account of the upload, when it gave one (the sandbox answers `{bytes}`). */
  readonly reportedBytes?: number;
}

/** A transfer whose bytes do not add up (source changed while reading, truncated download, checksum mismatch). */
export class TransferIntegrityError extends RunbookError {
  constructor(message: string) {
    super('remote', message);
  }
}

function counting(onChunk: (chunk: Buffer) => void, onEnd?: () => Error | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      try {
        onChunk(chunk);
      } catch (err) {
        return cb(err as Error);
      }
      cb(null, chunk);
    },
    flush(cb) {
      cb(onEnd?.());
    },
  });
}

/**
 * Sends a source's bytes to an attachment's `url1` (step 3 of the four-step upload), streaming:
 * memory stays flat whatever the size. The body is a factory, so the client's retries (PUT is
 * idempotent) re-open the source. SHA-256 and size are computed on the way; a file whose size
 * changed while it was read is an error.
 */
export async function sendBytes(
  ctx: WmlContext,
  url1: string,
  source: UploadSource,
  opts: { mime: string; fileName: string; onProgress?: (p: TransferProgress) => void; signal?: AbortSignal },
): Promise<SentBytes> {
  const form = ctx.uploadForm === 'auto' ? (/^https?:\/\//i.test(url1) ? 'raw' : 'multipart') : ctx.uploadForm;
  const boundary = `----cpd-runbook-${randomBytes(12).toString('hex')}`;
  const safeName = opts.fileName.replace(/["\\\r\n]/g, '_');
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${opts.mime}\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  let attempt: { hash: ReturnType<typeof createHash>; bytes: number } | undefined;
  let previous: Readable | undefined;
  let integrity: TransferIntegrityError | undefined;
  const changed = (read: string) => new TransferIntegrityError(`${source.where} changed while it was uploaded: read ${read} bytes, expected ${source.size}`);

  const body = (): Readable => {
    const state = { hash: createHash('sha256'), bytes: 0 };
    attempt = state;
    previous?.destroy(); // a retry: release the file of the failed attempt
    const src = source.open();
    previous = src;
    // Never send more or fewer bytes than announced: a source that changed size aborts the request.
    const counter = counting(
      (chunk) => {
        state.hash.update(chunk);
        state.bytes += chunk.length;
        if (source.size !== undefined && state.bytes > source.size) throw (integrity = changed(`over ${source.size}`));
        opts.onProgress?.({ phase: 'upload', bytes: state.bytes, totalBytes: source.size });
      },
      () => (source.size !== undefined && state.bytes !== source.size ? (integrity = changed(String(state.bytes))) : undefined),
    );
    src.once('error', (err) => counter.destroy(err));
    src.pipe(counter);
    if (form === 'raw') return counter;
    return Readable.from(
      (async function* () {
        yield head;
        for await (const chunk of counter) yield chunk as Buffer;
        yield tail;
      })(),
      { objectMode: false },
    );
  };

  const contentLength = source.size === undefined ? undefined : form === 'raw' ? source.size : head.length + source.size + tail.length;
  let text: string;
  try {
    text = await call<string>(ctx, {
      method: 'PUT',
      path: url1,
      body,
      contentLength,
      headers: { 'content-type': form === 'raw' ? opts.mime : `multipart/form-data; boundary=${boundary}` },
      responseType: 'text',
      signal: opts.signal,
    });
  } catch (err) {
    throw integrity ?? err;
  } finally {
    previous?.destroy();
  }
  const done = attempt!;
  if (source.size !== undefined && done.bytes !== source.size) throw changed(String(done.bytes));
  let reportedBytes: number | undefined;
  try {
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    const n = parsed?.bytes ?? parsed?.size;
    if (typeof n === 'number') reportedBytes = n;
  } catch {
    /* not JSON: nothing reported */
  }
  if (reportedBytes !== undefined && reportedBytes !== done.bytes) {
    throw new TransferIntegrityError(`the service stored ${reportedBytes} bytes of ${source.where}, but ${done.bytes} were sent`);
  }
  return { bytes: done.bytes, sha256: done.hash.digest('hex'), reportedBytes };
}

/** What a finished download measured. */
export interface ReceivedBytes {
  readonly bytes: number;
  readonly sha256: string;
  /** The SHA-256 the service vouched for in its ETag, when the ETag is one. */
  readonly etagSha256?: string;
}

/** Options of {@link receiveToFile}. */
export interface ReceiveOptions {
  /** Expected size (from the attachment); a different count is an error and leaves no file. */
  readonly expectedBytes?: number;
  /** Expected SHA-256 (hex); a different digest is an error and leaves no file. */
  readonly expectedSha256?: string;
  readonly onProgress?: (p: TransferProgress) => void;
  /** Abort when no byte arrives for this long (default 60 s). */
  readonly idleTimeoutMs?: number;
  /** Restarts after a broken transfer (default 4). */
  readonly retries?: number;
  readonly signal?: AbortSignal;
}

/**
 * Streams a GET to `file`, hashing on the way, and makes the file appear only once it is complete
 * and verified (temp sibling + rename): its length against Content-Length and `expectedBytes`, its
 * SHA-256 against `expectedSha256` and against the ETag when the service sends a SHA-256 there.
 * A broken transfer starts over (up to `retries` times, backoff with jitter).
 */
export async function receiveToFile(ctx: WmlContext, url: string, file: string, opts: ReceiveOptions = {}): Promise<ReceivedBytes> {
  const retries = opts.retries ?? DEFAULT_RETRY_POLICY.retries;
  const idleMs = opts.idleTimeoutMs ?? 60000;
  await fsp.mkdir(dirname(file), { recursive: true });
  for (let restart = 0; ; restart++) {
    const res = await ctx.http.send<Readable>({ path: url, responseType: 'stream', signal: opts.signal });
    const date = res.headers.date;
    ctx.clock.observe(Array.isArray(date) ? date[0] : date);
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const lengthHeader = header('content-length');
    const total = lengthHeader && /^\d+$/.test(lengthHeader) && !header('content-encoding') ? Number(lengthHeader) : undefined;
    const etag = /^(?:W\/)?"?([0-9a-f]{64})"?$/i.exec(header('etag') ?? '')?.[1]?.toLowerCase();
    const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.part`);
    const hash = createHash('sha256');
    let bytes = 0;
    const stream = res.data;
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      if (timer) timer.refresh();
      else timer = setTimeout(() => stream.destroy(Object.assign(new Error(`no data received for ${idleMs} ms`), { code: 'ETIMEDOUT' })), idleMs);
    };
    touch();
    try {
      await pipeline(
        stream,
        counting((chunk) => {
          touch();
          hash.update(chunk);
          bytes += chunk.length;
          opts.onProgress?.({ phase: 'download', bytes, totalBytes: total ?? opts.expectedBytes });
        }),
        createWriteStream(tmp),
      );
      if (timer) clearTimeout(timer);
      if (total !== undefined && bytes !== total) {
        throw Object.assign(new Error(`the transfer ended after ${bytes} of ${total} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      }
    } catch (err) {
      if (timer) clearTimeout(timer);
      await fsp.rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (!opts.signal?.aborted && isTransientNetworkCode(code) && restart < retries) {
        await ctx.sleep(retryDelay(restart + 1, DEFAULT_RETRY_POLICY).delayMs);
        continue;
      }
      throw new RemoteApiError({ method: 'GET', url: res.url, codes: [], messages: [(err as Error).message], networkCode: code, attempts: restart + 1 });
    }
    const sha256 = hash.digest('hex');
    try {
      opts.onProgress?.({ phase: 'verify', bytes, totalBytes: bytes });
      if (opts.expectedBytes !== undefined && bytes !== opts.expectedBytes) {
        throw new TransferIntegrityError(`downloaded ${bytes} bytes to ${file}, but the asset holds ${opts.expectedBytes}`);
      }
      if (etag && etag !== sha256) throw new TransferIntegrityError(`the SHA-256 of the bytes received for ${file} (${sha256}) differs from the service's ETag (${etag})`);
      if (opts.expectedSha256 && opts.expectedSha256.toLowerCase() !== sha256) {
        throw new TransferIntegrityError(`the SHA-256 of the bytes received for ${file} (${sha256}) differs from the expected ${opts.expectedSha256}`);
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { bytes, sha256, etagSha256: etag };
  }
}
