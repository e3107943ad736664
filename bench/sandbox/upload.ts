/**
 * The upload part of the sandbox benchmark. Reference: the bytes written to a file on the disk of
 * the sandbox's state, fsync included. Then that file goes through the documented four-step
 * data-asset upload (create asset, create attachment, PUT the bytes to url1, complete) of the WML
 * client, while the server's resident memory is watched, and comes back by a download whose
 * SHA-256 is checked against what was sent and against the server's recorded one (its ETag).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DataAssets } from '../../src/lib/wml/assets';
import { pathSource } from '../../src/lib/wml/source';
import { resetPeakRss, sampleRss, statusBytes } from './process-stats';

const MiB = 1024 * 1024;

export interface UploadFigures {
  readonly bytes: number;
  readonly reference: { readonly seconds: number; readonly bytesPerSecond: number };
  readonly upload: { readonly seconds: number; readonly bytesPerSecond: number; readonly sha256: string };
  /** Upload rate ÷ reference rate. */
  readonly ratio: number;
  /** The server's peak RSS over the upload: the kernel's VmHWM (reset just before) or, if it could not be reset, the highest VmRSS sample. */
  readonly serverPeakRssBytes: number;
  readonly serverPeakRssHow: 'VmHWM reset before the upload' | 'VmRSS sampled every 20 ms';
  readonly serverRssBeforeBytes: number;
  readonly download: { readonly seconds: number; readonly bytesPerSecond: number; readonly sha256: string; readonly serverPeakRssBytes: number };
  /** The downloaded bytes' SHA-256 equals the one sent, and the server's ETag (its recorded SHA-256) confirmed it. */
  readonly checksumMatches: boolean;
}

/** `total` bytes made of one random MiB repeated, pushed as 1 MiB chunks (the file source's chunk size). */
function generated(total: number): Readable {
  const block = randomBytes(MiB);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(MiB, total - sent);
      sent += n;
      this.push(block.subarray(0, n));
    },
  });
}

const elapsed = (t0: number) => (performance.now() - t0) / 1000;

/** The server's peak RSS over `work`. */
async function watchPeak<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number; how: UploadFigures['serverPeakRssHow'] }> {
  const reset = resetPeakRss(pid);
  const sampler = sampleRss(pid);
  const result = await work();
  const sampled = sampler.stop();
  const hwm = statusBytes(pid, 'VmHWM');
  return reset && hwm !== undefined ? { result, peak: Math.max(hwm, sampled), how: 'VmHWM reset before the upload' } : { result, peak: sampled, how: 'VmRSS sampled every 20 ms' };
}

export async function benchUpload(o: { dir: string; bytes: number; assets: DataAssets; serverPid: number; say: (line: string) => void }): Promise<UploadFigures> {
  const file = join(o.dir, `bench-${(o.bytes / MiB).toFixed(0)}MiB.bin`);
  let t = performance.now();
  await pipeline(generated(o.bytes), createWriteStream(file));
  const handle = await fsp.open(file, 'r+');
  await handle.sync();
  await handle.close();
  const refSeconds = elapsed(t);
  o.say(`  reference (write + fsync to the state disk): ${refSeconds.toFixed(2)} s`);

  const rssBefore = statusBytes(o.serverPid, 'VmRSS') ?? 0;
  const source = await pathSource(file);
  t = performance.now();
  const up = await watchPeak(o.serverPid, () => o.assets.uploadNew(source));
  const upSeconds = elapsed(t);
  o.say(`  four-step upload: ${upSeconds.toFixed(2)} s`);
  await fsp.rm(file);

  const target = join(o.dir, 'downloaded.bin');
  t = performance.now();
  const down = await watchPeak(o.serverPid, () => o.assets.download({ id: up.result.asset.id }, target));
  const downSeconds = elapsed(t);
  await fsp.rm(target, { force: true });
  await o.assets.delete(up.result.asset.id); // frees the disk before the load part
  o.say(`  download: ${downSeconds.toFixed(2)} s`);

  const rate = o.bytes / upSeconds;
  const refRate = o.bytes / refSeconds;
  return {
    bytes: o.bytes,
    reference: { seconds: refSeconds, bytesPerSecond: refRate },
    upload: { seconds: upSeconds, bytesPerSecond: rate, sha256: up.result.sha256 },
    ratio: rate / refRate,
    serverPeakRssBytes: up.peak,
    serverPeakRssHow: up.how,
    serverRssBeforeBytes: rssBefore,
    download: { seconds: downSeconds, bytesPerSecond: down.result.bytes / downSeconds, sha256: down.result.sha256, serverPeakRssBytes: down.peak },
    checksumMatches: up.result.bytes === o.bytes && down.result.bytes === o.bytes && down.result.sha256 === up.result.sha256 && down.result.checksumVerified,
  };
}
