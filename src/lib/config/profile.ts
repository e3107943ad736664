import { join } from 'node:path';
import { inspect } from 'node:util';
import { ConfigError, RunbookError } from '../errors';
import { REDACTED, Redactor } from '../redact';
import { findProjectRoot } from '../util/project-root';
import type { AuthKind } from '../http/auth';
import type { TlsOptions } from '../http/tls';
import { readEnv } from './env';
import { AuthKindSchema, defaultProfilesFile, expandPath, folderOf, readProfilesFile, readSecretsFile, type ProfileSettings, type SecretsFile } from './profile-file';

/** The OpenScale instance id of CPD installs (the predecessor's `{DM}`). */
export const DEFAULT_OPENSCALE_INSTANCE_ID = '00000000-0000-0000-0000-000000000000';
/** IBM Cloud IAM. */
export const DEFAULT_IAM_URL = 'https://iam.cloud.ibm.com';

/** Credentials of a profile, by kind. */
export type AuthSettings =
  | { readonly kind: 'cpd-apikey'; readonly username: string; readonly apiKey: string }
  | { readonly kind: 'cpd-password'; readonly username: string; readonly password: string }
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'iam-apikey'; readonly apiKey: string };

/** One field of a profile as shown to people: secrets are `***`; `source` says where the value came from. */
export interface ProfileField {
  readonly field: string;
  readonly value: string;
  readonly source: string;
}

/** A profile as shown by `runbook doctor` and by `console.log(profile)`: no secret values. */
export interface ProfileDescription {
  readonly name: string;
  readonly kind: 'sandbox' | 'cluster';
  readonly fields: readonly ProfileField[];
}

/** What a profile resolves to. */
interface ProfileData {
  name: string;
  kind: 'sandbox' | 'cluster';
  cpdUrl: string;
  wmlaConsoleUrl?: string;
  wmlaInferenceUrl?: string;
  openscaleUrl: string;
  openscaleInstanceId: string;
  iamUrl: string;
  tls: TlsOptions;
  sources: Record<string, string>;
  profilesFile?: string;
  sandbox?: { pid: number; stateDir: string; startedNow: boolean };
}

/**
 * A resolved connection profile. The credentials are reachable through {@link auth} only: they are
 * not enumerable, and `JSON.stringify`/`console.log`/tslab display show the
 * {@link ProfileDescription} with secrets as `***`.
 */
export class ConnectionProfile {
  readonly name: string;
  readonly kind: 'sandbox' | 'cluster';
  readonly cpdUrl: string;
  readonly wmlaConsoleUrl?: string;
  readonly wmlaInferenceUrl?: string;
  /** The host OpenScale answers on (the CPD URL unless set). */
  readonly openscaleUrl: string;
  readonly openscaleInstanceId: string;
  readonly iamUrl: string;
  readonly tls: TlsOptions;
  /** Where each field came from: `env CPD_URL`, `file <path> (profiles.prod.cpdUrl)`, `default`, `sandbox`. */
  readonly sources: Readonly<Record<string, string>>;
  readonly profilesFile?: string;
  /** The sandbox server the profile points at (sandbox profile only). */
  readonly sandbox?: { readonly pid: number; readonly stateDir: string; readonly startedNow: boolean };
  #auth: AuthSettings;
  #redactor: Redactor;

  constructor(data: ProfileData, auth: AuthSettings, redactor: Redactor) {
    this.name = data.name;
    this.kind = data.kind;
    this.cpdUrl = data.cpdUrl;
    if (data.wmlaConsoleUrl) this.wmlaConsoleUrl = data.wmlaConsoleUrl;
    if (data.wmlaInferenceUrl) this.wmlaInferenceUrl = data.wmlaInferenceUrl;
    this.openscaleUrl = data.openscaleUrl;
    this.openscaleInstanceId = data.openscaleInstanceId;
    this.iamUrl = data.iamUrl;
    this.tls = data.tls;
    this.sources = data.sources;
    if (data.profilesFile) this.profilesFile = data.profilesFile;
    if (data.sandbox) this.sandbox = data.sandbox;
    this.#auth = auth;
    this.#redactor = redactor;
  }

  /** The credentials. Handle with care: never print them. */
  get auth(): AuthSettings {
    return this.#auth;
  }

  /** Masks this profile's secrets (and every credential-named environment variable, tokens and JWTs). */
  get redactor(): Redactor {
    return this.#redactor;
  }

