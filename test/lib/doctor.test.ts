import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Command } from 'commander';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkKernelspec, checkNode, runDoctor, type DoctorReport } from '../../src/lib/config';
import { RunbookError } from '../../src/lib/errors';
import { doctorCommand, register } from '../../src/cli/commands/doctor';
import { json, makeJwt, selfSignedCert, startHttpsServer, startServer, type TestServer } from './helpers/servers';

const API_KEY = 'doctor-api-key-5555';
const INSTANCE = '00000000-0000-0000-0000-000000000000';
const dir = mkdtempSync(join(tmpdir(), 'doctor-'));
let cluster: TestServer;
let issuedToken = '';

/** A CPD + WMLA + OpenScale stand-in answering the doctor's calls. */
beforeAll(async () => {
  cluster = await startServer((req, res, body) => {
    if (req.url === '/icp4d-api/v1/authorize') {
      const b = JSON.parse(body.toString());
      if (b.api_key !== API_KEY) return json(res, 401, { _messageCode_: '401', message: `Invalid credentials for ${b.username} with key ${b.api_key}` });
      const iat = Math.floor(Date.now() / 1000);
      issuedToken = makeJwt({ username: b.username, iat, exp: iat + 3600 });
      return json(res, 200, { token: issuedToken });
    }
    if (req.headers.authorization !== `Bearer ${issuedToken}`) return json(res, 401, { trace: 't', errors: [{ code: 'unauthorized', message: 'bad token' }] });
    if (req.url === '/v2/spaces?limit=1') return json(res, 200, { resources: [{ metadata: { id: 's1' } }], total_count: 3 });
    if (req.url === '/platform/rest/deeplearning/v1/conf') return json(res, 200, { version: '2.3.7' });
    if (req.url === `/openscale/${INSTANCE}/v2/data_marts`) return json(res, 200, { data_marts: [{ metadata: { id: INSTANCE } }] });
    return json(res, 404, { trace: 'nf', errors: [{ code: 'not_found', message: `no route ${req.url}` }] });
  });
});
afterAll(async () => {
  await cluster.close();
  rmSync(dir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { CPD_URL: cluster.url, WMLA_CONSOLE_URL: cluster.url, WMLA_INFERENCE_URL: cluster.url, CPD_USERNAME: 'admin', CPD_API_KEY: API_KEY, ...extra };
}

function byId(r: DoctorReport, id: string) {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id} in ${r.checks.map((x) => x.id).join(', ')}`);
  return c;
}

describe('runDoctor', () => {
  it('passes every check against a working cluster and reports what it found', async () => {
    const r = await runDoctor({ profile: 'env', env: env(), timeoutMs: 5000 });
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.outcome).toBe('ok');
    expect(byId(r, 'auth').detail).toMatch(/^token obtained for admin, expires \S+ \(in (59|60) min\)$/);
    expect(byId(r, 'service:wml').detail).toContain('1 resources, total 3');
    expect(byId(r, 'service:wmla').detail).toContain('version 2.3.7');
    expect(byId(r, 'service:openscale').detail).toContain('1 data marts');
    expect(byId(r, `reach:${new URL(cluster.url).host}`).status).toBe('ok');
    expect(r.profile!.fields.find((f) => f.field === 'apiKey')).toEqual({ field: 'apiKey', value: '***', source: 'env CPD_API_KEY' });
  });

  it('fails authentication with a bad key, skips the services, and never shows the key', async () => {
    const r = await runDoctor({ profile: 'env', env: env({ CPD_API_KEY: 'wrong-doctor-key-777' }), timeoutMs: 5000 });
    expect(r.outcome).toBe('remote');
    const auth = byId(r, 'auth');
    expect(auth.status).toBe('fail');
    expect(auth.detail).toContain('/icp4d-api/v1/authorize → 401');
    expect(auth.hint).toBe('Authentication failed: check the username (admin) and the API key (CPD_API_KEY) of the profile');
    expect(auth.detail).not.toContain('Authentication failed');
    expect(byId(r, 'service:wml').status).toBe('skip');
    expect(JSON.stringify(r)).not.toContain('wrong-doctor-key-777');
  });

  it('reports an unreachable WMLA host and skips only that service', async () => {
    const closed = await startServer(() => undefined);
    const url = closed.url;
    await closed.close();
    const r = await runDoctor({ profile: 'env', env: env({ WMLA_CONSOLE_URL: url }), timeoutMs: 3000 });
    const reach = byId(r, `reach:${new URL(url).host}`);
    expect(reach).toMatchObject({ status: 'fail', category: 'remote' });
    expect(reach.detail).toContain('ECONNREFUSED');
    expect(reach.hint).toContain('nothing listens there');
    expect(byId(r, 'service:wmla').status).toBe('skip');
    expect(byId(r, 'service:wml').status).toBe('ok');
    expect(r.outcome).toBe('remote');
  });

  it('names a service that is not there (404) with a hint about the URL', async () => {
    const r = await runDoctor({ profile: 'env', env: env({ OPENSCALE_INSTANCE_ID: 'other-instance' }), timeoutMs: 3000 });
    const os = byId(r, 'service:openscale');
    expect(os.status).toBe('fail');
    expect(os.detail).toContain('/openscale/other-instance/v2/data_marts → 404 not_found');
    expect(os.hint).toContain('check openscaleUrl / openscaleInstanceId');
  });

  it('warns when WMLA URLs are missing', async () => {
    const r = await runDoctor({ profile: 'env', env: { CPD_URL: cluster.url, CPD_USERNAME: 'admin', CPD_API_KEY: API_KEY }, timeoutMs: 3000 });
    expect(byId(r, 'wmlaConsoleUrl')).toMatchObject({ status: 'warn', hint: 'set WMLA_CONSOLE_URL or wmlaConsoleUrl in the profile' });
    expect(byId(r, 'service:wmla').status).toBe('skip');
    expect(r.outcome).toBe('ok');
  });

  it('fails as a configuration problem when the profile does not resolve', async () => {
    const secrets = join(dir, 'open.secrets.yaml');
    writeFileSync(secrets, `apiKey: ${API_KEY}\n`);
    chmodSync(secrets, 0o644);
    const r = await runDoctor({ profile: 'env', env: { CPD_URL: cluster.url, CPD_USERNAME: 'admin', RUNBOOK_SECRETS_FILE: secrets }, timeoutMs: 3000 });
    expect(byId(r, 'profile')).toMatchObject({ status: 'fail', category: 'config' });
    expect(byId(r, 'profile').detail).toContain('chmod 600');
    expect(r.outcome).toBe('config');
    expect(r.checks.some((c) => c.id === 'auth')).toBe(false);
  });
});

describe('local checks', () => {
  it('checks the Node version', () => {
    expect(checkNode('20.20.2', '20.19.0').status).toBe('ok');
    expect(checkNode('20.19.0', '20.19.0').status).toBe('ok');
    const old = checkNode('20.11.1', '20.19.0');
    expect(old).toMatchObject({ status: 'fail', category: 'local' });
    expect(old.hint).toContain('20.19.0');
  });

  it('checks that the kernelspec exists and points at existing files', () => {
    const root = join(dir, 'project');
    expect(checkKernelspec(root)).toMatchObject({ status: 'fail' });
    mkdirSync(join(root, '.jupyter', 'kernels', 'tslab'), { recursive: true });
    const spec = join(root, '.jupyter', 'kernels', 'tslab', 'kernel.json');
    writeFileSync(spec, JSON.stringify({ argv: [process.execPath, join(root, 'node_modules', 'tslab', 'bin', 'tslab'), 'kernel'] }));
    const missing = checkKernelspec(root);
    expect(missing.status).toBe('fail');
    expect(missing.detail).toContain('points at missing');
    mkdirSync(join(root, 'node_modules', 'tslab', 'bin'), { recursive: true });
    writeFileSync(join(root, 'node_modules', 'tslab', 'bin', 'tslab'), '');
    expect(checkKernelspec(root).status).toBe('ok');
  });
});

const cert = selfSignedCert();
(cert ? describe : describe.skip)('TLS checks', () => {
  let secure: TestServer;
  beforeAll(async () => {
    secure = await startHttpsServer(cert!, (_req, res) => json(res, 404, {}));
  });
  afterAll(async () => {
    await secure.close();
  });

  it('fails an untrusted certificate with a fix, trusts it with the CA bundle, warns on near expiry', async () => {
    const base = { CPD_URL: cluster.url, CPD_USERNAME: 'admin', CPD_API_KEY: API_KEY, WMLA_CONSOLE_URL: secure.url, WMLA_INFERENCE_URL: cluster.url };
    const host = new URL(secure.url).host;
    const untrusted = await runDoctor({ profile: 'env', env: base, timeoutMs: 3000 });
    expect(byId(untrusted, `tls:${host}`)).toMatchObject({ status: 'fail' });
    expect(byId(untrusted, `tls:${host}`).hint).toContain('set caBundle');
    const trusted = await runDoctor({ profile: 'env', env: { ...base, RUNBOOK_CA_BUNDLE: cert!.certPath }, timeoutMs: 3000 });
    // The test certificate is valid for 2 days: trusted but close to expiry.
    expect(byId(trusted, `tls:${host}`)).toMatchObject({ status: 'warn' });
    expect(byId(trusted, `tls:${host}`).detail).toMatch(/^trusted, but valid until/);
    const relaxed = await runDoctor({ profile: 'env', env: { ...base, RUNBOOK_CA_BUNDLE: cert!.certPath }, timeoutMs: 3000, certWarningDays: 1 });
    expect(byId(relaxed, `tls:${host}`).status).toBe('ok');
    const insecure = await runDoctor({ profile: 'env', env: { ...base, RUNBOOK_INSECURE_TLS: 'true' }, timeoutMs: 3000 });
    expect(byId(insecure, `tls:${host}`).status).toBe('warn');
    expect(byId(insecure, 'insecure').status).toBe('warn');
  });
});

describe('runbook doctor command', () => {
  it('prints each check with its fix, the profile with secrets masked, and exits with the remote code', async () => {
    let out = '';
    let err: unknown;
    const saved = { ...process.env };
    Object.assign(process.env, env({ CPD_API_KEY: 'cli-wrong-key-31337' }));
    try {
      await doctorCommand({ profile: 'env', timeout: '3000' }, (t) => (out += t));
    } catch (e) {
      err = e;
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    expect(err).toBeInstanceOf(RunbookError);
    expect((err as RunbookError).kind).toBe('remote');
    expect(out).toMatch(/ {2}FAIL {2}authentication \(cpd-apikey\): POST .*→ 401/);
    expect(out).toContain('fix: ');
    expect(out).toMatch(/apiKey +\*\*\* +env CPD_API_KEY/);
    expect(out).not.toContain('cli-wrong-key-31337');
  });

  it('prints JSON with --json and returns the report when all is well', async () => {
    let out = '';
    const saved = { ...process.env };
    Object.assign(process.env, env());
    let report: DoctorReport;
    try {
      report = await doctorCommand({ profile: 'env', json: true }, (t) => (out += t));
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    expect(JSON.parse(out).outcome).toBe('ok');
    expect(report!.outcome).toBe('ok');
    expect(out).not.toContain(API_KEY);
  });

  it('is registered with help text listing the environment variables', () => {
    const program = new Command('runbook');
    register(program);
    const doctor = program.commands.find((c) => c.name() === 'doctor')!;
    let help = '';
    doctor.configureOutput({ writeOut: (s) => (help += s) });
    doctor.outputHelp();
    expect(help).toContain('--profile <name>');
    for (const v of ['CPD_API_KEY', 'USER_ACCESS_TOKEN', 'RUNBOOK_PROFILES_FILE', 'BASE_URL / RUNTIME_ENV_APSX_URL']) expect(help).toContain(v);
  });
});
