/**
 * Counts many prediction/ground-truth pairs, in worker threads when it can (a pool sized by
 * os.availableParallelism(), at most two jobs in flight per worker so memory stays bounded) or in
 * the calling thread. Results come back indexed like the input, so what a caller aggregates does not
 * depend on the number of workers or on completion order.
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
import { WORKER_PROTOCOL, deserializeError, runCountJob, unpackCounts, type CountJob, type CountReply, type JobImage } from './count-job';
import type { PngPairCounts } from './masks';

/** A mask image: a local file path, its bytes, or a function that fetches them (e.g. a download). */
export type ImageSource = string | Uint8Array | (() => Promise<Uint8Array>);

export interface PairInput {
  /** The pair's identity in progress reports and results. */
  readonly name: string;
  readonly prediction: ImageSource;
  readonly groundTruth: ImageSource;
  /** How the files are named in errors; default: the path, or `<name> (prediction|ground truth)`. */
  readonly labels?: { readonly prediction: string; readonly groundTruth: string };
}

export interface Progress {
  /** Pairs counted so far. */
  readonly done: number;
  readonly total: number;
  /** The pair just counted. */
  readonly name: string;
}

export interface CountOptions {
  /** Worker threads: a number (0 = count in the calling thread) or 'auto' (default: one per available core, at most one per pair). */
  readonly workers?: number | 'auto';
  readonly onProgress?: (progress: Progress) => void;
  readonly signal?: AbortSignal;
  /** Largest image accepted, in pixels (see png.ts). */
  readonly maxPixels?: number;
  /** Compiled worker script to use instead of the one found next to this module. */
  readonly workerScript?: string;
}

export interface Execution {
  readonly mode: 'threads' | 'in-thread';
  readonly workers: number;
  /** Why workers were not used although asked for. */
  readonly note?: string;
}

export interface CountOutcome {
  /** One entry per input pair, same order. */
  readonly counts: PngPairCounts[];
  readonly execution: Execution;
}

const IN_FLIGHT_PER_WORKER = 2;

/** The compiled worker script, or null when none can be found (e.g. dist/ not built). */
export function findWorkerScript(): string | null {
  if (typeof __dirname !== 'string') return null;
  const candidates = [join(__dirname, 'worker.js'), resolve(__dirname, '..', '..', '..', 'dist', 'src', 'lib', 'metrics', 'worker.js')];
  return candidates.find((c) => existsSync(c)) ?? null;
}

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

/** A started worker with request/response matching by job id. */
class PoolWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: CountReply) => void; reject: (e: Error) => void; label: string }>();
  private failure: Error | null = null;

  constructor(script: string) {
    this.worker = new Worker(script);
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

  run(job: CountJob): Promise<CountReply> {
    if (this.failure) {
      const f = this.failure;
      return Promise.reject(f instanceof RunbookError ? f : new RunbookError('internal', `metrics worker failed: ${f.message}`));
    }
    return new Promise((resolveReply, reject) => {
      this.pending.set(job.id, { resolve: resolveReply, reject, label: job.labels.prediction });
      this.worker.postMessage(job);
    });
  }

  /** Stops the worker; jobs still pending are rejected with `reason`. */
  async close(reason: Error = new RunbookError('internal', 'metrics worker closed')): Promise<void> {
    this.worker.removeAllListeners('exit');
    this.fail(reason);
    await this.worker.terminate();
  }
}

/**
 * Decodes and counts every pair. Fails with the error of the first failing pair (in input order
 * among those attempted): a bad file fails the run, it is never skipped.
 */
export async function countImagePairs(pairs: readonly PairInput[], options: CountOptions = {}): Promise<CountOutcome> {
  const total = pairs.length;
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
  if (options.signal?.aborted) throw abortError(options.signal);

  // Compact storage while the run goes on (12 numbers per pair, see PackedCounts).
  const table = new Float64Array(total * 12);
  const failures = new Map<number, Error>();
  let next = 0;
  let done = 0;
  const inThread = wanted === 0;

  const record = (index: number, reply: CountReply): void => {
    // `'error' in` rather than `!reply.ok`: tslab's non-strict compiler does not narrow on `ok`.
    if ('error' in reply) {
      failures.set(index, deserializeError(reply.error));
      return;
    }
    table.set(reply.counts, index * 12);
    done++;
    options.onProgress?.({ done, total, name: pairs[index].name });
  };
  const buildJob = (index: number): CountJob | Promise<CountJob> => {
    const pair = pairs[index];
    const labels = labelsOf(pair);
    const prediction = jobImage(pair.prediction, labels.prediction);
    const groundTruth = jobImage(pair.groundTruth, labels.groundTruth);
    const job = (p: JobImage, g: JobImage): CountJob => ({ id: index, prediction: p, groundTruth: g, labels, maxPixels: options.maxPixels });
    // Only loaders need awaiting; paths and bytes make the job at once (less garbage per pair).
    if (prediction instanceof Promise || groundTruth instanceof Promise) {
      return Promise.all([prediction, groundTruth]).then(([p, g]) => job(p, g));
    }
    return job(prediction, groundTruth);
  };
  const stopped = (): boolean => failures.size > 0 || options.signal?.aborted === true;

  // One lane: takes the next pair, counts it, repeats. Errors stop every lane from taking more.
  const lane = async (run: (job: CountJob) => Promise<CountReply>): Promise<void> => {
    while (!stopped() && next < total) {
      const index = next++;
      try {
        const job = buildJob(index);
        record(index, await run(job instanceof Promise ? await job : job));
      } catch (err) {
        failures.set(index, err instanceof Error ? err : new Error(String(err)));
      }
    }
  };

  const workers: PoolWorker[] = [];
  try {
    if (inThread) {
      await lane(async (job) => {
        const reply = runCountJob(job);
        await new Promise((r) => setImmediate(r)); // let timers and I/O of the caller run between pairs
        return reply;
      });
    } else {
      for (let i = 0; i < wanted; i++) workers.push(new PoolWorker(script as string));
      const lanes: Promise<void>[] = [];
      for (const w of workers) for (let k = 0; k < IN_FLIGHT_PER_WORKER; k++) lanes.push(lane((job) => w.run(job)));
      const onAbort = (): void => void Promise.all(workers.map((w) => w.close(abortError(options.signal as AbortSignal))));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await Promise.all(lanes);
      } finally {
        options.signal?.removeEventListener('abort', onAbort);
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
  if (options.signal?.aborted) throw abortError(options.signal);
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys())) as Error;
  const counts: PngPairCounts[] = [];
  for (let i = 0; i < total; i++) counts.push(unpackCounts(table, i * 12));
  return { counts, execution: { mode: inThread ? 'in-thread' : 'threads', workers: inThread ? 0 : wanted, ...(note ? { note } : {}) } };
}
