import { CpdAuthorizeResponse, CpdTokenClaims, IAM_APIKEY_GRANT, IamTokenResponse } from '../contracts/auth';
import { RemoteApiError } from './errors';
import type { HttpClient } from './client';

/**
 * Where bearer tokens come from: CPD's authorize endpoint (username with API key or password),
 * IBM Cloud IAM (API key), or a fixed token. Tokens are cached and renewed shortly before they
 * expire, so long pipeline steps never run on an expired token (predecessor §8.25).
 */

/** The kinds of authentication a profile can use. */
export type AuthKind = 'cpd-apikey' | 'cpd-password' | 'iam-apikey' | 'bearer';

/** What is known about the current token (never the token itself). */
export interface TokenInfo {
  readonly kind: AuthKind;
  /** When the token expires; undefined when it does not say (opaque tokens). */
  readonly expiresAt?: Date;
  readonly obtainedAt?: Date;
  /** The user the token was issued to, when it names one. */
  readonly subject?: string;
}

/** A source of bearer tokens for {@link HttpClient}. */
export interface TokenProvider {
  readonly kind: AuthKind;
  /** False for fixed tokens: re-authenticating after a 401 cannot help. */
  readonly refreshable: boolean;
  /** A token valid for a while yet; obtains or renews one when needed. Concurrent calls share one renewal. */
  getToken(): Promise<string>;
  /** Drops `token` from the cache (the server rejected it); the next {@link getToken} fetches a new one. */
  invalidate(token: string): void;
  /** The current token's expiry and subject, if a token was obtained. */
  info(): TokenInfo | undefined;
  /** The credential values this provider holds, for a {@link "lib/redact"!Redactor | Redactor}. */
  secrets(): string[];
}

/** Renew when less than max(60 s, 10 % of the token's lifetime) remains. */
export function defaultRefreshMargin(lifetimeMs: number): number {
  return Math.max(60000, lifetimeMs * 0.1);
}

/** The claims of a JWT (unverified: only used to learn its expiry); undefined for non-JWT tokens. */
export function decodeJwtClaims(token: string): CpdTokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const json = JSON.parse(Buffer.from(parts[1].replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
    const claims = CpdTokenClaims.safeParse(json);
    return claims.success ? claims.data : undefined;
  } catch {
    return undefined;
  }
}

interface Cached {
  token: string;
  obtainedAt: number;
  expiresAt?: number;
  /** The validity the issuer granted (exp − iat), which sets the renewal margin. */
  lifetimeMs?: number;
  subject?: string;
}

/** Options shared by the renewing providers. */
export interface RenewingOptions {
  /** Clock in ms since the epoch (tests move it forward). */
  readonly now?: () => number;
  /** How long before expiry to renew, given the token lifetime (default {@link defaultRefreshMargin}). */
  readonly refreshMargin?: (lifetimeMs: number) => number;
}

abstract class RenewingTokenProvider implements TokenProvider {
  abstract readonly kind: AuthKind;
  readonly refreshable = true;
  private cached?: Cached;
  private pending?: Promise<Cached>;
  protected readonly now: () => number;
  private readonly margin: (lifetimeMs: number) => number;

  constructor(opts: RenewingOptions) {
    this.now = opts.now ?? Date.now;
    this.margin = opts.refreshMargin ?? defaultRefreshMargin;
  }

  protected abstract fetch(): Promise<Cached>;
  abstract secrets(): string[];

  private fresh(c: Cached | undefined): c is Cached {
    if (!c) return false;
    if (c.expiresAt === undefined) return true; // no expiry known: keep until the server rejects it
    return this.now() < c.expiresAt - this.margin(c.lifetimeMs ?? c.expiresAt - c.obtainedAt);
  }

  async getToken(): Promise<string> {
    if (this.fresh(this.cached)) return this.cached.token;
    if (!this.pending) {
      this.pending = this.fetch().then(
        (c) => {
          this.cached = c;
          this.pending = undefined;
          return c;
        },
        (err) => {
          this.pending = undefined;
          throw err;
        },
      );
    }
    return (await this.pending).token;
  }

  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  info(): TokenInfo | undefined {
    const c = this.cached;
    if (!c) return undefined;
    return {
      kind: this.kind,
      obtainedAt: new Date(c.obtainedAt),
      expiresAt: c.expiresAt === undefined ? undefined : new Date(c.expiresAt),
      subject: c.subject,
    };
  }
}

/** Options of {@link cpdTokenProvider}. */
export interface CpdTokenOptions extends RenewingOptions {
  /** A client for the CPD host (its own auth is not used). */
  readonly client: HttpClient;
  readonly username: string;
  /** Exactly one of apiKey and password. */
  readonly apiKey?: string;
  readonly password?: string;
}

