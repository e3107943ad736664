/**
 * Who may start a run on the provider. OpenScale calls the provider with `Authorization: Bearer
 * <token>`, the token it obtained through the integrated system's `token_info` (the CPD authorize
 * URL, i.e. a CPD token of the registered user). The provider accepts a bearer token when the
 * configured CPD accepts it: it calls one cheap authenticated OpenScale endpoint
 * (`GET /v2/data_marts`) with the token, once per token, and caches the answer (valid tokens until
 * their expiry or for 10 minutes, rejected ones for 30 s). No shared secret has to be configured
 * on either side, and a token that CPD has revoked stops working within the cache time.
 * Basic credentials and missing or malformed headers are refused with 401.
 */
import { createHash } from 'node:crypto';
import { decodeJwtClaims, staticTokenProvider } from '../http/auth';
import { createHttpClient } from '../http/client';
import type { TlsOptions } from '../http/tls';
import type { Redactor } from '../redact';

/** The verdict on one request. */
export type AuthVerdict =
  | { readonly ok: true; readonly subject?: string }
  /** 401: no usable token; 503: the token could not be checked now (CPD unreachable). */
  | { readonly ok: false; readonly status: 401 | 503; readonly reason: string };

/** Checks a token against the service; `valid`/`invalid`, or throws when it cannot tell. */
export type TokenCheck = (token: string) => Promise<'valid' | 'invalid'>;

/** Options of {@link BearerVerifier}. */
export interface BearerVerifierOptions {
  readonly check: TokenCheck;
  /** How long an accepted token is trusted at most (default 10 min; never past its own expiry). */
  readonly ttlMs?: number;
  /** How long a rejected token stays rejected (default 30 s). */
  readonly negativeTtlMs?: number;
  /** For tests: the clock (milliseconds, default Date.now) the cache lifetimes are measured on. */
  readonly now?: () => number;
  /** Tokens seen are added, so they never reach a log. */
  readonly redactor?: Redactor;
}

interface CacheEntry {
  readonly valid: boolean;
  readonly until: number;
  readonly subject?: string;
}

/** Accepts bearer tokens the configured CPD accepts; see the module comment. */
export class BearerVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, Promise<CacheEntry>>();
  private readonly now: () => number;

  constructor(private readonly opts: BearerVerifierOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** The verdict for an Authorization header value. */
  async verify(authorization: string | undefined): Promise<AuthVerdict> {
    if (!authorization) return { ok: false, status: 401, reason: 'missing Authorization header (expected Bearer <CPD token>)' };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return { ok: false, status: 401, reason: 'expected Authorization: Bearer <CPD token>' };
    const token = m[1] as string;
    this.opts.redactor?.add(token);
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.cache.get(key);
    const now = this.now();
    let entry: CacheEntry;
    if (hit && hit.until > now) entry = hit;
    else {
      let p = this.pending.get(key);
      if (!p) {
        p = this.lookup(token).finally(() => this.pending.delete(key));
        this.pending.set(key, p);
      }
      try {
        entry = await p;
      } catch (err) {
        return { ok: false, status: 503, reason: `the token could not be checked now: ${err instanceof Error ? err.message : String(err)}` };
      }
      this.prune(now);
      this.cache.set(key, entry);
    }
    return entry.valid ? { ok: true, subject: entry.subject } : { ok: false, status: 401, reason: 'the bearer token was rejected by CPD (expired, revoked or not a CPD token)' };
  }

  private async lookup(token: string): Promise<CacheEntry> {
    const claims = decodeJwtClaims(token);
    const now = this.now();
    if (claims && claims.exp * 1000 <= now) return { valid: false, until: now + (this.opts.negativeTtlMs ?? 30_000) };
    const verdict = await this.opts.check(token);
    if (verdict === 'invalid') return { valid: false, until: now + (this.opts.negativeTtlMs ?? 30_000) };
    const ttl = now + (this.opts.ttlMs ?? 10 * 60_000);
    return { valid: true, until: claims ? Math.min(ttl, claims.exp * 1000) : ttl, subject: claims?.username ?? claims?.sub };
  }

  private prune(now: number): void {
    if (this.cache.size < 1000) return;
    for (const [k, e] of this.cache) if (e.until <= now) this.cache.delete(k);
  }
}

/**
 * A {@link TokenCheck} that asks OpenScale (`GET {openscaleBase}/v2/data_marts`) with the token:
 * 2xx valid, 401/403 invalid, anything else throws (the verifier answers 503).
 */
export function openscaleTokenCheck(openscaleBase: string, options: { tls?: TlsOptions; redactor?: Redactor; timeoutMs?: number } = {}): TokenCheck {
  return async (token) => {
    const client = createHttpClient({ baseUrl: openscaleBase, auth: staticTokenProvider(token), tls: options.tls, redactor: options.redactor, timeoutMs: options.timeoutMs ?? 15_000, retry: { retries: 2 } });
    try {
      const res = await client.send({ path: '/v2/data_marts', allowStatus: [401, 403], responseType: 'text' });
      return res.status === 401 || res.status === 403 ? 'invalid' : 'valid';
    } finally {
      client.close();
    }
  };
}
