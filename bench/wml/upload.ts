/**
 * WML data-asset transfer benchmark: a folder of large files (default 8 × 256 MiB = 2 GiB of random
 * bytes) is uploaded as a streamed zip to a sandbox running in its own process, downloaded back,
 * and every file is compared by SHA-256 after a streaming unzip (yauzl). Prints throughput, the
 * ratio to a reference measured in the same run (the same bytes read, hashed, written and fsynced
 * by a plain stream copy), and the peak RSS of this (client) process after each phase.
 *
 * Run: `npm run bench:upload` (builds first), or `node dist/bench/wml/upload.js [--files N]
 * [--mib-per-file M] [--compress] [--dir DIR]`. Needs about 3.5 × the data size free on disk; the
 * temporary folder (data, sandbox state, download) is removed at the end.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, promises as fsp, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { connect, resolveProfile } from '../../src/lib/config';
import { createWmlClient, type TransferProgress } from '../../src/lib/wml';
import { stopSandbox } from '../../src/sandbox/launcher';

const MiB = 1024 * 1024;

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? 'true' : v;
}

const peakMiB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

/** Writes `size` random bytes 1 MiB at a time (never more in memory) and returns their SHA-256. */
async function writeRandom(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  let left = size;
  const source = new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const chunk = randomBytes(Math.min(MiB, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  await pipeline(source, createWriteStream(file));
  return hash.digest('hex');
}

async function fsync(file: string): Promise<void> {
  const h = await fsp.open(file, 'r+');
  await h.sync();
  await h.close();
}

/** Every file entry of a zip → SHA-256, streaming one entry at a time. */
function unzipHashes(file: string): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      const out = new Map<string, string>();
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return void zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e);
          const h = createHash('sha256');
          stream.on('data', (c: Buffer) => h.update(c));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, h.digest('hex'));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

