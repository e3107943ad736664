import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lib/errors';
import { atomicWriteFileSync } from '../lib/util/atomic-write';
import { formatZodIssues } from './errors';

/** The documented demo user every new sandbox state dir starts with (see src/sandbox/README.md). */
export const SANDBOX_DEMO_USER = {
  username: 'admin',
  apiKey: 'sandbox-demo-api-key',
  password: 'sandbox-demo-password',
} as const;

/** The documented demo IBM Cloud IAM API key (exchanged at `POST /identity/token`), bound to the demo user. */
export const SANDBOX_DEMO_IAM_API_KEY = 'sandbox-demo-iam-api-key';

/** The volume a new sandbox state dir starts with. */
export const SANDBOX_DEFAULT_VOLUME = 'sandbox-volume';

export const SandboxUser = z.strictObject({
  username: z.string().min(1),
  apiKey: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  /** The `uid` claim; defaults to a stable number derived from the position in `users`. */
  uid: z.string().min(1).optional(),
});
export type SandboxUser = z.infer<typeof SandboxUser>;

export const IamApiKey = z.strictObject({
  apiKey: z.string().min(1),
  username: z.string().min(1),
});

/** Statuses fault injection may answer with: only retryable ones, never a fabricated success. */
export const FaultStatus = z.union([z.literal(429), z.literal(500), z.literal(502), z.literal(503), z.literal(504)]);

/**
 * One fault rule. `route` is `'<METHOD> <path>'` or just `'<path>'` (any method); the path is a prefix,
 * or a glob when it contains `*` (`*` matches any characters, `/` included). The first matching rule wins.
 */
export const FaultRule = z.strictObject({
  route: z.string().min(1),
  /** Probability (0..1) of answering with one of `statuses` instead of running the handler. */
  errorRate: z.number().min(0).max(1).default(0),
  statuses: z.array(FaultStatus).min(1).default([503]),
  /** `Retry-After` (seconds) sent with 429 and 503. */
  retryAfterSeconds: z.number().int().min(0).default(1),
  /** Delay added before every matching request. */
  latencyMs: z.number().int().min(0).default(0),
  /** Probability (0..1) of closing the connection without an answer. */
  dropRate: z.number().min(0).max(1).default(0),
  /** Stop injecting errors and drops after this many (latency goes on). Absent = no limit. */
  maxHits: z.number().int().positive().optional(),
});
export type FaultRule = z.infer<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

export const SandboxConfig = z.strictObject({
  users: z.array(SandboxUser).min(1).default(() => [{ ...SANDBOX_DEMO_USER }]),
  iamApiKeys: z.array(IamApiKey).default(() => [{ apiKey: SANDBOX_DEMO_IAM_API_KEY, username: SANDBOX_DEMO_USER.username }]),
  /** Lifetime of minted tokens (CPD JWT and IAM access token). */
  tokenTtlSeconds: z.number().int().positive().default(1200),
  /** Largest JSON or form body accepted (413 beyond). Streamed uploads are not limited by this. */
  maxJsonBytes: z.number().int().positive().default(8 * 1024 * 1024),
  /** Seed of the fault-injection PRNG: the same seed and request order give the same faults. */
  seed: z.number().int().default(1),
  faults: z.array(FaultRule).default(() => []),
  /** Write one access-log line per request to stdout (process mode only). */
  logRequests: z.boolean().default(true),
  /** Per-service settings, keyed by module name; each module validates its own section. */
  services: z.record(z.string(), z.unknown()).default(() => ({})),
});
export type SandboxConfig = z.infer<typeof SandboxConfig>;
export type SandboxConfigInput = z.input<typeof SandboxConfig>;

/** The config a new state dir is created with. */
export function defaultConfigFile(): SandboxConfigInput {
  return {
    users: [{ ...SANDBOX_DEMO_USER }],
    iamApiKeys: [{ apiKey: SANDBOX_DEMO_IAM_API_KEY, username: SANDBOX_DEMO_USER.username }],
    tokenTtlSeconds: 1200,
    seed: 1,
    faults: [],
    services: { volumes: { volumes: [{ name: SANDBOX_DEFAULT_VOLUME }] } },
  };
}

export function configPath(stateDir: string): string {
  return join(stateDir, 'config.json');
}

/** Reads `<stateDir>/config.json` without creating it; `undefined` when absent. */
export function readConfigFile(stateDir: string): SandboxConfigInput | undefined {
  const file = configPath(stateDir);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${file}: expected a JSON object`);
  }
  return raw as SandboxConfigInput;
}

/** Writes `<stateDir>/config.json` atomically. */
export function writeConfigFile(stateDir: string, config: SandboxConfigInput): void {
  atomicWriteFileSync(configPath(stateDir), JSON.stringify(config, null, 2) + '\n');
}

/** Validates a config object; the error names the file and every bad field. */
export function parseConfig(input: unknown, source: string): SandboxConfig {
  const result = SandboxConfig.safeParse(input);
  if (!result.success) {
    throw new ConfigError(`${source}: ${formatZodIssues(result.error.issues, 'config').join('; ')}`);
  }
  return result.data;
}

/**
 * The effective config of a state dir: `config.json` (created with the demo user on first use),
 * with `overrides` applied on top (top-level keys replace, `services` sections replace per module).
 */
export function loadConfig(stateDir: string, overrides?: SandboxConfigInput): SandboxConfig {
  let fromFile = readConfigFile(stateDir);
  if (fromFile === undefined) {
    fromFile = defaultConfigFile();
    writeConfigFile(stateDir, fromFile);
  }
  const merged: Record<string, unknown> = { ...fromFile, ...(overrides ?? {}) };
  if (overrides?.services) merged.services = { ...(fromFile.services ?? {}), ...overrides.services };
  return parseConfig(merged, overrides ? `${configPath(stateDir)} (with overrides)` : configPath(stateDir));
}
