/**
 * Pieces shared by `runbook train` and `runbook edi` (not a command itself): connecting with a
 * profile, writing results as text or JSON, and showing long waits (a progress bar on a terminal,
 * one line per change otherwise).
 */
import type { Command } from 'commander';
import { connect, type ProfileClients } from '../../lib/config/connect';
import { resolveProfile } from '../../lib/config/profile';
import { RunbookError } from '../../lib/errors';
import type { Redactor } from '../../lib/redact';

/** Where a command writes and what it connects to; tests replace the streams and the environment. */
export interface CliContext {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Environment for the profile (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Show progress bars (default: stderr is a TTY). */
  readonly tty?: boolean;
}

/** The default context: stdout, stderr, process.env. */
export function processContext(): CliContext {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: Boolean(process.stderr.isTTY),
  };
}

/** Options every WMLA command takes. */
export interface ProfileFlags {
  readonly profile?: string;
  readonly profilesFile?: string;
  readonly json?: boolean;
}

/** Adds `--profile`, `--profiles-file` and `--json`. */
export function profileOptions(cmd: Command, json = true): Command {
  cmd
    .option('-p, --profile <name>', 'connection profile (default: RUNBOOK_PROFILE, else sandbox; "env" = environment only)')
    .option('--profiles-file <path>', 'profiles file (default: RUNBOOK_PROFILES_FILE, else ~/.config/cpd-runbook/profiles.yaml)');
  if (json) cmd.option('--json', 'print the result as JSON');
  return cmd;
}

/** Resolves the profile and connects; retries and TLS warnings are reported on stderr. */
export async function clientsFor(flags: ProfileFlags, ctx: CliContext): Promise<ProfileClients> {
  const profile = await resolveProfile({ profile: flags.profile, profilesFile: flags.profilesFile, env: ctx.env });
  return connect(profile, {
    onWarning: (m) => ctx.err(`warning: ${m}\n`),
    onRetry: (r) => ctx.err(`retry ${r.retry}: ${r.method} ${r.url} (${r.reason}), waiting ${r.delayMs} ms\n`),
  });
}

/** Prints `value` as JSON with every known secret masked. */
export function printJson(ctx: CliContext, value: unknown, redactor?: Redactor): void {
  const safe = redactor ? redactor.redactDeep(JSON.parse(JSON.stringify(value ?? null))) : value;
  ctx.out(JSON.stringify(safe, null, 2) + '\n');
}

/** Repeated `NAME=VALUE` flags as a record, over `base`; a pair without a name is a usage error. */
export function pairsFlag(pairs: readonly string[] | undefined, flag: string, base: Record<string, string> = {}): Record<string, string> {
  const out = { ...base };
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new RunbookError('usage', `${flag}: expected NAME=VALUE, got ${JSON.stringify(pair.split('=')[0])}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** A positive number of seconds from a flag, in milliseconds. */
export function secondsFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new RunbookError('usage', `${flag}: expected a positive number of seconds, got ${JSON.stringify(value)}`);
  return Math.round(n * 1000);
}

/** A non-negative integer from a flag. */
export function intFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new RunbookError('usage', `${flag}: expected a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * Shows a long wait: on a terminal a bar of elapsed time against the limit with the current status,
 * otherwise one stderr line each time the status changes. CLI side only.
 */
export class WaitDisplay {
  private bar: import('cli-progress').SingleBar | undefined;
  private last = '';

  constructor(private readonly ctx: CliContext, private readonly label: string, private readonly limitMs: number) {}

  update(status: string, elapsedMs: number): void {
    if (this.ctx.tty) {
      if (!this.bar) {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { SingleBar } = require('cli-progress') as typeof import('cli-progress');
        this.bar = new SingleBar({
          stream: process.stderr,
          format: `${this.label} [{bar}] {value}/{total} s  {status}`,
          hideCursor: true,
          clearOnComplete: true,
        });
        this.bar.start(Math.max(1, Math.round(this.limitMs / 1000)), 0, { status });
      }
      this.bar.update(Math.min(Math.round(elapsedMs / 1000), Math.round(this.limitMs / 1000)), { status });
      return;
    }
    if (status !== this.last) this.ctx.err(`${this.label}: ${status} (${Math.round(elapsedMs / 1000)} s)\n`);
    this.last = status;
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
