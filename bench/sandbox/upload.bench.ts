/**
 * Sandbox upload throughput: streams N MiB through the four-step data-asset upload (PUT url1, raw and
 * multipart) and prints the ratio against writing the same bytes straight to a file (fsync included),
 * both measured in this run. Run: `npm run build && node dist/bench/sandbox/upload.bench.js [MiB]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { startSandboxServer } from '../../src/sandbox/server';

const MiB = 1024 * 1024;

function source(total: number): Readable {
  const base = randomBytes(MiB);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(MiB, total - sent);
      sent += n;
      this.push(base.subarray(0, n));
    },
  });
}

async function json(url: string, method: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return res.json();
}

function put(url: string, body: Readable, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'PUT', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    body.pipe(req);
  });
}

async function main(): Promise<void> {
  const mib = Number(process.argv[2] ?? 256);
  const total = mib * MiB;
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-bench-'));
  try {
    // Reference: the same bytes to a file, hashed, fsynced.
    let t = process.hrtime.bigint();
    const hash = createHash('sha256');
    const ref = join(dir, 'ref.bin');
    await pipeline(source(total), async function* (src) {
      for await (const c of src) {
        hash.update(c as Buffer);
        yield c;
      }
    }, createWriteStream(ref));
    const h = await fsp.open(ref, 'r+');
    await h.sync();
    await h.close();
    const refMs = Number(process.hrtime.bigint() - t) / 1e6;
    await fsp.rm(ref);

    const sb = await startSandboxServer({ stateDir: join(dir, 'state'), config: { logRequests: false, services: { wml: { spaceActivationDelayMs: 0 } } } });
    try {
      const token = (await json(`${sb.url}/icp4d-api/v1/authorize`, 'POST', { username: SANDBOX_DEMO_USER.username, api_key: SANDBOX_DEMO_USER.apiKey })).token;
      const space = (await json(`${sb.url}/v2/spaces`, 'POST', { name: 'bench' }, token)).metadata.id;
      await new Promise((r) => setTimeout(r, 10));
      const results: string[] = [];
      for (const form of ['raw', 'multipart'] as const) {
        const asset = await json(`${sb.url}/v2/assets?space_id=${space}`, 'POST', { metadata: { name: `${form}.bin` } }, token);
        const att = await json(`${sb.url}/v2/assets/${asset.metadata.asset_id}/attachments?space_id=${space}`, 'POST', { name: `${form}.bin` }, token);
        t = process.hrtime.bigint();
        let status: number;
        if (form === 'raw') {
          status = await put(sb.url + att.url1, source(total), { 'content-type': 'application/octet-stream', 'content-length': String(total) });
        } else {
          const boundary = 'benchboundary';
          const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
          const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
          const body = Readable.from((async function* () {
            yield head;
            for await (const c of source(total)) yield c as Buffer;
            yield tail;
          })());
          status = await put(sb.url + att.url1, body, { 'content-type': `multipart/form-data; boundary=${boundary}` });
        }
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        if (status !== 201) throw new Error(`upload answered ${status}`);
        results.push(`${form.padEnd(9)} ${ms.toFixed(0).padStart(6)} ms  ${(mib / (ms / 1000)).toFixed(0).padStart(5)} MiB/s  ratio to reference ${(ms / refMs).toFixed(2)}`);
      }
      console.log(`upload of ${mib} MiB; reference (hash + write + fsync) ${refMs.toFixed(0)} ms, ${(mib / (refMs / 1000)).toFixed(0)} MiB/s`);
      for (const line of results) console.log(line);
    } finally {
      await sb.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
