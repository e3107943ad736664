/**
 * Sandbox benchmark (`npm run bench:sandbox`): the sandbox runs in its own process on a temporary
 * state dir, and this process measures
 *  1. upload throughput of a large asset (default 1 GiB) through the four-step data-asset upload,
 *     with the server's peak RSS during it, against writing the same bytes to a file on the same
 *     disk (fsync included), in interleaved rounds (default 3: the best rate and the highest RSS
 *     count); the bytes come back by a download checked by SHA-256;
 *  2. requests/s, p50 and p99 latency of asset search (with dozens of assets in the space) and of
 *     OpenScale measurement posts under 16 concurrent clients, against a bare Node http server in
 *     its own process answering a JSON body of the same size to the same load;
 * and states whether the targets hold (server peak RSS < 150 MB during the upload, ≥ 200 MB/s).
 * Ratios are sandbox ÷ reference, both measured in this run. MB = 10^6 bytes.
 * The sandbox and the temporary folder are removed at the end, also after an error or Ctrl-C.
 * Figures as JSON: `npm run -s bench:sandbox -- --json > figures.json` (-s keeps npm's banner out).
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type ProfileClients } from '../../src/lib/config/connect';
import { resolveProfile } from '../../src/lib/config/profile';
import { SEGMENTATION_MONITOR } from '../../src/lib/monitors/definitions';
import { cpdTokenInfoCredentials, ensureCustomMetricsProvider } from '../../src/lib/openscale/integrated-systems';
import { ensureMonitorDefinition } from '../../src/lib/openscale/monitor-definitions';
import { ensureMonitorInstance } from '../../src/lib/openscale/monitor-instances';
import { ensureHeadlessServiceProvider } from '../../src/lib/openscale/service-providers';
import { ensureSubscription, subscriptionNameFor } from '../../src/lib/openscale/subscriptions';
import { mapLimit } from '../../src/lib/util/map-limit';
import type { DataAssets } from '../../src/lib/wml/assets';
import { createWmlClient } from '../../src/lib/wml/client';
import { bytesSource } from '../../src/lib/wml/source';
import { stopSandbox } from '../../src/sandbox/launcher';
import { runLoad, type LoadRequest, type LoadResult } from './load';
import { mb, resetPeakRss, statusBytes } from '../process-stats';
import { startReferenceServer, type ReferenceServer } from './reference-server';
import { benchUpload, type UploadFigures } from './upload';

const MiB = 1024 * 1024;
const TARGET_PEAK_RSS_MB = 150;
const TARGET_UPLOAD_MB_PER_S = 200;

interface Options {
  mib: number;
  rounds: number;
  clients: number;
  seconds: number;
  warmup: number;
  assets: number;
  dir: string;
  json: boolean;
}

function count(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}, got '${value}'`);
    return n;
  };
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number of seconds >= 0, got '${value}'`);
  return n;
}

interface LoadPair {
  readonly sandbox: LoadResult;
  readonly reference: LoadResult;
  /** sandbox ÷ reference */
  readonly ratios: { readonly requestsPerSecond: number; readonly p50: number; readonly p99: number };
}

interface Target {
  readonly name: string;
  readonly value: number;
  readonly limit: number;
  readonly unit: string;
  readonly met: boolean;
}

/** Dozens of small assets, so that a search has a realistic page to build. */
async function addAssets(assets: DataAssets, n: number): Promise<void> {
  await mapLimit(
    Array.from({ length: n }, (_, i) => i),
    4,
    (i) => assets.uploadNew(bytesSource(`bench-asset-${String(i).padStart(3, '0')}.json`, JSON.stringify({ index: i, note: 'sandbox benchmark asset' }))),
  );
}