async function main(): Promise<void> {
  const files = Number(arg('files', '8'));
  const perFile = Number(arg('mib-per-file', '256')) * MiB;
  const compress = arg('compress') === 'true';
  const total = files * perFile;
  const base = arg('dir', tmpdir())!;
  const free = statfsSync(base);
  const available = free.bavail * free.bsize;
  if (available < total * 3.5 + 1024 * MiB) {
    throw new Error(`not enough free space in ${base}: ${(available / MiB).toFixed(0)} MiB free, need about ${((total * 3.5) / MiB + 1024).toFixed(0)} MiB (data, sandbox copy, download)`);
  }
  const dir = mkdtempSync(join(base, 'wml-bench-'));
  const stateDir = join(dir, 'sandbox-state');
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    console.log(s);
  };
  delete process.env.RUNBOOK_SANDBOX_URL; // our own sandbox, in its own process
  let clientsClose: (() => void) | undefined;
  try {
    // 1. The folder: N large random files and a small nested one.
    const folder = join(dir, 'bench-model');
    await fsp.mkdir(join(folder, 'config'), { recursive: true });
    const expected = new Map<string, string>();
    let t = process.hrtime.bigint();
    for (let i = 0; i < files; i++) {
      const name = `part-${String(i).padStart(2, '0')}.bin`;
      expected.set(`bench-model/${name}`, await writeRandom(join(folder, name), perFile));
    }
    expected.set('bench-model/config/model.json', await writeRandom(join(folder, 'config', 'model.json'), 4096));
    say(`data: ${files} × ${perFile / MiB} MiB = ${(total / MiB).toFixed(0)} MiB in ${folder} (generated in ${seconds(t).toFixed(1)} s); zip entries ${compress ? 'deflated' : 'stored'}`);
    say(`peak RSS after generating: ${peakMiB().toFixed(0)} MiB`);

    // 2. Reference: the same bytes read, hashed, written and fsynced by a plain stream copy.
    const refDir = join(dir, 'reference');
    await fsp.mkdir(refDir);
    t = process.hrtime.bigint();
    for (const [entry] of expected) {
      const out = join(refDir, entry.replace(/\//g, '_'));
      await pipeline(createReadStream(join(dir, entry), { highWaterMark: MiB }), hashing(createHash('sha256')), createWriteStream(out));
      await fsync(out);
    }
    const refSeconds = seconds(t);
    await fsp.rm(refDir, { recursive: true, force: true });
    const refRate = total / MiB / refSeconds;
    say(`reference stream copy (read + sha256 + write + fsync): ${refSeconds.toFixed(1)} s, ${refRate.toFixed(0)} MiB/s`);

    // 3. The sandbox in its own process (so the RSS below is the client's alone).
    const profile = await resolveProfile({ profile: 'sandbox', env: {}, sandbox: { stateDir } });
    const clients = connect(profile);
    clientsClose = () => clients.close();
    const wml = createWmlClient(clients);
    const { space } = await wml.ensureSpace('bench');
    const assets = wml.assets(space.id);
    say(`sandbox: ${profile.cpdUrl} (pid ${profile.sandbox?.pid}), space ${space.id}`);

    // 4. Upload (zip streamed while sending).
    let lastUpload = 0;
    t = process.hrtime.bigint();
    const up = await assets.upload(folder, { compress, onProgress: (p: TransferProgress) => (lastUpload = p.phase === 'upload' ? p.bytes : lastUpload) });
    const upSeconds = seconds(t);
    const upRate = total / MiB / upSeconds;
    say(`upload: ${upSeconds.toFixed(1)} s, ${upRate.toFixed(0)} MiB/s of folder data (zip ${(up.bytes! / MiB).toFixed(0)} MiB, sha256 ${up.sha256!.slice(0, 12)}…), ratio to reference ${(upSeconds / refSeconds).toFixed(2)}×`);
    say(`peak RSS after upload: ${peakMiB().toFixed(0)} MiB`);

    // 5. Download back (verified against the service's SHA-256 while streaming).
    const zipFile = join(dir, 'downloaded.zip');
    t = process.hrtime.bigint();
    const down = await assets.download({ name: 'bench-model.zip' }, zipFile);
    const downSeconds = seconds(t);
    say(`download: ${downSeconds.toFixed(1)} s, ${(down.bytes / MiB / downSeconds).toFixed(0)} MiB/s, checksum verified ${down.checksumVerified}, ratio to reference ${(downSeconds / refSeconds).toFixed(2)}× (per byte of zip)`);
    say(`peak RSS after download: ${peakMiB().toFixed(0)} MiB`);
    if (down.sha256 !== up.sha256) throw new Error(`the zip came back different: ${down.sha256} vs ${up.sha256}`);

    // 6. Every file byte-identical after a streaming unzip.
    t = process.hrtime.bigint();
    const got = await unzipHashes(zipFile);
    const mismatched = [...expected].filter(([name, sha]) => got.get(name) !== sha).map(([name]) => name);
    if (got.size !== expected.size || mismatched.length > 0) throw new Error(`files differ after the round trip: ${mismatched.join(', ') || `${got.size} entries, expected ${expected.size}`}`);
    say(`verify: ${expected.size} files byte-identical (sha256) after a streaming unzip, ${seconds(t).toFixed(1)} s`);
    const peak = peakMiB();
    say(`client peak RSS overall: ${peak.toFixed(0)} MiB (${peak < 200 ? 'under' : 'OVER'} the 200 MiB target); data ${(total / MiB).toFixed(0)} MiB, so ${(peak / (total / MiB) * 100).toFixed(1)} % of it`);
    say(`upload ${upRate.toFixed(0)} MiB/s vs reference ${refRate.toFixed(0)} MiB/s: ${(upRate / refRate).toFixed(2)} of the reference rate`);
    if (peak >= 200) process.exitCode = 1;
  } finally {
    clientsClose?.();
    await stopSandbox(stateDir).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
