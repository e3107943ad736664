/**
 * The sandbox's health document (`GET /sandbox/v1/health`): what the server answers and what the
 * launcher reads to recognise a running sandbox. Types and a name only, so the launcher stays light.
 */

/** The `service` of a sandbox's health document: what tells a sandbox from whatever else answers on a port. */
export const SANDBOX_SERVICE_NAME = 'cpd-runbook-sandbox';

/** Identity of the running server. */
export interface SandboxInfo {
  url: string;
  pid: number;
  stateDir: string;
  instanceId: string;
  startedAt: string;
  modules: string[];
}

/** What `GET /sandbox/v1/health` answers. */
export interface SandboxHealth extends SandboxInfo {
  status: string;
  service: string;
}
