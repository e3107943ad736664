import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { constants, deflateSync, inflateSync } from 'node:zlib';
import { inflateInto } from '../../src/lib/metrics/inflate';
import { ReusableBuffer, imageScratch, pairScratch } from '../../src/lib/metrics/scratch';
import { lcg } from './helpers';

/** Mask-like bytes: long runs of zeros with short runs of random values (compresses like image data). */
function maskLike(size: number, seed: number): Buffer {
  const next = lcg(seed);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; ) {
    const run = 1 + (next() & 63);
    if (next() < 40) for (let k = 0; k < run && i + k < size; k++) out[i + k] = next();
    i += run;
  }
  return out;
}

/** Whether `view` shares memory with `into`, starting at its first byte. */
const isViewOf = (view: Buffer, into: Buffer): boolean => view.buffer === into.buffer && view.byteOffset === into.byteOffset;

/**
 * What `run` throws (fails the test when it returns). Errors made inside Node (zlib's RangeError
 * ERR_BUFFER_TOO_LARGE) come from another realm than jest's test globals, so `toThrow(RangeError)`
 * cannot recognise them: tests compare `name` instead.
 */
function errorOf(run: () => unknown): Error {
  try {
    run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error, but the call returned');
}

/** The error zlib.inflateSync throws on `compressed`, or null when it inflates. */
function inflateSyncError(compressed: Uint8Array): Error | null {
  try {
    inflateSync(compressed);
    return null;
  } catch (err) {
    return err as Error;
  }
}

describe('inflateInto (zlib into a caller-owned buffer)', () => {
  it('gives the bytes zlib.inflateSync gives, in a view of the caller\'s buffer, for random data of many sizes', () => {
    const payload = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc.record({ size: fc.integer({ min: 1, max: 200_000 }), seed: fc.nat() }).map(({ size, seed }) => new Uint8Array(maskLike(size, seed))),
    );
    fc.assert(
      fc.property(payload, fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 9 }), (data, slack, level) => {
        const compressed = deflateSync(data, { level });
        const into = Buffer.alloc(data.length + slack + constants.Z_MIN_CHUNK);
        const result = inflateInto(compressed, into);
        expect(result.data.equals(inflateSync(compressed))).toBe(true);
        // Node 20 has the zlib internals the module relies on: the fast path must run here.
        expect(result.reused).toBe(true);
        expect(isViewOf(result.data, into)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('fills the caller\'s buffer itself (a write to `into` shows through `data`), also when `into` is a slice of a larger buffer', () => {
    const data = maskLike(50_000, 7);
    const backing = Buffer.alloc(70_000);
    const into = backing.subarray(1234, 1234 + 60_000);
    const { data: out, reused } = inflateInto(deflateSync(data), into);
    expect(reused).toBe(true);
    expect(out.byteOffset).toBe(into.byteOffset);
    expect(out.equals(data)).toBe(true);
    into[10] ^= 0xff;
    expect(out[10]).toBe(data[10] ^ 0xff);
    expect(backing.subarray(0, 1234).every((b) => b === 0)).toBe(true); // nothing written before the slice
  });

  it('accepts output that fills `into` exactly', () => {
    const data = randomBytes(4096);
    const into = Buffer.alloc(4096);
    const result = inflateInto(deflateSync(data), into);
    expect(result.data.equals(data)).toBe(true);
    expect(result.reused).toBe(true);
  });

  it('throws a RangeError when the output is longer than `into`, on both paths', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.nat(), (size, short, seed) => {
        const data = maskLike(size + 1, seed);
        const capacity = Math.max(1, size + 1 - short); // 1 … size: always too small
        expect(errorOf(() => inflateInto(deflateSync(data), Buffer.alloc(capacity))).name).toBe('RangeError');
      }),
      { numRuns: 40 },
    );
    // Far too small, below zlib's minimum chunk (the fallback path) and above it (the fast path).
    const data = randomBytes(10_000);
    for (const capacity of [1, constants.Z_MIN_CHUNK - 1, constants.Z_MIN_CHUNK, 9_999]) {
      expect(errorOf(() => inflateInto(deflateSync(data), Buffer.alloc(capacity))).name).toBe('RangeError');
    }
  });

  it('throws zlib\'s own error on a stream cut short, like inflateSync', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.nat(), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), (size, seed, where) => {
        const compressed = deflateSync(maskLike(size, seed));
        const cut = compressed.subarray(0, Math.floor(where * compressed.length));
        const expected = inflateSyncError(cut);
        expect(expected).not.toBeNull(); // the reference agrees that a cut stream is an error
        expect(() => inflateInto(cut, Buffer.alloc(size + 1000))).toThrow((expected as Error).message);
      }),
      { numRuns: 40 },
    );
  });

  it('throws on corrupt streams: bad header, damaged data, not zlib at all', () => {
    const data = maskLike(30_000, 3);
    const good = deflateSync(data);
    const badHeader = Buffer.from(good);
    badHeader[1] ^= 0x01; // header checksum (FCHECK) no longer holds
    const badChecksum = Buffer.from(good);
    badChecksum[badChecksum.length - 1] ^= 0xff; // adler-32 of the data
    const notZlib = Buffer.from('this is not a zlib stream at all');
    for (const bad of [badHeader, badChecksum, notZlib]) {
      const expected = inflateSyncError(bad);
      expect(expected).not.toBeNull();
      expect(() => inflateInto(bad, Buffer.alloc(40_000))).toThrow((expected as Error).message);
    }
  });

  it('falls back to inflateSync when `into` is smaller than zlib\'s minimum chunk, with the same output', () => {
    expect(constants.Z_MIN_CHUNK).toBeGreaterThan(2);
    for (const capacity of [1, 2, constants.Z_MIN_CHUNK - 1]) {
      for (const size of [1, Math.ceil(capacity / 2), capacity]) {
        const data = randomBytes(size);
        const result = inflateInto(deflateSync(data), Buffer.alloc(capacity));
        expect(result.reused).toBe(false);
        expect(result.data.equals(data)).toBe(true);
      }
    }
    // At the minimum chunk size the buffer is used.
    const data = randomBytes(constants.Z_MIN_CHUNK);
    const into = Buffer.alloc(constants.Z_MIN_CHUNK);
    const atMin = inflateInto(deflateSync(data), into);
    expect(atMin.reused).toBe(true);
    expect(atMin.data.equals(data)).toBe(true);
  });

  it('inflates an empty stream to no bytes', () => {
    const result = inflateInto(deflateSync(Buffer.alloc(0)), Buffer.alloc(1000));
    expect(result.data.length).toBe(0);
  });

  it('gives correct data on successive calls with the same buffer (the second overwrites the first in place)', () => {
    const into = Buffer.alloc(120_000);
    const first = maskLike(100_000, 11);
    const second = maskLike(60_000, 12);
    const third = randomBytes(2000);
    const a = inflateInto(deflateSync(first), into);
    expect(a.data.equals(first)).toBe(true);
    const b = inflateInto(deflateSync(second), into);
    expect(b.data.equals(second)).toBe(true);
    expect(b.reused && isViewOf(b.data, into)).toBe(true);
    // The first result was a view of the same memory: it now starts with the second image's bytes.
    expect(a.data.subarray(0, second.length).equals(second)).toBe(true);
    const c = inflateInto(deflateSync(third), into);
    expect(c.data.length).toBe(third.length); // a shorter output is not padded with the previous one's bytes
    expect(c.data.equals(third)).toBe(true);
  });

  // The fallback's zlib needs maxOutputLength ≥ 1, so an empty `into` is the edge case.
  it('throws a RangeError for any output into an empty buffer', () => {
    expect(errorOf(() => inflateInto(deflateSync(Buffer.from([7])), Buffer.alloc(0))).name).toBe('RangeError');
  });
});

