import { RunbookError, type ErrorKind } from '../lib/errors';

/**
 * The exit codes of every `runbook` command. Documented in `runbook --help` and the README;
 * scripts may rely on them.
 */
export const ExitCode = {
  ok: 0,
  /** A bug or an unexpected failure. */
  internal: 1,
  /** Bad command-line use (unknown flag, missing argument). */
  usage: 2,
  /** A notebook cell raised an error. */
  cellError: 3,
  /** The kernel died or could not be started. */
  kernelDied: 4,
  /** A cell, the whole run, the kernel start or a remote wait timed out. */
  timeout: 5,
  /** Notebook parameters: unknown name or a value of the wrong type. */
  badParameters: 6,
  /** The notebook file is missing or not a valid notebook. */
  notebookInvalid: 7,
  /** An input file or setting (YAML, thresholds, profile, folder) does not have the expected form. */
  invalidInput: 8,
  /** An IBM service (or the sandbox) answered with an error or could not be reached. */
  remote: 9,
  /** Monitored metrics break their thresholds (`monitor status --fail-on-breach`). */
  breach: 10,
  /** Interrupted by Ctrl-C (SIGINT). */
  interrupted: 130,
  /** Terminated by SIGTERM. */
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const byKind: Record<ErrorKind, ExitCode> = {
  usage: ExitCode.usage,
  validation: ExitCode.invalidInput,
  config: ExitCode.invalidInput,
  remote: ExitCode.remote,
  timeout: ExitCode.timeout,
  breach: ExitCode.breach,
  internal: ExitCode.internal,
};

/** The exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): ExitCode {
  return err instanceof RunbookError ? byKind[err.kind] : ExitCode.internal;
}

/** The exit-code table as printed by `--help` and copied into the README. */
export const EXIT_CODE_HELP = `Exit codes:
  0    success
  1    unexpected internal error
  2    usage error (bad flags or arguments)
  3    a notebook cell failed
  4    the kernel died or could not start
  5    timeout (cell, whole run, kernel start, remote wait)
  6    bad notebook parameters (unknown name, wrong type)
  7    notebook missing or invalid
  8    invalid input file or setting (YAML, thresholds, profile)
  9    remote service error (IBM service or sandbox)
  10   monitored metrics break their thresholds (with --fail-on-breach)
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM)`;
