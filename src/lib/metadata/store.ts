import { createHash } from 'node:crypto';
import { RunbookError } from '../errors';

/**
 * Where a metadata document lives, with optimistic concurrency: every read returns a revision and
 * every write names the revision it was based on, so two runs editing the same file cannot
 * silently overwrite each other (predecessor §8.14). The file store below and the later
 * space-backed store (WML data assets) implement it.
 */

/** A document and the revision it was read at; `revision` is null when the document does not exist yet. */
export interface Revisioned<D> {
  readonly doc: D;
  readonly revision: string | null;
}

/** A compare-and-swap store of one metadata document. */
export interface MetadataStore<D> {
  /** Where the document lives, for messages (`file /x/deployment_metadata.yml`, `space 81c8… asset …`). */
  readonly description: string;
  /** The current document (or the codec's empty document and revision null when there is none). */
  read(): Promise<Revisioned<D>>;
  /**
   * Writes `doc` if the stored revision is still `expectedRevision` (null: "must not exist yet")
   * and returns the new revision; otherwise writes nothing and throws {@link ConflictError}.
   */
  write(doc: D, expectedRevision: string | null): Promise<string>;
}

/** The stored revision changed between a read and a write (someone else wrote in between). */
export class ConflictError extends RunbookError {
  readonly expectedRevision: string | null;
  readonly actualRevision: string | null;
  constructor(what: string, expectedRevision: string | null, actualRevision: string | null, attempts?: number) {
    super(
      'remote',
      attempts
        ? `${what} kept changing: gave up after ${attempts} attempts to update it (another run is writing it; retry later)`
        : `${what} was changed by someone else (revision ${short(actualRevision)}, expected ${short(expectedRevision)})`,
    );
    this.expectedRevision = expectedRevision;
    this.actualRevision = actualRevision;
  }
}

function short(rev: string | null): string {
  return rev === null ? 'none' : rev.slice(0, 12);
}

/** The revision of a stored text: its SHA-256 in hex. */
export function contentRevision(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Options of {@link updateWithRetry}. */
export interface UpdateOptions {
  /** How many times to start over after a conflict (default 10). */
  readonly retries?: number;
  /** Backoff between attempts: full jitter up to min(maxDelayMs, baseDelayMs·2^attempt) (defaults 25 ms, 2 s). */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Called after each conflict, before waiting. */
  readonly onConflict?: (attempt: number, error: ConflictError) => void;
  /** For tests: replaces the timer of the waits between attempts. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** For tests: the jitter source of those waits, a number in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

/** The outcome of {@link updateWithRetry}. */
export interface UpdateResult<D> {
  readonly doc: D;
  readonly revision: string | null;
  /** 1 when the first attempt succeeded. */
  readonly attempts: number;
  /** False when `mutate` returned an equal document, so nothing was written. */
  readonly changed: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** JSON with every mapping's keys sorted, so that key order does not show. */
function keyOrderFree(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * Whether two documents hold the same content, as their JSON would (lists in order, `undefined`
 * fields absent) but regardless of key order: stores write the canonical form (fields in schema
 * order, keys sorted), so documents that differ only in key order are stored as the same text.
 */
export function sameContent(a: unknown, b: unknown): boolean {
  return keyOrderFree(a) === keyOrderFree(b);
}

/**
 * Read–modify–write with optimistic concurrency: reads the document, applies `mutate` to a private
 * copy, writes it against the revision read, and on {@link ConflictError} starts over with the
 * fresh document (after a jittered backoff). `mutate` may therefore run several times and must
 * depend only on its argument. Returning the same content ({@link sameContent}: key order aside)
 * writes nothing.
 */
export async function updateWithRetry<D>(
  store: MetadataStore<D>,
  mutate: (doc: D, attempt: number) => D | Promise<D>,
  opts: UpdateOptions = {},
): Promise<UpdateResult<D>> {
  const retries = opts.retries ?? 10;
  const base = opts.baseDelayMs ?? 25;
  const max = opts.maxDelayMs ?? 2000;
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    const { doc, revision } = await store.read();
    const next = await mutate(structuredClone(doc), attempt);
    if (sameContent(next, doc)) return { doc, revision, attempts: attempt, changed: false };
    try {
      const newRevision = await store.write(next, revision);
      return { doc: next, revision: newRevision, attempts: attempt, changed: true };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      if (attempt > retries) throw new ConflictError(store.description, err.expectedRevision, err.actualRevision, attempt);
      opts.onConflict?.(attempt, err);
      await sleep(Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1))));
    }
  }
}
