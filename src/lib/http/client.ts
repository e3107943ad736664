import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { issuesFromZod } from '../metadata/yaml-issues';
import { Redactor } from '../redact';
import type { TokenProvider } from './auth';
import { InvalidResponseError, isSecretParam, parseErrorBody, RemoteApiError, safeUrl } from './errors';
import { DEFAULT_RETRY_POLICY, isIdempotentMethod, isRetryableStatus, isTransientNetworkCode, parseRetryAfter, retryDelay, type RetryPolicy } from './retry';
import { createAgents, type ClientAgents, type TlsOptions } from './tls';

/** HTTP methods the client sends. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** A query parameter value; lists repeat the parameter, null/undefined leave it out. */
export type QueryValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];

/**
 * A request body. Plain objects and arrays are sent as JSON, URLSearchParams form-encoded, strings
 * and bytes as they are. A stream can be sent once only, so a request with a `Readable` body is
 * never retried; give a factory `() => Readable` (e.g. `() => createReadStream(file)`) to make a
 * streaming upload retryable.
 */
export type RequestBody = string | Uint8Array | URLSearchParams | Readable | (() => Readable) | Record<string, unknown> | readonly unknown[];

/** One request. Only `path` is required. */
export interface RequestOptions<T = unknown> {
  /** Default GET. */
  readonly method?: HttpMethod;
  /** Relative to the client's base URL (`/v2/spaces`), or an absolute URL. */
  readonly path: string;
  readonly query?: Readonly<Record<string, QueryValue>>;
  readonly body?: RequestBody;
  readonly headers?: Readonly<Record<string, string>>;
  /** Marks a POST/PATCH as safe to repeat (so it is retried like a GET). */
  readonly idempotent?: boolean;
  /** How to read a successful body (default json; an empty body gives undefined). */
  readonly responseType?: 'json' | 'text' | 'buffer' | 'stream';
  /** Validates a 2xx JSON body; a mismatch is an {@link InvalidResponseError} naming the fields. */
  readonly schema?: z.ZodType<T, any>;
  /** Non-2xx statuses to return instead of throwing (e.g. [404] for "may not exist"); their body is not validated. */
  readonly allowStatus?: readonly number[];
  /** Send the bearer token (default true; it is never sent to another origin than the base URL's). */
  readonly auth?: boolean;
  /** Overrides the client's inactivity timeout for this request. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Size of a stream body, sent as Content-Length (otherwise chunked). */
  readonly contentLength?: number;
  /** Bytes of the body sent so far. */
  readonly onUploadProgress?: (sentBytes: number) => void;
}

/** A response with its status and headers (lower-case names). */
export interface HttpResponse<T = unknown> {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly data: T;
  /** The final URL, safe to show. */
  readonly url: string;
}

/** Reported before each retry, for progress lines and logs. */
export interface RetryInfo {
  readonly method: string;
  /** Safe to show. */
  readonly url: string;
  /** The retry about to happen (1 = first retry). */
  readonly retry: number;
  readonly delayMs: number;
  /** Why: `503`, `429`, `ECONNRESET`, … */
  readonly reason: string;
  readonly status?: number;
  /** Whether the delay came from the server's Retry-After or from the backoff. */
  readonly source: 'retry-after' | 'backoff';
}

/** Settings of a client. */
export interface HttpClientOptions {
  /** e.g. `https://cpd.example.com` or `https://host/openscale/<id>`; paths are appended to it. */
  readonly baseUrl: string;
  /** Where bearer tokens come from; none → no Authorization header. */
  readonly auth?: TokenProvider;
  /** Abort when nothing is sent or received for this long (default 60 s). Long uploads are fine as long as bytes flow. */
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  /** Certificate verification is on by default; see {@link TlsOptions}. */
  readonly tls?: TlsOptions;
  /** Headers sent with every request. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Holds the credentials to mask; tokens the client obtains are added to it. Default: a new one. */
  readonly redactor?: Redactor;
  /** Receives warnings (the insecure-TLS warning); the library prints nothing itself. */
  readonly onWarning?: (message: string) => void;
  /** Called before each wait for a retry (also a download started over after a broken stream), e.g. to log it; the client prints nothing itself. */
  readonly onRetry?: (info: RetryInfo) => void;
  /** For tests: replaces the timer of the retry waits. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** For tests: the backoff's jitter source, a number in [0, 1) (default Math.random). */
  readonly random?: () => number;
}

