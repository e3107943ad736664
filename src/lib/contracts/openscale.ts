import { z } from 'zod';
import { DefinitionThreshold, InstanceThreshold } from '../thresholds/wire';

/**
 * Wire formats of Watson OpenScale v2 (ibm-api-contracts.md §5), shared by the sandbox (request
 * validation) and the OpenScale client (response validation). Every path is below
 * `{cpd}/openscale/{service_instance_id}/v2`. Objects are loose: real services add fields the project
 * does not read, and requests may carry optional fields the sandbox only stores and echoes.
 */

/** On CPD the default service instance id, which is also the id of its data mart (§5.1). */
export const OPENSCALE_DEFAULT_INSTANCE_ID = '00000000-0000-0000-0000-000000000000';

const Href = z.looseObject({ href: z.string() });
const Timestamp = z.iso.datetime({ offset: true });
const StringMap = z.record(z.string(), z.string());
const AnyObject = z.record(z.string(), z.unknown());

// ---- Envelopes (§5.2) ------------------------------------------------------------------------------

export const Metadata = z.looseObject({
  id: z.string(),
  url: z.string(),
  crn: z.string().optional(),
  created_at: z.string().optional(),
  created_by: z.string().optional(),
  modified_at: z.string().optional(),
  modified_by: z.string().optional(),
});
export type Metadata = z.infer<typeof Metadata>;

/** OpenScale's error body; the same object is embedded as `status.failure` on resources and runs. */
export const GenericErrorResponse = z.looseObject({
  trace: z.string().optional(),
  errors: z.array(z.looseObject({ code: z.string(), message: z.string(), parameters: z.array(z.unknown()).optional() })),
});
export type GenericErrorResponse = z.infer<typeof GenericErrorResponse>;

/** `{metadata, entity}`: the shape of every OpenScale resource. */
export function resourceOf<E extends z.ZodType>(entity: E) {
  return z.looseObject({ metadata: Metadata, entity });
}

/** States of data marts, service providers and subscriptions (§5.11). */
export const ResourceState = z.enum(['preparing', 'active', 'deleting', 'pending_delete', 'disabled', 'error']);
export type ResourceState = z.infer<typeof ResourceState>;

export const ResourceStatus = z.looseObject({
  state: ResourceState,
  deleted_at: z.string().optional(),
  failure: GenericErrorResponse.optional(),
});
export type ResourceStatus = z.infer<typeof ResourceStatus>;

export { JsonPatchOperation, JsonPatch } from './json-patch';

// ---- Data marts (§5.3) -----------------------------------------------------------------------------

export const DataMartFields = z.looseObject({
  name: z.string().optional(),
  description: z.string().optional(),
  service_instance_crn: z.string().optional(),
  internal_database: z.boolean().optional(),
  database_configuration: AnyObject.optional(),
  database_discovery: z.string().optional(),
});
export type DataMartFields = z.infer<typeof DataMartFields>;
export const DataMartEntity = DataMartFields.extend({ status: ResourceStatus });
export const DataMart = resourceOf(DataMartEntity);
export type DataMart = z.infer<typeof DataMart>;
export const DataMartCollection = z.looseObject({ data_marts: z.array(DataMart) });
export type DataMartCollection = z.infer<typeof DataMartCollection>;

// ---- Service providers (§5.4) ----------------------------------------------------------------------

export const ServiceType = z.enum([
  'watson_machine_learning',
  'amazon_sagemaker',
  'azure_machine_learning',
  'custom_machine_learning',
  'spss_collaboration_and_deployment_services',
]);
export type ServiceType = z.infer<typeof ServiceType>;

