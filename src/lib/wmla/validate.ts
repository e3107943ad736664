import type { z } from 'zod';
import { ValidationError } from '../errors';
import { issuesFromZod } from '../metadata/yaml-issues';
import { Redactor } from '../redact';

/**
 * Validates options with a zod schema; on failure a {@link ValidationError} names `what` and each
 * field. Messages pass through a redactor (bearer tokens, JWTs, and `known` secrets) because zod's
 * "got …" part quotes the value, which may be a secret.
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, what: string, known?: Redactor): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const redactor = new Redactor();
  if (known) redactor.merge(known);
  const issues = issuesFromZod(result.error.issues, { schema }).map((i) => ({ path: i.path, message: redactor.redact(i.message) }));
  const lines = issues.map((i) => `${i.path}: ${i.message}`);
  throw new ValidationError(`${what}: ${lines.join('; ')}`, issues);
}

/** A ValidationError about one field. */
export function invalid(path: string, message: string): ValidationError {
  return new ValidationError(`${path}: ${message}`, [{ path, message }]);
}
