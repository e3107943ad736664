/**
 * Finds, starts and stops the sandbox server of a state dir. The library's sandbox profile calls
 * ensureSandbox() so that every notebook of a run (and child runs) shares one server and one state.
 * Kept light (no server code imported): notebooks load it through tslab.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { ConfigError, RunbookError, TimeoutError, ValidationError } from '../lib/errors';
import { isPidAlive, sleep, spawnDetachedNode, tailFile, terminatePid, withStartLock } from '../lib/util/detached-process';
import { projectRoot } from '../lib/util/project-root';
import { parseConfig, readConfigFile, defaultConfigFile, writeConfigFile, SANDBOX_DEMO_IAM_API_KEY, SANDBOX_DEMO_USER, SANDBOX_DEFAULT_VOLUME } from './config';
import { formatZodIssues } from './errors';
import { FaultSettings } from './faults';
import { SANDBOX_SERVICE_NAME, type SandboxHealth } from './health';
import { signJwt } from './jwt';
import { canonicalStateDir, endpointPath, SandboxEndpointFile } from './state-lock';

export { SANDBOX_DEMO_USER, SANDBOX_DEMO_IAM_API_KEY, SANDBOX_DEFAULT_VOLUME };

/** Where a sandbox answers. `startedNow` tells whether this call started it. */
export interface SandboxEndpoint {
  url: string;
  pid: number;
  stateDir: string;
  startedNow: boolean;
}

export { projectRoot };

/** `RUNBOOK_SANDBOX_STATE`, else `<project root>/.sandbox`. */
export function defaultStateDir(): string {
  const fromEnv = process.env.RUNBOOK_SANDBOX_STATE;
  return resolve(fromEnv && fromEnv.trim() !== '' ? fromEnv : join(projectRoot(), '.sandbox'));
}

/** The compiled server entry the detached process runs. */
export function serverEntry(): string {
  return join(projectRoot(), 'dist', 'src', 'sandbox', 'main.js');
}