export const ServiceProviderRequest = z.looseObject({
  name: z.string().min(1),
  service_type: ServiceType,
  /** Stored as a secret; answers carry `{secret_id}` only. The headless provider sends `{}`. */
  credentials: AnyObject,
  description: z.string().optional(),
  instance_id: z.string().optional(),
  request_headers: StringMap.optional(),
  operational_space_id: z.string().optional(),
  deployment_space_id: z.string().optional(),
  integrated_project_id: z.string().optional(),
  group_ids: z.array(z.string()).optional(),
  user_ids: z.array(z.string()).optional(),
});
export type ServiceProviderRequest = z.infer<typeof ServiceProviderRequest>;

/** Secrets come back as a reference only. */
export const SecretReference = z.looseObject({ secret_id: z.string() });

export const ServiceProviderEntity = ServiceProviderRequest.extend({
  credentials: SecretReference.optional(),
  status: ResourceStatus,
});
export const ServiceProvider = resourceOf(ServiceProviderEntity);
export type ServiceProvider = z.infer<typeof ServiceProvider>;
export const ServiceProviderCollection = z.looseObject({ service_providers: z.array(ServiceProvider) });
export type ServiceProviderCollection = z.infer<typeof ServiceProviderCollection>;

// ---- Subscriptions (§5.5) --------------------------------------------------------------------------

export const AssetType = z.enum(['model', 'function', 'prompt']);
export const ProblemType = z.enum([
  'binary',
  'regression',
  'multiclass',
  'question_answering',
  'summarization',
  'retrieval_augmented_generation',
  'classification',
  'generation',
  'code',
  'extraction',
]);
export const InputDataType = z.enum(['structured', 'unstructured_image', 'unstructured_text', 'unstructured_video', 'unstructured_audio']);
export const DeploymentType = z.enum(['online', 'batch', 'detached']);

export const Asset = z.looseObject({
  asset_id: z.string().min(1),
  asset_type: AssetType,
  url: z.string().optional(),
  name: z.string().optional(),
  asset_rn: z.string().optional(),
  created_at: z.string().optional(),
  problem_type: ProblemType.optional(),
  model_type: z.string().optional(),
  runtime_environment: z.string().optional(),
  input_data_type: InputDataType.optional(),
  foundational_model_id: z.string().optional(),
  locale: z.looseObject({ input: z.array(z.string()).optional(), output: z.array(z.string()).optional() }).optional(),
});
export type Asset = z.infer<typeof Asset>;

export const AssetDeployment = z.looseObject({
  deployment_id: z.string().min(1),
  name: z.string(),
  deployment_type: DeploymentType,
  deployment_rn: z.string().optional(),
  url: z.string().optional(),
  description: z.string().optional(),
  created_at: z.string().optional(),
  scoring_endpoint: z.looseObject({ url: z.string().optional(), credentials: AnyObject.optional(), request_headers: StringMap.optional() }).optional(),
});
export type AssetDeployment = z.infer<typeof AssetDeployment>;

export const AssetProperties = z.looseObject({
  training_data_reference: AnyObject.optional(),
  training_data_schema: AnyObject.optional(),
  input_data_schema: AnyObject.optional(),
  output_data_schema: AnyObject.optional(),
  label_column: z.string().optional(),
  labels: z.array(z.string()).optional(),
  dashboard_configuration: AnyObject.optional(),
  predicted_target_field: z.string().optional(),
  prediction_field: z.string().optional(),
  transaction_id_field: z.string().optional(),
  feature_fields: z.array(z.string()).optional(),
  categorical_fields: z.array(z.string()).optional(),
  probability_fields: z.array(z.string()).optional(),
  prediction_names: z.array(z.string()).optional(),
  context_fields: z.array(z.string()).optional(),
  question_field: z.string().optional(),
  input_token_count_field: z.string().optional(),
  output_token_count_field: z.string().optional(),
});
export type AssetProperties = z.infer<typeof AssetProperties>;

