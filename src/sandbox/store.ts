import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { atomicWriteFile } from '../lib/util/atomic-write';
import { formatZodIssues } from './errors';

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;

/** Ids become file names: only server-made ids (uuids, slugs) are allowed, never user paths. */
export function assertSafeId(id: string, what = 'id'): void {
  if (!SAFE_ID.test(id) || id.includes('..')) throw new Error(`unsafe ${what} for the store: ${JSON.stringify(id)}`);
}

/**
 * A durable collection: one JSON document per resource at `<state>/data/<name>/<id>.json`, all kept in
 * memory for queries. A write is atomic (temp + fsync + rename) and becomes visible to readers only once
 * it is on disk, so an answer a client got is never lost by a kill -9. Writes to one id are applied in
 * call order. For read-modify-write sequences hold {@link Store.lock}.
 */
export class Collection<T> {
  private readonly docs = new Map<string, T>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly name: string,
    private readonly dir: string,
    private readonly schema: z.ZodType<T>,
  ) {}

  /** Loads every document; files that fail the schema are moved to `<state>/data/.quarantine/`. */
  async load(onWarning: (message: string) => void): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    for (const file of await fsp.readdir(this.dir)) {
      const full = join(this.dir, file);
      if (file.endsWith('.tmp')) {
        await fsp.rm(full, { force: true }); // an atomic write cut short by a kill
        continue;
      }
      if (!file.endsWith('.json')) continue;
      const id = file.slice(0, -'.json'.length);
      let problem: string | undefined;
      try {
        const parsed = this.schema.safeParse(JSON.parse(await fsp.readFile(full, 'utf8')));
        if (parsed.success) this.docs.set(id, parsed.data);
        else problem = formatZodIssues(parsed.error.issues, 'document').join('; ');
      } catch (err) {
        problem = (err as Error).message;
      }
      if (problem !== undefined) {
        const quarantine = join(this.dir, '..', '.quarantine', this.name);
        await fsp.mkdir(quarantine, { recursive: true });
        await fsp.rename(full, join(quarantine, file));
        onWarning(`store: ${this.name}/${file} is unreadable (${problem}); moved to ${quarantine}`);
      }
    }
  }

  get(id: string): T | undefined {
    return this.docs.get(id);
  }

  has(id: string): boolean {
    return this.docs.has(id);
  }

  /** Every document, in no particular order. */
  values(): T[] {
    return [...this.docs.values()];
  }

  entries(): [string, T][] {
    return [...this.docs.entries()];
  }

  find(predicate: (doc: T, id: string) => boolean): T[] {
    return this.entries().filter(([id, doc]) => predicate(doc, id)).map(([, doc]) => doc);
  }

  get size(): number {
    return this.docs.size;
  }

  /** Validates and durably writes `doc`; resolves once it is on disk and visible. */
  put(id: string, doc: T): Promise<T> {
    assertSafeId(id);
    const parsed = this.schema.safeParse(doc);
    if (!parsed.success) {
      return Promise.reject(new Error(`store: ${this.name}/${id} does not match its schema: ${formatZodIssues(parsed.error.issues, 'document').join('; ')}`));
    }
    const value = parsed.data;
    return this.enqueue(id, async () => {
      await atomicWriteFile(this.file(id), JSON.stringify(value, null, 1));
      this.docs.set(id, value);
      return value;
    });
  }

  /** Removes the document; resolves `false` when there was none. */
  delete(id: string): Promise<boolean> {
    assertSafeId(id);
    return this.enqueue(id, async () => {
      const existed = this.docs.has(id);
      await fsp.rm(this.file(id), { force: true });
      this.docs.delete(id);
      return existed;
    });
  }

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  private enqueue<R>(id: string, job: () => Promise<R>): Promise<R> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous.then(job, job);
    const settled = next.catch(() => undefined);
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return next;
  }
}

/** The durable state of one sandbox: collections of JSON documents plus blobs, under `<state>/`. */
export class Store {
  private readonly collections = new Map<string, Collection<unknown>>();
  private readonly held = new AsyncLocalStorage<{ active: boolean }>();
  private tail: Promise<unknown> = Promise.resolve();
  readonly blobs: BlobStore;

