/**
 * Counts many prediction/ground-truth pairs, in worker threads when it can (a pool sized by
 * os.availableParallelism()) or in the calling thread, and hands each pair's counts to a sink in
 * input order, so what a caller aggregates does not depend on the number of workers or on
 * completion order. Pairs go to workers in small batches (one message per batch, at most two
 * batches in flight per worker); results that arrive early wait in a reorder window of a few
 * batches, and a worker gets no batch past that window, so the calling thread holds O(workers)
 * results whatever the number of pairs.
 *
 * Workers run compiled JavaScript: the pool uses `worker.js` next to this module when running
 * from dist/, or dist/src/lib/metrics/worker.js of the project when this module was loaded from
 * TypeScript sources (jest, tslab). Without either it counts in the calling thread.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { RunbookError, ValidationError } from '../errors';
import {
  PACKED,
  WORKER_PROTOCOL,
  deserializeError,
  runCountBatch,
  unpackCounts,
  type CountBatch,
  type CountReply,
  type JobImage,
  type PairJob,
} from './count-job';
import type { PngPairCounts } from './masks';
import { pairScratch } from './scratch';

/** A mask image: a local file path, its bytes, or a function that fetches them (e.g. a download). */
export type ImageSource = string | Uint8Array | (() => Promise<Uint8Array>);

/** One pair to count: its name (the ground truth's file name) and where each image comes from. */
export interface PairInput {
  /** The pair's identity in progress reports and results. */
  readonly name: string;
  readonly prediction: ImageSource;
  readonly groundTruth: ImageSource;
  /** How the files are named in errors; default: the path, or `<name> (prediction|ground truth)`. */
  readonly labels?: { readonly prediction: string; readonly groundTruth: string };
}

/** Progress of a run, reported as pairs are counted (in input order). */
export interface Progress {
  /** Pairs counted so far. */
  readonly done: number;
  readonly total: number;
  /** The pair just counted. */
  readonly name: string;
}

/** How a run counts its pairs: threads, limits, progress and cancellation. */
export interface CountOptions {
  /** Worker threads: a number (0 = count in the calling thread) or 'auto' (default: one per available core, at most one per pair). */
  readonly workers?: number | 'auto';
  /** Called as each pair's counts are taken in, in input order. */
  readonly onProgress?: (progress: Progress) => void;
  /** Cancels the run: workers are stopped and the call rejects. */
  readonly signal?: AbortSignal;
  /** Largest image accepted, in pixels (see png.ts). */
  readonly maxPixels?: number;
  /** Compiled worker script to use instead of the one found next to this module. */
  readonly workerScript?: string;
}

/** How a run was executed (worker threads or the calling thread), for reports. */
export interface Execution {
  readonly mode: 'threads' | 'in-thread';
  readonly workers: number;
  /** Why workers were not used although asked for. */
  readonly note?: string;
}

/** The counts of every pair, indexed like the input, and how they were computed. */
export interface CountOutcome {
  /** One entry per input pair, same order. */
  readonly counts: PngPairCounts[];
  readonly execution: Execution;
}

/** Batches a worker has at once: one being counted, one waiting, so it never idles between messages. */
const IN_FLIGHT_PER_WORKER = 2;
/** Most pairs per message (a batch of 8 masks is ~20 ms of work: negligible imbalance at the end). */
const MAX_BATCH = 8;
/** Reorder window, in batches per lane: a lane waits rather than count further ahead of the oldest unfinished batch. */
const WINDOW_BATCHES_PER_LANE = 4;
/**
 * V8 heap caps of a worker. Decode buffers are reused, so a worker's JS heap holds only small
 * short-lived objects (live: ~4 MB): a small young generation is plenty, where V8 would otherwise
 * let it grow to tens of MB on a long run; the old-generation cap is a backstop (V8 collects long
 * before it, at ~10–20 MB, but without a cap its first limit would be set from the machine's RAM).
 */
const WORKER_YOUNG_GENERATION_MB = 4;
const WORKER_OLD_GENERATION_MB = 64;

