import {
  CustomMetricsProviderCredentials,
  CustomMetricsProviderReply,
  providerReplyFailure,
  type CustomMetricsProviderInvocation,
} from '../../../lib/contracts/openscale';

/** Why a provider call failed, in words for the run's `status.failure` (never containing a secret). */
export class ProviderCallError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}

const excerpt = (text: string): string => {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}…` : t;
};

/** `fetch` that turns network failures into a message naming the URL; aborts propagate. */
async function call(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    if (init.signal?.aborted) throw err;
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new ProviderCallError(`${what} ${url} is unreachable: ${why}`, 'custom_metrics_provider_unreachable');
  }
}

/**
 * The Authorization header for a provider call, from the integrated system's credentials: `bearer`
 * fetches a token from `token_info` (CPD's `/icp4d-api/v1/authorize` answers `token`, IAM answers
 * `access_token`); `basic` sends username and password.
 */
export async function providerAuthorization(credentials: unknown, signal: AbortSignal): Promise<string> {
  const parsed = CustomMetricsProviderCredentials.safeParse(credentials);
  if (!parsed.success) throw new ProviderCallError('the integrated system has no usable credentials (auth_type bearer with token_info, or basic)', 'invalid_credentials');
  const creds = parsed.data;
  if (creds.auth_type === 'basic') return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const info = creds.token_info;
  const method = (info.method ?? 'post').toUpperCase();
  // token_info.headers override the defaults whatever their case (`Content-Type` vs `content-type`).
  const headers = new Headers({ 'content-type': 'application/json', accept: 'application/json' });
  for (const [k, v] of Object.entries(info.headers ?? {})) headers.set(k, v);
  const res = await call(
    info.url,
    {
      method,
      headers,
      body: method === 'GET' ? undefined : JSON.stringify(info.payload ?? {}),
      signal,
    },
    'token_info.url',
  );
  const text = await res.text();
  if (!res.ok) throw new ProviderCallError(`token_info.url ${info.url} answered HTTP ${res.status}: ${excerpt(text)}`, 'custom_metrics_provider_auth_failed', res.status);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* handled below */
  }
  const token = body.token ?? body.access_token ?? body.accessToken;
  if (typeof token !== 'string' || token === '') {
    throw new ProviderCallError(`token_info.url ${info.url} answered without a token (expected 'token' or 'access_token')`, 'custom_metrics_provider_auth_failed', res.status);
  }
  return `Bearer ${token}`;
}

/**
 * POSTs the run payload to the provider's endpoint and checks its answer: a non-2xx status or an
 * `error_msg` in the reply is a {@link ProviderCallError}; an answer without one resolves.
 */
export async function invokeProvider(
  endpoint: string,
  credentials: unknown,
  payload: CustomMetricsProviderInvocation,
  signal: AbortSignal,
): Promise<{ httpStatus: number }> {
  const authorization = await providerAuthorization(credentials, signal);
  const res = await call(
    endpoint,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization },
      body: JSON.stringify(payload),
      signal,
    },
    'the custom metrics provider endpoint',
  );
  const text = await res.text();
  if (!res.ok) throw new ProviderCallError(`the custom metrics provider at ${endpoint} answered HTTP ${res.status}: ${excerpt(text)}`, 'custom_metrics_provider_error', res.status);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProviderCallError(`the custom metrics provider at ${endpoint} answered HTTP ${res.status} with a body that is not JSON: ${excerpt(text)}`, 'custom_metrics_provider_error', res.status);
  }
  const reply = CustomMetricsProviderReply.safeParse(json);
  if (!reply.success) {
    throw new ProviderCallError(`the custom metrics provider at ${endpoint} answered with an unexpected body: ${excerpt(text)}`, 'custom_metrics_provider_error', res.status);
  }
  const failure = providerReplyFailure(reply.data);
  if (failure !== undefined) throw new ProviderCallError(`the custom metrics provider reported an error: ${failure}`, 'custom_metrics_provider_error', res.status);
  return { httpStatus: res.status };
}
