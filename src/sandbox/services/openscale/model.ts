import { z } from 'zod';
import {
  DataMartFields,
  IntegratedSystemRequest,
  MeasurementEntity,
  MonitorDefinitionEntity,
  MonitorInstanceRequest,
  MonitoringRunEntity,
  ServiceProviderRequest,
  SubscriptionRequest,
} from '../../../lib/contracts/openscale';

/**
 * Stored documents of the OpenScale module (not wire formats: views.ts renders those). Documents are
 * filed under a server-made `key` (a uuid); `id` is the resource id clients see, which for a monitor
 * definition is derived from its name and so cannot be a file name.
 */

const Base = {
  key: z.string(),
  id: z.string(),
  /** The OpenScale service instance (the `{instance}` of `/openscale/{instance}/v2`). */
  instance: z.string(),
  created_at: z.string(),
  created_by: z.string(),
  modified_at: z.string().optional(),
  modified_by: z.string().optional(),
};

/** `preparing` until `ready_at`, `active` afterwards: derived on read, so restarts need nothing. */
const Lifecycle = {
  ready_at: z.string(),
  /** Soft delete (service providers): hidden unless `show_deleted=true`. */
  deleted_at: z.string().optional(),
};

export const DataMartDoc = z.object({ ...Base, entity: DataMartFields });
export type DataMartDoc = z.infer<typeof DataMartDoc>;

/**
 * Entities are stored as received, credentials included (the state dir is local, like config.json);
 * answers replace them by `secret_id` (service providers) or a redacted copy (integrated systems).
 */
export const ServiceProviderDoc = z.object({ ...Base, ...Lifecycle, secret_id: z.string(), entity: ServiceProviderRequest });
export type ServiceProviderDoc = z.infer<typeof ServiceProviderDoc>;

export const SubscriptionDoc = z.object({ ...Base, ...Lifecycle, entity: SubscriptionRequest });
export type SubscriptionDoc = z.infer<typeof SubscriptionDoc>;

export const IntegratedSystemDoc = z.object({ ...Base, secret_id: z.string(), entity: IntegratedSystemRequest });
export type IntegratedSystemDoc = z.infer<typeof IntegratedSystemDoc>;

export const MonitorDefinitionDoc = z.object({ ...Base, entity: MonitorDefinitionEntity });
export type MonitorDefinitionDoc = z.infer<typeof MonitorDefinitionDoc>;

/** Ids of deleted definitions (for the optional "never reuse a definition id" rule). */
export const RetiredDefinitionDoc = z.object({ key: z.string(), id: z.string(), instance: z.string(), deleted_at: z.string() });
export type RetiredDefinitionDoc = z.infer<typeof RetiredDefinitionDoc>;

export const MonitorInstanceDoc = z.object({ ...Base, ready_at: z.string(), entity: MonitorInstanceRequest });
export type MonitorInstanceDoc = z.infer<typeof MonitorInstanceDoc>;

/** What the provider said about a run: through the instance's run_details or the runs API. */
export const RunReport = z.object({
  state: z.enum(['finished', 'error']),
  message: z.string().optional(),
  via: z.enum(['monitor_instance', 'runs_api']),
  at: z.string(),
});
export type RunReport = z.infer<typeof RunReport>;

export const RunDoc = z.object({
  ...Base,
  monitor_instance_id: z.string(),
  entity: MonitoringRunEntity,
  /** When the run errors for lack of a report (started_at + custom_metrics_wait_time, or expiration_date). */
  deadline_at: z.string().optional(),
  wait_seconds: z.number().optional(),
  /** The provider call: where, and how it ended (`failure` set when it failed). */
  provider: z
    .object({
      integrated_system_id: z.string(),
      endpoint: z.string(),
      invoked_at: z.string().optional(),
      replied_at: z.string().optional(),
      http_status: z.number().optional(),
      failure: z.string().optional(),
    })
    .optional(),
  report: RunReport.optional(),
});
export type RunDoc = z.infer<typeof RunDoc>;

export const MeasurementDoc = z.object({
  key: z.string(),
  id: z.string(),
  instance: z.string(),
  monitor_instance_id: z.string(),
  created_at: z.string(),
  created_by: z.string(),
  entity: MeasurementEntity,
});
export type MeasurementDoc = z.infer<typeof MeasurementDoc>;
