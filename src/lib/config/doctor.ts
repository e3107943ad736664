import { existsSync, readFileSync } from 'node:fs';
import { promises as dns } from 'node:dns';
import net from 'node:net';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { RunbookError } from '../errors';
import { RemoteApiError } from '../http/errors';
import { tlsConnectOptions } from '../http/tls';
import { projectRoot } from '../util/project-root';
import { Redactor } from '../redact';
import { connect, type ProfileClients } from './connect';
import { resolveProfile, type ConnectionProfile, type ProfileDescription, type ResolveProfileOptions } from './profile';

/**
 * The checks behind `runbook doctor`: is this machine set up (Node, kernelspec, zeromq), does the
 * profile resolve, are its hosts reachable with trusted certificates, do the credentials give a
 * token, and does each service answer an authenticated GET. Every check says what is wrong and
 * how to fix it. Nothing is printed here; the CLI renders the report.
 */

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
/** local: this machine; config: the profile and its files; remote: the services. */
export type CheckCategory = 'local' | 'config' | 'remote';

/** One check's outcome. */
export interface DoctorCheck {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  readonly category: CheckCategory;
  readonly detail: string;
  /** How to fix it (for warn and fail). */
  readonly hint?: string;
}

/** All checks, the profile as resolved (no secrets), and what the exit status should be. */
export interface DoctorReport {
  readonly profile?: ProfileDescription;
  readonly checks: readonly DoctorCheck[];
  readonly failures: number;
  readonly warnings: number;
  /** 'config' when a local or configuration check failed, else 'remote' when a service check failed. */
  readonly outcome: 'ok' | 'config' | 'remote';
}

/** Options of {@link runDoctor}. */
export interface DoctorOptions extends ResolveProfileOptions {
  /** The project whose kernelspec is checked (default: this installation). */
  readonly projectRoot?: string;
  /** Limit of each network check (default 10 s). */
  readonly timeoutMs?: number;
  /** Receives each check as it completes (for live output). */
  readonly onCheck?: (check: DoctorCheck) => void;
  /** Node.js version to check (default the running one) and the minimum (default 20.19.0). */
  readonly nodeVersion?: string;
  readonly minNodeVersion?: string;
  /** Certificates expiring sooner than this many days give a warning (default 14). */
  readonly certWarningDays?: number;
}

