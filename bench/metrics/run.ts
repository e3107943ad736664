/**
 * Benchmark of the segmentation metrics (not a test): 1,000 pairs of 512×512 RGB PNG masks,
 * generated once into .cache/bench-metrics/, counted by our implementation (worker threads, one
 * per core) and by the Python/numpy reference (bench/metrics/reference.py) in the same run.
 * Prints pairs per second, the ratio, peak RSS of each process, whether the values are identical,
 * and whether the targets are met (≥ 3× the reference's throughput, < 200 MB peak RSS, also on a
 * 10× larger set made of links to the same files).
 *
 *   npm run bench:metrics [-- --pairs N --workers N --rounds N]
 *
 * The reference needs Debian's numpy and OpenCV or Pillow (see reference.py); without them only
 * our figures are printed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { SEGMENTATION_METRIC_NAMES, segmentationMetricsForFolders } from '../../src/lib/metrics';
import { statusBytes } from '../process-stats';

const ROOT = resolve(__dirname, '..', '..', '..'); // dist/bench/metrics → project root
const REFERENCE = join(ROOT, 'bench', 'metrics', 'reference.py');
const PYTHON = '/usr/bin/python3';
const SIZE = 512;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** Deterministic pseudo-random numbers (LCG), so every run benchmarks the same images. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

interface Cell { x: number; y: number; r: number; positive: boolean }

/** DeepLIIF-like mask: red (positive) and blue (negative) cells with green rims on black. */
function paint(cells: readonly Cell[]): Buffer {
  const png = new PNG({ width: SIZE, height: SIZE, colorType: 2, inputHasAlpha: false });
  const d = Buffer.alloc(SIZE * SIZE * 3);
  for (const c of cells) {
    for (let y = Math.max(0, Math.floor(c.y - c.r)); y <= Math.min(SIZE - 1, Math.ceil(c.y + c.r)); y++) {
      for (let x = Math.max(0, Math.floor(c.x - c.r)); x <= Math.min(SIZE - 1, Math.ceil(c.x + c.r)); x++) {
        const dist = Math.hypot(x - c.x, y - c.y);
        if (dist > c.r) continue;
        const i = (y * SIZE + x) * 3;
        if (dist > c.r - 1.2) d.set([0, 255, 0], i);
        else d.set(c.positive ? [255, 0, 0] : [0, 0, 255], i);
      }
    }
  }
  png.data = d;
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

function generate(dir: string, pairs: number): void {
  const marker = join(dir, `complete-${pairs}`);
  if (existsSync(marker)) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'gt'), { recursive: true });
  mkdirSync(join(dir, 'pred'), { recursive: true });
  process.stderr.write(`generating ${pairs} pairs of ${SIZE}×${SIZE} masks in ${dir} …\n`);
  for (let n = 0; n < pairs; n++) {
    const rand = rng(n + 1);
    const empty = n % 97 === 0; // a few empty images exercise DeepLIIF's empty-mask rule
    const gt: Cell[] = [];
    const count = empty ? 0 : 20 + Math.floor(rand() * 60);
    for (let c = 0; c < count; c++) gt.push({ x: rand() * SIZE, y: rand() * SIZE, r: 4 + rand() * 10, positive: rand() < 0.4 });
    // The prediction: most cells found, slightly moved and resized, some missed, some invented.
    const pred: Cell[] = [];
    for (const c of gt) if (rand() > 0.1) pred.push({ x: c.x + (rand() - 0.5) * 4, y: c.y + (rand() - 0.5) * 4, r: c.r * (0.8 + rand() * 0.4), positive: rand() < 0.9 ? c.positive : !c.positive });
    const extra = empty ? 0 : Math.floor(rand() * 6);
    for (let c = 0; c < extra; c++) pred.push({ x: rand() * SIZE, y: rand() * SIZE, r: 4 + rand() * 8, positive: rand() < 0.5 });
    const name = `img${String(n).padStart(5, '0')}`;
    writeFileSync(join(dir, 'gt', `${name}.png`), paint(gt));
    writeFileSync(join(dir, 'pred', `${name}_SegRefined.png`), paint(pred));
  }
  writeFileSync(marker, '');
}

