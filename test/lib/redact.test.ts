import { describe, expect, it } from '@jest/globals';
import { Redactor, REDACTED, isCredentialName } from '../../src/lib/redact';

describe('Redactor', () => {
  it('replaces every occurrence of a registered secret, longest first', () => {
    const r = new Redactor(['s3cr3t', 's3cr3t-extended']);
    expect(r.redact('a s3cr3t-extended b s3cr3t c')).toBe(`a ${REDACTED} b ${REDACTED} c`);
  });

  it('matches JSON-escaped and URL-encoded forms of a secret', () => {
    const secret = 'p"a\\ss w/rd';
    const r = new Redactor([secret]);
    expect(r.redact(JSON.stringify({ v: secret }))).not.toContain('ss w');
    expect(r.redact(`https://x/?k=${encodeURIComponent(secret)}`)).toBe(`https://x/?k=${REDACTED}`);
  });

  it('ignores values too short to be secrets', () => {
    const r = new Redactor(['ab', '']);
    expect(r.size).toBe(0);
    expect(r.redact('ab cd')).toBe('ab cd');
  });

  it('masks bearer tokens and JWTs even when they were never registered', () => {
    const r = new Redactor();
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJ1c2VybmFtZSI6ImFkbWluIn0.c2lnbmF0dXJl';
    expect(r.redact('Authorization: Bearer abcdefgh12345')).toBe(`Authorization: Bearer ${REDACTED}`);
    expect(r.redact(`token=${jwt} end`)).toBe(`token=${REDACTED} end`);
  });

  it('redacts nested values and keys without touching the original', () => {
    const original = { outer: ['keep', { tok3n: 'tok3n value' }], n: 3 };
    const out = new Redactor(['tok3n']).redactDeep(original);
    expect(out).toEqual({ outer: ['keep', { [REDACTED]: `${REDACTED} value` }], n: 3 });
    expect(original.outer[1]).toEqual({ tok3n: 'tok3n value' });
  });

  it('collects credential-named environment variables only', () => {
    const r = Redactor.fromEnv({ CPD_API_KEY: 'key-1234', USER_ACCESS_TOKEN: 'tok-5678', HOME: '/root/home' });
    expect(r.redact('key-1234 tok-5678 /root/home')).toBe(`${REDACTED} ${REDACTED} /root/home`);
  });

  it('classifies credential variable names', () => {
    for (const n of ['APIKEY', 'CPD_API_KEY', 'USER_ACCESS_TOKEN', 'DB_PASSWORD', 'CLIENT_SECRET']) expect(isCredentialName(n)).toBe(true);
    for (const n of ['HOME', 'PATH', 'WML_SPACE_ID', 'USERNAME', 'GIT_AUTHOR_NAME', 'XAUTHORITY']) expect(isCredentialName(n)).toBe(false);
    for (const n of ['AUTH', 'PROXY_AUTH', 'AUTH_HEADER', 'Authorization', 'proxy-authorization', 'X-Auth-Token']) expect(isCredentialName(n)).toBe(true);
  });
});
