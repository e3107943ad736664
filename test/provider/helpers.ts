/**
 * Shared pieces of the OpenScale, volumes and provider tests: an in-process sandbox with fast
 * OpenScale timings, the library's clients connected to it through a real sandbox profile, and
 * PNG mask fixtures.
 */
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { connect, resolveProfile, type ConnectOptions, type ConnectionProfile, type ProfileClients } from '../../src/lib/config';
import { SANDBOX_DEMO_USER, SANDBOX_DEFAULT_VOLUME } from '../../src/sandbox/config';
import { startTestSandbox, type TestSandbox } from '../sandbox/helpers';

export { SANDBOX_DEFAULT_VOLUME };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** OpenScale timings that keep tests quick (resources get ready and runs start within tens of ms). */
export const FAST_OPENSCALE = { readyDelayMs: 60, runQueueMs: 20 };

/** A sandbox with fast OpenScale timings; `faults` are the sandbox's fault rules. */
export async function startFastSandbox(extra: { faults?: unknown[]; seed?: number; openscale?: Record<string, unknown> } = {}): Promise<TestSandbox> {
  return startTestSandbox({
    config: {
      ...(extra.faults ? { faults: extra.faults as never } : {}),
      ...(extra.seed !== undefined ? { seed: extra.seed } : {}),
      services: { openscale: { ...FAST_OPENSCALE, ...(extra.openscale ?? {}) } },
    },
  });
}

/** The sandbox profile as the library resolves it, pointed at an in-process sandbox. */
export async function sandboxProfile(sb: TestSandbox): Promise<ConnectionProfile> {
  return resolveProfile({
    profile: 'sandbox',
    env: {},
    sandbox: {
      launcher: {
        ensureSandbox: async () => ({ url: sb.url, pid: process.pid, stateDir: sb.stateDir, startedNow: false }),
        SANDBOX_DEMO_USER,
      },
    },
  });
}

/** Clients of the sandbox profile; retries wait a few ms so fault tests stay quick. */
export async function sandboxClients(sb: TestSandbox, options: ConnectOptions = {}): Promise<ProfileClients> {
  return connect(await sandboxProfile(sb), { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 }, ...options });
}

/** The backing folder of a sandbox volume (to set modification times or corrupt files). */
export function volumeFolder(sb: TestSandbox, volume = SANDBOX_DEFAULT_VOLUME): string {
  return join(sb.stateDir, 'volumes', volume);
}

/** Sets a file's modification time to `daysAgo` days before now. */
export function ageFile(file: string, daysAgo: number, now = Date.now()): void {
  const t = new Date(now - daysAgo * 24 * 3600 * 1000);
  utimesSync(file, t, t);
}

/**
 * A mask described on a coarse grid: `rows` strings of `r` (positive only), `b` (negative only),
 * `m` (both) and `.` (neither); each cell becomes a `scale`×`scale` block. Red channel = positive
 * class, blue = negative, as DeepLIIF reads them.
 */
export function maskPng(rows: readonly string[], scale: number): Buffer {
  const h = rows.length;
  const w = rows[0]!.length;
  const png = new PNG({ width: w * scale, height: h * scale });
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < w * scale; x++) {
      const c = rows[Math.floor(y / scale)]![Math.floor(x / scale)];
      const i = (y * w * scale + x) * 4;
      png.data[i] = c === 'r' || c === 'm' ? 255 : 0;
      png.data[i + 1] = 0;
      png.data[i + 2] = c === 'b' || c === 'm' ? 255 : 0;
      png.data[i + 3] = 255;
    }
  }
  // Filter type 0: pngjs's adaptive filter choice takes seconds per image inside jest.
  return PNG.sync.write(png, { filterType: 0 });
}

export function writeFile(path: string, data: Buffer | string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}
