import { afterAll, describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError } from '../../src/lib/errors';
import { connect, DEFAULT_OPENSCALE_INSTANCE_ID, defaultProfilesFile, resolveProfile, type SandboxLauncher } from '../../src/lib/config';

const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode = 0o644): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

const PROFILES = file(
  'profiles.yaml',
  `profiles:
  prod:
    cpdUrl: https://cpd.example.com/
    wmlaConsoleUrl: https://wmla-console.example.com
    auth: cpd-apikey
    username: mlops
    caBundle: certs/ca.pem
  password-user:
    cpdUrl: https://cpd.example.com
    auth: cpd-password
    username: alice
    secretsFile: alice.secrets.yaml
`,
);

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('cluster profiles', () => {
  it('reads a named profile, takes the secret from the environment and says where each field came from', async () => {
    const env = { CPD_API_KEY: 'prod-api-key-123456' };
    const p = await resolveProfile({ profile: 'prod', profilesFile: PROFILES, env });
    expect(p).toMatchObject({ name: 'prod', kind: 'cluster', cpdUrl: 'https://cpd.example.com', wmlaConsoleUrl: 'https://wmla-console.example.com', openscaleUrl: 'https://cpd.example.com', openscaleInstanceId: DEFAULT_OPENSCALE_INSTANCE_ID });
    expect(p.auth).toEqual({ kind: 'cpd-apikey', username: 'mlops', apiKey: 'prod-api-key-123456' });
    expect(p.tls.caBundle).toBe(join(dir, 'certs', 'ca.pem'));
    expect(p.sources.cpdUrl).toBe(`file ${PROFILES} (profiles.prod.cpdUrl)`);
    expect(p.sources.apiKey).toBe('env CPD_API_KEY');
    expect(p.sources.openscaleInstanceId).toBe('default');
    const apiKeyField = p.describe().fields.find((f) => f.field === 'apiKey');
    expect(apiKeyField).toEqual({ field: 'apiKey', value: '***', source: 'env CPD_API_KEY' });
  });

  it('never shows the secret when the profile is printed, serialised or inspected', async () => {
    const p = await resolveProfile({ profile: 'prod', profilesFile: PROFILES, env: { CPD_API_KEY: 'prod-api-key-123456' } });
    const shown = [JSON.stringify(p), inspect(p, { depth: 10, showHidden: true }), String(Object.keys(p)), JSON.stringify(Object.entries(p))].join('\n');
    expect(shown).not.toContain('prod-api-key-123456');
    expect(p.redactor.redact('key=prod-api-key-123456')).toBe('key=***');
  });

  it('lets environment variables override the file', async () => {
    const p = await resolveProfile({ profile: 'prod', profilesFile: PROFILES, env: { CPD_API_KEY: 'k-123456', CPD_URL: 'https://other.example.com', WMLA_INFERENCE_URL: 'https://inf.example.com' } });
    expect(p.cpdUrl).toBe('https://other.example.com');
    expect(p.sources.cpdUrl).toBe('env CPD_URL');
    expect(p.wmlaInferenceUrl).toBe('https://inf.example.com');
  });

  it('builds the "env" profile from the predecessor variable names', async () => {
    const p = await resolveProfile({
      profile: 'env',
      env: { RUNTIME_ENV_APSX_URL: 'https://apsx.example.com', BASE_URL: 'https://base.example.com', USERNAME: 'bob', APIKEY: 'legacy-api-key-9876', WOS_GUID: 'wos-1', WMLA_HOST: 'wmla-console.example.com' },
    });
    expect(p.cpdUrl).toBe('https://base.example.com');
    expect(p.sources.cpdUrl).toBe('env BASE_URL');
    expect(p.auth).toEqual({ kind: 'cpd-apikey', username: 'bob', apiKey: 'legacy-api-key-9876' });
    expect(p.openscaleInstanceId).toBe('wos-1');
    expect(p.wmlaConsoleUrl).toBe('https://wmla-console.example.com');
    expect(p.profilesFile).toBeUndefined();
  });

  it('uses USER_ACCESS_TOKEN as a bearer token, and ignores USERNAME without APIKEY', async () => {
    const p = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', USER_ACCESS_TOKEN: 'ws-token-abcdef', USERNAME: 'oslogin' } });
    expect(p.auth).toEqual({ kind: 'bearer', token: 'ws-token-abcdef' });
    expect(p.sources.auth).toBe('inferred from the secrets present');
    const e = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', CPD_API_KEY: 'key-123456', USERNAME: 'oslogin' } }));
    expect(e.message).toContain('no user name was found: set CPD_USERNAME');
  });

  it('prefers renewable credentials over a fixed token when both are present', async () => {
    const p = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', USER_ACCESS_TOKEN: 'ws-token-abcdef', CPD_USERNAME: 'u', CPD_API_KEY: 'key-123456' } });
    expect(p.auth.kind).toBe('cpd-apikey');
    const iam = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://us-south.ml.cloud.ibm.com', IBM_CLOUD_API_KEY: 'iam-key-123456', OPENSCALE_URL: 'https://api.aiopenscale.cloud.ibm.com' } });
    expect(iam.auth).toEqual({ kind: 'iam-apikey', apiKey: 'iam-key-123456' });
    expect(iam.iamUrl).toBe('https://iam.cloud.ibm.com');
    expect(iam.openscaleUrl).toBe('https://api.aiopenscale.cloud.ibm.com');
  });

  it('says which secret is missing and where it may come from', async () => {
    const e = await configError(resolveProfile({ profile: 'prod', profilesFile: PROFILES, env: {} }));
    expect(e.message).toContain('uses auth cpd-apikey but no API key was found: set CPD_API_KEY (or APIKEY), or put apiKey in a secrets file');
    const e2 = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', RUNBOOK_AUTH: 'iam-apikey' } }));
    expect(e2.message).toContain('IBM_CLOUD_API_KEY');
    const e3 = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', RUNBOOK_AUTH: 'basic' } }));
    expect(e3.message).toBe('env RUNBOOK_AUTH: expected one of cpd-apikey, cpd-password, bearer, iam-apikey, got "basic"');
  });

  it('rejects malformed URLs and booleans, naming the variable', async () => {
    const e = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'cpd.example.com', CPD_BEARER_TOKEN: 'tok-123456' } }));
    expect(e.message).toBe('env CPD_URL: expected an http(s) URL such as https://cpd.example.com, got "cpd.example.com"');
    const e2 = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', CPD_BEARER_TOKEN: 'tok-123456', RUNBOOK_INSECURE_TLS: 'maybe' } }));
    expect(e2.message).toContain('env RUNBOOK_INSECURE_TLS: expected true or false');
    const p = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', CPD_BEARER_TOKEN: 'tok-123456', RUNBOOK_INSECURE_TLS: 'true' } });
    expect(p.tls.insecure).toBe(true);
  });

  it('names unknown profiles and lists the known ones; a missing file is explained', async () => {
    const e = await configError(resolveProfile({ profile: 'staging', profilesFile: PROFILES, env: {} }));
    expect(e.message).toBe(`profile "staging" is not in ${PROFILES} (profiles there: prod, password-user; built in: sandbox, env)`);
    const e2 = await configError(resolveProfile({ profile: 'prod', profilesFile: join(dir, 'nope.yaml'), env: {} }));
    expect(e2.message).toContain('does not exist');
    const e3 = await configError(resolveProfile({ profile: 'env', env: {} }));
    expect(e3.message).toContain('CPD_URL (or BASE_URL / RUNTIME_ENV_APSX_URL) is not set');
  });

  it('refuses secrets in the profiles file, naming the key and where secrets belong', async () => {
    const f = file('with-secret.yaml', 'profiles:\n  p:\n    cpdUrl: https://c.example.com\n    apiKey: oops-in-file\n');
    const e = await configError(resolveProfile({ profile: 'p', profilesFile: f, env: {} }));
    expect(e.message).toContain(`${f}: profiles.p.apiKey is a secret`);
    expect(e.message).toContain('CPD_API_KEY');
    expect(e.message).not.toContain('oops-in-file');
  });

  it('validates the profiles file with the field path and line', async () => {
    const f = file('bad.yaml', 'profiles:\n  p:\n    cpdUrl: https://c.example.com\n    insecureTls: "yes"\n    colour: blue\n');
    const e = await configError(resolveProfile({ profile: 'p', profilesFile: f, env: {} }));
    expect(e.message).toContain(`profiles file ${f} is not valid`);
    expect(e.message).toContain('profiles.p.insecureTls: expected true or false, got "yes" (line 4)');
    expect(e.message).toContain('profiles.p.colour: unknown key; expected one of: cpdUrl');
  });

  it('reads a secrets file only when its owner alone can read it', async () => {
    const secrets = file('alice.secrets.yaml', 'password: alice-password-42\n', 0o644);
    const e = await configError(resolveProfile({ profile: 'password-user', profilesFile: PROFILES, env: {} }));
    expect(e.message).toBe(`secrets file ${secrets} has mode 0644: it must be readable by its owner only; run: chmod 600 ${secrets}`);
    chmodSync(secrets, 0o600);
    const p = await resolveProfile({ profile: 'password-user', profilesFile: PROFILES, env: {} });
    expect(p.auth).toEqual({ kind: 'cpd-password', username: 'alice', password: 'alice-password-42' });
    expect(p.sources.password).toBe(`secrets file ${secrets}`);
    chmodSync(secrets, 0o400);
    const viaEnv = await resolveProfile({ profile: 'password-user', profilesFile: PROFILES, env: { CPD_PASSWORD: 'from-env-password' } });
    expect(viaEnv.auth).toMatchObject({ password: 'from-env-password' });
  });

  it('rejects unknown keys in a secrets file without echoing values', async () => {
    const f = file('odd.secrets.yaml', 'apikey: value-should-not-show\n', 0o600);
    const e = await configError(resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', RUNBOOK_SECRETS_FILE: f } }));
    expect(e.message).toContain('apikey (unknown key)');
    expect(e.message).not.toContain('value-should-not-show');
  });

  it('finds the profiles file from RUNBOOK_PROFILES_FILE, XDG_CONFIG_HOME or ~/.config', () => {
    expect(defaultProfilesFile({ RUNBOOK_PROFILES_FILE: '/x/p.yaml' }, '/home/u')).toBe('/x/p.yaml');
    expect(defaultProfilesFile({ XDG_CONFIG_HOME: '/cfg' }, '/home/u')).toBe('/cfg/cpd-runbook/profiles.yaml');
    expect(defaultProfilesFile({}, '/home/u')).toBe('/home/u/.config/cpd-runbook/profiles.yaml');
  });
});

