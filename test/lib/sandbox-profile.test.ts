import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, resolveProfile, runDoctor } from '../../src/lib/config';
import { FileMetadataStore, deploymentMetadataCodec } from '../../src/lib/metadata';

/**
 * The sandbox profile end to end: the real launcher (src/sandbox/launcher.ts) finds an in-process
 * sandbox server through RUNBOOK_SANDBOX_URL, and the library's clients talk to it.
 */
describe('sandbox profile against the real sandbox', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'sandbox-profile-'));
  let sandbox: { url: string; close(): Promise<void> };
  let savedUrl: string | undefined;

  beforeAll(async () => {
    const { startSandboxServer } = require('../../src/sandbox/server') as typeof import('../../src/sandbox/server');
    sandbox = await startSandboxServer({ stateDir, port: 0 });
    savedUrl = process.env.RUNBOOK_SANDBOX_URL;
    process.env.RUNBOOK_SANDBOX_URL = sandbox.url;
  });
  afterAll(async () => {
    if (savedUrl === undefined) delete process.env.RUNBOOK_SANDBOX_URL;
    else process.env.RUNBOOK_SANDBOX_URL = savedUrl;
    await sandbox.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('resolves to the running sandbox and authenticates as the demo user', async () => {
    const profile = await resolveProfile({ env: {} });
    expect(profile.kind).toBe('sandbox');
    expect(profile.cpdUrl).toBe(sandbox.url.replace(/\/+$/, ''));
    expect(profile.sandbox!.startedNow).toBe(false);
    const clients = connect(profile);
    const spaces = await clients.cpd.request<{ resources: unknown[] }>({ path: '/v2/spaces', query: { limit: 1 } });
    expect(Array.isArray(spaces.resources)).toBe(true);
    expect(clients.tokens.info()).toMatchObject({ kind: 'cpd-apikey', subject: 'admin' });
    clients.close();
    expect(new FileMetadataStore(join(stateDir, 'x.yml'), deploymentMetadataCodec).description).toContain('x.yml');
  });

  it('passes the doctor checks that concern the profile and the services', async () => {
    const report = await runDoctor({ env: {}, timeoutMs: 5000 });
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    expect(status.profile).toBe('ok');
    expect(status.auth).toBe('ok');
    expect(status['service:wml']).toBe('ok');
    process.stdout.write(`doctor vs sandbox: ${report.checks.map((c) => `${c.id}=${c.status}`).join(' ')}\n`);
  });
});
