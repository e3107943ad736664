import { randomBytes } from 'node:crypto';
import { promises as fsp, writeFileSync, renameSync, openSync, fsyncSync, closeSync, unlinkSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** A temporary sibling of `target`: same directory, so the final rename never crosses file systems. */
function tempSibling(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `target` atomically: readers see either the old file or the complete new one,
 * never a truncated file, even if the process is killed mid-write (write, fsync, rename).
 */
export async function atomicWriteFile(target: string, data: string | Uint8Array): Promise<void> {
  await fsp.mkdir(dirname(target), { recursive: true });
  const tmp = tempSibling(target);
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** Synchronous twin of {@link atomicWriteFile}, for exit handlers that cannot await. */
export function atomicWriteFileSync(target: string, data: string | Uint8Array): void {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = tempSibling(target);
  const fd = openSync(tmp, 'w');
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, target);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
}
