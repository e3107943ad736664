import { z } from 'zod';
import { RunbookError } from '../errors';
import { byCreation, isNotFound } from '../wml/context';
import { AssetNotFoundError, type AssetInfo, type DataAssets } from '../wml/assets';
import { bytesSource } from '../wml/source';
import { PLANNED_ID, type MutationOptions, type PlanAction } from '../plan';
import { addEntry, deleteEntry, updateEntry, type DeepPartial } from './entries';
import { DeploymentEntry, MonitorMetadataEntry, type DeploymentEntryInput, type DeploymentEntry as DeploymentEntryT, type MonitorMetadataEntry as MonitorEntryT } from './schema';
import { ConflictError, sameContent, updateWithRetry, type MetadataStore, type Revisioned, type UpdateOptions } from './store';
import { canonicalize, deploymentMetadataCodec, monitorMetadataCodec, type MetadataCodec } from './yaml';

/**
 * A metadata document kept as data assets in a deployment space, with optimistic concurrency
 * (read → revision; write(doc, revision) → ConflictError if someone wrote in between), so
 * {@link updateWithRetry} never loses an update when runs write at the same time (predecessor §8.14).
 *
 * CAMS has no conditional write, but it has one operation that totally orders concurrent calls:
 * `POST /v2/assets/{id}/revisions` numbers an asset's revisions 1, 2, 3, … in arrival order. The
 * protocol builds compare-and-swap on that append-only log.
 *
 * Assets (both of the document's name family, e.g. `deployment_metadata.yml`):
 * - the LOG: `<file>.revisions`, an asset without content whose revisions are the log. Each write
 *   appends one revision whose commit message is `cpd-runbook metadata v1 {"base":B,"head":H,…}`.
 * - CONTENT: `<file>` (`deployment_metadata.yml`), one complete asset per written version, holding the
 *   YAML. At rest exactly one exists, the current one, so other tools (and the predecessor's
 *   `download(name)`) still find the document under its usual name.
 *
 * Reading: replay the log in revision order from head = null; an entry is ACCEPTED iff its base
 * equals the head so far, and then its `head` (a content asset id) becomes the head. Rejected
 * entries change nothing. The document is the content of the final head; its revision is that
 * asset id. With no accepted entry the document is the newest complete content asset created
 * before the log (a file written by the predecessor, imported as it is), else empty; revision null.
 *
 * Writing doc on revision R:
 *   1. replay; if the head is not R, throw ConflictError at once (nothing uploaded).
 *   2. upload the YAML as a NEW content asset C (four steps; a failure deletes C).
 *   3. append {base: R, head: C}.
 *   4. replay again. If our entry was accepted, we won: the log's order decided it, and no later
 *      entry can undo it. Then clean up: delete every content asset the log names other than the
 *      head (superseded or rejected versions), pre-log copies, and unreferenced copies older than
 *      `staleMs` (left by crashed writers). The head is never deleted, and a new version is complete
 *      before it becomes the head, so there is never a moment without a complete current copy.
 *      If our entry was rejected, delete C and throw ConflictError; updateWithRetry re-reads and
 *      re-applies the change.
 * Why no update is lost: two writers on the same R both append; the log orders them; only the
 * first has base = head, the second is rejected and retried on top of the first. A duplicate
 * append (the client retries the POST after a lost answer) is harmless: its base is no longer the
 * head. A writer that dies after step 2 leaves an unreferenced C (cleaned once stale); after step 3
 * the log already says whether it won. A reader that meets a head deleted by a concurrent cleanup
 * (it was superseded meanwhile) re-reads.
 *
 * The one moment that needs more than the log's order is creating the log itself: two first
 * writers may each create one. The OLDEST log asset (creation time, then id) is the log; a writer
 * appends only once that choice is settled, i.e. the oldest log is at least `settleMs` old on the
 * service's clock ({@link ServerClock}), so that a log created a moment earlier but not yet
 * listed cannot appear afterwards and take over. A log that already has entries is settled
 * (its writer checked). Younger logs are deleted. Assumption: the asset search shows a new asset
 * within `settleMs` (default 2 s; the sandbox needs milliseconds); it matters only for the first
 * write in a space.
 *
 * To stop a writer's upload from being cleaned as stale while it is still appending, a writer whose
 * content is older than `staleMs / 2` (local clock) before step 3 gives up the attempt (conflict).
 */

