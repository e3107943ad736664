import type { Command } from 'commander';
import { profileEnvHelp } from '../../lib/config/env';
import { runDoctor, type DoctorCheck, type DoctorOptions, type DoctorReport } from '../../lib/config/doctor';
import { ConfigError, RunbookError } from '../../lib/errors';

const MARK: Record<DoctorCheck['status'], string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', skip: 'skip' };

function renderCheck(c: DoctorCheck): string {
  return `  ${MARK[c.status]}  ${c.title}: ${c.detail}${c.hint && c.status !== 'ok' ? `\n        fix: ${c.hint}` : ''}\n`;
}

function renderProfile(report: DoctorReport): string {
  if (!report.profile) return '';
  const p = report.profile;
  const width = Math.max(...p.fields.map((f) => f.field.length));
  const valueWidth = Math.min(60, Math.max(...p.fields.map((f) => f.value.length)));
  return `Profile ${p.name} (${p.kind})\n${p.fields.map((f) => `  ${f.field.padEnd(width)}  ${f.value.padEnd(valueWidth)}  ${f.source}`).join('\n')}\n`;
}

/** Options of the doctor command. */
export interface DoctorCommandOptions {
  readonly profile?: string;
  readonly profilesFile?: string;
  readonly json?: boolean;
  readonly timeout?: string;
}

/**
 * Runs the checks and writes the report with `write`; throws (config → exit 8, remote → exit 9)
 * when a check failed. Exported for tests; `register` wires it to stdout.
 */
export async function doctorCommand(opts: DoctorCommandOptions, write: (text: string) => void, extra: Partial<DoctorOptions> = {}): Promise<DoctorReport> {
  const timeoutMs = opts.timeout !== undefined ? Number(opts.timeout) : undefined;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0)) throw new RunbookError('usage', `--timeout: expected a positive number of milliseconds, got ${JSON.stringify(opts.timeout)}`);
  const live = !opts.json;
  if (live) write('Checks\n');
  const report = await runDoctor({
    ...extra,
    profile: opts.profile,
    profilesFile: opts.profilesFile,
    timeoutMs,
    onCheck: live ? (c) => write(renderCheck(c)) : undefined,
  });
  if (opts.json) write(JSON.stringify(report, null, 2) + '\n');
  else {
    write(renderProfile(report));
    write(`${report.failures} failed, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}, ${report.checks.length} checks\n`);
  }
  if (report.outcome === 'config') throw new ConfigError(`doctor: ${report.failures} check${report.failures === 1 ? '' : 's'} failed (local set-up or profile); see the fixes above`);
  if (report.outcome === 'remote') throw new RunbookError('remote', `doctor: ${report.failures} check${report.failures === 1 ? '' : 's'} failed (services); see the fixes above`);
  return report;
}

/** `runbook doctor`: checks this machine, the connection profile and the services it points at. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('check Node, the tslab kernel, the connection profile, reachability, TLS, credentials and each service; say how to fix what is wrong')
    .option('-p, --profile <name>', 'profile to check (default: RUNBOOK_PROFILE, else sandbox; "env" = environment only)')
    .option('--profiles-file <path>', 'profiles file (default: RUNBOOK_PROFILES_FILE, else ~/.config/cpd-runbook/profiles.yaml)')
    .option('--timeout <ms>', 'limit of each network check in milliseconds', '10000')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Profiles file (no secrets in it):
  profiles:
    prod:
      cpdUrl: https://cpd-cpd.apps.example.com
      wmlaConsoleUrl: https://wmla-console-cpd-wmla.apps.example.com
      wmlaInferenceUrl: https://wmla-inference-cpd-wmla.apps.example.com
      auth: cpd-apikey            # cpd-apikey | cpd-password | bearer | iam-apikey
      username: admin
      caBundle: ~/certs/cluster-ca.pem
      secretsFile: ~/.config/cpd-runbook/prod.secrets.yaml   # apiKey: ... (chmod 600)

Environment (overrides the file; secrets only here or in the secrets file):
${profileEnvHelp()}

Exit status: 0 all checks passed (warnings allowed), 8 a local or profile check failed, 9 a service check failed.`,
    )
    .action(async (opts: DoctorCommandOptions) => {
      await doctorCommand(opts, (text) => process.stdout.write(text));
    });
}