/** Options of {@link HttpClient.downloadToFile}. */
export interface DownloadOptions extends Omit<RequestOptions<never>, 'responseType' | 'schema' | 'body' | 'method'> {
  /** Where to write; the file appears only when complete (written to a temporary sibling, then renamed). */
  readonly file: string;
  /** Called as bytes arrive; `totalBytes` is undefined when the length is not known (no or compressed Content-Length); a download started over counts from 0 again. */
  readonly onProgress?: (receivedBytes: number, totalBytes?: number) => void;
}

/** A typed HTTP client for one service base URL. */
export interface HttpClient {
  readonly baseUrl: string;
  /** The redactor every message of this client passes through. */
  readonly redactor: Redactor;
  /** Sends a request and returns the (validated) body; non-2xx responses throw {@link RemoteApiError}. */
  request<T = unknown>(opts: RequestOptions<T>): Promise<T>;
  /** Like {@link request} but returns status and headers too. */
  send<T = unknown>(opts: RequestOptions<T>): Promise<HttpResponse<T>>;
  /** Streams a GET response to a file, retrying (from the start) when the transfer breaks. */
  downloadToFile(opts: DownloadOptions): Promise<{ bytes: number; status: number }>;
  /** The absolute URL of a path and query (not redacted: do not show it). */
  url(path: string, query?: Readonly<Record<string, QueryValue>>): string;
  /** Closes idle keep-alive sockets. */
  close(): void;
}

/** A failure without a usable response; internal to the retry loop. */
class NetFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly userAborted = false,
    /**
     * The request went out on a kept-alive connection the server closed at that moment (reset
     * before any answer; Node's documented `request.reusedSocket` case — a 5 s server keep-alive
     * meets every pause between notebook cells): it is sent once more at once.
     */
    readonly staleConnection = false,
  ) {
    super(message);
  }
}

function isStaleConnectionReset(err: unknown, code: string): boolean {
  const e = err as { response?: unknown; request?: { reusedSocket?: boolean } };
  return (code === 'ECONNRESET' || code === 'EPIPE') && e?.response === undefined && e?.request?.reusedSocket === true;
}

interface PreparedBody {
  readonly replayable: boolean;
  make(): string | Buffer | Readable | undefined;
  readonly contentType?: string;
}

function isPlainData(v: unknown): v is Record<string, unknown> | readonly unknown[] {
  if (Array.isArray(v)) return true;
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null;
}

function prepareBody(body: RequestBody | undefined): PreparedBody {
  if (body === undefined) return { replayable: true, make: () => undefined };
  if (typeof body === 'function') return { replayable: true, make: () => body() };
  if (body instanceof Readable) {
    let used = false;
    return {
      get replayable() {
        return !used;
      },
      make: () => {
        used = true;
        return body;
      },
    };
  }
  if (typeof body === 'string') return { replayable: true, make: () => body };
  if (body instanceof Uint8Array) return { replayable: true, make: () => Buffer.from(body.buffer, body.byteOffset, body.byteLength) };
  if (body instanceof URLSearchParams) {
    const text = body.toString();
    return { replayable: true, make: () => text, contentType: 'application/x-www-form-urlencoded' };
  }
  if (isPlainData(body)) {
    const text = JSON.stringify(body);
    return { replayable: true, make: () => text, contentType: 'application/json' };
  }
  throw new TypeError('unsupported request body: give a string, bytes, URLSearchParams, a plain object/array, a Readable or () => Readable');
}

