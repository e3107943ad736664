import { isCredentialName, REDACTED } from '../../../lib/redact';

/** Keys that name how to authenticate, not a secret (`auth_type` would match the AUTH pattern). */
const NOT_SECRET = new Set(['auth_type']);

function isSecretKey(key: string): boolean {
  return !NOT_SECRET.has(key) && isCredentialName(key);
}

/**
 * A copy of `credentials` for answers: the structure stays (so `auth_type` and `token_info.url` can be
 * checked) but every string under a credential-like key (`api_key`, `apikey`, `password`, `token`,
 * `secret`, `Authorization`, …) becomes `***`.
 */
export function redactCredentials(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redactCredentials(v, key));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactCredentials(v, k)]));
  }
  if (typeof value === 'string' && isSecretKey(key)) return REDACTED;
  return value;
}

/**
 * Credentials from a PATCH, where a client may send back what it read: a `***` value keeps the stored
 * secret at the same place, and the answer-only `secret_id` is dropped.
 */
export function restoreRedacted(next: unknown, stored: unknown): unknown {
  if (next === REDACTED && typeof stored === 'string') return stored;
  if (Array.isArray(next)) return next.map((v, i) => restoreRedacted(v, Array.isArray(stored) ? stored[i] : undefined));
  if (typeof next === 'object' && next !== null) {
    const old = typeof stored === 'object' && stored !== null && !Array.isArray(stored) ? (stored as Record<string, unknown>) : {};
    return Object.fromEntries(
      Object.entries(next)
        .filter(([k]) => k !== 'secret_id')
        .map(([k, v]) => [k, restoreRedacted(v, old[k])]),
    );
  }
  return next;
}