  constructor(
    readonly stateDir: string,
    private readonly onWarning: (message: string) => void = () => undefined,
  ) {
    this.blobs = new BlobStore(join(stateDir, 'blobs'), join(stateDir, 'tmp'));
  }

  /** Opens (and loads) the collection `name`; every call with one name returns the same collection. */
  async collection<T>(name: string, schema: z.ZodType<T>): Promise<Collection<T>> {
    assertSafeId(name, 'collection name');
    const existing = this.collections.get(name);
    if (existing) return existing as Collection<T>;
    const collection = new Collection<T>(name, join(this.stateDir, 'data', name), schema);
    this.collections.set(name, collection as Collection<unknown>);
    await collection.load(this.onWarning);
    return collection;
  }

  /**
   * Runs `fn` with the store's single mutation lock: use it around every read-modify-write so that
   * parallel requests cannot interleave. Re-entrant (a nested call inside `fn` runs at once).
   * Never stream a request body while holding it: receive first, then lock and record.
   */
  lock<R>(fn: () => Promise<R> | R): Promise<R> {
    // Re-entrant only while the holder's fn runs: timers, child-process events and other work
    // started inside fn inherit its async context, and must wait like anyone once fn settled.
    if (this.held.getStore()?.active) return Promise.resolve().then(fn);
    const run = (): Promise<R> => {
      const token = { active: true };
      return this.held.run(token, () => Promise.resolve().then(fn)).finally(() => {
        token.active = false;
      });
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Removes what a kill -9 may have left behind: partial blob uploads. Call before serving. */
  async sweepTemporaryFiles(): Promise<number> {
    return this.blobs.sweepTemp();
  }
}

/** Size and sha256 of a stored blob. */
export interface BlobInfo {
  key: string;
  size: number;
  sha256: string;
}

/** Thrown by {@link BlobNamespace.write} when the stream exceeds `maxBytes`. */
export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the upload is larger than ${limit} bytes`);
  }
}

/**
 * Immutable byte blobs under `<state>/blobs/<namespace>/<key>`. A write streams to `<state>/tmp/`,
 * hashing and counting as it goes (memory stays flat), fsyncs, then renames into place: a blob either
 * exists complete or not at all. Keys are server-made uuids, never user-supplied names.
 */
export class BlobStore {
  constructor(
    readonly root: string,
    readonly tmpDir: string,
  ) {}

  namespace(name: string): BlobNamespace {
    assertSafeId(name, 'blob namespace');
    return new BlobNamespace(join(this.root, name), this.tmpDir);
  }

  async sweepTemp(): Promise<number> {
    await fsp.mkdir(this.tmpDir, { recursive: true });
    const leftovers = await fsp.readdir(this.tmpDir);
    for (const file of leftovers) await fsp.rm(join(this.tmpDir, file), { recursive: true, force: true });
    return leftovers.length;
  }
}

export class BlobNamespace {
  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
  ) {}

  /** Streams `source` into a new blob. On any error (client abort, limit) nothing is left behind. */
  async write(source: Readable, options: { maxBytes?: number } = {}): Promise<BlobInfo> {
    await fsp.mkdir(this.tmpDir, { recursive: true });
    await fsp.mkdir(this.dir, { recursive: true });
    const key = randomUUID();
    const tmp = join(this.tmpDir, `${key}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (options.maxBytes !== undefined && size > options.maxBytes) {
          done(new BlobTooLargeError(options.maxBytes));
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tmp, { flags: 'wx' }));
      const handle = await fsp.open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(tmp, this.path(key));
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { key, size, sha256: hash.digest('hex') };
  }

  path(key: string): string {
    assertSafeId(key, 'blob key');
    return join(this.dir, key);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fsp.access(this.path(key));
      return true;
    } catch {
      return false;
    }
  }

  createReadStream(key: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.path(key), range);
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.path(key), { force: true });
  }

  async keys(): Promise<string[]> {
    try {
      return await fsp.readdir(this.dir);
    } catch {
      return [];
    }
  }

  /** Deletes blobs no record references (left when a kill fell between rename and record). */
  async sweepUnreferenced(referenced: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const key of await this.keys()) {
      if (!referenced.has(key)) {
        await fsp.rm(join(this.dir, key), { force: true });
        removed.push(key);
      }
    }
    return removed;
  }
}
