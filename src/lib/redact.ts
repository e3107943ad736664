/** What every secret is replaced with. */
export const REDACTED = '***';

/** Shorter values are not redacted: replacing "1" or "on" everywhere would garble output without protecting anything. */
export const MIN_SECRET_LENGTH = 4;

// AUTH or AUTHORIZATION only as a whole word of the name (MY_AUTH, AUTH_HEADER, Authorization,
// proxy-authorization), not inside AUTHOR or XAUTHORITY.
const CREDENTIAL_NAME = /(TOKEN|SECRET|PASSW(OR)?D|API_?KEY|APIKEY|CREDENTIAL|PRIVATE_?KEY|ACCESS_?KEY|(^|[_-])AUTH(ORIZATION)?([_-]|$)|COOKIE|SESSION_?ID)/i;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g;
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

/** True when an environment variable of this name holds a credential (its value must never be shown). */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Replaces known secret values, bearer tokens and JWTs by `***` in text and in nested values.
 * Each secret is also matched in its JSON-escaped and URL-encoded forms, so it cannot leak
 * through a serialised notebook or a query string.
 */
export class Redactor {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | null = null;

  constructor(secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s);
  }

  /** A redactor for the credential-named variables of `env` (e.g. CPD_API_KEY, USER_ACCESS_TOKEN). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): Redactor {
    const r = new Redactor();
    for (const [name, value] of Object.entries(env)) if (value && isCredentialName(name)) r.add(value);
    return r;
  }

  /** Registers a secret value; values shorter than {@link MIN_SECRET_LENGTH} are ignored. */
  add(secret: string | undefined | null): this {
    if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) return this;
    const forms = [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)];
    for (const f of forms) if (f.length >= MIN_SECRET_LENGTH) this.secrets.add(f);
    this.pattern = null;
    return this;
  }

  /** Adds every secret of another redactor. */
  merge(other: Redactor): this {
    for (const s of other.secrets) this.secrets.add(s);
    this.pattern = null;
    return this;
  }

  get size(): number {
    return this.secrets.size;
  }

  /** The text with every secret, bearer token and JWT replaced by `***`. */
  redact(text: string): string {
    if (this.secrets.size > 0) {
      if (!this.pattern) {
        const sorted = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
        this.pattern = new RegExp(sorted.join('|'), 'g');
      }
      text = text.replace(this.pattern, REDACTED);
    }
    return text.replace(BEARER, `$1${REDACTED}`).replace(JWT, REDACTED);
  }

  /** A deep copy of `value` with every string (keys included) redacted. */
  redactDeep<T>(value: T): T {
    return this.walk(value) as T;
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((v) => this.walk(v));
    if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[this.redact(k)] = this.walk(v);
      return out;
    }
    return value;
  }
}