/** Calls `onIdle` when `touch` has not been called for `ms`. */
class IdleTimer {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  constructor(private readonly ms: number, private readonly onIdle: () => void) {
    this.touch();
  }
  touch(): void {
    // Upload chunks may still flow after the server answered early: a stopped timer stays stopped.
    if (this.ms <= 0 || this.stopped) return;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, this.ms);
  }
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  stream: Readable;
  idle: IdleTimer;
  /** Classifies an error raised while reading the body (timeout, cancellation, socket error). */
  fail: (err: unknown) => NetFailure;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const ERROR_BODY_LIMIT = 64 * 1024;

function tlsHint(code: string): string | undefined {
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ERR_TLS/.test(code)) {
    return "The server's TLS certificate is not trusted: set caBundle in the profile (or RUNBOOK_CA_BUNDLE) to a PEM file with the cluster's CA; insecureTls only for throwaway clusters";
  }
  return undefined;
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const cause = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  // axios wraps some socket errors in its own codes; the cause says what really happened.
  if (cause && (!code || code.startsWith('ERR_') || code === 'ECONNABORTED')) return cause;
  return code ?? 'EUNKNOWN';
}

function headersOf(res: AxiosResponse): Record<string, string | string[] | undefined> {
  const h = res.headers as unknown as { toJSON?: () => Record<string, unknown> };
  const raw = typeof h?.toJSON === 'function' ? h.toJSON() : (res.headers as Record<string, unknown>);
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(raw ?? {})) out[k.toLowerCase()] = Array.isArray(v) ? v.map(String) : v === undefined || v === null ? undefined : String(v);
  return out;
}

