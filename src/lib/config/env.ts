/**
 * The environment variables a profile reads. Listed in one table so that `runbook doctor`, the
 * README and the resolver agree. Names in `aliases` are the predecessor runbook's (§0.1) and are
 * read when the main name is unset.
 */

/** A profile field read from the environment. */
export interface EnvSetting {
  /** The profile field it sets. */
  readonly field: string;
  readonly name: string;
  readonly aliases: readonly string[];
  readonly secret: boolean;
  readonly description: string;
}

/** Every environment variable a profile reads, in the order `runbook doctor --help` lists them. */
export const PROFILE_ENV: readonly EnvSetting[] = [
  { field: 'profile', name: 'RUNBOOK_PROFILE', aliases: [], secret: false, description: 'profile name (default: sandbox; "env" = from the environment only)' },
  { field: 'profilesFile', name: 'RUNBOOK_PROFILES_FILE', aliases: [], secret: false, description: 'profiles file (default ~/.config/cpd-runbook/profiles.yaml)' },
  { field: 'cpdUrl', name: 'CPD_URL', aliases: ['BASE_URL', 'RUNTIME_ENV_APSX_URL'], secret: false, description: 'CPD base URL' },
  { field: 'wmlaConsoleUrl', name: 'WMLA_CONSOLE_URL', aliases: ['WMLA_HOST'], secret: false, description: 'WMLA console URL (DLI and /dlim/v1 management)' },
  { field: 'wmlaInferenceUrl', name: 'WMLA_INFERENCE_URL', aliases: [], secret: false, description: 'WMLA inference URL (/dlim/v1/inference)' },
  { field: 'openscaleUrl', name: 'OPENSCALE_URL', aliases: [], secret: false, description: 'OpenScale host when not the CPD host' },
  { field: 'openscaleInstanceId', name: 'OPENSCALE_INSTANCE_ID', aliases: ['WOS_GUID'], secret: false, description: 'OpenScale instance (data mart) id' },
  { field: 'auth', name: 'RUNBOOK_AUTH', aliases: [], secret: false, description: 'cpd-apikey | cpd-password | bearer | iam-apikey (default: inferred from the secrets present)' },
  { field: 'username', name: 'CPD_USERNAME', aliases: ['USERNAME'], secret: false, description: 'CPD user (USERNAME is read only together with APIKEY)' },
  { field: 'caBundle', name: 'RUNBOOK_CA_BUNDLE', aliases: [], secret: false, description: 'PEM file of extra CA certificates to trust' },
  { field: 'insecureTls', name: 'RUNBOOK_INSECURE_TLS', aliases: [], secret: false, description: 'true to turn TLS verification off (prints a warning)' },
  { field: 'iamUrl', name: 'IAM_URL', aliases: [], secret: false, description: 'IBM Cloud IAM URL (default https://iam.cloud.ibm.com)' },
  { field: 'secretsFile', name: 'RUNBOOK_SECRETS_FILE', aliases: [], secret: false, description: 'secrets file (mode 0600): apiKey, password, bearerToken, ibmCloudApiKey' },
  { field: 'apiKey', name: 'CPD_API_KEY', aliases: ['APIKEY'], secret: true, description: 'CPD API key (auth cpd-apikey)' },
  { field: 'password', name: 'CPD_PASSWORD', aliases: [], secret: true, description: 'CPD password (auth cpd-password)' },
  { field: 'bearerToken', name: 'CPD_BEARER_TOKEN', aliases: ['USER_ACCESS_TOKEN'], secret: true, description: 'a bearer token (auth bearer; cannot be renewed)' },
  { field: 'ibmCloudApiKey', name: 'IBM_CLOUD_API_KEY', aliases: [], secret: true, description: 'IBM Cloud API key (auth iam-apikey)' },
];

/** The value of a setting from `env` and the variable it came from, or undefined. */
export function readEnv(env: NodeJS.ProcessEnv, field: string): { value: string; variable: string } | undefined {
  const setting = PROFILE_ENV.find((s) => s.field === field);
  if (!setting) return undefined;
  for (const name of [setting.name, ...setting.aliases]) {
    const v = env[name];
    if (v === undefined || v.trim() === '') continue;
    // The predecessor read USERNAME only together with APIKEY; USERNAME alone is the OS login name.
    if (name === 'USERNAME' && !env.APIKEY) continue;
    return { value: v.trim(), variable: name };
  }
  return undefined;
}

/** The environment table as text, for `--help` and the README. */
export function profileEnvHelp(): string {
  return PROFILE_ENV.map((s) => `  ${[s.name, ...s.aliases].join(' / ').padEnd(42)} ${s.secret ? '(secret) ' : ''}${s.description}`).join('\n');
}
