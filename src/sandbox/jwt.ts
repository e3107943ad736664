import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteFileSync } from '../lib/util/atomic-write';

/** Claims the sandbox puts in every token it mints. */
export interface SandboxClaims {
  username: string;
  sub: string;
  uid: string;
  iat: number;
  exp: number;
  /** `cpd` for `/icp4d-api/v1/authorize` tokens, `iam` for IAM access tokens. */
  iss: string;
  [claim: string]: unknown;
}

const HEADER = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function sign(data: string, secret: Buffer): string {
  return createHmac('sha256', secret).update(data).digest('base64url');
}

/** A compact HS256 JWT. */
export function signJwt(claims: SandboxClaims, secret: Buffer): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const data = `${HEADER}.${payload}`;
  return `${data}.${sign(data, secret)}`;
}

export type VerifyResult = { ok: true; claims: SandboxClaims } | { ok: false; reason: string };

/** Checks shape, algorithm, signature (constant time) and expiry. */
export function verifyJwt(token: string, secret: Buffer, nowSeconds = Math.floor(Date.now() / 1000)): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'the token is not a JWT' };
  const [header, payload, signature] = parts as [string, string, string];
  let alg: unknown;
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown }).alg;
  } catch {
    return { ok: false, reason: 'the token header is not valid JSON' };
  }
  if (alg !== 'HS256') return { ok: false, reason: 'the token is not signed by this sandbox' };
  const expected = Buffer.from(sign(`${header}.${payload}`, secret));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return { ok: false, reason: 'the token signature is invalid' };
  }
  let claims: SandboxClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as SandboxClaims;
  } catch {
    return { ok: false, reason: 'the token payload is not valid JSON' };
  }
  if (typeof claims.exp !== 'number' || typeof claims.username !== 'string') {
    return { ok: false, reason: 'the token lacks the exp or username claim' };
  }
  if (claims.exp <= nowSeconds) return { ok: false, reason: 'the token has expired' };
  return { ok: true, claims };
}

/** `<stateDir>/secret.key`: the per-state-dir signing key, created (mode 0600) on first use. */
export function loadOrCreateSecret(stateDir: string): Buffer {
  const file = join(stateDir, 'secret.key');
  if (existsSync(file)) {
    const hex = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
  }
  const secret = randomBytes(32);
  atomicWriteFileSync(file, secret.toString('hex') + '\n');
  try {
    chmodSync(file, 0o600);
  } catch {
    /* best effort on file systems without modes */
  }
  return secret;
}