function firstHeader(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let cachedVersion: string | undefined;
function userAgent(): string {
  if (!cachedVersion) {
    try {
      cachedVersion = String(require('../../../package.json').version);
    } catch {
      cachedVersion = 'dev';
    }
  }
  return `cpd-runbook/${cachedVersion} node/${process.versions.node}`;
}

class AxiosHttpClient implements HttpClient {
  readonly baseUrl: string;
  readonly redactor: Redactor;
  private readonly axios: AxiosInstance;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly baseOrigin: string;
  private readonly agents: ClientAgents;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: HttpClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.baseUrl);
      if (!/^https?:$/.test(parsed.protocol)) throw new Error('not http');
    } catch {
      throw new TypeError(`createHttpClient: baseUrl must be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.baseOrigin = parsed.origin;
    this.redactor = options.redactor ?? new Redactor();
    for (const s of options.auth?.secrets() ?? []) this.redactor.add(s);
    this.policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 60000;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.agents = createAgents(options.tls, options.onWarning);
    this.axios = axios.create({
      httpAgent: this.agents.httpAgent,
      httpsAgent: this.agents.httpsAgent,
      proxy: false,
      maxRedirects: 0,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      decompress: true,
      timeout: 0,
      responseType: 'stream',
      validateStatus: () => true,
      transformRequest: [(d: unknown) => d],
      transformResponse: [(d: unknown) => d],
    });
  }

  url(path: string, query?: Readonly<Record<string, QueryValue>>): string {
    let url = /^https?:\/\//i.test(path) ? path : `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
    const parts: string[] = [];
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      for (const item of Array.isArray(v) ? v : [v]) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(item))}`);
    }
    if (parts.length) url += (url.includes('?') ? '&' : '?') + parts.join('&');
    return url;
  }

  close(): void {
    for (const agent of Object.values(this.agents)) agent.destroy();
  }

  async request<T = unknown>(opts: RequestOptions<T>): Promise<T> {
    return (await this.send(opts)).data;
  }

  async send<T = unknown>(opts: RequestOptions<T>): Promise<HttpResponse<T>> {
    const method = (opts.method ?? 'GET').toUpperCase() as HttpMethod;
    let url = this.url(opts.path, opts.query);
    // Values sent under credential-like names are secrets even if nobody registered them.
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== null && isSecretParam(k)) for (const item of Array.isArray(v) ? v : [v]) this.redactor.add(String(item));
    }
    const body = prepareBody(opts.body);
    const retryEligible = isIdempotentMethod(method) || opts.idempotent === true;
    const responseType = opts.responseType ?? 'json';
    let sends = 0;
    let retries = 0;
    let redirects = 0;
    let reauthenticated = false;
    let staleResent = false;
    for (;;) {
      const sameOrigin = new URL(url).origin === this.baseOrigin;
      let token: string | undefined;
      if (this.options.auth && opts.auth !== false && sameOrigin) {
        token = await this.options.auth.getToken();
        this.redactor.add(token);
      }
      const canResend = () => body.replayable;
      let res: RawResponse;
      let payload: Buffer | undefined;
      sends++;
      try {
        res = await this.exchange(method, url, body, token, opts, retryEligible);
        const streamOk = responseType === 'stream' && this.accepted(res.status, opts) && !REDIRECTS.has(res.status);
        if (!streamOk) payload = await this.readAll(res, this.accepted(res.status, opts) ? Infinity : ERROR_BODY_LIMIT);
        else res.idle.stop();
      } catch (err) {
        if (!(err instanceof NetFailure)) throw err;
        // A reused connection the server closed as the request went out: the server never read it.
        // Only retry-eligible requests travel on reused connections (see exchange), so this is safe.
        if (err.staleConnection && retryEligible && canResend() && !staleResent) {
          staleResent = true;
          sends--;
          continue;
        }
        if (!err.userAborted && retryEligible && canResend() && retries < this.policy.retries && isTransientNetworkCode(err.code)) {
          retries++;
          const { delayMs, source } = retryDelay(retries, this.policy, undefined, this.random);
          this.options.onRetry?.({ method, url: safeUrl(url, this.redactor), retry: retries, delayMs, reason: err.code, source });
          await this.sleep(delayMs);
          continue;
        }
        throw new RemoteApiError({
          method,
          url: safeUrl(url, this.redactor),
          codes: [],
          messages: [this.redactor.redact(err.message)],
          networkCode: err.code,
          attempts: sends,
          hint: tlsHint(err.code),
        });
      }

      const location = firstHeader(res.headers, 'location');
      if (REDIRECTS.has(res.status) && location && (method === 'GET' || method === 'HEAD') && redirects < MAX_REDIRECTS) {
        redirects++;
        sends--;
        url = new URL(location, url).toString();
        continue;
      }

      if (res.status === 401 && token && this.options.auth?.refreshable && !reauthenticated && canResend()) {
        // The token may have been revoked or expired early: get a new one, once.
        reauthenticated = true;
        this.options.auth.invalidate(token);
        continue;
      }

      if (!this.accepted(res.status, opts)) {
        const text = (payload ?? Buffer.alloc(0)).toString('utf8');
        if (isRetryableStatus(res.status) && retryEligible && canResend() && retries < this.policy.retries) {
          retries++;
          const retryAfter = parseRetryAfter(firstHeader(res.headers, 'retry-after'));
          const { delayMs, source } = retryDelay(retries, this.policy, retryAfter, this.random);
          this.options.onRetry?.({ method, url: safeUrl(url, this.redactor), retry: retries, delayMs, reason: String(res.status), status: res.status, source });
          await this.sleep(delayMs);
          continue;
        }
        const parsed = parseErrorBody(this.redactor.redact(text), res.headers);
        let hint: string | undefined;
        if (res.status === 401) {
          hint = reauthenticated
            ? 'Rejected again after obtaining a new token: check the credentials and the user\u2019s permissions'
            : token
              ? 'The token was rejected: check the credentials of the profile'
              : undefined;
        }
        throw new RemoteApiError({
          method,
          url: safeUrl(url, this.redactor),
          status: res.status,
          codes: parsed.codes,
          messages: parsed.messages.map((m) => this.redactor.redact(m)),
          trace: parsed.trace,
          attempts: sends,
          hint,
        });
      }

      const safe = safeUrl(url, this.redactor);
      const data = this.decode(res, payload, responseType, method, safe, opts);
      return { status: res.status, headers: res.headers, data: data as T, url: safe };
    }
  }

  private accepted(status: number, opts: RequestOptions<unknown>): boolean {
    return (status >= 200 && status < 300) || (opts.allowStatus?.includes(status) ?? false);
  }

  private decode(res: RawResponse, payload: Buffer | undefined, responseType: string, method: string, safe: string, opts: RequestOptions<any>): unknown {
    if (responseType === 'stream') return res.stream;
    const buf = payload ?? Buffer.alloc(0);
    if (responseType === 'buffer') return buf;
    const text = buf.toString('utf8');
    if (responseType === 'text') return text;
    const trace = firstHeader(res.headers, 'x-request-id') ?? firstHeader(res.headers, 'x-global-transaction-id');
    const details = { method, url: safe, status: res.status, codes: [], messages: [], trace };
    let json: unknown;
    if (text.trim() === '') json = undefined;
    else {
      try {
        json = JSON.parse(text);
      } catch {
        const snippet = this.redactor.redact(text.slice(0, 120).replace(/\s+/g, ' '));
        throw new InvalidResponseError(details, [{ path: '(body)', message: `expected JSON, got ${JSON.stringify(snippet)}${text.length > 120 ? '...' : ''}` }]);
      }
    }
    if (opts.schema && res.status >= 200 && res.status < 300) {
      const result = opts.schema.safeParse(json, { reportInput: true });
      if (!result.success) {
        const issues = issuesFromZod(result.error.issues, { schema: opts.schema }).map((i) => ({ ...i, message: this.redactor.redact(i.message) }));
        throw new InvalidResponseError(details, issues);
      }
      return result.data;
    }
    return json;
  }

  private async exchange(method: HttpMethod, url: string, body: PreparedBody, token: string | undefined, opts: RequestOptions<unknown>, reuseConnection: boolean): Promise<RawResponse> {
    const controller = new AbortController();
    let timedOut = false;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const idle = new IdleTimer(timeoutMs, () => {
      timedOut = true;
      controller.abort();
    });
    const onUserAbort = () => controller.abort();
    opts.signal?.addEventListener('abort', onUserAbort, { once: true });
    const headers: Record<string, string> = {
      'user-agent': userAgent(),
      accept: opts.responseType === 'json' || opts.responseType === undefined ? 'application/json' : '*/*',
      ...this.options.headers,
      ...opts.headers,
    };
    if (body.contentType && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = body.contentType;
    if (token) headers.authorization = `Bearer ${token}`;
    let data = body.make();
    if (data instanceof Readable) {
      if (opts.contentLength !== undefined) headers['content-length'] = String(opts.contentLength);
      let sent = 0;
      const source = data;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sent += chunk.length;
          idle.touch();
          opts.onUploadProgress?.(sent);
          cb(null, chunk);
        },
      });
      source.once('error', (err) => counter.destroy(err));
      data = source.pipe(counter);
    }
    const fail = (err: unknown): NetFailure => {
      idle.stop();
      opts.signal?.removeEventListener('abort', onUserAbort);
      if (opts.signal?.aborted) return new NetFailure('ABORTED', 'the request was cancelled', true);
      if (timedOut) return new NetFailure('ETIMEDOUT', `no data sent or received for ${timeoutMs} ms`);
      const code = errorCode(err);
      return new NetFailure(code, err instanceof Error ? err.message : String(err), false, isStaleConnectionReset(err, code));
    };
    if (opts.signal?.aborted) throw fail(new Error('aborted'));
    try {
      const agents = reuseConnection ? {} : { httpAgent: this.agents.freshHttpAgent, httpsAgent: this.agents.freshHttpsAgent };
      const res = await this.axios.request({ method, url, data, headers, signal: controller.signal, ...agents });
      idle.touch();
      const stream = res.data as Readable;
      // No 'data' listener here: it would start the flow before the reader is attached.
      stream.once('close', () => {
        idle.stop();
        opts.signal?.removeEventListener('abort', onUserAbort);
      });
      return { status: res.status, headers: headersOf(res), stream, idle, fail };
    } catch (err) {
      throw fail(err);
    }
  }

  private async readAll(res: RawResponse, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.stream) {
        res.idle.touch();
        const b = chunk as Buffer;
        if (size < limit) chunks.push(size + b.length > limit ? b.subarray(0, limit - size) : b);
        size += b.length;
      }
    } catch (err) {
      throw res.fail(err);
    } finally {
      res.idle.stop();
    }
    return Buffer.concat(chunks);
  }

  async downloadToFile(opts: DownloadOptions): Promise<{ bytes: number; status: number }> {
    const method: HttpMethod = 'GET';
    for (let restarts = 0; ; restarts++) {
      const res = await this.send({ ...opts, method, responseType: 'stream' });
      const stream = res.data as Readable;
      const totalHeader = firstHeader(res.headers, 'content-length');
      const total = totalHeader !== undefined && /^\d+$/.test(totalHeader) && !firstHeader(res.headers, 'content-encoding') ? Number(totalHeader) : undefined;
      const tmp = join(dirname(opts.file), `.${basename(opts.file)}.${randomBytes(4).toString('hex')}.part`);
      let bytes = 0;
      const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
      const idle = new IdleTimer(timeoutMs, () => stream.destroy(Object.assign(new Error(`no data received for ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          idle.touch();
          opts.onProgress?.(bytes, total);
          cb(null, chunk);
        },
      });
      try {
        await fsp.mkdir(dirname(opts.file), { recursive: true });
        await pipeline(stream, counter, createWriteStream(tmp));
        idle.stop();
        if (total !== undefined && bytes !== total) {
          throw Object.assign(new Error(`transfer ended after ${bytes} of ${total} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        }
        await fsp.rename(tmp, opts.file);
        return { bytes, status: res.status };
      } catch (err) {
        idle.stop();
        await fsp.rm(tmp, { force: true });
        const code = errorCode(err);
        if (!opts.signal?.aborted && isTransientNetworkCode(code) && restarts < this.policy.retries) {
          const { delayMs, source } = retryDelay(restarts + 1, this.policy, undefined, this.random);
          this.options.onRetry?.({ method, url: res.url, retry: restarts + 1, delayMs, reason: code, source });
          await this.sleep(delayMs);
          continue;
        }
        if (err instanceof RemoteApiError) throw err;
        throw new RemoteApiError({
          method,
          url: res.url,
          status: undefined,
          codes: [],
          messages: [this.redactor.redact(err instanceof Error ? err.message : String(err))],
          networkCode: code,
          attempts: restarts + 1,
        });
      }
    }
  }
}

/**
 * A client for one service: token acquisition and renewal, inactivity timeouts, retries with
 * exponential backoff and full jitter on network errors, 429 and 5xx (Retry-After honoured) for
 * requests that are idempotent or marked so, one re-authentication after a 401, TLS verification
 * with an optional CA bundle, zod-validated bodies, and errors without secrets.
 *
 * @example
 * const cpd = createHttpClient({ baseUrl: profile.cpdUrl, auth: tokens, tls: profile.tls, redactor: profile.redactor });
 * const spaces = await cpd.request({ path: '/v2/spaces', query: { limit: 1 }, schema: SpacesList });
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  return new AxiosHttpClient(options);
}
