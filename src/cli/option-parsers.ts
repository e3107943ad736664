/**
 * Parsers of numeric command-line options shared by several commands (commander calls them with the
 * option's text; what they throw becomes the command's error and exit code).
 */
import { InvalidArgumentError } from 'commander';
import { ValidationError } from '../lib/errors';

/** `--port <n>`: 0 (any free port) to 65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValidationError(`--port: expected an integer 0..65535, got '${value}'`);
  return port;
}

/** A count such as `--jobs` or `--last`: an integer of at least 1 (commander names the option). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected an integer >= 1, got '${value}'`);
  return n;
}
