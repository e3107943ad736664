/**
 * Finds, starts and stops the background provider of a profile, so that every notebook of a run
 * (and parallel runs) share one provider, as they share one sandbox. State lives in a folder per
 * profile — `<sandbox state>/provider` for the sandbox profile, else `<project>/.provider/<profile>`
 * (or RUNBOOK_PROVIDER_STATE) — holding `provider.json` (url, pid, instance id, settings source),
 * `provider.log` and, while starting, `start.lock`. Loaded by notebooks through tslab: keep it light.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { resolveProfile, type ConnectionProfile } from '../lib/config/profile';
import type { OpenScaleHttp } from '../lib/openscale/common';
import { findIntegratedSystemsByName } from '../lib/openscale/integrated-systems';
import { DEFAULT_PROVIDER_NAME } from '../lib/provider/register';
import type { Plan } from '../lib/plan';
import { projectRoot } from '../lib/util/project-root';
import { defaultStateDir } from '../sandbox/launcher';
import { ConfigError, RunbookError, TimeoutError } from '../lib/errors';
import { getJson, isPidAlive, spawnDetachedNode, tailFile, terminatePid, withStartLock } from '../lib/util/detached-process';
import { PROVIDER_ENDPOINT_FILE, PROVIDER_SERVICE, settingsSourceName, type SettingsLocation } from './common';

const EndpointFile = z.looseObject({
  url: z.string(),
  endpoint: z.string(),
  pid: z.number().int(),
  instanceId: z.string(),
  startedAt: z.string(),
  profile: z.string(),
  source: z.string(),
});
type EndpointFile = z.infer<typeof EndpointFile>;

/** A running provider. */
export interface ProviderEndpoint {
  readonly url: string;
  /** The URL to register with OpenScale (`registerProvider({ endpointUrl })`). */
  readonly endpoint: string;
  readonly pid: number;
  readonly stateDir: string;
  readonly profile: string;
  /** Where it reads monitor settings (`space:<id>` or `file:<path>`). */
  readonly source: string;
  /** Whether this call started it. */
  readonly startedNow: boolean;
}

/** The compiled entry the detached process runs. */
export function providerEntry(): string {
  return join(projectRoot(), 'dist', 'src', 'provider', 'main.js');
}

/** The state folder of a profile's provider (see the module comment). */
export function providerStateDir(profile: ConnectionProfile): string {
  return stateDirFor(profile.name, profile.kind === 'sandbox' ? profile.sandbox?.stateDir : undefined);
}

function stateDirFor(profileName: string, sandboxStateDir: string | undefined): string {
  const fromEnv = process.env.RUNBOOK_PROVIDER_STATE;
  if (fromEnv && fromEnv.trim() !== '') return resolve(fromEnv.trim(), profileName);
  if (sandboxStateDir) return join(sandboxStateDir, 'provider');
  return join(projectRoot(), '.provider', profileName);
}

/**
 * The provider state folder of a profile given by name. For the sandbox profile it is derived from
 * the sandbox's state folder, so stopping a provider does not start a sandbox just to ask it.
 */
async function stateDirOfProfile(name: string | undefined): Promise<string> {
  const profileName = name ?? (process.env.RUNBOOK_PROFILE?.trim() || 'sandbox');
  // With RUNBOOK_SANDBOX_URL the running sandbox says where its state is (no start either).
  if (profileName === 'sandbox' && !process.env.RUNBOOK_SANDBOX_URL?.trim()) return stateDirFor('sandbox', defaultStateDir());
  return providerStateDir(await resolveProfile({ profile: profileName }));
}