export const SubscriptionRequest = z.looseObject({
  data_mart_id: z.string().min(1),
  service_provider_id: z.string().min(1),
  asset: Asset,
  deployment: AssetDeployment,
  asset_properties: AssetProperties.optional(),
  integration_reference: z.looseObject({ integrated_system_id: z.string().optional(), external_id: z.string().optional(), parameters: AnyObject.optional() }).optional(),
  risk_evaluation_status: AnyObject.optional(),
  analytics_engine: z.looseObject({ type: z.string(), integrated_system_id: z.string().optional(), credentials: AnyObject.optional(), parameters: AnyObject.optional() }).optional(),
  data_sources: z.array(AnyObject).optional(),
});
export type SubscriptionRequest = z.infer<typeof SubscriptionRequest>;

export const SubscriptionEntity = SubscriptionRequest.extend({ status: ResourceStatus });
export const Subscription = resourceOf(SubscriptionEntity);
export type Subscription = z.infer<typeof Subscription>;
export const SubscriptionCollection = z.looseObject({ subscriptions: z.array(Subscription) });
export type SubscriptionCollection = z.infer<typeof SubscriptionCollection>;

// ---- Integrated systems (§5.6) ---------------------------------------------------------------------

export const IntegratedSystemType = z.enum([
  'open_pages',
  'slack',
  'webhook',
  'hive',
  'spark',
  'jdbc',
  'custom_metrics_provider',
  'watson_knowledge_catalog',
  'generative_ai_evaluator',
  'embeddings_provider',
]);
export type IntegratedSystemType = z.infer<typeof IntegratedSystemType>;

/** How OpenScale gets a token before calling a custom metrics provider (CPD: `…/icp4d-api/v1/authorize`). */
export const TokenInfo = z.looseObject({
  url: z.url(),
  method: z.string().regex(/^(post|get|POST|GET)$/, "expected 'post' or 'get'").optional(),
  headers: StringMap.optional(),
  payload: z.unknown().optional(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/** The credentials a `custom_metrics_provider` integrated system must carry. */
export const CustomMetricsProviderCredentials = z.discriminatedUnion('auth_type', [
  z.looseObject({ auth_type: z.literal('bearer'), token_info: TokenInfo }),
  z.looseObject({ auth_type: z.literal('basic'), username: z.string().min(1), password: z.string().min(1) }),
]);
export type CustomMetricsProviderCredentials = z.infer<typeof CustomMetricsProviderCredentials>;

export const IntegratedSystemConnection = z.looseObject({
  display_name: z.string().optional(),
  /** For a custom metrics provider: the URL OpenScale POSTs the run payload to. */
  endpoint: z.string().optional(),
});

export const IntegratedSystemRequest = z.looseObject({
  name: z.string().min(1),
  type: IntegratedSystemType,
  description: z.string(),
  credentials: AnyObject,
  connection: IntegratedSystemConnection.optional(),
  group_ids: z.array(z.string()).optional(),
  user_ids: z.array(z.string()).optional(),
  parameters: AnyObject.optional(),
});
export type IntegratedSystemRequest = z.infer<typeof IntegratedSystemRequest>;

/**
 * In answers, `credentials` keeps its structure with every secret value (keys like `api_key`,
 * `password`, `apikey`, `token`, `Authorization`) replaced by `***`, plus a `secret_id`.
 */
export const IntegratedSystemEntity = IntegratedSystemRequest.extend({ credentials: AnyObject });
export const IntegratedSystem = resourceOf(IntegratedSystemEntity);
export type IntegratedSystem = z.infer<typeof IntegratedSystem>;
export const IntegratedSystemCollection = z.looseObject({ integrated_systems: z.array(IntegratedSystem) });
export type IntegratedSystemCollection = z.infer<typeof IntegratedSystemCollection>;

// ---- Monitor definitions (§5.7) --------------------------------------------------------------------

export const MonitorRuntimeType = z.enum(['service', 'custom_metrics_provider', 'none']);

export const MonitorMetricRequest = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  required: z.boolean().optional(),
  thresholds: z.array(DefinitionThreshold).optional(),
  applies_to: AnyObject.optional(),
  expected_direction: z.enum(['increasing', 'decreasing', 'unknown']).optional(),
  default_aggregation: z.enum(['last', 'first', 'min', 'max', 'sum', 'count', 'avg', 'median', 'stddev']).optional(),
});
export type MonitorMetricRequest = z.infer<typeof MonitorMetricRequest>;

export const MonitorTagRequest = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  required: z.boolean().optional(),
});

