import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { RunbookError } from '../../lib/errors';
import { deploymentMetadataCodec, monitorMetadataCodec, SpaceMetadataStore, type MetadataCodec } from '../../lib/metadata';
import { spaceOption, wmlFor, type AssetsCommonOptions, type AssetsIo } from './assets';

type Kind = 'deployment' | 'monitor';

function codecOf(type: string | undefined): MetadataCodec<Record<string, unknown>> {
  const kind = (type ?? 'deployment') as Kind;
  if (kind === 'deployment') return deploymentMetadataCodec as MetadataCodec<Record<string, unknown>>;
  if (kind === 'monitor') return monitorMetadataCodec as MetadataCodec<Record<string, unknown>>;
  throw new RunbookError('usage', `--type: expected deployment or monitor, got ${JSON.stringify(type)}`);
}

/** `runbook metadata show`: the current document of a space, as YAML (or JSON). */
export async function metadataShow(opts: AssetsCommonOptions & { type?: string }, io: AssetsIo): Promise<void> {
  const codec = codecOf(opts.type);
  const { wml, close } = await wmlFor(opts, io);
  try {
    const { doc, revision } = await new SpaceMetadataStore(wml.assets(spaceOption(opts)), codec).read();
    if (opts.json) io.write(JSON.stringify({ revision, doc }, null, 2) + '\n');
    else io.write(Object.keys(doc).length ? codec.serialize(doc) : `# ${codec.fileName} does not exist yet in this space\n`);
  } finally {
    close();
  }
}

/** `runbook metadata history`: every write in the revision log and whether it won. */
export async function metadataHistory(opts: AssetsCommonOptions & { type?: string }, io: AssetsIo): Promise<void> {
  const codec = codecOf(opts.type);
  const { wml, close } = await wmlFor(opts, io);
  try {
    const entries = await new SpaceMetadataStore(wml.assets(spaceOption(opts)), codec).history();
    if (opts.json) io.write(JSON.stringify(entries, null, 2) + '\n');
    else {
      for (const e of entries) io.write(`${String(e.revisionId).padStart(5)}  ${e.createdAt}  ${e.accepted ? 'written ' : 'rejected'}  ${e.head}  (based on ${e.base ?? 'nothing'})\n`);
      io.write(`${entries.filter((e) => e.accepted).length} write(s), ${entries.filter((e) => !e.accepted).length} lost race(s) retried\n`);
    }
  } finally {
    close();
  }
}

/** `runbook metadata validate FILE`: a local YAML checked against the schema; errors name the path and line. */
export function metadataValidate(file: string, opts: { type?: string; json?: boolean }, write: (text: string) => void): void {
  const codec = codecOf(opts.type);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunbookError('usage', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const doc = codec.parse(text, file); // ValidationError (exit 8) with YAML paths and lines
  const keys = Object.keys(doc);
  if (opts.json) write(JSON.stringify({ file, valid: true, entries: keys }, null, 2) + '\n');
  else write(`${file}: valid ${codec.fileName}, ${keys.length} entr${keys.length === 1 ? 'y' : 'ies'}${keys.length ? `: ${keys.join(', ')}` : ''}\n`);
}

/** `runbook metadata show|history|validate`. */
export function register(program: Command): void {
  const cmd = program.command('metadata').description('deployment_metadata.yml and monitor_metadata.yml: show the current document of a space, its write history, validate a file');
  const out = { write: (t: string) => void process.stdout.write(t) };
  const typeOption = ['-t, --type <type>', 'deployment (deployment_metadata.yml) or monitor (monitor_metadata.yml)', 'deployment'] as const;
  cmd
    .command('show')
    .description('print the current document kept in a space')
    .option(...typeOption)
    .option('-s, --space <id>', 'deployment space id (default: WML_SPACE_ID)')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--profiles-file <path>', 'profiles file')
    .option('--json', 'print {revision, doc} as JSON')
    .action(async (opts: AssetsCommonOptions & { type?: string }) => metadataShow(opts, out));
  cmd
    .command('history')
    .description('list every write of the document (its revision log) and whether it won or was retried')
    .option(...typeOption)
    .option('-s, --space <id>', 'deployment space id (default: WML_SPACE_ID)')
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox)')
    .option('--profiles-file <path>', 'profiles file')
    .option('--json', 'print the entries as JSON')
    .action(async (opts: AssetsCommonOptions & { type?: string }) => metadataHistory(opts, out));
  cmd
    .command('validate <file>')
    .description('check a local metadata YAML against the schema (exit 8 with each problem\'s path and line)')
    .option(...typeOption)
    .option('--json', 'print the result as JSON')
    .action((file: string, opts: { type?: string; json?: boolean }) => metadataValidate(file, opts, out.write));
}
