/**
 * Pieces every OpenScale resource module uses: what a find-or-create step returns, the error for
 * duplicate resources, and polling until a resource or run reaches a state.
 */
import type { z } from 'zod';
import { RunbookError, TimeoutError } from '../errors';
import type { HttpClient } from '../http/client';
import { sleep } from '../util/sleep';

/**
 * An OpenScale client: the profile's `openscale` HttpClient, based at
 * `{openscaleUrl}/openscale/{service instance id}` (paths start at `/v2/…`).
 */
export type OpenScaleHttp = HttpClient;

/** Content type of JSON Patch bodies (OpenScale also accepts application/json on some resources). */
export const JSON_PATCH = 'application/json-patch+json';

/** What a find-or-create step did (or, in plan mode, would do). */
export type EnsureOutcome = 'existing' | 'created' | 'updated';

/** The result of a find-or-create step. */
export interface Ensured<T> {
  /** The resource id; `(planned)` (PLANNED_ID) for a create that a plan only recorded. */
  readonly id: string;
  readonly outcome: EnsureOutcome;
  /** True when nothing was changed because a plan recorded the change instead. */
  readonly planned: boolean;
  /** The resource as OpenScale returned it (its state before a planned update; undefined for a planned create). */
  readonly resource?: T;
  /** What was (or would be) changed, one note per change; empty when nothing was. */
  readonly changes: readonly string[];
}

/**
 * More than one resource answers to a key that should be unique (a subscription name, the monitor
 * instance of a definition on a subscription). The predecessor silently took the first; here the
 * step stops and lists them so a person can delete the extra ones.
 */
export class DuplicateResourceError extends RunbookError {
  readonly resource: string;
  readonly key: string;
  readonly ids: readonly string[];
  constructor(resource: string, key: string, found: readonly { id: string; createdAt?: string }[], hint: string) {
    super(
      'remote',
      `${found.length} ${resource}s match ${key}: ${found.map((f) => `${f.id}${f.createdAt ? ` (created ${f.createdAt})` : ''}`).join(', ')}; expected at most one. ${hint}`,
    );
    this.resource = resource;
    this.key = key;
    this.ids = found.map((f) => f.id);
  }
}

/** The service instance id in the client's base URL (`…/openscale/{id}`), if it has one. */
export function serviceInstanceIdOf(os: OpenScaleHttp): string | undefined {
  const m = /\/openscale\/([^/?#]+)$/.exec(os.baseUrl);
  return m ? decodeURIComponent(m[1] as string) : undefined;
}

/** How long and how often to poll. */
export interface WaitOptions {
  /** Give up after this long with a TimeoutError (default 5 minutes). */
  readonly timeoutMs?: number;
  /** Between polls (default 1 s). */
  readonly pollMs?: number;
  /** Called with the state after every poll. */
  readonly onProgress?: (state: string, elapsedMs: number) => void;
  readonly signal?: AbortSignal;
}

/** How long a wait polls before its TimeoutError when {@link WaitOptions.timeoutMs} is not given: 5 minutes. */
export const DEFAULT_WAIT_MS = 5 * 60 * 1000;

/**
 * Calls `read` until `stateOf` gives one of `done` (returns that value) or one of `failed` (throws
 * a remote RunbookError with `failure(value)`), reporting each state; a TimeoutError names `what`
 * and the last state after `timeoutMs`.
 */
export async function pollState<T>(
  what: string,
  read: () => Promise<T>,
  stateOf: (value: T) => string,
  done: readonly string[],
  failed: readonly string[],
  failure: (value: T) => string,
  options: WaitOptions = {},
): Promise<T> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  const pollMs = options.pollMs ?? 1000;
  for (;;) {
    const value = await read();
    const state = stateOf(value);
    const elapsed = Date.now() - started;
    options.onProgress?.(state, elapsed);
    if (done.includes(state)) return value;
    if (failed.includes(state)) throw new RunbookError('remote', `${what} is ${state}: ${failure(value)}`);
    if (elapsed >= timeoutMs) throw new TimeoutError(`${what} is still ${state} after ${Math.round(elapsed / 1000)} s (waited up to ${Math.round(timeoutMs / 1000)} s)`);
    await sleep(Math.min(pollMs, Math.max(1, timeoutMs - elapsed)), options.signal);
  }
}

/** The messages of an OpenScale `failure` object, joined (or a fallback). */
export function failureText(failure: { errors?: readonly { code?: string; message?: string }[] } | undefined, fallback = 'no failure details given'): string {
  const parts = (failure?.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).filter((s) => s !== '');
  return parts.length ? parts.join('; ') : fallback;
}

/** GET that answers undefined on 404 (a resource that may not exist). */
export async function getOptional<T>(os: OpenScaleHttp, path: string, schema: z.ZodType<T, any>): Promise<T | undefined> {
  const res = await os.send({ path, schema, allowStatus: [404] });
  return res.status === 404 ? undefined : (res.data as T);
}
