/**
 * Starts a provider for a connection profile: resolves the profile, connects its clients, picks
 * where monitor settings come from (deployment_metadata.yml in a space, or a local file), and
 * listens. Shared by `runbook provider serve` (foreground) and the detached process of the
 * launcher (src/provider/main.ts).
 */
import { resolve } from 'node:path';
import { connect, type ProfileClients } from '../lib/config/connect';
import { resolveProfile, type ConnectionProfile } from '../lib/config/profile';
import { ConfigError } from '../lib/errors';
import { deploymentMetadataCodec } from '../lib/metadata/yaml';
import { SpaceMetadataStore } from '../lib/metadata/space-store';
import { BearerVerifier, openscaleTokenCheck } from '../lib/provider/auth';
import { deploymentMetadataConfigSource, fileConfigSource, type MonitorConfigSource } from '../lib/provider/config-source';
import { providerContext } from '../lib/provider/context';
import type { ProviderEvent, RunOutcome } from '../lib/provider/run';
import { createWmlClient } from '../lib/wml/client';
import { settingsSourceName, type SettingsLocation } from './common';
import { startProviderServer, type RunningProvider } from './server';

/** Options of {@link serveProvider}. */
export interface ServeOptions extends SettingsLocation {
  /** Profile name (default RUNBOOK_PROFILE, else sandbox) or a resolved profile. */
  readonly profile?: string | ConnectionProfile;
  readonly host?: string;
  readonly port?: number;
  readonly maxConcurrentRuns?: number;
  readonly workers?: number | 'auto';
  /** One line per request and run event (secrets masked). */
  readonly log?: (line: string) => void;
  readonly onRun?: (outcome: RunOutcome) => void;
}

/** A served provider. */
export interface ServedProvider extends RunningProvider {
  readonly profile: ConnectionProfile;
  readonly source: string;
}

function configSourceFor(clients: ProfileClients, location: SettingsLocation): MonitorConfigSource {
  if (location.spaceId) {
    return deploymentMetadataConfigSource(new SpaceMetadataStore(createWmlClient(clients).assets(location.spaceId), deploymentMetadataCodec));
  }
  return fileConfigSource(resolve(location.metadataFile as string));
}

function eventLine(e: ProviderEvent): string {
  return `${new Date().toISOString()} ${e.level === 'error' ? 'ERROR ' : ''}${e.runId ? `run ${e.runId} ` : ''}${e.monitorId ? `${e.monitorId} ` : ''}${e.step}: ${e.message}`;
}

/** Starts a provider; see the module comment. */
export async function serveProvider(options: ServeOptions): Promise<ServedProvider> {
  const source = settingsSourceName(options);
  const profile = typeof options.profile === 'object' ? options.profile : await resolveProfile({ profile: options.profile });
  const clients = connect(profile);
  const redact = (s: string) => profile.redactor.redact(s);
  const log = options.log ? (line: string) => options.log!(redact(line)) : undefined;
  const context = providerContext(clients, {
    configSource: configSourceFor(clients, options),
    workers: options.workers,
    log: log ? (e) => log(eventLine(e)) : undefined,
  });
  const verifier = new BearerVerifier({ check: openscaleTokenCheck(clients.openscale.baseUrl, { tls: profile.tls, redactor: profile.redactor }), redactor: profile.redactor });
  let server: RunningProvider;
  try {
    server = await startProviderServer({
      context,
      verifier,
      host: options.host,
      port: options.port,
      maxConcurrentRuns: options.maxConcurrentRuns,
      health: { profile: profile.name, source },
      log: log ? (line) => log(`${new Date().toISOString()} ${line}`) : undefined,
      onRun: options.onRun,
    });
  } catch (err) {
    clients.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ConfigError(`port ${options.port} on ${options.host ?? '127.0.0.1'} is in use: choose another --port`);
    throw err;
  }
  return {
    ...server,
    profile,
    source,
    async close(graceMs?: number) {
      await server.close(graceMs);
      clients.close();
    },
  };
}