function httpJson(method: string, url: string, options: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: unknown }> {
  return new Promise((resolvePromise, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = request(url, { method, headers, timeout: options.timeoutMs ?? 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolvePromise({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The health document of the sandbox at `url`, or undefined when nothing (or not a sandbox) answers. */
export async function probeHealth(url: string, timeoutMs = 1500): Promise<SandboxHealth | undefined> {
  try {
    const { status, body } = await httpJson('GET', `${url.replace(/\/+$/, '')}/sandbox/v1/health`, { timeoutMs });
    const health = body as SandboxHealth;
    if (status === 200 && health && health.service === SANDBOX_SERVICE_NAME) return health;
  } catch {
    /* not answering */
  }
  return undefined;
}

function readEndpointFile(stateDir: string): SandboxEndpointFile | undefined {
  try {
    const parsed = SandboxEndpointFile.safeParse(JSON.parse(readFileSync(endpointPath(stateDir), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The sandbox serving `stateDir` when its recorded process is alive and answers as that server. */
export async function findRunningSandbox(stateDir: string): Promise<SandboxHealth | undefined> {
  const recorded = readEndpointFile(stateDir);
  if (!recorded || !isPidAlive(recorded.pid)) return undefined;
  const health = await probeHealth(recorded.url);
  return health && health.instanceId === recorded.instanceId ? health : undefined;
}

/**
 * A sandbox for the state dir, started if none runs: RUNBOOK_SANDBOX_URL when set and answering;
 * else the live server recorded in `<state>/sandbox.json`; else a new detached server process.
 * Concurrent callers (threads of one run, parallel child runs) start at most one server.
 */
export async function ensureSandbox(opts: { stateDir?: string; port?: number; timeoutMs?: number } = {}): Promise<SandboxEndpoint> {
  const fromEnv = process.env.RUNBOOK_SANDBOX_URL;
  if (fromEnv && fromEnv.trim() !== '') {
    const health = await probeHealth(fromEnv.trim());
    if (health) return { url: fromEnv.trim().replace(/\/+$/, ''), pid: health.pid, stateDir: health.stateDir, startedNow: false };
  }
  const stateDir = canonicalStateDir(opts.stateDir ?? defaultStateDir());
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const running = async (): Promise<SandboxEndpoint | undefined> => {
    const found = await findRunningSandbox(stateDir);
    return found && { url: found.url, pid: found.pid, stateDir, startedNow: false };
  };
  return withStartLock(join(stateDir, 'start.lock'), deadline - Date.now(), running, () => spawnServer(stateDir, opts.port ?? 0, deadline), `the sandbox of ${stateDir}`);
}

async function spawnServer(stateDir: string, port: number, deadline: number): Promise<SandboxEndpoint> {
  const entry = serverEntry();
  if (!existsSync(entry)) throw new ConfigError(`the sandbox is not built (${entry} is missing): run \`npm run build\``);
  const logFile = join(stateDir, 'sandbox.log');
  const child = spawnDetachedNode(entry, ['--state', stateDir, '--port', String(port)], { logFile, env: { ...process.env, RUNBOOK_SANDBOX_URL: '' } });
  const pid = child.pid;
  while (Date.now() < deadline) {
    const exited = child.exited();
    if (exited) throw new RunbookError('internal', `the sandbox server stopped during start-up (${exited}); ${logFile}:\n${tailFile(logFile)}`);
    const recorded = readEndpointFile(stateDir);
    if (recorded && recorded.pid === pid) {
      const health = await probeHealth(recorded.url);
      if (health && health.instanceId === recorded.instanceId) return { url: health.url, pid, stateDir, startedNow: true };
    }
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  throw new TimeoutError(`the sandbox did not answer within the start-up timeout; ${logFile}:\n${tailFile(logFile)}`);
}

/** A short-lived admin token for the sandbox of `stateDir`, minted with its signing key (local files only). */
export function sandboxAdminToken(stateDir: string, ttlSeconds = 300): string {
  const dir = resolve(stateDir);
  const keyFile = join(dir, 'secret.key');
  if (!existsSync(keyFile)) throw new ConfigError(`${keyFile} does not exist: the sandbox of ${dir} never ran`);
  const secret = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
  const config = parseConfig(readConfigFile(dir) ?? defaultConfigFile(), join(dir, 'config.json'));
  const user = config.users[0]!;
  const iat = Math.floor(Date.now() / 1000);
  return signJwt({ username: user.username, sub: user.username, uid: user.uid ?? '1000330999', iat, exp: iat + ttlSeconds, iss: 'cpd' }, secret);
}

/** Stops the sandbox of `stateDir` (SIGTERM, then SIGKILL after `timeoutMs`). */
export async function stopSandbox(stateDir: string = defaultStateDir(), opts: { timeoutMs?: number } = {}): Promise<{ stopped: boolean; pid?: number }> {
  const dir = resolve(stateDir);
  const running = await findRunningSandbox(dir);
  if (!running) return { stopped: false };
  const pid = running.pid;
  if (pid === process.pid) throw new ConfigError(`the sandbox of ${dir} runs inside this process; close it there`);
  await terminatePid(pid, opts.timeoutMs ?? 10_000);
  return { stopped: true, pid };
}

export interface SandboxStatusReport {
  running: boolean;
  stateDir: string;
  url?: string;
  pid?: number;
  startedAt?: string;
  sections: { module: string; title: string; lines: string[]; data?: unknown }[];
}

/** What the sandbox holds, per module (`GET /sandbox/v1/status`); `running: false` when none runs. */
export async function sandboxStatus(opts: { stateDir?: string } = {}): Promise<SandboxStatusReport> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir());
  const health = existsSync(stateDir) ? await findRunningSandbox(stateDir) : undefined;
  if (!health) return { running: false, stateDir, sections: [] };
  const { status, body } = await httpJson('GET', `${health.url}/sandbox/v1/status`, { token: sandboxAdminToken(stateDir), timeoutMs: 10_000 });
  if (status !== 200) throw new RunbookError('remote', `GET ${health.url}/sandbox/v1/status answered ${status}: ${JSON.stringify(body)}`);
  const report = body as { sections: SandboxStatusReport['sections'] };
  return { running: true, stateDir, url: health.url, pid: health.pid, startedAt: health.startedAt, sections: report.sections };
}

/** Changes the runtime fault settings of the running sandbox of `stateDir`. */
export async function setSandboxFaults(stateDir: string, settings: { seed?: number; faults: unknown[] }): Promise<unknown> {
  const dir = resolve(stateDir);
  const checked = FaultSettings.safeParse(settings);
  if (!checked.success) throw new ValidationError(`fault settings: ${formatZodIssues(checked.error.issues, 'settings').join('; ')}`);
  const health = await findRunningSandbox(dir);
  if (!health) throw new ConfigError(`no sandbox runs for ${dir}`);
  const { status, body } = await httpJson('PUT', `${health.url}/sandbox/v1/faults`, { token: sandboxAdminToken(dir), body: settings });
  if (status !== 200) throw new RunbookError('remote', `PUT /sandbox/v1/faults answered ${status}: ${JSON.stringify(body)}`);
  return body;
}

/**
 * Wipes the state of `stateDir` (everything but config.json). Refuses while a server runs unless
 * `force`, which stops it first. Returns the removed entries.
 */
export async function resetSandbox(stateDir: string = defaultStateDir(), opts: { force?: boolean } = {}): Promise<string[]> {
  const dir = resolve(stateDir);
  if (!existsSync(dir)) return [];
  const running = await findRunningSandbox(dir);
  if (running) {
    if (!opts.force) throw new ConfigError(`the sandbox of ${dir} is running (pid ${running.pid}): stop it first or use --force`);
    await stopSandbox(dir);
  }
  const removed: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'config.json') continue;
    rmSync(join(dir, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

/**
 * Adds a storage volume: through the running sandbox's admin API when one runs (it is durable at once),
 * else into `<state>/config.json` (`services.volumes.volumes`) for the next start.
 */
export async function addSandboxVolume(stateDir: string, name: string, path?: string): Promise<{ name: string; path?: string; appliedTo: 'running sandbox' | 'config.json' }> {
  const dir = canonicalStateDir(stateDir);
  const running = await findRunningSandbox(dir);
  if (running) {
    const { status, body } = await httpJson('PUT', `${running.url}/sandbox/v1/volumes/${encodeURIComponent(name)}`, { token: sandboxAdminToken(dir), body: path ? { path } : {} });
    if (status !== 200 && status !== 201) {
      const message = (body as { errors?: { message: string }[] }).errors?.[0]?.message ?? JSON.stringify(body);
      throw new ConfigError(`volume ${JSON.stringify(name)}: ${message}`);
    }
    return { name, path: (body as { path: string }).path, appliedTo: 'running sandbox' };
  }
  const config = readConfigFile(dir) ?? defaultConfigFile();
  const services = { ...(config.services ?? {}) } as Record<string, unknown>;
  const section = { ...((services.volumes as { volumes?: unknown[] } | undefined) ?? {}) };
  const list = Array.isArray(section.volumes) ? [...section.volumes] : [{ name: SANDBOX_DEFAULT_VOLUME }];
  const entry: { name: string; path?: string } = { name };
  if (path) entry.path = path;
  const at = list.findIndex((v) => (v as { name?: string }).name === name);
  if (at >= 0) list[at] = entry;
  else list.push(entry);
  section.volumes = list;
  services.volumes = section;
  const next = { ...config, services };
  parseConfig(next, join(dir, 'config.json'));
  // The module validates the volume name at start; check it now so config.json never holds a bad one.
  if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/.test(name)) throw new ConfigError(`volume name ${JSON.stringify(name)}: letters, digits, space, _ . - only (no slashes)`);
  writeConfigFile(dir, next);
  return { name, path, appliedTo: 'config.json' };
}