export const MonitorDefinitionRequest = z.looseObject({
  /** Must be unique; the definition's id derives from it (`Generic Metrics v5` → `generic_metrics_v5`). */
  name: z.string().min(1),
  metrics: z.array(MonitorMetricRequest).min(1),
  tags: z.array(MonitorTagRequest),
  description: z.string().optional(),
  applies_to: AnyObject.optional(),
  parameters_schema: AnyObject.optional(),
  managed_by: z.string().optional(),
  schedule: AnyObject.optional(),
  schedules: AnyObject.optional(),
  monitor_runtime: z.looseObject({ type: MonitorRuntimeType }).optional(),
});
export type MonitorDefinitionRequest = z.infer<typeof MonitorDefinitionRequest>;

export const MonitorMetric = MonitorMetricRequest.extend({ id: z.string() });
export type MonitorMetric = z.infer<typeof MonitorMetric>;
export const MonitorTag = MonitorTagRequest.extend({ id: z.string() });

export const MonitorDefinitionEntity = MonitorDefinitionRequest.extend({
  metrics: z.array(MonitorMetric),
  tags: z.array(MonitorTag),
});
export type MonitorDefinitionEntity = z.infer<typeof MonitorDefinitionEntity>;
export const MonitorDefinition = resourceOf(MonitorDefinitionEntity);
export type MonitorDefinition = z.infer<typeof MonitorDefinition>;
export const MonitorDefinitionCollection = z.looseObject({ monitor_definitions: z.array(MonitorDefinition) });
export type MonitorDefinitionCollection = z.infer<typeof MonitorDefinitionCollection>;

// ---- Monitor instances (§5.8) ----------------------------------------------------------------------

export const TargetType = z.enum(['subscription', 'instance', 'data_mart', 'project', 'space', 'business_application']);
export type TargetType = z.infer<typeof TargetType>;
export const Target = z.looseObject({ target_type: TargetType, target_id: z.string().min(1) });
export type Target = z.infer<typeof Target>;

/** What a provider writes back into the instance parameters (the legacy run-status protocol, §5.9). */
export const RunDetails = z.looseObject({
  run_id: z.string(),
  /** OpenScale sends `Running`; the provider answers `finished` or `error`. */
  run_status: z.string(),
  run_error_msg: z.unknown().optional(),
});
export type RunDetails = z.infer<typeof RunDetails>;

/** Parameters of a custom monitor instance (other keys per the definition's parameters_schema are kept). */
export const CustomMonitorParameters = z.looseObject({
  custom_metrics_provider_id: z.string().min(1).optional(),
  /** Seconds OpenScale waits for the provider to publish and report (the runbook uses 360). */
  custom_metrics_wait_time: z.number().positive().optional(),
  run_details: RunDetails.optional(),
  last_run_time: z.string().optional(),
});
export type CustomMonitorParameters = z.infer<typeof CustomMonitorParameters>;

export const MonitorInstanceThreshold = InstanceThreshold.extend({
  specific_values: z.array(z.looseObject({ value: z.number(), applies_to: z.array(AnyObject) })).optional(),
});
export type MonitorInstanceThreshold = z.infer<typeof MonitorInstanceThreshold>;

export const MonitorSchedule = z.looseObject({
  repeat_interval: z.number().int().positive(),
  repeat_unit: z.enum(['minute', 'hour', 'day', 'week', 'month', 'year']),
  start_time: z.unknown().optional(),
  repeat_type: z.string().optional(),
  status: z.enum(['enabled', 'disabled']).optional(),
});

