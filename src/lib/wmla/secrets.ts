import { isCredentialName, Redactor } from '../redact';

/**
 * Where WMLA would expose a value to people who should not see it, and how the clients decide that
 * a value is a secret.
 *
 * * Training `args` travel in the URL query string of `POST /execs?args=…` (the real API requires
 *   it there), so they land in proxy and server access logs, and WMLA shows them again in
 *   `GET /execs`. The predecessor sent `--msd-env USER_ACCESS_TOKEN=<token>` that way (bug 3).
 * * EDI `mk_environments` are stored in `model.json` and answered by `GET /dlim/v1/model` to every
 *   user of the console. The predecessor wrote `CPD_API_KEY` into the kernel source (bug 2).
 */

const plainRedactor = new Redactor();

/**
 * True when a `NAME=value` pair looks like a credential: the name is credential-like
 * (`USER_ACCESS_TOKEN`, `CPD_API_KEY`, `PASSWORD`, …), the value is a bearer token or a JWT, or the
 * value is one of the secrets `known` holds (e.g. the connection profile's API key or token).
 */
export function looksSecret(name: string | undefined, value: string, known?: Redactor): boolean {
  if (name !== undefined && isCredentialName(name) && value !== '') return true;
  if (plainRedactor.redact(value) !== value) return true;
  return known !== undefined && known.redact(value) !== value;
}

/** True when `value` alone (no name) is a known secret, a bearer token or a JWT. */
export function containsSecret(value: string, known?: Redactor): boolean {
  return looksSecret(undefined, value, known);
}
