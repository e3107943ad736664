import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { ConfigError } from '../errors';

/** TLS settings of a connection: verification is on unless `insecure` is set explicitly. */
export interface TlsOptions {
  /** A PEM file of extra CA certificates to trust (a cluster's self-signed or private CA), on top of the public roots. */
  readonly caBundle?: string;
  /** Turns certificate verification off. For throwaway clusters only: a warning is emitted. */
  readonly insecure?: boolean;
}

/** The warning emitted when verification is off. */
export const INSECURE_TLS_WARNING =
  'TLS certificate verification is OFF (insecure switch): anyone on the network path can read the credentials and data. Use a CA bundle (caBundle / RUNBOOK_CA_BUNDLE) instead.';

/** Reads the PEM certificates of a CA bundle; a missing or empty file is a {@link ConfigError} naming it. */
export function readCaBundle(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`CA bundle ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): set caBundle to a PEM file with the cluster's CA certificate`);
  }
  const certs = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!certs.length) throw new ConfigError(`CA bundle ${path} contains no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certs;
}

/** The `tls.connect` / `https.Agent` options for {@link TlsOptions}. */
export function tlsConnectOptions(tls: TlsOptions = {}): { ca?: string[]; rejectUnauthorized: boolean } {
  if (tls.insecure) return { rejectUnauthorized: false };
  if (tls.caBundle) return { ca: [...rootCertificates, ...readCaBundle(tls.caBundle)], rejectUnauthorized: true };
  return { rejectUnauthorized: true };
}

/** The agents of a client: kept-alive ones, and fresh-connection ones for requests that must not be re-sent. */
export interface ClientAgents {
  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  readonly freshHttpAgent: http.Agent;
  readonly freshHttpsAgent: https.Agent;
}

/**
 * HTTP and HTTPS agents for a client. Keep-alive is on (CPD sessions make many calls to one host).
 * A request that cannot safely be sent twice goes over a fresh connection: a kept-alive one may be
 * closed by the server's idle timeout just as the request goes out, and then nobody knows whether
 * the server acted on it. With `insecure`, `onWarning` receives {@link INSECURE_TLS_WARNING} once.
 */
export function createAgents(tls: TlsOptions = {}, onWarning?: (message: string) => void): ClientAgents {
  const options = tlsConnectOptions(tls);
  if (tls.insecure) onWarning?.(INSECURE_TLS_WARNING);
  return {
    httpAgent: new http.Agent({ keepAlive: true }),
    httpsAgent: new https.Agent({ keepAlive: true, ...options }),
    freshHttpAgent: new http.Agent({ keepAlive: false }),
    freshHttpsAgent: new https.Agent({ keepAlive: false, ...options }),
  };
}