/** Receives a pair's counts, in input order: 12 numbers at `packed[at…]` (see unpackCounts), valid during the call. */
export type CountSink = (index: number, packed: Float64Array, at: number, pair: PairInput) => void;

/**
 * Pairs made on demand (e.g. paths joined only when the pair is sent): a long run then holds no
 * input object per pair. `get(i)` may return a new object each call.
 */
export interface PairSequence {
  readonly length: number;
  /** The pair at `index` (0 ≤ index < length). */
  get(index: number): PairInput;
}

/** The pairs of a run: an array, or a sequence that makes them when needed. */
export type PairList = readonly PairInput[] | PairSequence;

/** Reads a PairList by index, whichever form it has. */
export function pairGetter(pairs: PairList): (index: number) => PairInput {
  if (Array.isArray(pairs)) {
    const list = pairs as readonly PairInput[];
    return (i) => list[i];
  }
  const sequence = pairs as PairSequence;
  return (i) => sequence.get(i);
}

/** The compiled worker script, or null when none can be found (e.g. dist/ not built). */
export function findWorkerScript(): string | null {
  if (typeof __dirname !== 'string') return null;
  const candidates = [join(__dirname, 'worker.js'), resolve(__dirname, '..', '..', '..', 'dist', 'src', 'lib', 'metrics', 'worker.js')];
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Labels of a pair for error messages: as given, else the path, else `<name> (prediction|ground truth)`. */
function labelsOf(pair: PairInput): { prediction: string; groundTruth: string } {
  if (pair.labels) return pair.labels;
  return {
    prediction: typeof pair.prediction === 'string' ? pair.prediction : `${pair.name} (prediction)`,
    groundTruth: typeof pair.groundTruth === 'string' ? pair.groundTruth : `${pair.name} (ground truth)`,
  };
}

/** A job's image: paths and bytes as they are (no promise), loaders awaited. */
function jobImage(source: ImageSource, label: string): JobImage | Promise<JobImage> {
  // Paths are read where the pair is counted, synchronously: small files, and an await per file
  // would leave the calling thread idle between pairs.
  if (typeof source === 'string') return { path: source };
  if (source instanceof Uint8Array) return { bytes: source };
  return load(source, label);
}

/** A pair's job; labels are sent only when they are not the paths themselves. */
function pairJob(pair: PairInput): PairJob | Promise<PairJob> {
  const labels = labelsOf(pair);
  const prediction = jobImage(pair.prediction, labels.prediction);
  const groundTruth = jobImage(pair.groundTruth, labels.groundTruth);
  const sendLabels = pair.labels !== undefined || typeof pair.prediction !== 'string' || typeof pair.groundTruth !== 'string';
  const job = (p: JobImage, g: JobImage): PairJob => (sendLabels ? { prediction: p, groundTruth: g, labels } : { prediction: p, groundTruth: g });
  // Only loaders need awaiting; paths and bytes make the job at once (less garbage per pair).
  if (prediction instanceof Promise || groundTruth instanceof Promise) return Promise.all([prediction, groundTruth]).then(([p, g]) => job(p, g));
  return job(prediction, groundTruth);
}

async function load(loader: () => Promise<Uint8Array>, label: string): Promise<JobImage> {
  let bytes: unknown;
  try {
    bytes = await loader();
  } catch (err) {
    if (err instanceof RunbookError) throw err;
    throw new ValidationError(`${label}: cannot be read (${err instanceof Error ? err.message : String(err)})`, [{ path: label, message: 'unreadable' }]);
  }
  if (!(bytes instanceof Uint8Array)) throw new ValidationError(`${label}: the loader returned no bytes`, [{ path: label, message: 'expected bytes' }]);
  return { bytes };
}

function abortError(signal: AbortSignal): RunbookError {
  const reason = signal.reason instanceof Error ? signal.reason.message : 'aborted';
  return new RunbookError('internal', `segmentation metrics cancelled: ${reason}`);
}

/** A started worker with request/response matching by batch id. */
class PoolWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: CountReply) => void; reject: (e: Error) => void; label: string }>();
  private failure: Error | null = null;

  constructor(script: string) {
    this.worker = new Worker(script, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: WORKER_OLD_GENERATION_MB } });
    this.worker.on('message', (msg: CountReply | { ready: number }) => {
      if ('ready' in msg) {
        if (msg.ready !== WORKER_PROTOCOL) {
          this.fail(new RunbookError('internal', `metrics worker ${script} is out of date (protocol ${msg.ready}, expected ${WORKER_PROTOCOL}): run \`npm run build\``));
        }
        return;
      }
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        p.resolve(msg);
      }
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    for (const [, p] of this.pending) {
      p.reject(err instanceof RunbookError ? err : new RunbookError('internal', `metrics worker failed while counting ${p.label}: ${err.message}`));
    }
    this.pending.clear();
  }

  /** Sends a batch; `label` names it if the worker dies meanwhile. */
  run(batch: CountBatch, label: string): Promise<CountReply> {
    if (this.failure) {
      const f = this.failure;
      return Promise.reject(f instanceof RunbookError ? f : new RunbookError('internal', `metrics worker failed: ${f.message}`));
    }
    return new Promise((resolveReply, reject) => {
      this.pending.set(batch.id, { resolve: resolveReply, reject, label });
      this.worker.postMessage(batch);
    });
  }

  /** Stops the worker; batches still pending are rejected with `reason`. */
  async close(reason: Error = new RunbookError('internal', 'metrics worker closed')): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.fail(reason);
    await this.worker.terminate();
  }
}