/** The OpenScale resources a measurement post needs, made with the library's find-or-create steps. */
async function monitorInstance(clients: ProfileClients): Promise<string> {
  const os = clients.openscale;
  const provider = await ensureHeadlessServiceProvider(os);
  const sub = await ensureSubscription(os, { name: subscriptionNameFor('sandbox-bench'), serviceProviderId: provider.id });
  // Registered only because an instance must name one; no run is started, so it is never called.
  const system = await ensureCustomMetricsProvider(os, { name: 'Bench Metrics Provider', endpoint: `${clients.profile.cpdUrl}/bench/not-called`, credentials: cpdTokenInfoCredentials(clients.profile) });
  await ensureMonitorDefinition(os, SEGMENTATION_MONITOR);
  const mi = await ensureMonitorInstance(os, { monitorDefinitionId: SEGMENTATION_MONITOR.id, subscriptionId: sub.id, integratedSystemId: system.id });
  return mi.id;
}

/** One request as the load sends it, to capture the sandbox's answer (the reference serves one of that size). */
async function capture(req: LoadRequest): Promise<string> {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
  const text = await res.text();
  if (res.status !== req.expectStatus) throw new Error(`${req.method} ${req.url} answered ${res.status}, expected ${req.expectStatus}: ${text.slice(0, 300)}`);
  return text;
}

const fixed = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const load3 = () => loadavg().map((x) => x.toFixed(2)).join(' ');

function loadLine(label: string, r: LoadResult): string {
  const cpu = `${fixed(r.clientCpuCores, 2)}/${r.serverCpuCores === undefined ? '–' : fixed(r.serverCpuCores, 2)}`;
  return `  ${label.padEnd(22)}${fixed(r.requestsPerSecond).padStart(8)}${fixed(r.p50Ms, 2).padStart(10)}${fixed(r.p99Ms, 2).padStart(10)}${String(r.errors).padStart(8)}${fixed(r.responseBytes).padStart(12)}${cpu.padStart(13)}`;
}