class CpdTokenProvider extends RenewingTokenProvider {
  readonly kind: AuthKind;
  constructor(private readonly opts: CpdTokenOptions) {
    super(opts);
    if (Boolean(opts.apiKey) === Boolean(opts.password)) throw new Error('cpdTokenProvider needs exactly one of apiKey or password');
    this.kind = opts.apiKey ? 'cpd-apikey' : 'cpd-password';
  }

  secrets(): string[] {
    return [this.opts.apiKey, this.opts.password].filter((s): s is string => Boolean(s));
  }

  protected async fetch(): Promise<Cached> {
    const obtainedAt = this.now();
    const body = this.opts.apiKey ? { username: this.opts.username, api_key: this.opts.apiKey } : { username: this.opts.username, password: this.opts.password };
    let data: CpdAuthorizeResponse;
    try {
      data = await this.opts.client.request({
        method: 'POST',
        path: '/icp4d-api/v1/authorize',
        body,
        // Obtaining a token changes nothing on the server: safe to repeat.
        idempotent: true,
        auth: false,
        schema: CpdAuthorizeResponse,
      });
    } catch (err) {
      throw withHint(err, `check the username (${this.opts.username}) and the ${this.kind === 'cpd-apikey' ? 'API key (CPD_API_KEY)' : 'password (CPD_PASSWORD)'} of the profile`);
    }
    const claims = decodeJwtClaims(data.token);
    const expiresAt = claims ? claims.exp * 1000 : undefined;
    // Lifetime from the token's own iat when present, so a skewed local clock does not distort it.
    const lifetimeMs = claims && claims.iat !== undefined ? (claims.exp - claims.iat) * 1000 : undefined;
    return { token: data.token, obtainedAt, expiresAt, lifetimeMs, subject: claims?.username ?? claims?.sub ?? this.opts.username };
  }
}

/**
 * Tokens from `POST {cpd}/icp4d-api/v1/authorize` with `{username, api_key}` or `{username, password}`.
 * The expiry is the JWT's `exp` claim; a token is renewed when less than
 * max(60 s, 10 % of its lifetime) remains.
 */
export function cpdTokenProvider(opts: CpdTokenOptions): TokenProvider {
  return new CpdTokenProvider(opts);
}

/** Options of {@link iamTokenProvider}. */
export interface IamTokenOptions extends RenewingOptions {
  /** A client for the IAM host, e.g. https://iam.cloud.ibm.com. */
  readonly client: HttpClient;
  readonly apiKey: string;
}

class IamTokenProvider extends RenewingTokenProvider {
  readonly kind: AuthKind = 'iam-apikey';
  constructor(private readonly opts: IamTokenOptions) {
    super(opts);
  }

  secrets(): string[] {
    return [this.opts.apiKey];
  }

  protected async fetch(): Promise<Cached> {
    const obtainedAt = this.now();
    let data: IamTokenResponse;
    try {
      data = await this.opts.client.request({
        method: 'POST',
        path: '/identity/token',
        body: new URLSearchParams({ grant_type: IAM_APIKEY_GRANT, apikey: this.opts.apiKey }),
        idempotent: true,
        auth: false,
        schema: IamTokenResponse,
      });
    } catch (err) {
      throw withHint(err, 'check the IBM Cloud API key (IBM_CLOUD_API_KEY) of the profile');
    }
    // `expiration` is absolute (server clock); `expires_in` relative: trust the shorter.
    const byExpiration = data.expiration * 1000;
    const byExpiresIn = obtainedAt + data.expires_in * 1000;
    const claims = decodeJwtClaims(data.access_token);
    return { token: data.access_token, obtainedAt, expiresAt: Math.min(byExpiration, byExpiresIn), lifetimeMs: data.expires_in * 1000, subject: claims?.sub };
  }
}

/** Tokens from IBM Cloud IAM (`POST {iam}/identity/token`, form-encoded API-key grant); expiry from `expiration`/`expires_in`. */
export function iamTokenProvider(opts: IamTokenOptions): TokenProvider {
  return new IamTokenProvider(opts);
}

/**
 * A fixed bearer token (e.g. `USER_ACCESS_TOKEN` inside Watson Studio). It cannot be renewed; its
 * expiry is read from the JWT when it is one.
 */
export function staticTokenProvider(token: string): TokenProvider {
  const claims = decodeJwtClaims(token);
  return {
    kind: 'bearer',
    refreshable: false,
    getToken: async () => token,
    invalidate: () => undefined,
    info: () => ({ kind: 'bearer', expiresAt: claims ? new Date(claims.exp * 1000) : undefined, subject: claims?.username ?? claims?.sub }),
    secrets: () => [token],
  };
}

function withHint(err: unknown, hint: string): unknown {
  if (err instanceof RemoteApiError && err.status !== undefined && err.status >= 400 && err.status < 500 && !err.hint) {
    return new RemoteApiError(
      { method: err.method, url: err.url, status: err.status, codes: err.codes, messages: err.messages, trace: err.trace, attempts: err.attempts, hint: `Authentication failed: ${hint}` },
    );
  }
  return err;
}