function readEndpoint(stateDir: string): EndpointFile | undefined {
  try {
    const parsed = EndpointFile.safeParse(JSON.parse(readFileSync(join(stateDir, PROVIDER_ENDPOINT_FILE), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The provider recorded in `stateDir` when its process is alive and answers as that instance. */
export async function findRunningProvider(stateDir: string): Promise<EndpointFile | undefined> {
  const recorded = readEndpoint(stateDir);
  if (!recorded || !isPidAlive(recorded.pid)) return undefined;
  const health = (await getJson(`${recorded.url}/health`)) as { service?: string; instanceId?: string } | undefined;
  return health && health.service === PROVIDER_SERVICE && health.instanceId === recorded.instanceId ? recorded : undefined;
}

/** Options of {@link ensureProvider}. */
export interface EnsureProviderOptions extends SettingsLocation {
  /** Profile name (default RUNBOOK_PROFILE, else sandbox) or a resolved profile. */
  readonly profile?: string | ConnectionProfile;
  /** Default: {@link providerStateDir}. */
  readonly stateDir?: string;
  readonly host?: string;
  readonly port?: number;
  /** Start-up limit (default 30 s). */
  readonly timeoutMs?: number;
}

const endpointOf = (r: EndpointFile, stateDir: string, startedNow: boolean): ProviderEndpoint => ({
  url: r.url,
  endpoint: r.endpoint,
  pid: r.pid,
  stateDir,
  profile: r.profile,
  source: r.source,
  startedNow,
});

/**
 * The profile's provider, started in the background if none runs. A running provider that reads
 * its settings from elsewhere is a ConfigError (stop it first with {@link stopProvider}). The
 * detached process resolves the profile by name from the environment this process has (for the
 * sandbox profile it is pointed at the same sandbox).
 */
export async function ensureProvider(options: EnsureProviderOptions = {}): Promise<ProviderEndpoint> {
  const source = settingsSourceName(options);
  const profile = typeof options.profile === 'object' ? options.profile : await resolveProfile({ profile: options.profile });
  const stateDir = resolve(options.stateDir ?? providerStateDir(profile));
  mkdirSync(stateDir, { recursive: true });
  const dir = realpathSync(stateDir);
  const matching = async (): Promise<ProviderEndpoint | undefined> => {
    const running = await findRunningProvider(dir);
    if (!running) return undefined;
    if (running.source !== source || running.profile !== profile.name) {
      throw new ConfigError(
        `the provider of ${dir} (pid ${running.pid}) serves profile ${running.profile} with settings from ${running.source}, not ${profile.name} with ${source}: stop it first (runbook provider stop)`,
      );
    }
    return endpointOf(running, dir, false);
  };
  return withStartLock(join(dir, 'start.lock'), options.timeoutMs ?? 30_000, matching, () => spawnProvider(dir, profile, options), `the provider of ${dir}`);
}

/** What a plan registers when no provider runs and OpenScale has none on record. */
const PLANNED_ENDPOINT = 'http://127.0.0.1/score';

/** The endpoint OpenScale has on record for the provider (a registration applied later moves it to the new process). */
async function recordedProviderEndpoint(os: OpenScaleHttp, name = DEFAULT_PROVIDER_NAME): Promise<string | undefined> {
  const found = await findIntegratedSystemsByName(os, name);
  const connection = found[0]?.entity.connection as { endpoint?: unknown } | undefined;
  return typeof connection?.endpoint === 'string' ? connection.endpoint : undefined;
}

/**
 * The endpoint to register with OpenScale for the profile's background provider (notebooks A3 and
 * B2): the provider, started if none runs. With a plan nothing is started: the running provider's
 * endpoint, else the one OpenScale has on record, else a stand-in; the start is recorded in the plan.
 * `running`: a provider was already running.
 */
export async function providerEndpointToRegister(
  profile: ConnectionProfile,
  openscale: OpenScaleHttp,
  options: { readonly spaceId: string; readonly plan?: Plan; readonly providerName?: string },
): Promise<{ endpoint: string; running: boolean }> {
  if (!options.plan) {
    const started = await ensureProvider({ profile, spaceId: options.spaceId });
    return { endpoint: started.endpoint, running: !started.startedNow };
  }
  const running = await findRunningProvider(providerStateDir(profile));
  if (running) return { endpoint: running.endpoint, running: true };
  options.plan.record({ service: 'openscale', action: 'start', resource: 'metrics_provider_process', target: profile.name, detail: 'local background provider (runbook provider start)' });
  return { endpoint: (await recordedProviderEndpoint(openscale, options.providerName)) ?? PLANNED_ENDPOINT, running: false };
}

async function spawnProvider(stateDir: string, profile: ConnectionProfile, options: EnsureProviderOptions): Promise<ProviderEndpoint> {
  const entry = providerEntry();
  if (!existsSync(entry)) throw new ConfigError(`the provider is not built (${entry} is missing): run \`npm run build\``);
  const args = ['--state', stateDir, '--profile', profile.name, '--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0)];
  if (options.spaceId) args.push('--space', options.spaceId);
  if (options.metadataFile) args.push('--metadata', resolve(options.metadataFile));
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (profile.kind === 'sandbox' && profile.sandbox) {
    env.RUNBOOK_SANDBOX_URL = profile.cpdUrl;
    env.RUNBOOK_SANDBOX_STATE = profile.sandbox.stateDir;
  }
  const logFile = join(stateDir, 'provider.log');
  const child = spawnDetachedNode(entry, args, { logFile, env });
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    const why = child.exited();
    if (why) throw new RunbookError('internal', `the provider stopped during start-up (${why}); ${logFile}:\n${tailFile(logFile)}`);
    const running = await findRunningProvider(stateDir);
    if (running && running.pid === child.pid) return endpointOf(running, stateDir, true);
    await new Promise((r) => setTimeout(r, 50));
  }
  await terminatePid(child.pid, 1000);
  throw new TimeoutError(`the provider did not answer within the start-up timeout; ${logFile}:\n${tailFile(logFile)}`);
}

/** Stops the provider of a state dir (or of a profile); `stopped: false` when none ran. */
export async function stopProvider(options: { profile?: string | ConnectionProfile; stateDir?: string; timeoutMs?: number } = {}): Promise<{ stopped: boolean; pid?: number; stateDir: string }> {
  let stateDir = options.stateDir;
  if (!stateDir) {
    stateDir = typeof options.profile === 'object' ? providerStateDir(options.profile) : await stateDirOfProfile(options.profile);
  }
  const dir = resolve(stateDir);
  const running = existsSync(dir) ? await findRunningProvider(dir) : undefined;
  if (!running) return { stopped: false, stateDir: dir };
  await terminatePid(running.pid, options.timeoutMs ?? 10_000);
  return { stopped: true, pid: running.pid, stateDir: dir };
}