async function main(opts: Options): Promise<void> {
  // Human lines go to stdout, or to stderr as progress when --json keeps stdout for the figures.
  const say = (line: string): void => void (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  const bytes = opts.mib * MiB;
  const base = resolve(opts.dir);
  const free = statfsSync(base);
  const needed = 2 * bytes + 512 * MiB; // the sandbox's blob and the downloaded copy exist at the same time
  if (free.bavail * free.bsize < needed) throw new Error(`not enough free space in ${base}: ${(free.bavail * free.bsize / MiB).toFixed(0)} MiB free, the run needs about ${(needed / MiB).toFixed(0)} MiB`);

  const loadBefore = loadavg();
  const dir = mkdtempSync(join(base, 'sandbox-bench-'));
  const stateDir = join(dir, 'state');
  let clients: ProfileClients | undefined;
  let reference: ReferenceServer | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      clients?.close();
      await reference?.close().catch(() => undefined);
      await stopSandbox(stateDir).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the sandbox and removing ${dir}\n`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.once(s, onSignal);

  try {
    say(`sandbox benchmark: node ${process.version}, ${cpus().length} cores, load average ${load3()} (1, 5, 15 min); MB = 10^6 bytes; ratios are sandbox ÷ reference`);
    delete process.env.RUNBOOK_SANDBOX_URL; // our own sandbox, never one the caller points at
    const profile = await resolveProfile({ profile: 'sandbox', env: {}, sandbox: { stateDir } });
    clients = connect(profile);
    const pid = profile.sandbox!.pid;
    say(`sandbox: pid ${pid} at ${profile.cpdUrl}, state ${stateDir}`);
    const wml = createWmlClient(clients);
    const { space } = await wml.ensureSpace('sandbox-bench');
    const assets = wml.assets(space.id);

    say(`\nupload of ${opts.mib} MiB (${fixed(mb(bytes), 1)} MB), ${opts.rounds} interleaved round${opts.rounds === 1 ? '' : 's'}`);
    const upload: UploadFigures = await benchUpload({ dir, bytes, rounds: opts.rounds, assets, serverPid: pid, say });
    const upRate = mb(upload.uploadBytesPerSecond);
    const rates = (pick: (r: UploadFigures['rounds'][number]) => number) => upload.rounds.map((r) => fixed(mb(bytes / pick(r)))).join(', ');
    say(`  upload ${fixed(upRate)} MB/s (best; rounds ${rates((r) => r.uploadSeconds)}), reference ${fixed(mb(upload.referenceBytesPerSecond))} MB/s (best; rounds ${rates((r) => r.referenceSeconds)}), ratio ${fixed(upload.ratio, 2)}`);
    say(`  server peak RSS during the uploads ${fixed(mb(upload.serverPeakRssBytes), 1)} MB (highest round; ${upload.serverPeakRssHow}; ${fixed(mb(upload.serverRssBeforeBytes), 1)} MB before)`);
    say(`  download ${fixed(mb(upload.download.bytesPerSecond))} MB/s, server peak RSS ${fixed(mb(upload.download.serverPeakRssBytes), 1)} MB`);
    say(`  sha256 ${upload.sha256.slice(0, 16)}…: the same every round, = downloaded = server's recorded (ETag): ${upload.checksumMatches ? 'yes' : 'NO'}`);

    await addAssets(assets, opts.assets);
    const miId = await monitorInstance(clients);
    const token = await clients.tokens.getToken();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' };
    const metrics = Object.fromEntries(SEGMENTATION_MONITOR.metrics.map((m, i) => [m.name, 40 + i]));
    const requests: Record<'search' | 'measurements', LoadRequest> = {
      search: {
        url: clients.cpd.url('/v2/asset_types/data_asset/search', { space_id: space.id }),
        method: 'POST',
        headers,
        body: Buffer.from(JSON.stringify({ query: '*:*', limit: 200, include: 'entity,attachments' })),
        expectStatus: 200,
      },
      measurements: {
        url: clients.openscale.url(`/v2/monitor_instances/${encodeURIComponent(miId)}/measurements`),
        method: 'POST',
        headers,
        body: Buffer.from(JSON.stringify([{ timestamp: new Date().toISOString(), metrics: [metrics] }])),
        expectStatus: 202,
      },
    };
    const searchAnswer = await capture(requests.search);
    const found = (JSON.parse(searchAnswer) as { total_rows: number }).total_rows;
    if (found !== opts.assets) throw new Error(`the search found ${found} assets, expected ${opts.assets}`);
    const measurementAnswer = await capture(requests.measurements);
    reference = await startReferenceServer([
      { pathSuffix: '/search', status: 200, body: searchAnswer },
      { pathSuffix: '/measurements', status: 202, body: measurementAnswer },
    ]);
    const atReference = (r: LoadRequest): LoadRequest => {
      const u = new URL(r.url);
      return { ...r, url: `${reference!.url}${u.pathname}${u.search}` };
    };

    say(`\nload: ${opts.clients} clients, ${opts.seconds} s measured (+${opts.warmup} s warm-up) per row; ${opts.assets} assets in the space; reference: bare node:http server (pid ${reference.pid}) answering the same-sized JSON`);
    say(`  ${''.padEnd(22)}${'req/s'.padStart(8)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'errors'.padStart(8)}${'answer B'.padStart(12)}${'cpu cl/srv'.padStart(13)}`);
    const load: Partial<Record<keyof typeof requests, LoadPair>> = {};
    resetPeakRss(pid);
    for (const what of ['search', 'measurements'] as const) {
      const settings = { clients: opts.clients, seconds: opts.seconds, warmupSeconds: opts.warmup };
      const sb = await runLoad(requests[what], { ...settings, serverPid: pid });
      say(loadLine(`${what} sandbox`, sb));
      const ref = await runLoad(atReference(requests[what]), { ...settings, serverPid: reference.pid });
      say(loadLine(`${what} reference`, ref));
      const ratios = { requestsPerSecond: sb.requestsPerSecond / ref.requestsPerSecond, p50: sb.p50Ms / ref.p50Ms, p99: sb.p99Ms / ref.p99Ms };
      say(`  ${`${what} ratio`.padEnd(22)}${fixed(ratios.requestsPerSecond, 2).padStart(8)}${fixed(ratios.p50, 2).padStart(10)}${fixed(ratios.p99, 2).padStart(10)}`);
      if (sb.firstError || ref.firstError) say(`  ${what}: first error ${sb.firstError ? `(sandbox) ${sb.firstError}` : `(reference) ${ref.firstError}`}`);
      load[what] = { sandbox: sb, reference: ref, ratios };
    }
    const loadPeakRss = statusBytes(pid, 'VmHWM') ?? 0;
    say(`  server peak RSS during the load ${fixed(mb(loadPeakRss), 1)} MB`);

    const rssMb = mb(upload.serverPeakRssBytes);
    const targets: Target[] = [
      { name: 'server peak RSS during the uploads', value: rssMb, limit: TARGET_PEAK_RSS_MB, unit: 'MB', met: rssMb < TARGET_PEAK_RSS_MB },
      { name: 'upload throughput (best round)', value: upRate, limit: TARGET_UPLOAD_MB_PER_S, unit: 'MB/s', met: upRate >= TARGET_UPLOAD_MB_PER_S },
    ];
    const loadAfter = loadavg();
    say(`\nload average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${load3()}`);
    say(
      `targets: ${targets.map((t) => `${t.name} ${fixed(t.value, 1)} ${t.unit} ${t.unit === 'MB' ? '<' : '≥'} ${t.limit} ${t.unit}: ${t.met ? 'met' : 'NOT met'}`).join('; ')}` +
        (upload.checksumMatches ? '' : '; checksum: MISMATCH'),
    );
    if (opts.json) {
      const doc = {
        node: process.version,
        cores: cpus().length,
        options: { mib: opts.mib, rounds: opts.rounds, clients: opts.clients, seconds: opts.seconds, warmupSeconds: opts.warmup, assets: opts.assets },
        loadAverageBefore: loadBefore,
        loadAverageAfter: loadAfter,
        upload,
        load: { ...load, serverPeakRssBytes: loadPeakRss },
        targets,
        allTargetsMet: targets.every((t) => t.met) && upload.checksumMatches,
      };
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    }
    if (!upload.checksumMatches || targets.some((t) => !t.met)) process.exitCode = 1;
  } finally {
    await cleanup();
    for (const s of signals) process.off(s, onSignal);
  }
}