const ENTRY_PREFIX = 'cpd-runbook metadata v1 ';

/** One entry of the log. */
export interface LogEntry {
  /** The log revision number (the service's order). */
  readonly revisionId: number;
  /** The revision (content asset id) the writer started from; null for "no document yet". */
  readonly base: string | null;
  /** The content asset this entry proposes as the new document. */
  readonly head: string;
  readonly sha256?: string;
  readonly createdAt: string;
  /** Whether replaying accepted it (its base was the head at its turn). */
  readonly accepted: boolean;
}

interface Replay {
  readonly head: string | null;
  readonly entries: readonly LogEntry[];
}

/** Replays log revisions (any order; sorted by revision id here). Foreign or malformed commit messages are ignored. */
export function replayLog(revisions: readonly { revision_id: number; commit_message?: string; created_at: string }[]): Replay {
  let head: string | null = null;
  const entries: LogEntry[] = [];
  const used = new Set<string>();
  for (const r of [...revisions].sort((a, b) => a.revision_id - b.revision_id)) {
    const msg = r.commit_message ?? '';
    if (!msg.startsWith(ENTRY_PREFIX)) continue;
    let parsed: { base?: unknown; head?: unknown; sha256?: unknown };
    try {
      parsed = JSON.parse(msg.slice(ENTRY_PREFIX.length)) as typeof parsed;
    } catch {
      continue;
    }
    const base = parsed.base === null ? null : typeof parsed.base === 'string' ? parsed.base : undefined;
    const proposed = typeof parsed.head === 'string' ? parsed.head : undefined;
    if (base === undefined || proposed === undefined) continue;
    const accepted = base === head && !used.has(proposed);
    entries.push({
      revisionId: r.revision_id,
      base,
      head: proposed,
      sha256: typeof parsed.sha256 === 'string' ? parsed.sha256 : undefined,
      createdAt: r.created_at,
      accepted,
    });
    if (accepted) {
      head = proposed;
      used.add(proposed);
    }
  }
  return { head, entries };
}

/** The commit message of a log entry. */
export function formatLogEntry(entry: { base: string | null; head: string; sha256?: string }): string {
  return ENTRY_PREFIX + JSON.stringify({ base: entry.base, head: entry.head, sha256: entry.sha256 });
}

/** Options of {@link SpaceMetadataStore}. */
export interface SpaceStoreOptions {
  /** Name of the log asset; default `<file name>.revisions`. */
  readonly logName?: string;
  /** How long a new log asset may take to show in listings (default: the WML client's settleMs, 2 s). */
  readonly settleMs?: number;
  /** Content not named by the log and older than this was left by a crashed writer and is deleted (default 10 min). */
  readonly staleMs?: number;
  /** Receives clean-up failures (a write succeeded but an old copy could not be deleted; the next write retries). */
  readonly onWarning?: (message: string) => void;
}

/** The head's content is gone and stays gone: the space was edited by hand. */
export class MetadataStoreError extends RunbookError {
  constructor(message: string) {
    super('remote', message);
  }
}

/** A {@link MetadataStore} on data assets of a deployment space (see the protocol above). */
export class SpaceMetadataStore<D> implements MetadataStore<D> {
  readonly description: string;
  readonly fileName: string;
  readonly logName: string;
  private readonly settleMs?: number;
  private readonly staleMs: number;
  private log?: AssetInfo;

  constructor(readonly assets: DataAssets, private readonly codec: MetadataCodec<D>, private readonly opts: SpaceStoreOptions = {}) {
    this.fileName = codec.fileName;
    this.logName = opts.logName ?? `${codec.fileName}.revisions`;
    this.settleMs = opts.settleMs;
    this.staleMs = opts.staleMs ?? 10 * 60 * 1000;
    this.description = `${this.fileName} in ${assets.where}`;
  }

