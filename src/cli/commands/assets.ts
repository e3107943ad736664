import type { Command } from 'commander';
import { connect, resolveProfile } from '../../lib/config';
import { RunbookError } from '../../lib/errors';
import { Plan } from '../../lib/plan';
import { createWmlClient, type AssetInfo, type OverwriteMode, type TransferProgress, type WmlClient } from '../../lib/wml';

/** Options every `runbook assets` subcommand takes. */
export interface AssetsCommonOptions {
  readonly space?: string;
  readonly profile?: string;
  readonly profilesFile?: string;
  readonly json?: boolean;
}

/** What a command needs from outside: where to write, and (tests) a ready client. */
export interface AssetsIo {
  write(text: string): void;
  /** Progress on the terminal (stderr), if any. */
  progress?: (p: TransferProgress) => void;
  wml?: WmlClient;
}

/** The space id: `--space`, else the predecessor's WML_SPACE_ID / SPACE_ID. */
export function spaceOption(opts: { space?: string }, env: NodeJS.ProcessEnv = process.env): string {
  const space = opts.space ?? env.WML_SPACE_ID ?? env.SPACE_ID;
  if (!space) throw new RunbookError('usage', '--space: the deployment space id is required (or set WML_SPACE_ID)');
  return space;
}

/** A WML client of the chosen profile, and how to release it. */
export async function wmlFor(opts: AssetsCommonOptions, io: AssetsIo): Promise<{ wml: WmlClient; close(): void }> {
  if (io.wml) return { wml: io.wml, close: () => undefined };
  const clients = connect(await resolveProfile({ profile: opts.profile, profilesFile: opts.profilesFile }));
  return { wml: createWmlClient(clients), close: () => clients.close() };
}

function row(a: AssetInfo): string {
  return `${a.id}  ${a.createdAt}  ${String(a.size ?? '-').padStart(12)}  ${a.complete ? 'complete  ' : 'unfinished'}  ${a.name}`;
}

function summary(a: AssetInfo): Record<string, unknown> {
  return { id: a.id, name: a.name, createdAt: a.createdAt, size: a.size, complete: a.complete, mimeType: a.mimeType, sha256: a.sha256, tags: a.tags };
}

/** `runbook assets list`. */
export async function assetsList(opts: AssetsCommonOptions & { name?: string }, io: AssetsIo): Promise<AssetInfo[]> {
  const { wml, close } = await wmlFor(opts, io);
  try {
    const list = await wml.assets(spaceOption(opts)).list({ name: opts.name });
    if (opts.json) io.write(JSON.stringify(list.map(summary), null, 2) + '\n');
    else {
      for (const a of list) io.write(row(a) + '\n');
      io.write(`${list.length} asset${list.length === 1 ? '' : 's'}\n`);
    }
    return list;
  } finally {
    close();
  }
}

/** Options of `runbook assets upload`. */
export interface UploadCommandOptions extends AssetsCommonOptions {
  readonly name?: string;
  readonly overwrite?: string;
  readonly skipIfUnchanged?: boolean;
  readonly compress?: boolean;
  readonly plan?: boolean;
}

/** `runbook assets upload PATH`. */
export async function assetsUpload(path: string, opts: UploadCommandOptions, io: AssetsIo): Promise<void> {
  const overwrite = (opts.overwrite ?? 'replace') as OverwriteMode;
  if (!['replace', 'keep', 'error'].includes(overwrite)) throw new RunbookError('usage', `--overwrite: expected replace, keep or error, got ${JSON.stringify(opts.overwrite)}`);
  const { wml, close } = await wmlFor(opts, io);
  try {
    const plan = opts.plan ? new Plan() : undefined;
    const r = await wml.assets(spaceOption(opts)).upload(path, {
      name: opts.name,
      overwrite,
      skipIfUnchanged: opts.skipIfUnchanged,
      compress: opts.compress,
      plan,
      onProgress: io.progress,
    });
    if (opts.json) io.write(JSON.stringify({ action: r.action, planned: r.planned, asset: summary(r.asset), bytes: r.bytes, sha256: r.sha256, deleted: r.deleted, warnings: r.warnings, changes: plan?.changes }, null, 2) + '\n');
    else if (plan) io.write(plan.toText() + '\n');
    else {
      io.write(`${r.action} ${r.asset.name} (${r.asset.id})${r.bytes !== undefined ? `, ${r.bytes} bytes, sha256 ${r.sha256}` : ''}\n`);
      if (r.deleted.length) io.write(`deleted older copies: ${r.deleted.join(', ')}\n`);
      for (const w of r.warnings ?? []) io.write(`warning: ${w}\n`);
    }
  } finally {
    close();
  }
}

/** `runbook assets download NAME`. */
export async function assetsDownload(ref: string, opts: AssetsCommonOptions & { id?: boolean; output?: string }, io: AssetsIo): Promise<void> {
  const { wml, close } = await wmlFor(opts, io);
  try {
    const r = await wml.assets(spaceOption(opts)).download(opts.id ? { id: ref } : { name: ref }, opts.output ?? '.', { onProgress: io.progress });
    if (opts.json) io.write(JSON.stringify({ asset: summary(r.asset), file: r.file, bytes: r.bytes, sha256: r.sha256, checksumVerified: r.checksumVerified }, null, 2) + '\n');
    else io.write(`saved ${r.asset.name} (${r.asset.id}) to ${r.file}: ${r.bytes} bytes, sha256 ${r.sha256}${r.checksumVerified ? ' (verified)' : ''}\n`);
  } finally {
    close();
  }
}

