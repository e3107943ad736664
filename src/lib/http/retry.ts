/**
 * When and how long to retry. Only requests that are safe to repeat are retried: idempotent methods
 * (GET, HEAD, PUT, DELETE, OPTIONS), and POST/PATCH calls the caller marks idempotent. Transient
 * failures are network errors, 429 and 5xx (except 501/505, which will not change on retry).
 */

/** Retry settings of a client. */
export interface RetryPolicy {
  /** Retries after the first attempt (0 disables retrying). Default 4. */
  readonly retries: number;
  /** First backoff cap; it doubles per attempt. Default 500 ms. */
  readonly baseDelayMs: number;
  /** Largest backoff. Default 20 s. */
  readonly maxDelayMs: number;
  /** A server's Retry-After is honoured up to this. Default 120 s. */
  readonly maxRetryAfterMs: number;
}

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 20000, maxRetryAfterMs: 120000 };

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** True for methods HTTP defines as idempotent. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

/** True for statuses worth retrying: 429 and 5xx other than 501 and 505. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501 && status !== 505);
}

const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/** True for network failures that may go away (connection reset/refused, timeouts, DNS retry); TLS trust errors are not. */
export function isTransientNetworkCode(code: string | undefined): boolean {
  return code !== undefined && TRANSIENT_NETWORK_CODES.has(code);
}

/**
 * Parses a Retry-After header (delay seconds or an HTTP date) into milliseconds from `now`;
 * undefined when absent or unreadable. A date in the past gives 0.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The wait before retry number `retry` (1 for the first retry): "full jitter", a random time
 * between 0 and min(maxDelayMs, baseDelayMs · 2^(retry-1)), unless the server sent Retry-After,
 * which is honoured up to `maxRetryAfterMs`.
 */
export function retryDelay(
  retry: number,
  policy: RetryPolicy,
  retryAfterMs?: number,
  random: () => number = Math.random,
): { delayMs: number; source: 'retry-after' | 'backoff' } {
  if (retryAfterMs !== undefined) return { delayMs: Math.min(retryAfterMs, policy.maxRetryAfterMs), source: 'retry-after' };
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return { delayMs: Math.floor(random() * cap), source: 'backoff' };
}
