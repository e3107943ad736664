/**
 * Where the provider finds a monitor's settings (dir_gt, dir_pred, volume_display_name,
 * most_recent, parameters) for a run: the deployment metadata entry whose
 * `openscale_subscription_id` is the run's subscription, under
 * `openscale_custom_metric_provider.<monitor id>` — the predecessor's lookup (§4.1), with the
 * monitor id taken from the run's payload instead of a hard-coded one (§8.8).
 */
import { RunbookError } from '../errors';
import { FileMetadataStore } from '../metadata/file-store';
import type { DeploymentEntry, MonitorConfig } from '../metadata/schema';
import { deploymentMetadataCodec } from '../metadata/yaml';
import type { MetadataStore } from '../metadata/store';

/** A run's monitor settings could not be found: the message says what to fix in the metadata. */
export class MonitorConfigError extends RunbookError {
  constructor(message: string) {
    super('validation', message);
  }
}

/** Gives the settings of a monitor for a subscription. */
export interface MonitorConfigSource {
  /** Where the settings come from, for messages (`deployment_metadata.yml in space …`). */
  readonly description: string;
  /** The settings, or a {@link MonitorConfigError} saying what is missing. */
  monitorConfig(subscriptionId: string, monitorId: string): Promise<MonitorConfig>;
}

/**
 * Settings read from a deployment metadata document in any store: the space-backed one
 * (`new SpaceMetadataStore(assets, deploymentMetadataCodec)`, what a provider normally uses), a
 * local file ({@link fileConfigSource}) for tests and offline work. The document is read on every
 * run, so edits take effect at the next run.
 */
export function deploymentMetadataConfigSource(store: MetadataStore<Record<string, DeploymentEntry>>): MonitorConfigSource {
  return {
    description: store.description,
    async monitorConfig(subscriptionId: string, monitorId: string): Promise<MonitorConfig> {
      const { doc, revision } = await store.read();
      const where = `${store.description}${revision === null ? ' (which does not exist)' : ''}`;
      const entries = Object.entries(doc).filter(([, e]) => e.openscale_subscription_id === subscriptionId);
      if (entries.length === 0) {
        throw new MonitorConfigError(`no deployment in ${where} has openscale_subscription_id ${subscriptionId}; set it on the deployment's entry`);
      }
      if (entries.length > 1) {
        throw new MonitorConfigError(
          `${entries.length} deployments in ${where} have openscale_subscription_id ${subscriptionId} (${entries.map(([k]) => k).join(', ')}); each subscription must belong to one deployment`,
        );
      }
      const [key, entry] = entries[0]!;
      const monitors = entry.openscale_custom_metric_provider;
      const config = Object.prototype.hasOwnProperty.call(monitors, monitorId) ? monitors[monitorId] : undefined;
      if (!config) {
        const known = Object.keys(monitors);
        throw new MonitorConfigError(
          `deployment ${key} in ${where} has no openscale_custom_metric_provider.${monitorId} (it configures ${known.length ? known.join(', ') : 'no monitor'}); the key must be the monitor definition id OpenScale runs`,
        );
      }
      return config;
    },
  };
}

/** Settings from a local `deployment_metadata.yml`. */
export function fileConfigSource(path: string): MonitorConfigSource {
  return deploymentMetadataConfigSource(new FileMetadataStore(path, deploymentMetadataCodec));
}
