import type { IncomingMessage } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SandboxConfig, SandboxUser } from './config';
import { unauthorized } from './errors';
import type { AuthMode, Principal } from './http/router';
import { signJwt, verifyJwt, type SandboxClaims } from './jwt';

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Users, credential checks, token minting and verification for every module. */
export class AuthService {
  constructor(
    private readonly config: SandboxConfig,
    private readonly secret: Buffer,
  ) {}

  get tokenTtlSeconds(): number {
    return this.config.tokenTtlSeconds;
  }

  user(username: string): SandboxUser | undefined {
    return this.config.users.find((u) => u.username === username);
  }

  /** The `uid` claim: configured, or CPD-like and stable by position in `users`. */
  uidOf(user: SandboxUser): string {
    return user.uid ?? String(1000330999 + Math.max(0, this.config.users.indexOf(user)));
  }

  /** The user whose api key or password matches, else undefined. */
  checkCredentials(username: string, secret: { apiKey?: string | null; password?: string | null }): SandboxUser | undefined {
    const user = this.user(username);
    if (!user) return undefined;
    if (secret.apiKey) return user.apiKey !== undefined && sameSecret(user.apiKey, secret.apiKey) ? user : undefined;
    if (secret.password) return user.password !== undefined && sameSecret(user.password, secret.password) ? user : undefined;
    return undefined;
  }

  /** `Authorization: Basic …` checked against passwords (or api keys), for EDI/WMLA logon. */
  checkBasic(header: string | undefined): SandboxUser | undefined {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!m) return undefined;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const username = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    return this.checkCredentials(username, { password: secret }) ?? this.checkCredentials(username, { apiKey: secret });
  }

  userForIamKey(apiKey: string): SandboxUser | undefined {
    const entry = this.config.iamApiKeys.find((k) => sameSecret(k.apiKey, apiKey));
    return entry ? this.user(entry.username) : undefined;
  }

  /** A signed JWT for `user` with the configured lifetime (or `ttlSeconds`). */
  mint(user: SandboxUser, options: { iss?: string; ttlSeconds?: number } = {}): { token: string; claims: SandboxClaims } {
    const iat = Math.floor(Date.now() / 1000);
    const claims: SandboxClaims = {
      username: user.username,
      sub: user.username,
      uid: this.uidOf(user),
      iat,
      exp: iat + (options.ttlSeconds ?? this.config.tokenTtlSeconds),
      iss: options.iss ?? 'cpd',
    };
    return { token: signJwt(claims, this.secret), claims };
  }

  /** A URL-safe signature of `data` with the state dir's key (pre-signed upload/download URLs). */
  sign(data: string): string {
    return createHmac('sha256', this.secret).update(`sig:${data}`).digest('base64url');
  }

  checkSignature(data: string, signature: string | null | undefined): boolean {
    return typeof signature === 'string' && sameSecret(this.sign(data), signature);
  }

  /** The principal of a valid token for a configured user; throws a 401 otherwise. */
  verifyToken(token: string): Principal {
    const result = verifyJwt(token, this.secret);
    if (!result.ok) throw unauthorized(`Invalid token: ${result.reason}`);
    const user = this.user(result.claims.username);
    if (!user) throw unauthorized(`Invalid token: the user '${result.claims.username}' no longer exists`);
    return { username: user.username, uid: this.uidOf(user), token };
  }

  /** Authenticates a request according to the route's mode; throws a 401 in IBM's envelope. */
  authenticate(req: IncomingMessage, mode: AuthMode): Principal | undefined {
    if (mode === 'none') return undefined;
    const header = req.headers.authorization;
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (bearer) return this.verifyToken(bearer[1]!);
    if (typeof mode === 'object') {
      for (const name of mode.headers) {
        const value = req.headers[name.toLowerCase()];
        if (typeof value === 'string' && value.trim() !== '') return this.verifyToken(value.trim());
      }
      if (header) throw unauthorized('The Authorization header must be "Bearer <token>"');
      throw unauthorized(`Missing token: send "Authorization: Bearer <token>" or one of ${mode.headers.join(', ')}`);
    }
    if (header) throw unauthorized('The Authorization header must be "Bearer <token>"');
    throw unauthorized('Missing token: send "Authorization: Bearer <token>"');
  }
}
