import { IbmErrorEnvelope } from '../contracts/ibm-error';
import { RunbookError } from '../errors';
import { isCredentialName, Redactor, REDACTED } from '../redact';
import type { YamlIssue } from '../metadata/yaml-issues';

/** What went wrong in one HTTP exchange, free of secrets. */
export interface RemoteErrorDetails {
  readonly method: string;
  /** The request URL with credentials in the query string and user-info replaced by `***`. */
  readonly url: string;
  /** HTTP status; undefined when no response arrived (network error, timeout, TLS failure). */
  readonly status?: number;
  /** IBM error codes (`not_found`, `AIQFM0001E`, …), in the order the service gave them. */
  readonly codes: readonly string[];
  readonly messages: readonly string[];
  /** The service's request id: the envelope's `trace`, else `x-request-id` / `x-global-transaction-id`. */
  readonly trace?: string;
  /** Node's error code for failures without a response (`ECONNRESET`, `ETIMEDOUT`, `DEPTH_ZERO_SELF_SIGNED_CERT`, …). */
  readonly networkCode?: string;
  /** How many times the request was sent. */
  readonly attempts?: number;
  /** How to fix it, when the client can tell (TLS trust, credentials). */
  readonly hint?: string;
}

/**
 * An IBM service (or the sandbox) answered with an error or could not be reached. The message reads
 * `POST https://cpd/v2/assets?space_id=… → 404 not_found: Space 123 does not exist (trace abc)` and
 * never contains a credential: URLs are stripped of secret query parameters and every text passes
 * through the client's {@link Redactor}. The request's headers and body are not kept.
 */
export class RemoteApiError extends RunbookError {
  constructor(details: RemoteErrorDetails, message: string = formatRemoteError(details)) {
    super('remote', message);
    Object.assign(this, details);
  }
}
/** The error carries every field of its {@link RemoteErrorDetails} (declared once, there). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface RemoteApiError extends RemoteErrorDetails {}

/** A 2xx response whose body does not have the expected form; `issues` name the fields. */
export class InvalidResponseError extends RemoteApiError {
  readonly issues: readonly YamlIssue[];
  constructor(details: RemoteErrorDetails, issues: readonly YamlIssue[]) {
    const list = issues.slice(0, 10).map((i) => `${i.path}: ${i.message}`).join('; ');
    super(
      { ...details, messages: issues.map((i) => `${i.path}: ${i.message}`) },
      `${details.method} ${details.url} → ${details.status}: unexpected response body: ${list}${issues.length > 10 ? ` (and ${issues.length - 10} more)` : ''}` +
        (details.trace ? ` (trace ${details.trace})` : ''),
    );
    this.issues = issues;
  }
}

/** The one-line message of a {@link RemoteApiError}. */
export function formatRemoteError(d: RemoteErrorDetails): string {
  const head = `${d.method} ${d.url} →`;
  let what: string;
  if (d.status === undefined) {
    what = `${d.networkCode ? `network error ${d.networkCode}` : 'network error'}${d.messages.length ? `: ${d.messages.join('; ')}` : ''}`;
  } else {
    const pairs = d.codes.length === d.messages.length && d.codes.length > 0
      ? d.codes.map((c, i) => (c === String(d.status) ? d.messages[i] : `${c}: ${d.messages[i]}`))
      : [...d.codes, ...d.messages];
    what = `${d.status}${pairs.length ? ` ${pairs.join('; ')}` : ''}`;
  }
  const extras = [d.trace ? `trace ${d.trace}` : '', d.attempts && d.attempts > 1 ? `after ${d.attempts} attempts` : ''].filter(Boolean);
  return `${head} ${what}${extras.length ? ` (${extras.join(', ')})` : ''}${d.hint ? `. ${d.hint}` : ''}`;
}

/** Query parameters that carry credentials even when their value is not a known secret. */
export function isSecretParam(name: string): boolean {
  return isCredentialName(name) || /^(key|sig|signature|jwt|code)$/i.test(name) || /jwt/i.test(name);
}

/**
 * A URL safe to show: user-info and the values of credential-like query parameters (`apikey`,
 * `access_token`, `jwt-token`, …) become `***`, then every known secret is redacted.
 */