  /** The profile without secret values. */
  describe(): ProfileDescription {
    const a = this.#auth;
    const fields: ProfileField[] = [];
    const add = (field: string, value: string | undefined) => {
      if (value !== undefined) fields.push({ field, value, source: this.sources[field] ?? 'default' });
    };
    add('cpdUrl', this.cpdUrl);
    add('wmlaConsoleUrl', this.wmlaConsoleUrl);
    add('wmlaInferenceUrl', this.wmlaInferenceUrl);
    add('openscaleUrl', this.openscaleUrl);
    add('openscaleInstanceId', this.openscaleInstanceId);
    add('auth', a.kind);
    if (a.kind === 'cpd-apikey' || a.kind === 'cpd-password') add('username', a.username);
    if (a.kind === 'cpd-apikey' || a.kind === 'iam-apikey') add(a.kind === 'cpd-apikey' ? 'apiKey' : 'ibmCloudApiKey', REDACTED);
    if (a.kind === 'cpd-password') add('password', REDACTED);
    if (a.kind === 'bearer') add('bearerToken', REDACTED);
    if (a.kind === 'iam-apikey') add('iamUrl', this.iamUrl);
    add('caBundle', this.tls.caBundle);
    add('insecureTls', this.tls.insecure ? 'true' : undefined);
    return { name: this.name, kind: this.kind, fields };
  }

  /** `JSON.stringify` of a profile gives {@link describe}'s secret-free form, never the credentials. */
  toJSON(): ProfileDescription {
    return this.describe();
  }

  /** What `console.log` and the notebook display show: the described fields, secrets masked. */
  [inspect.custom](): string {
    const d = this.describe();
    return `ConnectionProfile ${d.name} (${d.kind}) { ${d.fields.map((f) => `${f.field}: ${f.value}`).join(', ')} }`;
  }
}

/** What ensureSandbox of src/sandbox/launcher.ts returns. */
export interface SandboxEndpoint {
  readonly url: string;
  readonly pid: number;
  readonly stateDir: string;
  readonly startedNow: boolean;
}

/** The parts of the sandbox launcher the sandbox profile uses. */
export interface SandboxLauncher {
  /** A sandbox for the state folder: the one already running there (or at RUNBOOK_SANDBOX_URL), else a newly started detached one. */
  ensureSandbox(opts?: { stateDir?: string; port?: number }): Promise<SandboxEndpoint>;
  readonly SANDBOX_DEMO_USER: { readonly username: string; readonly apiKey: string; readonly password: string };
}

/** Options of {@link resolveProfile}. */
export interface ResolveProfileOptions {
  /** Profile name; default `RUNBOOK_PROFILE`, else `sandbox`. */
  readonly profile?: string;
  /** Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default {@link defaultProfilesFile}. */
  readonly profilesFile?: string;
  /** Sandbox profile: where its state lives, and (for tests) another launcher. */
  readonly sandbox?: { readonly stateDir?: string; readonly port?: number; readonly launcher?: SandboxLauncher };
  readonly homeDir?: string;
}

/**
 * Loads the sandbox launcher only when the sandbox profile is used, so that the library does not pull
 * in the sandbox otherwise. Under Node (CLI, tests) the sibling module is found directly; tslab only
 * compiles what a notebook imports, so there the compiled launcher of the project's dist/ is used.
 */
function loadSandboxLauncher(): SandboxLauncher {
  const candidates = ['../../sandbox/launcher'];
  for (const start of [typeof __dirname === 'string' ? __dirname : undefined, process.cwd()]) {
    const root = start ? findProjectRoot(start) : undefined;
    const compiled = root ? join(root, 'dist', 'src', 'sandbox', 'launcher.js') : undefined;
    if (compiled && !candidates.includes(compiled)) candidates.push(compiled);
  }
  for (const candidate of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(candidate) as SandboxLauncher;
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((err as Error).message).includes(candidate.replace(/\.js$/, ''));
      if (!missing) throw err;
    }
  }
  throw new ConfigError(
    'the sandbox profile needs the sandbox launcher (src/sandbox/launcher.ts, compiled to dist/src/sandbox/launcher.js): run `npm run build` in the project, or choose a cluster profile (--profile NAME or RUNBOOK_PROFILE)',
  );
}