/** A set `times` as large made of symbolic links to the generated files (memory versus set size). */
function linkedSet(dir: string, pairs: number, times: number): string {
  const big = `${dir}-x${times}`;
  const marker = join(big, 'complete');
  if (existsSync(marker)) return big;
  rmSync(big, { recursive: true, force: true });
  mkdirSync(join(big, 'gt'), { recursive: true });
  mkdirSync(join(big, 'pred'), { recursive: true });
  for (let k = 0; k < times; k++) {
    for (let n = 0; n < pairs; n++) {
      const name = `img${String(n).padStart(5, '0')}`;
      symlinkSync(join(dir, 'gt', `${name}.png`), join(big, 'gt', `k${k}${name}.png`));
      symlinkSync(join(dir, 'pred', `${name}_SegRefined.png`), join(big, 'pred', `k${k}${name}_SegRefined.png`));
    }
  }
  writeFileSync(marker, '');
  return big;
}

interface Measured { metrics: Record<string, number>; pairs: number; seconds: number; cpu_seconds: number; peak_rss_mb: number; decoder?: string }

/**
 * Peak resident set size of this process in MB: VmHWM, which (unlike getrusage's ru_maxrss) is not
 * inherited from the parent across exec. Worker threads share the process, so they are included.
 */
function peakRssMb(): number {
  const bytes = statusBytes(process.pid, 'VmHWM');
  return bytes !== undefined ? bytes / (1024 * 1024) : process.resourceUsage().maxRSS / 1024;
}

