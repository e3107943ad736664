import type { HttpClient, RequestOptions } from '../http/client';
import { RemoteApiError, isAmbiguousFailure } from '../http/errors';

export { isAmbiguousFailure };
import { ServerClock } from './server-clock';

/** Settings shared by the space and data-asset operations of one {@link WmlClient}. */
export interface WmlOptions {
  /**
   * How long after its creation a new resource is certainly visible in listings (search indexes
   * may lag). Find-or-create steps wait until the oldest same-name resource is this old before
   * settling on it. Default 2000 ms; the sandbox needs a few ms.
   */
  readonly settleMs?: number;
  /** An unfinished upload (asset without a complete attachment) older than this is taken as abandoned and may be deleted. Default 24 h. */
  readonly staleUploadMs?: number;
  /**
   * How bytes are sent to `url1`: `multipart` (part `file`, what CPD expects), `raw` (what pre-signed
   * object-storage URLs on IBM Cloud expect), or `auto` (default): raw for absolute URLs, multipart
   * for CPD-relative ones.
   */
  readonly uploadForm?: 'auto' | 'multipart' | 'raw';
  /** Polling interval while waiting for a space to become active. Default 1000 ms (capped by the remaining time). */
  readonly pollMs?: number;
  /** For tests: replaces the timer. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Internal: what the WML operations share. */
export interface WmlContext {
  readonly http: HttpClient;
  readonly clock: ServerClock;
  readonly settleMs: number;
  readonly staleUploadMs: number;
  readonly uploadForm: 'auto' | 'multipart' | 'raw';
  readonly pollMs: number;
  sleep(ms: number): Promise<void>;
}

export function makeContext(http: HttpClient, options: WmlOptions = {}, clock = new ServerClock()): WmlContext {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return {
    http,
    clock,
    settleMs: options.settleMs ?? 2000,
    staleUploadMs: options.staleUploadMs ?? 24 * 3600 * 1000,
    uploadForm: options.uploadForm ?? 'auto',
    pollMs: options.pollMs ?? 1000,
    sleep,
  };
}

/** Sends a request and feeds the response's `Date` header to the server clock. */
export async function call<T>(ctx: WmlContext, opts: RequestOptions<T>): Promise<T> {
  const res = await ctx.http.send(opts);
  const date = res.headers.date;
  ctx.clock.observe(Array.isArray(date) ? date[0] : date);
  return res.data;
}

/** True for a 404 answer. */
export function isNotFound(err: unknown): boolean {
  return err instanceof RemoteApiError && err.status === 404;
}

/** `created_at` then id: the deterministic "oldest first" order of resources. */
export function byCreation<T extends { createdAt: string; id: string }>(a: T, b: T): number {
  const x = Date.parse(a.createdAt);
  const y = Date.parse(b.createdAt);
  if (x !== y) return x < y ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
