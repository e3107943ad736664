import type { z } from 'zod';
import type { IbmErrorEnvelope } from '../lib/contracts/ibm-error';

/**
 * An error a handler throws on purpose. The server turns it into IBM's envelope
 * `{trace, errors:[{code, message}]}` with `status` as the HTTP status.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  readonly target?: { type: string; name: string };
  constructor(
    status: number,
    code: string,
    message: string,
    options: { headers?: Record<string, string>; target?: { type: string; name: string } } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
    this.target = options.target;
  }
}

export const badRequest = (message: string, code = 'invalid_request'): ApiError => new ApiError(400, code, message);
export const unauthorized = (message: string): ApiError =>
  new ApiError(401, 'authentication_failed', message, { headers: { 'www-authenticate': 'Bearer realm="sandbox"' } });
export const forbidden = (message: string): ApiError => new ApiError(403, 'forbidden', message);
export const notFound = (what: string, id: string): ApiError =>
  new ApiError(404, 'not_found', `${what} '${id}' was not found`);
export const conflict = (message: string, code = 'conflict'): ApiError => new ApiError(409, code, message);
export const payloadTooLarge = (message: string): ApiError => new ApiError(413, 'payload_too_large', message);

/**
 * `a.b[0].c` for a zod issue path; `body` (or `where`) for the root. Body fields are named bare
 * (`metadata.name`); other places are prefixed (`query.limit`).
 */
export function issuePath(path: readonly PropertyKey[], where = 'body'): string {
  if (path.length === 0) return where;
  let out = where === 'body' ? '' : where;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** One line per issue, each naming the field: `metadata.name: expected string, received undefined`. */
export function formatZodIssues(issues: z.ZodError["issues"], where = 'body'): string[] {
  return issues.map((issue) => {
    const message = issue.message.replace(/^Invalid input: /, '');
    return `${issuePath(issue.path, where)}: ${message}`;
  });
}

/** A 400 for a body, query or form that failed its schema; the message names every bad field. */
export function validationError(error: z.ZodError, where = 'body'): ApiError {
  const lines = formatZodIssues(error.issues, where);
  return new ApiError(400, 'invalid_request', lines.join('; '));
}

/** The envelope for an error: one item, `trace` = the request id. */
export function envelope(requestId: string, status: number, code: string, message: string, target?: { type: string; name: string }): IbmErrorEnvelope {
  const item: IbmErrorEnvelope['errors'][number] = { code, message };
  if (target) item.target = target;
  return { trace: requestId, errors: [item], status_code: status };
}
