import { promises as fsp, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors';
import { loadYaml } from '../metadata/yaml';
import { parseOrThrow } from '../metadata/yaml-issues';

/**
 * The profiles file (`~/.config/cpd-runbook/profiles.yaml`, or `RUNBOOK_PROFILES_FILE`): named
 * connection profiles with non-secret settings only. Secrets go in the environment or in a
 * `secretsFile` readable by its owner alone.
 *
 * ```yaml
 * profiles:
 *   prod:
 *     cpdUrl: https://cpd-cpd.apps.example.com
 *     wmlaConsoleUrl: https://wmla-console-cpd-wmla.apps.example.com
 *     wmlaInferenceUrl: https://wmla-inference-cpd-wmla.apps.example.com
 *     auth: cpd-apikey
 *     username: admin
 *     caBundle: ~/certs/cluster-ca.pem
 *     secretsFile: ~/.config/cpd-runbook/prod.secrets.yaml   # apiKey: …  (chmod 600)
 * ```
 */

const expected = (form: string) => ({ error: `expected ${form}` });
const url = (what: string) => z.string(expected(`${what}, an http(s) URL`)).regex(/^https?:\/\/[^\s/?#]+[^\s]*$/, expected(`${what}, an http(s) URL such as https://cpd.example.com`));

/** The authentication kinds: CPD username + API key or password, a fixed bearer token, an IBM Cloud API key. */
export const AuthKindSchema = z.enum(['cpd-apikey', 'cpd-password', 'bearer', 'iam-apikey'], expected("one of 'cpd-apikey', 'cpd-password', 'bearer', 'iam-apikey'"));

/** Keys that hold secrets: never accepted in the profiles file. */
export const SECRET_KEYS = ['apiKey', 'api_key', 'apikey', 'password', 'token', 'bearerToken', 'ibmCloudApiKey'] as const;

/** One profile of the profiles file. */
export const ProfileSettings = z.strictObject(
    {
      cpdUrl: url('the CPD URL').optional(),
      wmlaConsoleUrl: url('the WMLA console URL').optional(),
      wmlaInferenceUrl: url('the WMLA inference URL').optional(),
      /** OpenScale's host when it is not the CPD host (IBM Cloud: https://api.aiopenscale.cloud.ibm.com). */
      openscaleUrl: url('the OpenScale URL').optional(),
      openscaleInstanceId: z.string(expected('an OpenScale instance id')).min(1, expected('an OpenScale instance id')).optional(),
      auth: AuthKindSchema.optional(),
      username: z.string(expected('a user name')).min(1, expected('a user name')).optional(),
      caBundle: z.string(expected('a path to a PEM file')).min(1, expected('a path to a PEM file')).optional(),
      insecureTls: z.boolean(expected('true or false')).optional(),
      iamUrl: url('the IAM URL').optional(),
      secretsFile: z.string(expected('a path to a secrets file (mode 0600)')).min(1).optional(),
    },
    expected('a profile mapping (cpdUrl, wmlaConsoleUrl, wmlaInferenceUrl, auth, username, caBundle, secretsFile, ...)'),
  );
export type ProfileSettings = z.infer<typeof ProfileSettings>;

/** The whole profiles file. */
export const ProfilesFile = z.strictObject(
  { profiles: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, expected('a profile name (letters, digits, "-", "_", ".")')), ProfileSettings) },
  expected('a mapping with a "profiles" key'),
);
export type ProfilesFile = z.infer<typeof ProfilesFile>;

/** What a secrets file may hold. */
export const SecretsFile = z.strictObject(
  {
    apiKey: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    bearerToken: z.string().min(1).optional(),
    ibmCloudApiKey: z.string().min(1).optional(),
  },
  expected('a mapping with apiKey, password, bearerToken and/or ibmCloudApiKey'),
);
export type SecretsFile = z.infer<typeof SecretsFile>;

/** `~/x` → home, relative paths → relative to `baseDir`. */
export function expandPath(p: string, baseDir: string, home: string = homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return join(home, p.slice(2));
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** `$RUNBOOK_PROFILES_FILE`, else `$XDG_CONFIG_HOME/cpd-runbook/profiles.yaml`, else `~/.config/cpd-runbook/profiles.yaml`. */
export function defaultProfilesFile(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  if (env.RUNBOOK_PROFILES_FILE) return expandPath(env.RUNBOOK_PROFILES_FILE, process.cwd(), home);
  const config = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : join(home, '.config');
  return join(config, 'cpd-runbook', 'profiles.yaml');
}

/**
 * Reads and validates a profiles file; undefined when it does not exist. Secrets in it are refused
 * with a message saying where they belong.
 */
export async function readProfilesFile(path: string): Promise<ProfilesFile | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`profiles file ${path} cannot be read: ${(err as Error).message}`);
  }
  const raw = loadYaml(text, path);
  if (raw && typeof raw === 'object' && 'profiles' in raw) {
    const profiles = (raw as { profiles: unknown }).profiles;
    if (profiles && typeof profiles === 'object') {
      for (const [name, p] of Object.entries(profiles as Record<string, unknown>)) {
        const bad = p && typeof p === 'object' ? SECRET_KEYS.find((k) => k in (p as object)) : undefined;
        if (bad) {
          throw new ConfigError(
            `${path}: profiles.${name}.${bad} is a secret and is not read from the profiles file: put it in the environment (CPD_API_KEY, CPD_PASSWORD, CPD_BEARER_TOKEN, IBM_CLOUD_API_KEY) or in a secretsFile readable by you alone (chmod 600)`,
          );
        }
      }
    }
  }
  try {
    return parseOrThrow(ProfilesFile, raw === null ? { profiles: {} } : raw, `profiles file ${path}`, { source: text });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/**
 * Reads a secrets file after checking that only its owner can read it (mode 0600 or 0400, owned by
 * the current user); anything else is refused with the chmod that fixes it.
 */
export async function readSecretsFile(path: string): Promise<SecretsFile> {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new ConfigError(`secrets file ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!st.isFile()) throw new ConfigError(`secrets file ${path} is not a regular file`);
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(
      `secrets file ${path} has mode ${mode.toString(8).padStart(4, '0')}: it must be readable by its owner only; run: chmod 600 ${path}`,
    );
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new ConfigError(`secrets file ${path} belongs to user id ${st.uid}, not to you (${process.getuid()}): secrets must be in a file you own`);
  }
  const text = await fsp.readFile(path, 'utf8');
  const raw = loadYaml(text, path);
  try {
    // Messages show field paths only, never the values.
    const r = SecretsFile.safeParse(raw === null ? {} : raw);
    if (r.success) return r.data;
    const fields = r.error.issues.map((i) => (i.code === 'unrecognized_keys' ? i.keys.join(', ') + ' (unknown key)' : i.path.join('.') || '(document)'));
    throw new ConfigError(`secrets file ${path} is not valid: ${fields.join('; ')}; expected apiKey, password, bearerToken and/or ibmCloudApiKey as non-empty strings`);
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError(String(err));
  }
}

/** The folder of a path (for resolving relative paths in a file). */
export function folderOf(path: string): string {
  return dirname(path);
}
