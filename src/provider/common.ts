/** Names shared by the provider server, its process entry and the launcher (kept free of server code). */
import { resolve } from 'node:path';
import { ConfigError } from '../lib/errors';

/** The path OpenScale posts runs to. */
export const PROVIDER_SCORE_PATH = '/score';
/** The health check path. */
export const PROVIDER_HEALTH_PATH = '/health';
/** What `/health` says it is. */
export const PROVIDER_SERVICE = 'cpd-runbook-provider';
/** `<state>/provider.json`: where a background provider listens. */
export const PROVIDER_ENDPOINT_FILE = 'provider.json';

/** Where monitor settings come from. */
export interface SettingsLocation {
  /** Read `deployment_metadata.yml` from this deployment space (the usual). */
  readonly spaceId?: string;
  /** Or from this local file. */
  readonly metadataFile?: string;
}

/** A stable name of a settings location (`space:<id>`, `file:<absolute path>`), compared by the launcher. */
export function settingsSourceName(location: SettingsLocation): string {
  if (location.spaceId && location.metadataFile) throw new ConfigError('give either a space (--space) or a metadata file (--metadata), not both');
  if (location.spaceId) return `space:${location.spaceId}`;
  if (location.metadataFile) return `file:${resolve(location.metadataFile)}`;
  throw new ConfigError(
    'the provider needs to know where the monitor settings (deployment_metadata.yml) are: give --space SPACE_ID (read from the deployment space) or --metadata FILE (a local copy)',
  );
}