export const MonitorInstanceRequest = z.looseObject({
  data_mart_id: z.string().min(1),
  monitor_definition_id: z.string().min(1),
  target: Target,
  parameters: CustomMonitorParameters.optional(),
  thresholds: z.array(MonitorInstanceThreshold).optional(),
  schedule: MonitorSchedule.optional(),
  schedule_id: z.string().optional(),
  managed_by: z.string().optional(),
  unprocessed_records: AnyObject.optional(),
  total_records: AnyObject.optional(),
});
export type MonitorInstanceRequest = z.infer<typeof MonitorInstanceRequest>;

export const MonitorInstanceState = z.enum(['preparing', 'active', 'failed', 'deleting', 'pending_delete']);
export const MonitorInstanceEntity = MonitorInstanceRequest.extend({
  status: z.looseObject({ state: MonitorInstanceState, failure: GenericErrorResponse.optional() }),
});
export type MonitorInstanceEntity = z.infer<typeof MonitorInstanceEntity>;
export const MonitorInstance = resourceOf(MonitorInstanceEntity);
export type MonitorInstance = z.infer<typeof MonitorInstance>;
export const MonitorInstanceCollection = z.looseObject({ monitor_instances: z.array(MonitorInstance) });
export type MonitorInstanceCollection = z.infer<typeof MonitorInstanceCollection>;

// ---- Runs (§5.9) -----------------------------------------------------------------------------------

export const RunTrigger = z.enum(['event', 'scheduler', 'user', 'webhook', 'bkpi_manager']);
export const RunState = z.enum(['queued', 'running', 'finished', 'error']);
export type RunState = z.infer<typeof RunState>;
/** A run in one of these states changes no more. */
export const RUN_FINAL_STATES: readonly RunState[] = ['finished', 'error'];

export const MonitoringRunRequest = z.looseObject({
  triggered_by: RunTrigger.optional(),
  /** Merged over the instance parameters for this run (e.g. a shorter `custom_metrics_wait_time`). */
  parameters: AnyObject.optional(),
  expiration_date: Timestamp.optional(),
});
export type MonitoringRunRequest = z.infer<typeof MonitoringRunRequest>;

export const MonitoringRunStatus = z.looseObject({
  state: RunState,
  queued_at: z.string().optional(),
  started_at: z.string().optional(),
  updated_at: z.string().optional(),
  completed_at: z.string().optional(),
  message: z.string().optional(),
  failure: GenericErrorResponse.optional(),
  operators: z.array(AnyObject).optional(),
});
export type MonitoringRunStatus = z.infer<typeof MonitoringRunStatus>;

export const MonitoringRunEntity = z.looseObject({
  triggered_by: RunTrigger.optional(),
  parameters: AnyObject.optional(),
  expiration_date: z.string().optional(),
  status: MonitoringRunStatus,
});
export type MonitoringRunEntity = z.infer<typeof MonitoringRunEntity>;
export const MonitoringRun = resourceOf(MonitoringRunEntity);
export type MonitoringRun = z.infer<typeof MonitoringRun>;

export const MonitoringRunCollection = z.looseObject({
  runs: z.array(MonitoringRun),
  first: Href.optional(),
  prev: Href.optional(),
  next: Href.optional(),
  last: Href.optional(),
  limit: z.number().int().optional(),
  total_count: z.number().int().optional(),
});
export type MonitoringRunCollection = z.infer<typeof MonitoringRunCollection>;

// ---- Measurements (§5.10) --------------------------------------------------------------------------

export const MeasurementSource = z.looseObject({
  id: z.string(),
  type: z.string(),
  data: z.unknown(),
  metric_ids: z.array(z.string()).optional(),
});

/**
 * One measurement as a provider posts it. Each `metrics` item maps metric names or ids to numbers
 * (tag names or ids may map to strings when the definition has tags) and becomes one `values` item.
 */