export function safeUrl(url: string, redactor?: Redactor): string {
  let out = url;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = REDACTED;
      u.password = '';
    }
    const params = [...u.searchParams.keys()];
    if (params.some(isSecretParam)) {
      // Rebuild by hand so untouched parameters keep their original encoding.
      const query = u.search.slice(1).split('&').map((pair) => {
        const eq = pair.indexOf('=');
        const name = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, ' '));
        return isSecretParam(name) ? `${eq < 0 ? pair : pair.slice(0, eq)}=${REDACTED}` : pair;
      });
      u.search = '';
      out = `${u.toString()}?${query.join('&')}`;
    } else {
      out = u.toString();
    }
  } catch {
    /* not a URL: redact as text */
  }
  return redactor ? redactor.redact(out) : new Redactor().redact(out);
}

/** Codes, messages and trace found in an error body. */
export interface ParsedErrorBody {
  readonly codes: string[];
  readonly messages: string[];
  readonly trace?: string;
}

const TRACE_HEADERS = ['x-request-id', 'x-global-transaction-id', 'x-correlation-id', 'x-trace-id'];

function header(headers: Record<string, unknown>, name: string): string | undefined {
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? String(v[0]) : typeof v === 'string' ? v : undefined;
}

/**
 * Reads an error response: IBM's envelope `{trace, errors:[{code, message}]}` (WML, CAMS, OpenScale),
 * IAM's `{errorCode, errorMessage, context.requestId}`, CPD authorize's `{_messageCode_, message}`,
 * any `{message}` / `{error}` JSON, or plain text (shortened). The trace falls back to the
 * request-id headers.
 */
export function parseErrorBody(text: string, headers: Record<string, unknown> = {}): ParsedErrorBody {
  const headerTrace = TRACE_HEADERS.map((h) => header(headers, h)).find(Boolean);
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    const env = IbmErrorEnvelope.safeParse(json);
    if (env.success) {
      return { codes: env.data.errors.map((e) => e.code), messages: env.data.errors.map((e) => e.message), trace: env.data.trace || headerTrace };
    }
    const o = json as Record<string, any>;
    if (Array.isArray(o.errors) && o.errors.length) {
      const errs = o.errors.filter((e: unknown) => e && typeof e === 'object') as Record<string, unknown>[];
      return {
        codes: errs.map((e) => e.code).filter((c): c is string => typeof c === 'string'),
        messages: errs.map((e) => e.message).filter((m): m is string => typeof m === 'string'),
        trace: (typeof o.trace === 'string' && o.trace) || headerTrace,
      };
    }
    if (typeof o.errorCode === 'string' || typeof o.errorMessage === 'string') {
      const ctx = o.context && typeof o.context === 'object' ? o.context : {};
      return {
        codes: typeof o.errorCode === 'string' ? [o.errorCode] : [],
        messages: typeof o.errorMessage === 'string' ? [o.errorMessage] : [],
        trace: (typeof ctx.requestId === 'string' && ctx.requestId) || headerTrace,
      };
    }
    const code = ['_messageCode_', 'code', 'error_code', 'errorCode'].map((k) => o[k]).find((v) => typeof v === 'string' || typeof v === 'number');
    const message = ['message', 'error_description', 'error', 'description', 'detail'].map((k) => o[k]).find((v) => typeof v === 'string');
    if (code !== undefined || message !== undefined) {
      return {
        codes: code !== undefined ? [String(code)] : [],
        messages: message !== undefined ? [message] : [],
        trace: (typeof o.trace === 'string' && o.trace) || headerTrace,
      };
    }
  }
  const title = /<title>([^<]*)<\/title>/i.exec(text);
  const body = (title && /<html/i.test(text) ? title[1] : text).replace(/\s+/g, ' ').trim();
  return { codes: [], messages: body ? [body.length > 300 ? `${body.slice(0, 297)}...` : body] : [], trace: headerTrace };
}

/**
 * True when a failed non-idempotent request may or may not have been carried out: no answer
 * (network error, timeout) or a 5xx/429 (the server may have acted before failing).
 */
export function isAmbiguousFailure(err: unknown): boolean {
  if (!(err instanceof RemoteApiError)) return false;
  if (err.status === undefined) return err.networkCode !== 'ABORTED';
  return err.status >= 500 || err.status === 429;
}
