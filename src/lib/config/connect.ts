import { ConfigError } from '../errors';
import { cpdTokenProvider, iamTokenProvider, staticTokenProvider, type TokenProvider } from '../http/auth';
import { createHttpClient, type HttpClient, type HttpClientOptions } from '../http/client';
import type { ConnectionProfile } from './profile';

/** Client settings shared by every service client of a profile. */
export type ConnectOptions = Pick<HttpClientOptions, 'timeoutMs' | 'retry' | 'onRetry' | 'onWarning' | 'sleep' | 'random' | 'headers'>;

/** The service clients of a profile, sharing one token provider and the profile's redactor. */
export interface ProfileClients {
  readonly profile: ConnectionProfile;
  readonly tokens: TokenProvider;
  /** CPD: `/v2/spaces`, `/v2/assets`, `/ml/v4/…`, `/zen-volumes/…`. */
  readonly cpd: HttpClient;
  /** OpenScale, based at `{openscaleUrl}/openscale/{instance id}` (paths start at `/v2/…`). */
  readonly openscale: HttpClient;
  /** WMLA console (`/platform/rest/deeplearning/v1`, `/dlim/v1`); undefined when the profile has no URL. */
  readonly wmlaConsole?: HttpClient;
  /** WMLA inference (`/dlim/v1/inference/{name}`); undefined when the profile has no URL. */
  readonly wmlaInference?: HttpClient;
  /** The client of a service, or a {@link ConfigError} saying which setting is missing. */
  require(service: 'wmlaConsole' | 'wmlaInference'): HttpClient;
  /** Closes idle sockets of every client. */
  close(): void;
}

/** The token provider of a profile's credentials (its own client for the authorize/IAM call). */
export function tokenProviderFor(profile: ConnectionProfile, options: ConnectOptions = {}): TokenProvider {
  const auth = profile.auth;
  const base = { ...options, tls: profile.tls, redactor: profile.redactor };
  switch (auth.kind) {
    case 'cpd-apikey':
      return cpdTokenProvider({ client: createHttpClient({ ...base, baseUrl: profile.cpdUrl }), username: auth.username, apiKey: auth.apiKey });
    case 'cpd-password':
      return cpdTokenProvider({ client: createHttpClient({ ...base, baseUrl: profile.cpdUrl }), username: auth.username, password: auth.password });
    case 'iam-apikey':
      return iamTokenProvider({ client: createHttpClient({ ...base, baseUrl: profile.iamUrl }), apiKey: auth.apiKey });
    case 'bearer':
      return staticTokenProvider(auth.token);
  }
}

/**
 * Service clients for a profile. On CPD the same bearer token serves every service (WML, OpenScale
 * and WMLA accept `Authorization: Bearer`), so one token provider is shared.
 *
 * @example
 * const { cpd, openscale } = connect(await resolveProfile());
 * const marts = await openscale.request({ path: '/v2/data_marts' });
 */
export function connect(profile: ConnectionProfile, options: ConnectOptions = {}): ProfileClients {
  let warned = false;
  const onWarning = options.onWarning
    ? (m: string) => {
        // One warning per profile, not one per client.
        if (!warned) options.onWarning!(m);
        warned = true;
      }
    : undefined;
  const tokens = tokenProviderFor(profile, { ...options, onWarning });
  const make = (baseUrl: string) => createHttpClient({ ...options, onWarning, baseUrl, auth: tokens, tls: profile.tls, redactor: profile.redactor });
  const cpd = make(profile.cpdUrl);
  const openscale = make(`${profile.openscaleUrl}/openscale/${encodeURIComponent(profile.openscaleInstanceId)}`);
  const wmlaConsole = profile.wmlaConsoleUrl ? make(profile.wmlaConsoleUrl) : undefined;
  const wmlaInference = profile.wmlaInferenceUrl ? make(profile.wmlaInferenceUrl) : undefined;
  const all = [cpd, openscale, wmlaConsole, wmlaInference].filter((c): c is HttpClient => c !== undefined);
  return {
    profile,
    tokens,
    cpd,
    openscale,
    wmlaConsole,
    wmlaInference,
    require(service) {
      const c = service === 'wmlaConsole' ? wmlaConsole : wmlaInference;
      if (c) return c;
      const variable = service === 'wmlaConsole' ? 'WMLA_CONSOLE_URL' : 'WMLA_INFERENCE_URL';
      throw new ConfigError(
        `profile "${profile.name}" has no ${service}Url: set ${variable}${profile.profilesFile ? ` or ${service}Url in profiles.${profile.name} of ${profile.profilesFile}` : ''}`,
      );
    },
    close() {
      for (const c of all) c.close();
    },
  };
}
