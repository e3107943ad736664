/**
 * Error kinds shared by the library, the CLI and the runner. The CLI maps each kind to a documented
 * exit code (see src/cli/exit-codes.ts); messages always name the field, file or resource at fault.
 */
export type ErrorKind =
  | 'usage'        // bad command-line use
  | 'validation'   // a file, parameter or body does not have the expected form
  | 'config'       // missing or unusable connection profile / credentials
  | 'remote'       // an IBM service (or the sandbox) answered with an error or could not be reached
  | 'timeout'      // a wait ran out
  | 'breach'       // monitored metrics break their thresholds (only when asked to fail on it)
  | 'internal';    // a bug: nothing the user did

/** Base class of every error the project raises on purpose. */
export class RunbookError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

/** Input that does not match its schema. `path` is where (a YAML path, a field, a file). */
export class ValidationError extends RunbookError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[] = []) {
    super('validation', message);
    this.issues = issues;
  }
}

/** Connection profile or credentials missing or unusable. */
export class ConfigError extends RunbookError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config', message, options);
  }
}

/** A wait (poll, transfer, run) that ran out of time. */
export class TimeoutError extends RunbookError {
  constructor(message: string) {
    super('timeout', message);
  }
}
