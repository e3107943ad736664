/**
 * The upload part of the sandbox benchmark, in interleaved rounds (the machine is shared: other
 * work only ever slows a round down, so the best round is the machine's capability and the spread
 * shows the noise). Each round: the reference writes the bytes to a file on the disk of the
 * sandbox's state, fsync included; then that file goes through the documented four-step
 * data-asset upload of the WML client (create asset, create attachment, PUT the bytes to url1,
 * complete) while the server's resident memory is watched. The last upload comes back by a
 * download whose SHA-256 is checked against what was sent and against the server's recorded one
 * (its ETag).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DataAssets } from '../../src/lib/wml/assets';
import { pathSource } from '../../src/lib/wml/source';
import { resetPeakRss, sampleRss, statusBytes } from '../process-stats';

const MiB = 1024 * 1024;

export interface UploadRound {
  readonly referenceSeconds: number;
  readonly uploadSeconds: number;
  /** The server's peak RSS during this upload. */
  readonly serverPeakRssBytes: number;
}

export interface UploadFigures {
  readonly bytes: number;
  readonly rounds: readonly UploadRound[];
  /** Best round of each (bytes / seconds). */
  readonly referenceBytesPerSecond: number;
  readonly uploadBytesPerSecond: number;
  /** Best upload rate ÷ best reference rate. */
  readonly ratio: number;
  /** The highest over all rounds: the kernel's VmHWM (reset before each upload) or, if it cannot be reset, the highest VmRSS sample. */
  readonly serverPeakRssBytes: number;
  readonly serverPeakRssHow: 'VmHWM reset before each upload' | 'VmRSS sampled every 20 ms';
  readonly serverRssBeforeBytes: number;
  /** SHA-256 the client computed while sending (the same bytes every round). */
  readonly sha256: string;
  readonly download: { readonly seconds: number; readonly bytesPerSecond: number; readonly sha256: string; readonly serverPeakRssBytes: number };
  /** Every round sent the same SHA-256, the download's equals it, and the server's ETag (its recorded SHA-256) confirmed it. */
  readonly checksumMatches: boolean;
}

/** `total` bytes of `block` repeated, pushed as 1 MiB chunks (the file source's chunk size). */
function repeated(block: Buffer, total: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(block.length, total - sent);
      sent += n;
      this.push(block.subarray(0, n));
    },
  });
}

const elapsed = (t0: number) => (performance.now() - t0) / 1000;

/** The server's peak RSS over `work`. */
async function watchPeak<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; peak: number; kernel: boolean }> {
  const reset = resetPeakRss(pid);
  const sampler = sampleRss(pid);
  const result = await work();
  const sampled = sampler.stop();
  const hwm = statusBytes(pid, 'VmHWM');
  return reset && hwm !== undefined ? { result, peak: Math.max(hwm, sampled), kernel: true } : { result, peak: sampled, kernel: false };
}

export async function benchUpload(o: { dir: string; bytes: number; rounds: number; assets: DataAssets; serverPid: number; say: (line: string) => void }): Promise<UploadFigures> {
  const file = join(o.dir, `bench-${(o.bytes / MiB).toFixed(0)}MiB.bin`);
  const block = randomBytes(MiB);
  const rssBefore = statusBytes(o.serverPid, 'VmRSS') ?? 0;
  const rounds: UploadRound[] = [];
  const shas = new Set<string>();
  let kernelPeak = true;
  let last: { id: string; sha256: string } | undefined;
  for (let round = 1; round <= o.rounds; round++) {
    let t = performance.now();
    await pipeline(repeated(block, o.bytes), createWriteStream(file));
    const handle = await fsp.open(file, 'r+');
    await handle.sync();
    await handle.close();
    const referenceSeconds = elapsed(t);

    if (last) await o.assets.delete(last.id); // one copy on disk at a time
    const source = await pathSource(file);
    t = performance.now();
    const up = await watchPeak(o.serverPid, () => o.assets.uploadNew(source));
    const uploadSeconds = elapsed(t);
    await fsp.rm(file);
    if (up.result.bytes !== o.bytes) throw new Error(`round ${round}: the upload sent ${up.result.bytes} bytes, expected ${o.bytes}`);
    shas.add(up.result.sha256);
    kernelPeak &&= up.kernel;
    last = { id: up.result.asset.id, sha256: up.result.sha256 };
    rounds.push({ referenceSeconds, uploadSeconds, serverPeakRssBytes: up.peak });
    o.say(`  round ${round}: reference (write + fsync) ${referenceSeconds.toFixed(2)} s, four-step upload ${uploadSeconds.toFixed(2)} s, server peak RSS ${(up.peak / 1e6).toFixed(1)} MB`);
  }

  const target = join(o.dir, 'downloaded.bin');
  const t = performance.now();
  const down = await watchPeak(o.serverPid, () => o.assets.download({ id: last!.id }, target));
  const downSeconds = elapsed(t);
  await fsp.rm(target, { force: true });
  await o.assets.delete(last!.id); // frees the disk before the load part

  const referenceBytesPerSecond = o.bytes / Math.min(...rounds.map((r) => r.referenceSeconds));
  const uploadBytesPerSecond = o.bytes / Math.min(...rounds.map((r) => r.uploadSeconds));
  return {
    bytes: o.bytes,
    rounds,
    referenceBytesPerSecond,
    uploadBytesPerSecond,
    ratio: uploadBytesPerSecond / referenceBytesPerSecond,
    serverPeakRssBytes: Math.max(...rounds.map((r) => r.serverPeakRssBytes)),
    serverPeakRssHow: kernelPeak ? 'VmHWM reset before each upload' : 'VmRSS sampled every 20 ms',
    serverRssBeforeBytes: rssBefore,
    sha256: last!.sha256,
    download: { seconds: downSeconds, bytesPerSecond: down.result.bytes / downSeconds, sha256: down.result.sha256, serverPeakRssBytes: down.peak },
    checksumMatches: shas.size === 1 && down.result.bytes === o.bytes && down.result.sha256 === last!.sha256 && down.result.checksumVerified,
  };
}