function versionAtLeast(version: string, min: string): boolean {
  const a = version.replace(/^v/, '').split('.').map((x) => parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function inDuration(ms: number): string {
  const m = Math.round(Math.abs(ms) / 60000);
  const text = m >= 2880 ? `${Math.round(m / 1440)} days` : m >= 120 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

/** Node.js version check. */
export function checkNode(version: string = process.versions.node, min = '20.19.0'): DoctorCheck {
  const ok = versionAtLeast(version, min);
  return {
    id: 'node',
    title: 'Node.js',
    category: 'local',
    status: ok ? 'ok' : 'fail',
    detail: `Node.js ${version}${ok ? '' : `, older than ${min}`}`,
    hint: ok ? undefined : `install Node.js ${min} or newer (e.g. with nvm: nvm install 20)`,
  };
}

/** The tslab kernelspec of the project exists and points at files that exist. */
export function checkKernelspec(projectRoot: string): DoctorCheck {
  const file = join(projectRoot, '.jupyter', 'kernels', 'tslab', 'kernel.json');
  const base = { id: 'kernelspec', title: 'tslab kernelspec', category: 'local' as const };
  const hint = 'run `node tools/install-kernel.mjs` in the project (npm install runs it)';
  if (!existsSync(file)) return { ...base, status: 'fail', detail: `${file} does not exist`, hint };
  let spec: { argv?: unknown };
  try {
    spec = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return { ...base, status: 'fail', detail: `${file} is not valid JSON: ${(err as Error).message}`, hint };
  }
  if (!Array.isArray(spec.argv) || spec.argv.length === 0) return { ...base, status: 'fail', detail: `${file} has no argv`, hint };
  const paths = spec.argv.filter((a): a is string => typeof a === 'string' && a.startsWith('/'));
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length) return { ...base, status: 'fail', detail: `${file} points at missing ${missing.join(', ')}`, hint };
  const node = paths.find((p) => /(^|\/)node(js)?$/.test(p));
  const tslab = paths.find((p) => /tslab/.test(p));
  if (!node || !tslab) return { ...base, status: 'fail', detail: `${file} does not start node with tslab (argv: ${spec.argv.join(' ')})`, hint };
  let version = '';
  try {
    let dir = dirname(tslab);
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
    version = ` (tslab ${JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version})`;
  } catch {
    /* version unknown */
  }
  return { ...base, status: 'ok', detail: `${file}: ${node} + ${tslab}${version}` };
}

/** The zeromq native module (the kernel transport) loads. */
export function checkZeromq(): DoctorCheck {
  const base = { id: 'zeromq', title: 'zeromq native module', category: 'local' as const };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('zeromq');
    let version = '';
    try {
      let dir = dirname(require.resolve('zeromq'));
      while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
      version = ` ${JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version}`;
    } catch {
      /* version unknown */
    }
    return { ...base, status: 'ok', detail: `zeromq${version} loads` };
  } catch (err) {
    return { ...base, status: 'fail', detail: `zeromq does not load: ${(err as Error).message.split('\n')[0]}`, hint: 'run `npm rebuild zeromq` in the project (it needs a prebuilt binary for this platform or a C++ toolchain)' };
  }
}

interface Endpoint {
  readonly services: string[];
  readonly url: URL;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_r, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${what}: no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function checkReachable(ep: Endpoint, timeoutMs: number): Promise<DoctorCheck> {
  const host = ep.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(ep.url.port || (ep.url.protocol === 'https:' ? 443 : 80));
  const base = { id: `reach:${ep.url.host}`, title: `reach ${ep.url.host} (${ep.services.join(', ')})`, category: 'remote' as const };
  let address = host;
  if (!net.isIP(host)) {
    try {
      address = (await withTimeout(dns.lookup(host), timeoutMs, `DNS lookup of ${host}`)).address;
    } catch (err) {
      return { ...base, status: 'fail', detail: `DNS: ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, hint: 'check the host name in the profile, and the VPN/DNS settings of this machine' };
    }
  }
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        const s = net.connect({ host: address, port });
        s.once('connect', () => {
          s.destroy();
          resolve();
        });
        s.once('error', (e) => {
          s.destroy();
          reject(e);
        });
      }),
      timeoutMs,
      `TCP connect to ${address}:${port}`,
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return {
      ...base,
      status: 'fail',
      detail: `TCP: cannot connect to ${address}:${port} (${code})`,
      hint: code === 'ECONNREFUSED' ? 'nothing listens there: check the port and that the service runs' : 'a firewall or proxy may block it; check the URL and the network path',
    };
  }
  return { ...base, status: 'ok', detail: `${host}${address !== host ? ` (${address})` : ''} port ${port} accepts connections` };
}

async function checkTls(ep: Endpoint, profile: ConnectionProfile, timeoutMs: number, warnDays: number): Promise<DoctorCheck> {
  const host = ep.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(ep.url.port || 443);
  const base = { id: `tls:${ep.url.host}`, title: `TLS ${ep.url.host}`, category: 'remote' as const };
  let opts: { ca?: string[]; rejectUnauthorized: boolean };
  try {
    opts = tlsConnectOptions({ caBundle: profile.tls.caBundle });
  } catch (err) {
    return { ...base, category: 'config', status: 'fail', detail: (err as Error).message, hint: 'fix caBundle / RUNBOOK_CA_BUNDLE' };
  }
  let result: { authorized: boolean; error?: string; validTo?: Date; subject?: string };
  try {
    result = await withTimeout(
      new Promise((resolve, reject) => {
        // Verify by hand (rejectUnauthorized off) to report on untrusted certificates too.
        const s = tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ca: opts.ca, rejectUnauthorized: false }, () => {
          const cert = s.getPeerCertificate();
          resolve({
            authorized: s.authorized,
            error: s.authorizationError ? String(s.authorizationError) : undefined,
            validTo: cert && cert.valid_to ? new Date(cert.valid_to) : undefined,
            subject: cert && cert.subject ? String(cert.subject.CN ?? '') : undefined,
          });
          s.destroy();
        });
        s.once('error', (e) => {
          s.destroy();
          reject(e);
        });
      }),
      timeoutMs,
      `TLS handshake with ${ep.url.host}`,
    );
  } catch (err) {
    return { ...base, status: 'fail', detail: `TLS handshake failed: ${(err as Error).message}`, hint: 'the port may not speak TLS: check http:// vs https:// in the URL' };
  }
  const expiry = result.validTo ? `valid until ${result.validTo.toISOString().slice(0, 10)} (${inDuration(result.validTo.getTime() - Date.now())})` : 'expiry unknown';
  if (!result.authorized) {
    if (profile.tls.insecure) {
      return { ...base, status: 'warn', detail: `certificate not trusted (${result.error}); accepted because insecureTls is on; ${expiry}`, hint: 'set caBundle to the cluster CA instead of insecureTls' };
    }
    return {
      ...base,
      status: 'fail',
      detail: `certificate not trusted: ${result.error}${profile.tls.caBundle ? ` (with CA bundle ${profile.tls.caBundle})` : ''}; ${expiry}`,
      hint: profile.tls.caBundle
        ? 'the CA bundle does not contain the CA that signed this certificate: export the cluster CA (e.g. from the OpenShift ingress) into it'
        : "set caBundle in the profile (or RUNBOOK_CA_BUNDLE) to a PEM file with the cluster's CA certificate",
    };
  }
  if (result.validTo && result.validTo.getTime() < Date.now() + warnDays * 86400000) {
    return { ...base, status: 'warn', detail: `trusted, but ${expiry}`, hint: 'ask the cluster administrators to renew the certificate' };
  }
  return { ...base, status: 'ok', detail: `trusted${profile.tls.caBundle ? ` (CA bundle ${profile.tls.caBundle})` : ''}, ${expiry}` };
}

function summary(data: unknown): string {
  if (!data || typeof data !== 'object') return '';
  const o = data as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of ['data_marts', 'resources', 'spaces']) if (Array.isArray(o[key])) parts.push(`${(o[key] as unknown[]).length} ${key.replace('_', ' ')}`);
  if (typeof o.total_count === 'number') parts.push(`total ${o.total_count}`);
  for (const [k, v] of Object.entries(o)) if (/version/i.test(k) && (typeof v === 'string' || typeof v === 'number')) parts.push(`${k} ${v}`);
  return parts.join(', ');
}

async function checkService(
  id: string,
  title: string,
  clients: ProfileClients,
  client: ProfileClients['cpd'] | undefined,
  path: string,
  query: Record<string, string | number> | undefined,
  fix: { setting: string },
): Promise<DoctorCheck> {
  const base = { id, title, category: 'remote' as const };
  if (!client) return { ...base, status: 'skip', detail: `no ${fix.setting} in the profile` };
  try {
    const data = await client.request({ path, query });
    const s = summary(data);
    return { ...base, status: 'ok', detail: `GET ${client.url(path, query)} answered${s ? `: ${s}` : ''}` };
  } catch (err) {
    const message = clients.profile.redactor.redact((err as Error).message);
    let hint: string | undefined;
    if (err instanceof RemoteApiError && err.status !== undefined) {
      if (err.status === 401 || err.status === 403) hint = `the user cannot use this service: check the user's role and access to it`;
      else if (err.status === 404) hint = `nothing answers ${path} there: check ${fix.setting} (is the service installed on the cluster?)`;
      else if (err.status >= 500) hint = 'the service is failing: retry later or ask the cluster administrators (quote the trace id)';
    } else if (err instanceof RemoteApiError) hint = err.hint ?? `check ${fix.setting} and the network path`;
    return { ...base, status: 'fail', detail: message, hint };
  }
}

/** Runs every check and returns the report. Never throws for a failed check. */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  let redactor = Redactor.fromEnv(opts.env ?? process.env);
  const add = (c: DoctorCheck) => {
    const safe: DoctorCheck = { ...c, detail: redactor.redact(c.detail), ...(c.hint ? { hint: redactor.redact(c.hint) } : {}) };
    checks.push(safe);
    opts.onCheck?.(safe);
  };
  const timeoutMs = opts.timeoutMs ?? 10000;

  add(checkNode(opts.nodeVersion ?? process.versions.node, opts.minNodeVersion ?? '20.19.0'));
  add(checkKernelspec(opts.projectRoot ?? projectRoot()));
  add(checkZeromq());

  let profile: ConnectionProfile | undefined;
  try {
    profile = await resolveProfile(opts);
    redactor = new Redactor().merge(redactor).merge(profile.redactor);
    const d = profile.describe();
    add({ id: 'profile', title: 'connection profile', category: 'config', status: 'ok', detail: `profile ${d.name} (${d.kind}): ${d.fields.map((f) => `${f.field} (${f.source})`).join(', ')}` });
  } catch (err) {
    const kind = err instanceof RunbookError ? err.kind : 'internal';
    add({
      id: 'profile',
      title: 'connection profile',
      category: kind === 'remote' ? 'remote' : 'config',
      status: 'fail',
      detail: (err as Error).message,
      hint: 'see `runbook doctor --help` for the profile file and environment variables',
    });
  }

  if (profile) {
    for (const [field, variable] of [
      ['wmlaConsoleUrl', 'WMLA_CONSOLE_URL'],
      ['wmlaInferenceUrl', 'WMLA_INFERENCE_URL'],
    ] as const) {
      if (!profile[field]) {
        add({ id: field, title: field, category: 'config', status: 'warn', detail: `${field} is not set: WMLA steps cannot run`, hint: `set ${variable} or ${field} in the profile` });
      }
    }
    // One reachability and TLS check per host.
    const endpoints = new Map<string, Endpoint>();
    const note = (service: string, url: string | undefined) => {
      if (!url) return;
      const u = new URL(url);
      const e = endpoints.get(u.origin) ?? { services: [], url: u };
      e.services.push(service);
      endpoints.set(u.origin, e);
    };
    note('CPD', profile.cpdUrl);
    note('WMLA console', profile.wmlaConsoleUrl);
    note('WMLA inference', profile.wmlaInferenceUrl);
    note('OpenScale', profile.openscaleUrl);
    if (profile.auth.kind === 'iam-apikey') note('IAM', profile.iamUrl);
    const down = new Set<string>();
    for (const ep of endpoints.values()) {
      const r = await checkReachable(ep, timeoutMs);
      add(r);
      if (r.status === 'fail') {
        down.add(ep.url.origin);
        continue;
      }
      if (ep.url.protocol === 'https:') add(await checkTls(ep, profile, timeoutMs, opts.certWarningDays ?? 14));
    }
    if (profile.tls.insecure) {
      add({ id: 'insecure', title: 'TLS verification', category: 'config', status: 'warn', detail: 'TLS certificate verification is off (insecureTls)', hint: 'use caBundle with the cluster CA instead' });
    }

    let clients: ProfileClients | undefined;
    try {
      clients = connect(profile, { timeoutMs, retry: { retries: 1, baseDelayMs: 200, maxDelayMs: 1000, maxRetryAfterMs: 2000 } });
    } catch (err) {
      add({ id: 'clients', title: 'HTTP clients', category: 'config', status: 'fail', detail: (err as Error).message });
    }
    if (clients) {
      let authOk = false;
      try {
        await clients.tokens.getToken();
        const info = clients.tokens.info();
        const exp = info?.expiresAt;
        const expired = exp !== undefined && exp.getTime() <= Date.now();
        const soon = exp !== undefined && exp.getTime() < Date.now() + 10 * 60000;
        authOk = !expired;
        add({
          id: 'auth',
          title: `authentication (${profile.auth.kind})`,
          category: 'remote',
          status: expired ? 'fail' : soon ? 'warn' : 'ok',
          detail: `${profile.auth.kind === 'bearer' ? 'fixed token' : 'token obtained'}${info?.subject ? ` for ${info.subject}` : ''}${exp ? `, ${expired ? 'expired' : 'expires'} ${exp.toISOString()} (${inDuration(exp.getTime() - Date.now())})` : ', expiry unknown'}`,
          hint: expired || soon ? 'a fixed token cannot be renewed: use an API key (CPD_USERNAME + CPD_API_KEY) for long runs' : undefined,
        });
      } catch (err) {
        const hint = err instanceof RemoteApiError ? err.hint : undefined;
        add({
          id: 'auth',
          title: `authentication (${profile.auth.kind})`,
          category: 'remote',
          status: 'fail',
          detail: hint ? (err as Error).message.replace(`. ${hint}`, '') : (err as Error).message,
          hint: hint ?? 'check the URL and the credentials of the profile',
        });
      }
      const services: Array<[string, string, ProfileClients['cpd'] | undefined, string, Record<string, number> | undefined, string]> = [
        ['service:wml', 'WML / CAMS (spaces)', clients.cpd, '/v2/spaces', { limit: 1 }, 'cpdUrl'],
        ['service:wmla', 'WMLA (deep learning REST)', clients.wmlaConsole, '/platform/rest/deeplearning/v1/conf', undefined, 'wmlaConsoleUrl'],
        ['service:openscale', 'OpenScale (data marts)', clients.openscale, '/v2/data_marts', undefined, 'openscaleUrl / openscaleInstanceId'],
      ];
      for (const [id, title, client, path, query, setting] of services) {
        if (!authOk) add({ id, title, category: 'remote', status: 'skip', detail: 'skipped: no token' });
        else if (client && down.has(new URL(client.baseUrl).origin)) add({ id, title, category: 'remote', status: 'skip', detail: 'skipped: the host is unreachable' });
        else add(await checkService(id, title, clients, client, path, query, { setting }));
      }
      clients.close();
    }
  }

  const failures = checks.filter((c) => c.status === 'fail');
  const outcome = failures.some((c) => c.category !== 'remote') ? 'config' : failures.length ? 'remote' : 'ok';
  return {
    profile: profile?.describe(),
    checks,
    failures: failures.length,
    warnings: checks.filter((c) => c.status === 'warn').length,
    outcome,
  };
}
