/**
 * zlib inflate into a buffer the caller reuses from image to image.
 *
 * `zlib.inflateSync` gives every call a fresh output buffer (786 KB for a 512×512 RGB mask). Fresh
 * memory costs page faults (about half of the inflate time on masks), and V8 frees such buffers only
 * when a garbage collection runs, which external memory alone triggers late (after tens of MB), so
 * dead buffers pile up in each thread. Node's public API has no "inflate into this buffer", so this
 * module points the zlib object's output buffer at the caller's before processing: `_processChunk`
 * (kept by Node for backwards compatibility), `_outBuffer`, `_outOffset`, `_chunkSize`,
 * `_maxOutputLength`. Node 12–22 have these. The fields are checked before use and the result after
 * it, so a Node release without them falls back to `inflateSync`: the output is the same either way,
 * only memory and speed differ (`reused` tells which path ran; a test pins it on the supported Node).
 */
import { Inflate, constants, inflateSync } from 'node:zlib';

/** The internals of a Node zlib object this module relies on. */
interface ZlibInternals {
  _processChunk?: unknown;
  _outBuffer?: unknown;
  _outOffset?: unknown;
  _chunkSize?: unknown;
  _maxOutputLength?: unknown;
}

export interface Inflated {
  /** The inflated bytes: a view of `into` when `reused`, else a buffer of their own. */
  readonly data: Buffer;
  /** Whether the output went into the caller's buffer (no allocation). */
  readonly reused: boolean;
}

/** Smallest chunk size zlib objects accept: the constructor's own output buffer is then tiny. */
const PROBE_CHUNK = constants.Z_MIN_CHUNK;

/**
 * Inflates a zlib stream into `into`. Output longer than `into.length` bytes throws a RangeError
 * (like `maxOutputLength`); corrupt or cut-short streams throw zlib's error, as `inflateSync` does.
 */
export function inflateInto(compressed: Uint8Array, into: Buffer): Inflated {
  const capacity = into.length;
  const engine = new Inflate({ chunkSize: PROBE_CHUNK }) as unknown as ZlibInternals;
  const usable =
    typeof engine._processChunk === 'function' &&
    Buffer.isBuffer(engine._outBuffer) &&
    engine._outBuffer.length === PROBE_CHUNK &&
    engine._outOffset === 0 &&
    engine._chunkSize === PROBE_CHUNK &&
    typeof engine._maxOutputLength === 'number';
  if (!usable || capacity < PROBE_CHUNK) {
    (engine as unknown as Inflate).close();
    // zlib wants maxOutputLength ≥ 1: an empty `into` is checked by hand.
    const data = inflateSync(compressed, { chunkSize: Math.max(PROBE_CHUNK, capacity), maxOutputLength: Math.max(1, capacity) });
    if (data.length > capacity) throw new RangeError(`Cannot create a Buffer larger than ${capacity} bytes`);
    return { data, reused: false };
  }
  engine._outBuffer = into;
  engine._outOffset = 0;
  engine._chunkSize = capacity;
  engine._maxOutputLength = capacity;
  const data = (engine._processChunk as (chunk: Uint8Array, flush: number) => Buffer).call(engine, compressed, constants.Z_FINISH);
  return { data, reused: data.buffer === into.buffer && data.byteOffset === into.byteOffset };
}
