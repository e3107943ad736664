/**
 * A real custom metrics provider for the OpenScale tests: a node:http server that implements the
 * provider side of the protocol (ibm-api-contracts.md §5.9, predecessor-runbook.md §4.1/§4.4) the
 * way the runbook's providers do, calling the sandbox back over HTTP. Its behaviour is set by `mode`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CustomMetricsProviderInvocation } from '../../src/lib/contracts/openscale';
import { demoToken } from './helpers';

export type ProviderMode =
  /** measurements, then PATCH the instance's parameters.run_details (the predecessor's protocol) */
  | 'legacy'
  /** measurements, then PATCH …/runs/{run_id} /status/state = finished */
  | 'runs-api'
  /** PATCH …/runs/{run_id} finished first, then the measurements */
  | 'runs-api-status-first'
  /** PATCH run_details {run_status:error, run_error_msg} and answer with error_msg */
  | 'report-error'
  /** answer `{predictions:[], error_msg:[…]}` only */
  | 'reply-error'
  /** answer HTTP 500 */
  | 'http-500'
  /** report finished through run_details but post no measurement */
  | 'finished-no-measurement'
  /** never answer */
  | 'hang';

export interface ProviderCall {
  authorization: string | undefined;
  body: unknown;
  /** Answers the provider got from the sandbox, by step. */
  steps: { step: string; status: number; json: any }[];
}

export class FakeProvider {
  mode: ProviderMode = 'legacy';
  /** The metrics the provider publishes (by metric name, as the runbook's providers do). */
  metrics: Record<string, number> = {};
  /** When set, the Authorization header must equal it (basic auth); the provider then gets its own token. */
  expectAuthorization: string | undefined;
  readonly calls: ProviderCall[] = [];
  private readonly hanging: ServerResponse[] = [];
  private server: Server | undefined;
  url = '';

  constructor(private readonly sandboxUrl: () => string) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  /** The scoring URL registered as the integrated system's endpoint. */
  get endpoint(): string {
    return `${this.url}/ml/v4/deployments/provider-deployment/predictions?version=2024-05-01`;
  }

  async close(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
    const call: ProviderCall = { authorization: req.headers.authorization, body, steps: [] };
    this.calls.push(call);
    const answer = (status: number, json: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    const parsed = CustomMetricsProviderInvocation.safeParse(body);
    if (!parsed.success) return answer(400, { error: 'not the documented payload' });
    if (this.mode === 'hang') {
      this.hanging.push(res);
      return;
    }
    if (this.mode === 'http-500') {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('provider crashed: division by zero');
      return;
    }
    if (this.mode === 'reply-error') return answer(200, { predictions: [], error_msg: ['FAILED: Cannot find deployment associated with subscription id'], log_msg: [] });
    let token: string;
    if (this.expectAuthorization !== undefined) {
      if (req.headers.authorization !== this.expectAuthorization) return answer(401, { error: 'bad credentials' });
      token = await demoToken(this.sandboxUrl());
    } else {
      // The bearer token OpenScale got through token_info is a sandbox token: use it to call back.
      token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    }
    const v = parsed.data.input_data[0]!.values;
    const params = v.custom_monitor_instance_params;
    const runId = params.run_details.run_id;
    const base = `${this.sandboxUrl()}/openscale/${v.data_mart_id}/v2`;
    const send = async (step: string, method: string, path: string, json: unknown, contentType = 'application/json') => {
      const r = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body: JSON.stringify(json) });
      const text = await r.text();
      const out = { step, status: r.status, json: text ? JSON.parse(text) : undefined };
      call.steps.push(out);
      return out;
    };
    const publish = () =>
      send('publish_metrics', 'POST', `/monitor_instances/${v.custom_monitor_instance_id}/measurements`, [
        { timestamp: new Date().toISOString().replace('Z', '123Z'), run_id: runId, metrics: [this.metrics] },
      ]);
    const legacyReport = (details: Record<string, unknown>) =>
      send('update_monitor_instance', 'PATCH', `/monitor_instances/${v.custom_monitor_instance_id}?update_metadata_only=true`, [
        { op: 'replace', path: '/parameters', value: { ...params, run_details: { run_id: runId, ...details }, last_run_time: new Date().toISOString() } },
      ]);
    const runsApiReport = () =>
      send(
        'update_run',
        'PATCH',
        `/monitor_instances/${v.custom_monitor_instance_id}/runs/${runId}`,
        [
          { op: 'replace', path: '/status/state', value: 'finished' },
          { op: 'add', path: '/status/message', value: 'metrics published' },
        ],
        'application/json-patch+json',
      );
    switch (this.mode) {
      case 'legacy': {
        const published = await publish();
        await legacyReport({ run_status: published.status === 202 ? 'finished' : 'error' });
        return answer(200, { predictions: [{ values: [published.json] }] });
      }
      case 'runs-api': {
        const published = await publish();
        await runsApiReport();
        return answer(200, { predictions: [{ values: [published.json] }] });
      }
      case 'runs-api-status-first': {
        await runsApiReport();
        const published = await publish();
        return answer(200, { predictions: [{ values: [published.json] }] });
      }
      case 'report-error':
        await legacyReport({ run_status: 'error', run_error_msg: 'volume AdditionalDeepLIIFVolume not found' });
        return answer(200, { predictions: [], error_msg: ['failed at publish_metrics'], log_msg: [] });
      case 'finished-no-measurement':
        await legacyReport({ run_status: 'finished' });
        return answer(200, { predictions: [{ values: [] }] });
    }
  }
}