/** Child mode: count the set once and print the measurement (own process, so peak RSS is ours alone). */
async function child(dir: string, workers: number): Promise<void> {
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  const r = await segmentationMetricsForFolders({ groundTruth: join(dir, 'gt'), prediction: join(dir, 'pred') }, { workers, minPairs: 1 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart); // all threads of the process, workers included
  const out: Measured = { metrics: r.metrics, pairs: r.images.length, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6, peak_rss_mb: peakRssMb() };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runOurs(dir: string, workers: number): Measured {
  const out = execFileSync(process.execPath, [__filename, '--child', dir, '--workers', String(workers)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out) as Measured;
}

function referenceAvailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const probe = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `numpy is not installed for ${PYTHON} (apt-get install -y python3-numpy python3-opencv)`;
}

function runReference(dir: string, decoder: 'cv2' | 'pil'): Measured | null {
  const probe = spawnSync(PYTHON, ['-c', decoder === 'cv2' ? 'import cv2' : 'import PIL'], { stdio: 'ignore' });
  if (probe.status !== 0) return null;
  const out = execFileSync(PYTHON, [REFERENCE, '--gt', join(dir, 'gt'), '--pred', join(dir, 'pred'), '--decoder', decoder], { encoding: 'utf8', maxBuffer: 1 << 24 });
  return JSON.parse(out) as Measured;
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

const fmt = (n: number, digits = 1): string => n.toFixed(digits);

async function main(): Promise<void> {
  const pairs = arg('pairs', 1000);
  const workers = arg('workers', availableParallelism());
  if (process.argv.includes('--child')) {
    await child(process.argv[process.argv.indexOf('--child') + 1], workers);
    return;
  }
  const dir = join(ROOT, '.cache', 'bench-metrics', `masks-${pairs}`);
  generate(dir, pairs);
  const found = readdirSync(join(dir, 'pred')).length;
  console.log(`segmentation metrics benchmark: ${found} pairs of ${SIZE}×${SIZE} RGB PNG masks, ${availableParallelism()} cores, node ${process.version}`);
  console.log(`  load average before: ${load()} (other processes on the machine slow the multi-threaded run most)`);

  const missing = referenceAvailable();
  const primary: 'cv2' | 'pil' = missing || spawnSync(PYTHON, ['-c', 'import cv2'], { stdio: 'ignore' }).status === 0 ? 'cv2' : 'pil';
  // Warm-up, then ours and the reference interleaved `rounds` times, keeping each one's fastest
  // run: the machine is shared, and interleaving spreads other processes' load over both.
  const rounds = arg('rounds', 3);
  runOurs(dir, workers);
  const best = (a: Measured | null, b: Measured | null): Measured | null => (!a ? b : b && b.pairs / b.seconds > a.pairs / a.seconds ? b : a);
  let oursBest: Measured | null = null;
  let singleBest: Measured | null = null;
  let ref: Measured | null = null;
  for (let r = 0; r < rounds; r++) {
    oursBest = best(oursBest, runOurs(dir, workers));
    if (!missing) ref = best(ref, runReference(dir, primary));
    singleBest = best(singleBest, runOurs(dir, 0));
  }
  const ours = oursBest as Measured;
  const single = singleBest as Measured;
  const oursRate = ours.pairs / ours.seconds;
  const perCpu = (m: Measured): string => `${fmt(m.pairs / m.cpu_seconds)} pairs per CPU-second`;
  console.log(`  ours (${workers} worker threads): ${fmt(oursRate)} pairs/s, ${fmt(ours.seconds, 2)} s, ${perCpu(ours)}, peak RSS ${fmt(ours.peak_rss_mb)} MB`);
  console.log(`  ours (in-thread, 1 core):   ${fmt(single.pairs / single.seconds)} pairs/s, ${fmt(single.seconds, 2)} s, ${perCpu(single)}, peak RSS ${fmt(single.peak_rss_mb)} MB`);

  const large = runOurs(linkedSet(dir, pairs, 10), workers);
  console.log(`  ours on a 10× larger set (${large.pairs} pairs, linked files): ${fmt(large.pairs / large.seconds)} pairs/s, peak RSS ${fmt(large.peak_rss_mb)} MB`);
  const rssOk = ours.peak_rss_mb < 200 && large.peak_rss_mb < 200;
  if (missing || !ref) {
    console.log(`  reference: not run (${missing ?? 'neither OpenCV nor Pillow for /usr/bin/python3: apt-get install -y python3-opencv'})`);
    console.log(`targets: peak RSS < 200 MB ${rssOk ? 'met' : 'NOT met'}; throughput ratio not measured`);
    return;
  }
  const refRate = ref.pairs / ref.seconds;
  const ratio = oursRate / refRate;
  const differing = SEGMENTATION_METRIC_NAMES.filter((k) => ours.metrics[k] !== ref.metrics[k] || single.metrics[k] !== ref.metrics[k]);
  console.log(`  reference (Python/numpy, ${ref.decoder} decoder, 1 process): ${fmt(refRate)} pairs/s, ${fmt(ref.seconds, 2)} s, ${perCpu(ref)}, peak RSS ${fmt(ref.peak_rss_mb)} MB`);
  const pil = ref.decoder === 'cv2' ? runReference(dir, 'pil') : null;
  if (pil) console.log(`  reference (Python/numpy, pil decoder, 1 process): ${fmt(pil.pairs / pil.seconds)} pairs/s, peak RSS ${fmt(pil.peak_rss_mb)} MB (ours is ${fmt(oursRate / (pil.pairs / pil.seconds), 2)}× that)`);
  console.log(`  ratio ours/reference (${ref.decoder}): ${fmt(ratio, 2)}× with ${workers} worker threads, ${fmt(single.pairs / single.seconds / refRate, 2)}× in one thread; per CPU-second ${fmt(ours.pairs / ours.cpu_seconds / (ref.pairs / ref.cpu_seconds), 2)}×`);
  console.log(`  values: ${differing.length === 0 ? 'identical (all 18 metrics, bit for bit)' : `DIFFER in ${differing.join(', ')}`}`);
  for (const k of differing) console.log(`    ${k}: ours ${ours.metrics[k]} reference ${ref.metrics[k]}`);
  console.log(`  load average after: ${load()}`);
  const ratioOk = ratio >= 3;
  console.log(`targets: throughput ≥ 3× reference ${ratioOk ? 'met' : 'NOT met'}; peak RSS < 200 MB (both set sizes) ${rssOk ? 'met' : 'NOT met'}; identical values ${differing.length === 0 ? 'met' : 'NOT met'}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
