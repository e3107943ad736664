import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resizeLinear8u } from '../../src/lib/metrics/resize';
import { lcg } from './helpers';

const resize1 = (src: number[], sw: number, sh: number, dw: number, dh: number): number[] =>
  Array.from(resizeLinear8u(Uint8Array.from(src), sw, sh, 1, dw, dh));

describe('resizeLinear8u: hand-computed OpenCV INTER_LINEAR arithmetic', () => {
  it('upscales a row 2 → 4 (borders clamp to the edge pixel)', () => {
    // scale 0.5: fx = (dx + 0.5)·0.5 − 0.5 = −0.25, 0.25, 0.75, 1.25
    // dx0: sx = −1 → clamped to sx 0, weight 2048 → 0
    // dx1: sx 0, f 0.25 → 0·1536 + 200·512 = 102400; vertical identity: ((102400 >> 4)·2048 >> 16) = 200, (200 + 2) >> 2 = 50
    // dx2: f 0.75 → 200·1536 = 307200 → 600 → 150;  dx3: sx 1 = last column → 200·2048 → 800 → 200
    expect(resize1([0, 200], 2, 1, 4, 1)).toEqual([0, 50, 150, 200]);
  });

  it('upscales a column 2 → 6 with 1/3 weights: the vertical pass truncates each term (OpenCV gives 2 where exact bilinear gives 3)', () => {
    // scale 1/3: fy = (dy + 0.5)/3 − 0.5 → dy2: sy 0, f = 0.3333333 (float) → b0 = round(0.6666667·2048) = 1365, b1 = round(0.3333333·2048) = 683
    // rows: S0 = 3·2048 = 6144, S1 = 2·2048 = 4096
    // ((6144 >> 4)·1365 >> 16) = (384·1365 = 524160) >> 16 = 7;  ((4096 >> 4)·683 >> 16) = (256·683 = 174848) >> 16 = 2
    // (7 + 2 + 2) >> 2 = 2, whereas 3·2/3 + 2/3 = 2.67 would round to 3.
    // dy0: fy = −1/3 → sy −1, both rows clamp to row 0 → 3;  dy4, dy5: both rows clamp to row 1 → 2
    expect(resize1([3, 2], 1, 2, 1, 6)).toEqual([3, 3, 2, 2, 2, 2]);
  });

  it('keeps full precision horizontally: the same 2 → 6 along a row gives 3 at that position', () => {
    // dx2: 3·1365 + 2·683 = 5461 (int32, no truncation); vertical identity: ((5461 >> 4)·2048 >> 16) = 10, (10 + 2) >> 2 = 3
    expect(resize1([3, 2], 2, 1, 6, 1)).toEqual([3, 3, 3, 2, 2, 2]);
  });

  it('computes exactly-half downscales as 2×2 means rounded half up (so a 0.5 mean is foreground)', () => {
    const src = [
      0, 1, 0, 3,
      1, 0, 2, 0,
      0, 0, 1, 1,
      0, 0, 1, 0,
    ];
    // blocks: 0+1+1+0 = 2 → (2+2)>>2 = 1;  0+3+2+0 = 5 → 1;  0 → 0;  1+1+1+0 = 3 → 1
    expect(resize1(src, 4, 4, 2, 2)).toEqual([1, 1, 0, 1]);
  });

  it('downscales a row 3 → 2 and 7 → 3', () => {
    // 3 → 2: scale 1.5: fx 0.25 (sx 0) and 1.75 (sx 1): 255·512 = 130560 each → ((130560 >> 4)·2048 >> 16) = 255 → (255 + 2) >> 2 = 64
    expect(resize1([0, 255, 0], 3, 1, 2, 1)).toEqual([64, 64]);
    // 7 → 3: scale 7/3: fx = 0.6666667 → weights 683/1365 on pixels 0 and 1: 9·683 = 6147 → (384·2048 >> 16) = 12 → 3
    expect(resize1([9, 0, 0, 0, 0, 0, 0], 7, 1, 3, 1)).toEqual([3, 0, 0]);
  });

  it('copies an image of the target size and keeps channels apart', () => {
    const src = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const out = resizeLinear8u(src, 2, 1, 3, 2, 1);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(out).not.toBe(src);
    // Channels never mix: a red-only image resized stays red-only.
    const red = resizeLinear8u(Uint8Array.from([255, 0, 0, 0, 0, 0, 255, 0, 0]), 3, 1, 3, 5, 2);
    for (let i = 0; i < red.length; i += 3) expect([red[i + 1], red[i + 2]]).toEqual([0, 0]);
  });

  it('rejects inconsistent sizes', () => {
    expect(() => resizeLinear8u(new Uint8Array(5), 2, 1, 3, 4, 4)).toThrow(RangeError);
    expect(() => resizeLinear8u(new Uint8Array(6), 2, 1, 3, 0, 4)).toThrow(RangeError);
  });
});