describe('sandbox profile', () => {
  it('points every service at the sandbox with the demo user, through the launcher', async () => {
    const calls: unknown[] = [];
    const launcher: SandboxLauncher = {
      ensureSandbox: async (o) => {
        calls.push(o);
        return { url: 'http://127.0.0.1:4567/', pid: 42, stateDir: '/tmp/state', startedNow: true };
      },
      SANDBOX_DEMO_USER: { username: 'admin', apiKey: 'sandbox-demo-api-key', password: 'sandbox-demo-password' },
    };
    const p = await resolveProfile({ env: { CPD_URL: 'https://ignored.example.com' }, sandbox: { launcher, stateDir: '/tmp/state' } });
    expect(p).toMatchObject({ name: 'sandbox', kind: 'sandbox', cpdUrl: 'http://127.0.0.1:4567', wmlaConsoleUrl: 'http://127.0.0.1:4567', wmlaInferenceUrl: 'http://127.0.0.1:4567', sandbox: { pid: 42, startedNow: true } });
    expect(p.auth).toEqual({ kind: 'cpd-apikey', username: 'admin', apiKey: 'sandbox-demo-api-key' });
    expect(calls).toEqual([{ stateDir: '/tmp/state', port: undefined }]);
  });
});

describe('connect', () => {
  it('gives one client per service sharing a token provider, and explains a missing service URL', async () => {
    const p = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', CPD_BEARER_TOKEN: 'tok-123456', OPENSCALE_INSTANCE_ID: 'inst 1' } });
    const c = connect(p);
    expect(c.cpd.baseUrl).toBe('https://c.example.com');
    expect(c.openscale.baseUrl).toBe('https://c.example.com/openscale/inst%201');
    expect(c.openscale.url('/v2/data_marts')).toBe('https://c.example.com/openscale/inst%201/v2/data_marts');
    expect(c.wmlaConsole).toBeUndefined();
    expect(() => c.require('wmlaConsole')).toThrow('profile "env" has no wmlaConsoleUrl: set WMLA_CONSOLE_URL');
    expect(c.tokens.kind).toBe('bearer');
    c.close();
  });

  it('warns once per profile when TLS verification is off', async () => {
    const p = await resolveProfile({ profile: 'env', env: { CPD_URL: 'https://c.example.com', WMLA_CONSOLE_URL: 'https://w.example.com', CPD_BEARER_TOKEN: 'tok-123456', RUNBOOK_INSECURE_TLS: '1' } });
    const warnings: string[] = [];
    connect(p, { onWarning: (w) => warnings.push(w) }).close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('verification is OFF');
  });
});