  /** {@inheritDoc MetadataStore.read} */
  async read(): Promise<Revisioned<D>> {
    let lastMissing: string | undefined;
    for (let attempt = 1; attempt <= 6; attempt++) {
      const log = await this.currentLog();
      const state = log ? await this.replay(log) : undefined;
      if (log && !state) continue; // the log vanished (deleted by hand): look again
      if (!log || !state || state.head === null) return { doc: await this.readPreLog(log), revision: null };
      try {
        const { content } = await this.assets.readContent({ id: state.head });
        return { doc: this.codec.parse(content.toString('utf8'), this.description), revision: state.head };
      } catch (err) {
        // Superseded and cleaned up between our replay and our read: read the log again.
        if (!(isNotFound(err) || err instanceof AssetNotFoundError)) throw err;
        lastMissing = state.head;
        await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
    throw new MetadataStoreError(
      `${this.description}: the current version (data asset ${lastMissing}) is missing although the revision log names it; ` +
        `someone deleted it by hand. Restore it, or delete the log asset "${this.logName}" to start again from the newest "${this.fileName}"`,
    );
  }

  /** {@inheritDoc MetadataStore.write} */
  async write(doc: D, expectedRevision: string | null): Promise<string> {
    const text = this.codec.serialize(doc); // validate before any remote change
    const log = await this.settledLog();
    const before = await this.replayOrConflict(log, expectedRevision);
    if (before.head !== expectedRevision) throw new ConflictError(this.description, expectedRevision, before.head);

    const started = performance.now();
    const { asset: content, sha256 } = await this.assets.uploadNew(bytesSource(this.fileName, text), {
      name: this.fileName,
      description: `cpd-runbook metadata version (based on ${expectedRevision ?? 'nothing'}); the current one is named by the log "${this.logName}"`,
      tags: ['cpd-runbook-metadata'],
    });
    if (performance.now() - started > this.staleMs / 2) {
      await this.deleteQuietly(content.id);
      throw new ConflictError(this.description, expectedRevision, null);
    }
    try {
      await this.assets.createRevision(log.id, formatLogEntry({ base: expectedRevision, head: content.id, sha256 }));
    } catch (err) {
      if (isNotFound(err)) {
        // The log was deleted by hand: start over (a new log will be made).
        this.log = undefined;
        await this.deleteQuietly(content.id);
        throw new ConflictError(this.description, expectedRevision, null);
      }
      // Otherwise we cannot tell whether it was appended: the replay below says.
    }
    const after = await this.replayOrConflict(log, expectedRevision);
    if (after.entries.some((e) => e.accepted && e.head === content.id)) {
      await this.cleanUp(log, after);
      return content.id;
    }
    await this.deleteQuietly(content.id);
    throw new ConflictError(this.description, expectedRevision, after.head);
  }

  /** The log's entries, oldest first (an audit trail of every write and whether it won). */
  async history(): Promise<LogEntry[]> {
    const log = await this.currentLog();
    return log ? [...((await this.replay(log))?.entries ?? [])] : [];
  }

  /** The replayed log; undefined when the log asset is gone. */
  private async replay(log: AssetInfo): Promise<Replay | undefined> {
    try {
      return replayLog(await this.assets.revisions(log.id));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.log = undefined;
      return undefined;
    }
  }

  /** Writers: a log deleted under our feet is a conflict (updateWithRetry starts over and a new log is made). */
  private async replayOrConflict(log: AssetInfo, expectedRevision: string | null): Promise<Replay> {
    const state = await this.replay(log);
    if (!state) throw new ConflictError(this.description, expectedRevision, null);
    return state;
  }

  /** The log for readers: the settled one if known, else the oldest listed (no waiting, no creating). */
  private async currentLog(): Promise<AssetInfo | undefined> {
    if (this.log) return this.log;
    return (await this.assets.list({ name: this.logName }))[0];
  }

  /** The document before the log took over: the newest complete content asset created before the log (or any, without a log). */
  private async readPreLog(log: AssetInfo | undefined): Promise<D> {
    const candidates = (await this.assets.list({ name: this.fileName })).filter(
      (a) => a.complete && (!log || Date.parse(a.createdAt) < Date.parse(log.createdAt)),
    );
    const newest = candidates[candidates.length - 1];
    if (!newest) return this.codec.empty();
    const { content } = await this.assets.readContent(newest);
    return this.codec.parse(content.toString('utf8'), `${this.description} (${newest.id})`);
  }

  /** The log for writers: created if missing, and settled (see the header). */
  private async settledLog(): Promise<AssetInfo> {
    if (this.log) return this.log;
    const settleMs = this.settleMs ?? this.assets.settleMs;
    let mine: AssetInfo | undefined;
    let logs: AssetInfo[];
    for (;;) {
      logs = await this.assets.list({ name: this.logName });
      if (mine && !logs.some((l) => l.id === mine!.id)) logs = [...logs, mine].sort(byCreation); // ours may not be listed yet
      if (logs.length === 0) {
        mine = await this.assets.createRecord(this.logName, {
          description: `cpd-runbook revision log of ${this.fileName}: its revisions say which "${this.fileName}" asset is current. Do not delete.`,
          tags: ['cpd-runbook-metadata-log'],
        });
        continue;
      }
      const oldest = logs[0]!;
      const wait = this.assets.clock.msUntil(Date.parse(oldest.createdAt) + settleMs);
      if (wait === 0) break;
      if ((await this.assets.revisions(oldest.id)).length > 0) break; // a log with entries was settled by its writer
      await new Promise((r) => setTimeout(r, Math.min(wait, settleMs)));
    }
    const winner = logs[0]!;
    for (const other of logs.slice(1)) {
      // Younger logs are never used; one with entries would mean the settle assumption failed: keep it for inspection.
      const entries = other.id === mine?.id ? [] : await this.assets.revisions(other.id).catch(() => []);
      if (entries.length === 0) await this.deleteQuietly(other.id);
      else this.opts.onWarning?.(`${this.description}: a second revision log ${other.id} has entries and was kept; the log ${winner.id} is used`);
    }
    this.log = winner;
    return winner;
  }

  private async cleanUp(log: AssetInfo, state: Replay): Promise<void> {
    const named = new Set(state.entries.map((e) => e.head));
    let contents: AssetInfo[];
    try {
      contents = await this.assets.list({ name: this.fileName });
    } catch (err) {
      this.opts.onWarning?.(`${this.description}: clean-up skipped: ${(err as Error).message}`);
      return;
    }
    const staleBefore = this.assets.clock.lowerBound() - this.staleMs;
    for (const c of contents) {
      if (c.id === state.head) continue;
      const created = Date.parse(c.createdAt);
      const superseded = named.has(c.id);
      const preLog = created < Date.parse(log.createdAt);
      const abandoned = created < staleBefore;
      if (superseded || preLog || abandoned) {
        try {
          await this.assets.delete(c.id);
        } catch (err) {
          this.opts.onWarning?.(`${this.description}: could not delete the old version ${c.id}: ${(err as Error).message}`);
        }
      }
    }
  }

  private async deleteQuietly(id: string): Promise<void> {
    try {
      await this.assets.delete(id);
    } catch {
      /* cleaned by a later write */
    }
  }
}

// ---- the typed API of the two documents ---------------------------------------------------------

/** Options of the writes of {@link MetadataDocument}. */
export interface MetadataWriteOptions extends MutationOptions {
  /** Conflict retries and backoff (default 30 retries). */
  readonly update?: UpdateOptions;
}

/** The outcome of a write of {@link MetadataDocument}. */
export interface MetadataChange<E> {
  /** The document after the change (planned: as it would be). */
  readonly doc: Readonly<Record<string, E>>;
  /** The entry after the change (undefined after a delete). */
  readonly entry?: E;
  /** The new revision; `(planned)` in plan mode; unchanged when nothing changed. */
  readonly revision: string | null;
  /** False when the document already had this content (nothing written). */
  readonly changed: boolean;
  readonly planned: boolean;
  /** Read–modify–write attempts (more than 1 after conflicts with other runs). */
  readonly attempts: number;
}

/**
 * Load, get, add, update and delete entries of a keyed metadata document, every write a
 * read–modify–write through {@link updateWithRetry} (so concurrent runs lose nothing), every write
 * with a plan (dry-run) mode that reads, records the change and writes nothing.
 */
export class MetadataDocument<E, I = E> {
  constructor(
    readonly store: MetadataStore<Record<string, E>>,
    private readonly schema: z.ZodType<E, any>,
    /** The document's file name, for messages and plans. */
    readonly what: string,
  ) {}

  /** The whole document (empty when it does not exist yet). */
  async load(): Promise<Record<string, E>> {
    return (await this.store.read()).doc;
  }

  /** One entry, or undefined. */
  async get(key: string): Promise<E | undefined> {
    const doc = await this.load();
    return Object.prototype.hasOwnProperty.call(doc, key) ? doc[key] : undefined;
  }

  /** Adds an entry (validated); an existing key is a ValidationError unless `overwrite`, which replaces the whole entry. */
  add(key: string, entry: I, opts: MetadataWriteOptions & { overwrite?: boolean } = {}): Promise<MetadataChange<E>> {
    return this.change(key, opts.overwrite ? 'update' : 'create', (doc) => addEntry(doc, key, entry as unknown as E, { overwrite: opts.overwrite, schema: this.schema, what: this.what }), opts);
  }

  /** Deep-merges `patch` into an existing entry (see {@link updateEntry}); a missing key is a ValidationError. */
  update(key: string, patch: DeepPartial<E>, opts: MetadataWriteOptions = {}): Promise<MetadataChange<E>> {
    return this.change(key, 'update', (doc) => updateEntry(doc, key, patch, { schema: this.schema, what: this.what }), opts);
  }

  /** Removes an entry; a missing key is a ValidationError unless `missingOk`. */
  delete(key: string, opts: MetadataWriteOptions & { missingOk?: boolean } = {}): Promise<MetadataChange<E>> {
    return this.change(key, 'delete', (doc) => deleteEntry(doc, key, { missingOk: opts.missingOk, what: this.what }), opts);
  }

  /** Any change of the document (`mutate` may run several times: it must depend only on its argument). */
  async mutate(mutate: (doc: Record<string, E>) => Record<string, E>, opts: MetadataWriteOptions & { target?: string; action?: PlanAction } = {}): Promise<MetadataChange<E>> {
    return this.change(opts.target ?? '(document)', opts.action ?? 'update', mutate, opts);
  }

  private async change(key: string, action: PlanAction, mutateAnyOrder: (doc: Record<string, E>) => Record<string, E>, opts: MetadataWriteOptions): Promise<MetadataChange<E>> {
    // Results come back as stored: fields in schema order, keys sorted (key order is no change: see sameContent).
    const docSchema = z.record(z.string(), this.schema);
    const mutate = (doc: Record<string, E>) => canonicalize(mutateAnyOrder(doc), docSchema) as Record<string, E>;
    if (opts.plan) {
      const { doc, revision } = await this.store.read();
      const next = mutate(structuredClone(doc));
      const changed = !sameContent(next, doc);
      if (changed) {
        const existed = Object.prototype.hasOwnProperty.call(doc, key);
        opts.plan.record({
          service: 'metadata',
          action: action === 'create' && existed ? 'update' : action,
          resource: `${this.what} entry`,
          target: key,
          detail: `${this.store.description}${revision === null ? ' (the document is created)' : ''}`,
        });
      }
      return { doc: next, entry: next[key], revision: changed ? PLANNED_ID : revision, changed, planned: true, attempts: 1 };
    }
    const r = await updateWithRetry(this.store, (doc) => mutate(doc), { retries: 30, ...opts.update });
    return { doc: r.doc, entry: r.doc[key], revision: r.revision, changed: r.changed, planned: false, attempts: r.attempts };
  }
}

/** Where a metadata document lives: a space's data assets (the usual), or any store (e.g. a {@link FileMetadataStore} for offline work). */
export type MetadataLocation<D> = DataAssets | MetadataStore<D>;

function storeFor<D>(location: MetadataLocation<D>, codec: MetadataCodec<D>, opts: SpaceStoreOptions): MetadataStore<D> {
  return 'read' in location && 'write' in location ? location : new SpaceMetadataStore(location, codec, opts);
}

/**
 * `deployment_metadata.yml` of a space: entries keyed by model asset id.
 *
 * @example
 * const meta = deploymentMetadata(wml.assets(spaceId));
 * await meta.add(modelAssetId, entry);
 * await meta.update(modelAssetId, { openscale_subscription_id: subscriptionId });
 */
export function deploymentMetadata(location: MetadataLocation<Record<string, DeploymentEntryT>>, opts: SpaceStoreOptions = {}): MetadataDocument<DeploymentEntryT, DeploymentEntryInput> {
  return new MetadataDocument(storeFor(location, deploymentMetadataCodec, opts), DeploymentEntry, deploymentMetadataCodec.fileName);
}

/** `monitor_metadata.yml` of a space: entries keyed by OpenScale monitor definition id. */
export function monitorMetadata(location: MetadataLocation<Record<string, MonitorEntryT>>, opts: SpaceStoreOptions = {}): MetadataDocument<MonitorEntryT, z.input<typeof MonitorMetadataEntry>> {
  return new MetadataDocument(storeFor(location, monitorMetadataCodec, opts), MonitorMetadataEntry, monitorMetadataCodec.fileName);
}
