import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { TimeoutError } from '../errors';
import { atomicWriteFile } from '../util/atomic-write';
import { ConflictError, contentRevision, type MetadataStore, type Revisioned } from './store';
import type { MetadataCodec } from './yaml';

/** Options of {@link FileMetadataStore}. */
export interface FileStoreOptions {
  /** How long a write waits for another writer's lock before giving up (default 15 s). */
  readonly lockTimeoutMs?: number;
  /** A lock older than this is taken to be left over by a crashed process (default 60 s). */
  readonly staleLockMs?: number;
}

interface LockInfo {
  pid: number;
  host: string;
  at: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A metadata document in a local file. The revision is the SHA-256 of the file's bytes. A write
 * takes `<file>.lock` (created exclusively), compares the current revision with the expected one,
 * writes atomically (temp file + rename) and releases the lock, so concurrent writers — threads of
 * one process or separate processes — never lose an update. Readers need no lock.
 *
 * A lock left by a crashed writer is removed when its process is gone (same host) or it is older
 * than `staleLockMs`.
 */
export class FileMetadataStore<D> implements MetadataStore<D> {
  readonly path: string;
  readonly description: string;
  private readonly lockPath: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(path: string, private readonly codec: MetadataCodec<D>, opts: FileStoreOptions = {}) {
    this.path = resolve(path);
    this.lockPath = `${this.path}.lock`;
    this.description = `file ${this.path}`;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 15000;
    this.staleLockMs = opts.staleLockMs ?? 60000;
  }

  /** {@inheritDoc MetadataStore.read} */
  async read(): Promise<Revisioned<D>> {
    const text = await this.readText();
    if (text === null) return { doc: this.codec.empty(), revision: null };
    return { doc: this.codec.parse(text, this.path), revision: contentRevision(text) };
  }

  /** {@inheritDoc MetadataStore.write} */
  async write(doc: D, expectedRevision: string | null): Promise<string> {
    const text = this.codec.serialize(doc); // validate before taking the lock
    await this.lock();
    try {
      const current = await this.readText();
      const actual = current === null ? null : contentRevision(current);
      if (actual !== expectedRevision) throw new ConflictError(this.description, expectedRevision, actual);
      await atomicWriteFile(this.path, text);
      return contentRevision(text);
    } finally {
      await fsp.rm(this.lockPath, { force: true });
    }
  }

  private async readText(): Promise<string | null> {
    try {
      return await fsp.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + this.lockTimeoutMs;
    const me: LockInfo = { pid: process.pid, host: hostname(), at: Date.now() };
    for (let attempt = 0; ; attempt++) {
      try {
        await fsp.writeFile(this.lockPath, JSON.stringify({ ...me, at: Date.now() }), { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          await fsp.mkdir(resolve(this.path, '..'), { recursive: true });
          continue;
        }
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await this.staleHolder();
      if (holder === 'stale') continue;
      if (Date.now() > deadline) {
        throw new TimeoutError(
          `${this.description}: another writer has held ${this.lockPath} for over ${this.lockTimeoutMs} ms` +
            (holder ? ` (pid ${holder.pid} on ${holder.host})` : '') +
            '; if no runbook is running, delete the lock file',
        );
      }
      await sleep(Math.min(100, 2 + Math.random() * 5 * 2 ** Math.min(attempt, 4)));
    }
  }

  /** 'stale' after removing a dead writer's lock; the holder (or undefined if unreadable) otherwise. */
  private async staleHolder(): Promise<LockInfo | 'stale' | undefined> {
    let raw: string;
    let mtimeMs: number;
    try {
      raw = await fsp.readFile(this.lockPath, 'utf8');
      mtimeMs = (await fsp.stat(this.lockPath)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'stale'; // released meanwhile: try again
      throw err;
    }
    let info: LockInfo | undefined;
    try {
      info = JSON.parse(raw) as LockInfo;
    } catch {
      info = undefined; // being written right now, or garbage: judged by age only
    }
    const dead = info !== undefined && info.host === hostname() && info.pid !== process.pid && !isAlive(info.pid);
    const old = Date.now() - mtimeMs > this.staleLockMs;
    if (!dead && !old) return info;
    // Remove it only if it is still the lock we judged (a fresh lock may have replaced it).
    try {
      if ((await fsp.readFile(this.lockPath, 'utf8')) === raw) await fsp.rm(this.lockPath, { force: true });
    } catch {
      /* gone already */
    }
    return 'stale';
  }
}