function source(seed: number, n: number, density: number): Uint8Array {
  const next = lcg(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = next();
    out[i] = r < density ? next() : 0;
  }
  return out;
}

interface Vector { sw: number; sh: number; cn: number; dw: number; dh: number; seed: number; density: number; sha256: string; dst?: string }

describe('resizeLinear8u against recorded OpenCV outputs', () => {
  // Expectations computed independently by OpenCV 4.6.0 (Debian python3-opencv) with
  // test/metrics/fixtures/make-opencv-vectors.py; the inputs are regenerated here from the same seeds.
  const fixture = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'opencv-resize.json'), 'utf8')) as { opencv: string; vectors: Vector[] };

  it.each(fixture.vectors.map((v) => [`${v.sw}×${v.sh}×${v.cn} → ${v.dw}×${v.dh}`, v] as const))('%s', (_name, v) => {
    const out = resizeLinear8u(source(v.seed, v.sw * v.sh * v.cn, v.density), v.sw, v.sh, v.cn, v.dw, v.dh);
    if (v.dst) expect(Buffer.from(out).toString('hex')).toBe(v.dst);
    expect(createHash('sha256').update(out).digest('hex')).toBe(v.sha256);
  });
});

// A live cross-check when this machine has OpenCV for /usr/bin/python3 (Debian python3-opencv);
// elsewhere the recorded vectors above stand in for it.
const PYTHON = '/usr/bin/python3';
const hasCv2 = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { stdio: 'ignore' }).status === 0;

(hasCv2 ? describe : describe.skip)('resizeLinear8u against OpenCV on this machine (python3-opencv)', () => {
  it('matches cv2.resize byte for byte on random sizes, channel counts and contents', () => {
    const next = lcg(20240611);
    const cases = Array.from({ length: 60 }, (_, i) => {
      const pick = (max: number): number => 1 + ((next() << 8) | next()) % max;
      const big = i % 6 === 0;
      const sw = big ? pick(900) : pick(40);
      const sh = big ? pick(900) : pick(40);
      const cn = [1, 3, 4][next() % 3];
      const [dw, dh] = big || i % 3 === 0 ? [512, 512] : [pick(40), pick(40)];
      return { sw, sh, cn, dw, dh, src: source(1000 + i, sw * sh * cn, next()) };
    });
    const script = [
      'import sys, json, numpy as np, cv2',
      'out = []',
      'for c in json.load(sys.stdin):',
      '    a = np.frombuffer(bytes.fromhex(c["src"]), np.uint8).reshape(c["sh"], c["sw"], c["cn"])',
      '    r = cv2.resize(a if c["cn"] > 1 else a[:, :, 0], (c["dw"], c["dh"]))',
      '    out.append(r.tobytes().hex())',
      'json.dump(out, sys.stdout)',
    ].join('\n');
    const input = JSON.stringify(cases.map((c) => ({ ...c, src: Buffer.from(c.src).toString('hex') })));
    const run = spawnSync(PYTHON, ['-c', script], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(run.status).toBe(0);
    const expected = JSON.parse(run.stdout) as string[];
    cases.forEach((c, i) => {
      const ours = Buffer.from(resizeLinear8u(c.src, c.sw, c.sh, c.cn, c.dw, c.dh)).toString('hex');
      if (ours !== expected[i]) throw new Error(`mismatch for ${c.sw}×${c.sh}×${c.cn} → ${c.dw}×${c.dh}`);
    });
  });
});