describe('ReusableBuffer', () => {
  it('returns exactly n bytes, reusing its memory for n up to the size it keeps and growing beyond it', () => {
    const buf = new ReusableBuffer();
    expect(buf.keptBytes).toBe(0);
    const a = buf.get(1000);
    expect(a.length).toBe(1000);
    expect(buf.keptBytes).toBe(1000);
    a.fill(0xab);
    for (const n of [1000, 999, 1, 0]) {
      const again = buf.get(n);
      expect(again.length).toBe(n);
      expect(again.buffer).toBe(a.buffer); // same memory
      expect(again.byteOffset).toBe(a.byteOffset);
    }
    expect(buf.get(500)[499]).toBe(0xab); // contents are left as they were (unspecified, not cleared)
    const grown = buf.get(1001);
    expect(grown.length).toBe(1001);
    expect(grown.buffer).not.toBe(a.buffer);
    expect(buf.keptBytes).toBe(1001);
    expect(buf.get(1000).buffer).toBe(grown.buffer); // the larger buffer is the one kept now
  });

  it('hands out buffers of their own, never a slice of Node\'s shared pool', () => {
    const buf = new ReusableBuffer();
    const small = buf.get(16);
    expect(small.buffer.byteLength).toBe(16);
  });

  it('does not keep buffers above maxKeptBytes, and keeps what it had', () => {
    const buf = new ReusableBuffer(4096);
    const kept = buf.get(4096);
    expect(buf.keptBytes).toBe(4096);
    const huge = buf.get(4097);
    expect(huge.length).toBe(4097);
    expect(huge.buffer).not.toBe(kept.buffer);
    expect(buf.keptBytes).toBe(4096);
    expect(buf.get(100).buffer).toBe(kept.buffer);
    // A first request above the limit keeps nothing.
    const fresh = new ReusableBuffer(10);
    expect(fresh.get(11).length).toBe(11);
    expect(fresh.keptBytes).toBe(0);
    // Two large requests in a row get separate memory (nothing kept to alias).
    const x = fresh.get(50);
    const y = fresh.get(50);
    expect(x.buffer).not.toBe(y.buffer);
  });

  it('scratch sets are made of independent buffers', () => {
    const pair = pairScratch(1 << 20);
    const all = [pair.prediction, pair.groundTruth, imageScratch(1 << 20)].flatMap((s) => [s.file, s.compressed, s.raw]);
    const memory = all.map((b) => b.get(64).buffer);
    expect(new Set(memory).size).toBe(all.length);
    expect(all.every((b) => b.keptBytes === 64)).toBe(true);
    const tiny = pairScratch(8);
    expect(tiny.groundTruth.raw.get(9).length).toBe(9);
    expect(tiny.groundTruth.raw.keptBytes).toBe(0); // the limit is passed down to every buffer
    expect(tiny.groundTruth.raw.get(8).length).toBe(8);
    expect(tiny.groundTruth.raw.keptBytes).toBe(8);
  });
});