/** `runbook assets delete NAME`: every asset of that name, or one by `--id`. */
export async function assetsDelete(ref: string, opts: AssetsCommonOptions & { id?: boolean; plan?: boolean }, io: AssetsIo): Promise<string[]> {
  const { wml, close } = await wmlFor(opts, io);
  try {
    const assets = wml.assets(spaceOption(opts));
    const plan = opts.plan ? new Plan() : undefined;
    const ids = opts.id ? ((await assets.delete(ref, { plan })) ? [ref] : []) : await assets.deleteByName(ref, { plan });
    if (opts.json) io.write(JSON.stringify({ deleted: ids, planned: !!plan, changes: plan?.changes }, null, 2) + '\n');
    else if (plan) io.write(plan.toText() + '\n');
    else io.write(ids.length ? `deleted ${ids.join(', ')}\n` : `nothing to delete: no asset ${opts.id ? `with id ${ref}` : `named "${ref}"`}\n`);
    return ids;
  } finally {
    close();
  }
}

/** A byte progress bar on stderr when it is a terminal (cli-progress), else nothing. */
function terminalProgress(enabled: boolean): { onProgress?: (p: TransferProgress) => void; stop(): void } {
  if (!enabled || !process.stderr.isTTY) return { stop: () => undefined };
  const { SingleBar } = require('cli-progress') as typeof import('cli-progress');
  let bar: InstanceType<typeof SingleBar> | undefined;
  let phase = '';
  const mib = (n: number) => (n / 1048576).toFixed(1);
  return {
    onProgress: (p) => {
      if (p.phase !== phase) {
        bar?.stop();
        phase = p.phase;
        bar = new SingleBar({
          stream: process.stderr,
          format: p.totalBytes ? `${p.phase} [{bar}] {percentage}% {done}/{all} MiB eta {eta}s` : `${p.phase} {done} MiB`,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(p.totalBytes ?? 0, 0, { done: '0.0', all: mib(p.totalBytes ?? 0) });
      }
      bar!.update(p.bytes, { done: mib(p.bytes), all: mib(p.totalBytes ?? 0) });
    },
    stop: () => bar?.stop(),
  };
}

function common(cmd: Command): Command {
  return cmd
    .option('-s, --space <id>', 'deployment space id (default: WML_SPACE_ID)')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--profiles-file <path>', 'profiles file')
    .option('--json', 'print machine-readable output');
}

/** `runbook assets list|upload|download|delete`. */
export function register(program: Command): void {
  const cmd = program.command('assets').description('data assets of a WML deployment space: list, upload files and folders, download, delete');
  const out = { write: (t: string) => void process.stdout.write(t) };
  common(cmd.command('list'))
    .description('list the data assets of a space (oldest first), or those named exactly --name')
    .option('-n, --name <name>', 'only assets with this exact name')
    .action(async (opts: AssetsCommonOptions & { name?: string }) => {
      await assetsList(opts, out);
    });
  common(cmd.command('upload <path>'))
    .description('upload a file, or a folder as <folder>.zip (the archive holds the folder itself); streams, any size')
    .option('-n, --name <name>', 'asset name (default: the file name, or the folder name + .zip)')
    .option('--overwrite <mode>', 'replace (upload, then delete older copies), keep (use an existing one), error', 'replace')
    .option('--skip-if-unchanged', 'upload nothing when the latest copy has the same content (reads the source once more to fingerprint it)')
    .option('--no-compress', 'store folder entries in the zip without deflating them (faster for compressed weights)')
    .option('--plan', 'print the changes the upload would make, and make none')
    .action(async (path: string, opts: UploadCommandOptions) => {
      const bar = terminalProgress(!opts.json);
      try {
        await assetsUpload(path, opts, { ...out, progress: bar.onProgress });
      } finally {
        bar.stop();
      }
    });
  common(cmd.command('download <name>'))
    .description('download the latest complete asset of that name (or, with --id, that asset); the file appears only when complete and verified')
    .option('--id', 'the argument is an asset id')
    .option('-o, --output <path>', 'file to write, or an existing folder (default: the current folder)')
    .action(async (name: string, opts: AssetsCommonOptions & { id?: boolean; output?: string }) => {
      const bar = terminalProgress(!opts.json);
      try {
        await assetsDownload(name, opts, { ...out, progress: bar.onProgress });
      } finally {
        bar.stop();
      }
    });
  common(cmd.command('delete <name>'))
    .description('delete every asset of that name (or, with --id, one asset)')
    .option('--id', 'the argument is an asset id')
    .option('--plan', 'print what would be deleted, and delete nothing')
    .action(async (name: string, opts: AssetsCommonOptions & { id?: boolean; plan?: boolean }) => {
      await assetsDelete(name, opts, out);
    });
}