const program = new Command('bench:sandbox')
  .description(
    'Sandbox benchmark: upload throughput and server peak RSS for a large asset (four-step upload) against a plain write + fsync, ' +
      'and requests/s, p50/p99 latency of asset search and measurement posts under concurrent clients against a bare Node http server. ' +
      'The sandbox runs in its own process on a temporary state dir, removed at the end. Exit code 0 when the targets ' +
      `(server peak RSS < ${TARGET_PEAK_RSS_MB} MB during the upload, upload ≥ ${TARGET_UPLOAD_MB_PER_S} MB/s) are met, 1 when one is not or the checksums differ, 2 on errors.`,
  )
  .exitOverride()
  .option('--mib <n>', 'size of the uploaded asset in MiB', count(1), 1024)
  .option('--rounds <n>', 'upload rounds, each with its reference (the best counts; the highest RSS counts)', count(1), 3)
  .option('--clients <n>', 'concurrent clients of the load part', count(1), 16)
  .option('--seconds <s>', 'measured seconds per load row', seconds, 8)
  .option('--warmup <s>', 'unmeasured seconds before each load row', seconds, 1)
  .option('--assets <n>', 'assets in the space the search lists', count(0), 48)
  .option('--dir <dir>', 'where the temporary folder goes (needs about 2 x the asset size free)', tmpdir())
  .option('--json', 'print the figures as JSON on stdout (progress goes to stderr)', false)
  .action(async (opts: Options) => main(opts));

program.parseAsync(process.argv).catch((err) => {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2; // --help, or a usage error commander has printed
    return;
  }
  console.error(`bench:sandbox: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
});
