/**
 * Shared pieces of the OpenScale contract tests: the base path, resource builders and a poller.
 * Every call goes over real HTTP to an in-process sandbox.
 */
import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import { OPENSCALE_DEFAULT_INSTANCE_ID } from '../../src/lib/contracts/openscale';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import type { Api, ApiResponse } from './helpers';

export const DM = OPENSCALE_DEFAULT_INSTANCE_ID;
export const OS = `/openscale/${DM}/v2`;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Expects `status`, with the body in the failure message when it differs. */
export function expectStatus(res: ApiResponse, status: number): any {
  expect({ status: res.status, body: res.json }).toMatchObject({ status });
  return res.json;
}

export async function createProvider(api: Api, name = 'OpenScale Headless Service Provider'): Promise<any> {
  return expectStatus(
    await api.post(`${OS}/service_providers`, { name, description: '', service_type: 'custom_machine_learning', operational_space_id: 'production', credentials: {} }),
    201,
  );
}

export function subscriptionBody(providerId: string, name = `dep-${randomUUID().slice(0, 8)} Monitor`) {
  return {
    data_mart_id: DM,
    service_provider_id: providerId,
    asset: { asset_id: randomUUID(), name, url: '', asset_type: 'model', input_data_type: 'structured', problem_type: 'multiclass' },
    deployment: { deployment_id: randomUUID(), name, deployment_type: 'online' },
    asset_properties: { probability_fields: ['probability'] },
  };
}

export async function createSubscription(api: Api, providerId: string, name?: string): Promise<any> {
  return expectStatus(await api.post(`${OS}/subscriptions`, subscriptionBody(providerId, name)), 201);
}

/** A custom metrics provider registration as the runbook makes it (token_info = the sandbox's authorize). */
export function cmpBody(sandboxUrl: string, endpoint: string, name = 'Generic Metrics Provider') {
  return {
    name,
    description: name,
    type: 'custom_metrics_provider',
    credentials: {
      auth_type: 'bearer',
      token_info: {
        url: `${sandboxUrl}/icp4d-api/v1/authorize`,
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        payload: { username: SANDBOX_DEMO_USER.username, api_key: SANDBOX_DEMO_USER.apiKey },
        method: 'post',
      },
    },
    connection: { display_name: name, endpoint },
  };
}

export async function createSystem(api: Api, body: unknown): Promise<any> {
  return expectStatus(await api.post(`${OS}/integrated_systems`, body), 201);
}

/** The runbook's generic monitor: four counts with lower limits 5, 40, 5, 40. */
export function definitionBody(name = 'Generic Metrics v5') {
  return {
    name,
    description: 'image counts',
    metrics: [
      { name: 'num_images_total_ground_truth', thresholds: [{ type: 'lower_limit', default: 5 }] },
      { name: 'num_images_total_predicted', thresholds: [{ type: 'lower_limit', default: 40 }] },
      { name: 'num_images_recent_ground_truth', thresholds: [{ type: 'lower_limit', default: 5 }] },
      { name: 'Num Images Recent Predicted', thresholds: [{ type: 'lower_limit', default: 40 }, { type: 'upper_limit', default: 1000 }] },
    ],
    tags: [],
    monitor_runtime: { type: 'custom_metrics_provider' },
  };
}

export async function createInstance(api: Api, body: Record<string, unknown>): Promise<any> {
  return expectStatus(await api.post(`${OS}/monitor_instances`, { data_mart_id: DM, ...body }), 201);
}

/** Polls `path` until `done(json)` holds; fails with the last answer after `timeoutMs`. */
export async function pollUntil(api: Api, path: string, done: (json: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: ApiResponse | undefined;
  while (Date.now() < deadline) {
    last = await api.get(path);
    if (last.status === 200 && done(last.json)) return last.json;
    await sleep(40);
  }
  throw new Error(`gave up polling ${path}; last answer ${last?.status}: ${last?.text}`);
}

export const runPath = (miId: string, runId: string) => `${OS}/monitor_instances/${miId}/runs/${runId}`;

export async function waitForRunEnd(api: Api, miId: string, runId: string): Promise<any> {
  return pollUntil(api, runPath(miId, runId), (r) => r.entity.status.state === 'finished' || r.entity.status.state === 'error');
}