function checkUrl(value: string, where: string): string {
  if (!/^https?:\/\/[^\s/?#]+[^\s]*$/.test(value)) throw new ConfigError(`${where}: expected an http(s) URL such as https://cpd.example.com, got ${JSON.stringify(value)}`);
  return value.replace(/\/+$/, '');
}

function parseBool(value: string, where: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${where}: expected true or false, got ${JSON.stringify(value)}`);
}

/**
 * Resolves a connection profile.
 *
 * - `sandbox` (the default): starts or finds the local sandbox; every URL is the sandbox's, the
 *   credentials are its documented demo user.
 * - `env`: a cluster profile from environment variables only.
 * - any other name: `profiles.<name>` of the profiles file, each field overridable by its
 *   environment variable (see {@link PROFILE_ENV}).
 *
 * Secrets come only from the environment or from a `secretsFile` readable by its owner alone
 * (environment wins). Errors are {@link ConfigError}s naming the field, the variable or the file.
 */
export async function resolveProfile(opts: ResolveProfileOptions = {}): Promise<ConnectionProfile> {
  const env = opts.env ?? process.env;
  const name = opts.profile ?? (env.RUNBOOK_PROFILE?.trim() || 'sandbox');
  if (name === 'sandbox') return resolveSandbox(opts);

  const file = opts.profilesFile ?? defaultProfilesFile(env, opts.homeDir);
  let settings: ProfileSettings = {};
  const sources: Record<string, string> = {};
  if (name !== 'env') {
    const pf = await readProfilesFile(file);
    if (!pf) {
      throw new ConfigError(
        `profile "${name}" not found: the profiles file ${file} does not exist. Create it with a profiles.${name} section, or use the profile "env" (CPD_URL, CPD_USERNAME, CPD_API_KEY, …) or "sandbox"`,
      );
    }
    const found = pf.profiles[name];
    if (!found) {
      const names = Object.keys(pf.profiles);
      throw new ConfigError(`profile "${name}" is not in ${file} (profiles there: ${names.length ? names.join(', ') : 'none'}; built in: sandbox, env)`);
    }
    settings = found;
    for (const k of Object.keys(found)) sources[k] = `file ${file} (profiles.${name}.${k})`;
  }

  const pick = (field: keyof ProfileSettings): string | undefined => {
    const e = readEnv(env, field);
    if (e) {
      sources[field] = `env ${e.variable}`;
      return e.value;
    }
    const v = settings[field];
    return v === undefined ? undefined : String(v);
  };
  const where = (field: string) => sources[field] ?? field;

  const cpdRaw = pick('cpdUrl');
  if (!cpdRaw) {
    throw new ConfigError(
      name === 'env'
        ? 'profile "env": CPD_URL (or BASE_URL / RUNTIME_ENV_APSX_URL) is not set'
        : `profile "${name}": no CPD URL: set cpdUrl in profiles.${name} of ${file}, or CPD_URL`,
    );
  }
  const cpdUrl = checkUrl(cpdRaw, where('cpdUrl'));
  const wmlaRaw = pick('wmlaConsoleUrl');
  // The predecessor's WMLA_HOST / HOST sometimes came without a scheme.
  const wmlaConsoleUrl = wmlaRaw ? checkUrl(/^https?:\/\//.test(wmlaRaw) ? wmlaRaw : `https://${wmlaRaw}`, where('wmlaConsoleUrl')) : undefined;
  const infRaw = pick('wmlaInferenceUrl');
  const wmlaInferenceUrl = infRaw ? checkUrl(infRaw, where('wmlaInferenceUrl')) : undefined;
  const osRaw = pick('openscaleUrl');
  const openscaleUrl = osRaw ? checkUrl(osRaw, where('openscaleUrl')) : cpdUrl;
  if (!osRaw) sources.openscaleUrl = 'default (the CPD URL)';
  const openscaleInstanceId = pick('openscaleInstanceId') ?? DEFAULT_OPENSCALE_INSTANCE_ID;
  if (!sources.openscaleInstanceId) sources.openscaleInstanceId = 'default';
  const iamRaw = pick('iamUrl');
  const iamUrl = iamRaw ? checkUrl(iamRaw, where('iamUrl')) : DEFAULT_IAM_URL;
  if (!iamRaw) sources.iamUrl = 'default';
  const caRaw = pick('caBundle');
  const caBundle = caRaw ? expandPath(caRaw, sources.caBundle?.startsWith('file ') ? folderOf(file) : process.cwd(), opts.homeDir) : undefined;
  const insecureRaw = pick('insecureTls');
  const insecure = insecureRaw === undefined ? false : parseBool(insecureRaw, where('insecureTls'));

  // Secrets: environment first, then the secrets file.
  const secretsPath = pick('secretsFile');
  let fileSecrets: SecretsFile = {};
  let secretsFile: string | undefined;
  if (secretsPath) {
    secretsFile = expandPath(secretsPath, sources.secretsFile?.startsWith('file ') ? folderOf(file) : process.cwd(), opts.homeDir);
    fileSecrets = await readSecretsFile(secretsFile);
  }
  const secret = (field: 'apiKey' | 'password' | 'bearerToken' | 'ibmCloudApiKey'): string | undefined => {
    const e = readEnv(env, field);
    if (e) {
      sources[field] = `env ${e.variable}`;
      return e.value;
    }
    const v = fileSecrets[field];
    if (v !== undefined) sources[field] = `secrets file ${secretsFile}`;
    return v;
  };
  const apiKey = secret('apiKey');
  const password = secret('password');
  const bearerToken = secret('bearerToken');
  const ibmCloudApiKey = secret('ibmCloudApiKey');
  const username = pick('username');

  const kindRaw = pick('auth');
  let kind: AuthKind;
  if (kindRaw !== undefined) {
    const parsed = AuthKindSchema.safeParse(kindRaw);
    if (!parsed.success) throw new ConfigError(`${where('auth')}: expected one of cpd-apikey, cpd-password, bearer, iam-apikey, got ${JSON.stringify(kindRaw)}`);
    kind = parsed.data;
  } else {
    // Renewable credentials first: a fixed token (USER_ACCESS_TOKEN in Watson Studio) expires mid-run.
    kind = apiKey ? 'cpd-apikey' : password ? 'cpd-password' : ibmCloudApiKey ? 'iam-apikey' : bearerToken ? 'bearer' : 'cpd-apikey';
    sources.auth = kindRaw === undefined && (apiKey || password || ibmCloudApiKey || bearerToken) ? 'inferred from the secrets present' : 'default';
  }

  const inFile = name === 'env' ? '' : `, or username in profiles.${name} of ${file}`;
  const secretHint = (what: string, vars: string, key: string) =>
    `profile "${name}" uses auth ${kind} but no ${what} was found: set ${vars}, or put ${key} in a secrets file (secretsFile / RUNBOOK_SECRETS_FILE, chmod 600)`;
  let auth: AuthSettings;
  switch (kind) {
    case 'cpd-apikey':
    case 'cpd-password':
      if (!username) throw new ConfigError(`profile "${name}" uses auth ${kind} but no user name was found: set CPD_USERNAME${inFile}`);
      if (kind === 'cpd-apikey') {
        if (!apiKey) throw new ConfigError(secretHint('API key', 'CPD_API_KEY (or APIKEY)', 'apiKey'));
        auth = { kind, username, apiKey };
      } else {
        if (!password) throw new ConfigError(secretHint('password', 'CPD_PASSWORD', 'password'));
        auth = { kind, username, password };
      }
      break;
    case 'bearer':
      if (!bearerToken) throw new ConfigError(secretHint('bearer token', 'CPD_BEARER_TOKEN (or USER_ACCESS_TOKEN)', 'bearerToken'));
      auth = { kind, token: bearerToken };
      break;
    case 'iam-apikey':
      if (!ibmCloudApiKey) throw new ConfigError(secretHint('IBM Cloud API key', 'IBM_CLOUD_API_KEY', 'ibmCloudApiKey'));
      auth = { kind, apiKey: ibmCloudApiKey };
      break;
  }

  const redactor = Redactor.fromEnv(env);
  for (const s of [apiKey, password, bearerToken, ibmCloudApiKey]) redactor.add(s);
  return new ConnectionProfile(
    {
      name,
      kind: 'cluster',
      cpdUrl,
      wmlaConsoleUrl,
      wmlaInferenceUrl,
      openscaleUrl,
      openscaleInstanceId,
      iamUrl,
      tls: { ...(caBundle ? { caBundle } : {}), ...(insecure ? { insecure } : {}) },
      sources,
      profilesFile: name === 'env' ? undefined : file,
    },
    auth,
    redactor,
  );
}

async function resolveSandbox(opts: ResolveProfileOptions): Promise<ConnectionProfile> {
  const launcher = opts.sandbox?.launcher ?? loadSandboxLauncher();
  let ep: SandboxEndpoint;
  try {
    ep = await launcher.ensureSandbox({ stateDir: opts.sandbox?.stateDir, port: opts.sandbox?.port });
  } catch (err) {
    if (err instanceof RunbookError) throw err;
    throw new ConfigError(`the sandbox could not be started: ${(err as Error).message}`, { cause: err });
  }
  const url = ep.url.replace(/\/+$/, '');
  const user = launcher.SANDBOX_DEMO_USER;
  const from = `sandbox (pid ${ep.pid}, state ${ep.stateDir})`;
  const sources: Record<string, string> = {
    cpdUrl: from,
    wmlaConsoleUrl: from,
    wmlaInferenceUrl: from,
    openscaleUrl: from,
    openscaleInstanceId: 'default',
    auth: 'sandbox demo user',
    username: 'sandbox demo user',
    apiKey: 'sandbox demo user (documented, not a secret)',
  };
  const redactor = Redactor.fromEnv(opts.env ?? process.env);
  return new ConnectionProfile(
    {
      name: 'sandbox',
      kind: 'sandbox',
      cpdUrl: url,
      wmlaConsoleUrl: url,
      wmlaInferenceUrl: url,
      openscaleUrl: url,
      openscaleInstanceId: DEFAULT_OPENSCALE_INSTANCE_ID,
      iamUrl: url,
      tls: {},
      sources,
      sandbox: { pid: ep.pid, stateDir: ep.stateDir, startedNow: ep.startedNow },
    },
    { kind: 'cpd-apikey', username: user.username, apiKey: user.apiKey },
    redactor,
  );
}