export const MeasurementRequestItem = z.looseObject({
  timestamp: Timestamp,
  run_id: z.string().min(1).optional(),
  metrics: z.array(z.record(z.string(), z.union([z.number(), z.string()]))).min(1),
  sources: z.array(MeasurementSource).optional(),
  asset_revision: z.string().optional(),
});
export type MeasurementRequestItem = z.infer<typeof MeasurementRequestItem>;
export const MeasurementRequest = z.array(MeasurementRequestItem).min(1);
export type MeasurementRequest = z.infer<typeof MeasurementRequest>;

export const MeasurementMetric = z.looseObject({
  id: z.string(),
  value: z.number(),
  lower_limit: z.number().optional(),
  upper_limit: z.number().optional(),
});
export type MeasurementMetric = z.infer<typeof MeasurementMetric>;

export const MeasurementEntity = z.looseObject({
  timestamp: z.string(),
  run_id: z.string().optional(),
  /** How many metrics broke a limit: value < lower_limit or value > upper_limit. */
  issue_count: z.number().int().nonnegative(),
  values: z.array(z.looseObject({ metrics: z.array(MeasurementMetric), tags: z.array(z.looseObject({ id: z.string(), value: z.string() })) })),
  asset_revision: z.string().optional(),
  target: Target.optional(),
  monitor_instance_id: z.string().optional(),
  monitor_definition_id: z.string().optional(),
  sources: z.array(MeasurementSource).optional(),
});
export type MeasurementEntity = z.infer<typeof MeasurementEntity>;
export const Measurement = resourceOf(MeasurementEntity);
export type Measurement = z.infer<typeof Measurement>;

/** The answer to a measurement POST (202): the created measurements. */
export const MeasurementCreateResponse = z.array(Measurement);
export type MeasurementCreateResponse = z.infer<typeof MeasurementCreateResponse>;

export const MeasurementCollection = z.looseObject({
  start: z.string().optional(),
  end: z.string().optional(),
  limit: z.number().int().optional(),
  offset: z.number().int().optional(),
  total_count: z.number().int().optional(),
  measurements: z.array(Measurement),
});
export type MeasurementCollection = z.infer<typeof MeasurementCollection>;

// ---- The custom metrics provider protocol (§5.9) ---------------------------------------------------

/** What OpenScale POSTs to a custom metrics provider's endpoint on a run (`values` is an object). */
export const CustomMetricsProviderInvocation = z.looseObject({
  input_data: z
    .array(
      z.looseObject({
        values: z.looseObject({
          data_mart_id: z.string(),
          subscription_id: z.string(),
          custom_monitor_id: z.string(),
          custom_monitor_instance_id: z.string(),
          custom_monitor_instance_params: CustomMonitorParameters.extend({
            custom_metrics_provider_id: z.string(),
            custom_metrics_wait_time: z.number(),
            run_details: RunDetails,
          }),
        }),
      }),
    )
    .min(1),
});
export type CustomMetricsProviderInvocation = z.infer<typeof CustomMetricsProviderInvocation>;

/**
 * The provider's answer: `{predictions:[{values:[<measurement POST answers>]}]}`, or on failure
 * `{predictions:[], error_msg:[…], log_msg:[…]}`.
 */
export const CustomMetricsProviderReply = z.looseObject({
  predictions: z.array(z.looseObject({ values: z.array(z.unknown()).optional() })).optional(),
  error_msg: z.unknown().optional(),
  log_msg: z.unknown().optional(),
});
export type CustomMetricsProviderReply = z.infer<typeof CustomMetricsProviderReply>;

/** The failure a provider reply reports (its `error_msg`, joined), or undefined when it reports none. */
export function providerReplyFailure(reply: CustomMetricsProviderReply): string | undefined {
  const e = reply.error_msg;
  if (e === undefined || e === null || e === '' || (Array.isArray(e) && e.length === 0)) return undefined;
  if (typeof e === 'string') return e;
  if (Array.isArray(e)) return e.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('; ');
  return JSON.stringify(e);
}