/**
 * Decodes and counts every pair and passes each pair's counts to `sink` in input order. Fails with
 * the error of the first failing pair in input order (among those attempted): a bad file fails the
 * run, it is never skipped; the pairs before it have been passed to the sink, none after it.
 * `onProgress` is called as pairs reach the sink.
 */
export async function countPairsInOrder(pairs: PairList, options: CountOptions, sink: CountSink): Promise<Execution> {
  const total = pairs.length;
  const pairAt = pairGetter(pairs);
  const requested = options.workers ?? 'auto';
  if (requested !== 'auto' && !(Number.isInteger(requested) && requested >= 0)) {
    throw new ValidationError(`workers must be 'auto' or an integer ≥ 0, got ${String(requested)}`, [{ path: 'workers', message: 'expected an integer ≥ 0' }]);
  }
  const script = options.workerScript ?? findWorkerScript();
  let wanted = requested === 'auto' ? Math.min(availableParallelism(), total) : Math.min(requested, total);
  let note: string | undefined;
  if (wanted > 0 && !script) {
    note = 'no compiled worker script (run `npm run build`): counted in the calling thread';
    wanted = 0;
  }
  const signal = options.signal;
  if (signal?.aborted) throw abortError(signal);

  const inThread = wanted === 0;
  const lanes = inThread ? 1 : wanted * IN_FLIGHT_PER_WORKER;
  // Small runs get single-pair batches so every worker gets work.
  const batchSize = inThread ? 1 : Math.max(1, Math.min(MAX_BATCH, Math.floor(total / (lanes * 4))));
  const window = lanes * batchSize * WINDOW_BATCHES_PER_LANE;

  let next = 0; // first pair not yet handed to a lane
  let emitted = 0; // pairs passed to the sink
  // Batch start → its counts and pairs, waiting for earlier batches.
  const arrived = new Map<number, { counts: Float64Array; pairs: readonly PairInput[] }>();
  let failure: { index: number; error: Error } | null = null;
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const fail = (index: number, error: Error): void => {
    if (!failure || index < failure.index) failure = { index, error };
    wake();
  };
  const stopped = (): boolean => failure !== null || signal?.aborted === true;
  // Settles with the abort, so a lane waiting on a hung loader (a download) stops at once.
  let abandon: (() => void) | null = null;
  const abandoned = new Promise<'aborted'>((r) => (abandon = () => r('aborted')));

  const emit = (): void => {
    let batch = arrived.get(emitted);
    while (batch !== undefined) {
      arrived.delete(emitted);
      const n = batch.counts.length / PACKED;
      for (let k = 0; k < n; k++) {
        const index = emitted + k;
        sink(index, batch.counts, k * PACKED, batch.pairs[k]);
        options.onProgress?.({ done: index + 1, total, name: batch.pairs[k].name });
      }
      emitted += n;
      batch = arrived.get(emitted);
    }
    wake();
  };

  /** The jobs of `batch`'s pairs, up to the first pair whose loader fails. */
  const prepare = async (batch: readonly PairInput[]): Promise<{ jobs: PairJob[]; loadFailure?: Error }> => {
    const made: (PairJob | Promise<PairJob>)[] = [];
    let waits = false;
    for (const pair of batch) {
      const job = pairJob(pair);
      if (job instanceof Promise) waits = true;
      made.push(job);
    }
    if (!waits) return { jobs: made as PairJob[] };
    const settled = await Promise.race([Promise.allSettled(made), abandoned]);
    if (settled === 'aborted') return { jobs: [], loadFailure: abortError(signal as AbortSignal) };
    const jobs: PairJob[] = [];
    for (const s of settled) {
      if (s.status === 'rejected') return { jobs, loadFailure: s.reason instanceof Error ? s.reason : new Error(String(s.reason)) };
      jobs.push(s.value);
    }
    return { jobs };
  };

  // One lane: takes the next batch, counts it, repeats. A failure stops every lane from taking more.
  const lane = async (run: (batch: CountBatch, label: string) => Promise<CountReply>): Promise<void> => {
    while (!stopped() && next < total) {
      if (next - emitted >= window) {
        await new Promise<void>((r) => waiters.push(r));
        continue;
      }
      const start = next;
      const end = Math.min(total, start + batchSize);
      next = end;
      try {
        const batch: PairInput[] = [];
        for (let i = start; i < end; i++) batch.push(pairAt(i));
        const { jobs, loadFailure } = await prepare(batch);
        let counted = 0;
        if (jobs.length > 0) {
          const reply = await run({ id: start, pairs: jobs, maxPixels: options.maxPixels }, labelsOf(batch[0]).prediction);
          counted = reply.counts.length / PACKED;
          if (counted > 0) arrived.set(start, { counts: reply.counts, pairs: batch });
          if (reply.error) fail(start + counted, deserializeError(reply.error));
        }
        if (loadFailure && counted === jobs.length) fail(start + counted, loadFailure);
        emit();
      } catch (err) {
        fail(start, err instanceof Error ? err : new Error(String(err)));
      }
    }
  };

  const workers: PoolWorker[] = [];
  const onAbort = (): void => {
    abandon?.();
    wake();
    void Promise.all(workers.map((w) => w.close(abortError(signal as AbortSignal))));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (inThread) {
      const scratch = pairScratch(); // this run's decode buffers, dropped with it
      await lane(async (batch) => {
        const reply = runCountBatch(batch, scratch);
        await new Promise((r) => setImmediate(r)); // let timers and I/O of the caller run between pairs
        return reply;
      });
    } else {
      for (let i = 0; i < wanted; i++) workers.push(new PoolWorker(script as string));
      const running: Promise<void>[] = [];
      for (const w of workers) for (let k = 0; k < IN_FLIGHT_PER_WORKER; k++) running.push(lane((batch, label) => w.run(batch, label)));
      await Promise.all(running);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.close()));
  }
  if (signal?.aborted) throw abortError(signal);
  if (failure) throw (failure as { error: Error }).error;
  if (emitted !== total) throw new RunbookError('internal', `segmentation metrics: ${emitted} of ${total} pairs counted`);
  return { mode: inThread ? 'in-thread' : 'threads', workers: inThread ? 0 : wanted, ...(note ? { note } : {}) };
}

/** Decodes and counts every pair (see countPairsInOrder); the counts come back indexed like the input. */
export async function countImagePairs(pairs: PairList, options: CountOptions = {}): Promise<CountOutcome> {
  const counts: PngPairCounts[] = [];
  const execution = await countPairsInOrder(pairs, options, (_index, packed, at) => {
    counts.push(unpackCounts(packed, at));
  });
  return { counts, execution };
}
