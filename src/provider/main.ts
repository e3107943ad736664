/**
 * Entry of the detached provider process the launcher starts:
 *   node dist/src/provider/main.js --state DIR [--profile P] [--host H] [--port N] (--space ID | --metadata FILE)
 * Writes `<state>/provider.json` once listening, logs to stdout (the launcher points it at
 * `<state>/provider.log`), stops on SIGTERM/SIGINT, and also stops by itself when provider.json is
 * removed or names another instance (its state was reset or another provider took over).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { atomicWriteFileSync } from '../lib/util/atomic-write';
import { PROVIDER_ENDPOINT_FILE } from './common';
import { serveProvider } from './serve';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      state: { type: 'string' },
      profile: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      space: { type: 'string' },
      metadata: { type: 'string' },
    },
    strict: true,
  });
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: expected a port number, got ${values.port}`);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const served = await serveProvider({
    profile: values.profile,
    host: values.host,
    port,
    spaceId: values.space,
    metadataFile: values.metadata,
    log,
  });
  const state = values.state;
  const file = state ? join(state, PROVIDER_ENDPOINT_FILE) : undefined;
  if (file) {
    atomicWriteFileSync(
      file,
      JSON.stringify({ url: served.url, endpoint: served.endpoint, pid: process.pid, instanceId: served.instanceId, startedAt: new Date().toISOString(), profile: served.profile.name, source: served.source }, null, 2),
    );
  }
  log(`${new Date().toISOString()} provider listening on ${served.endpoint} (profile ${served.profile.name}, settings ${served.source}, pid ${process.pid})`);

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`${new Date().toISOString()} stopping: ${why}`);
    clearInterval(watch);
    await served.close();
    if (file && ownsFile()) rmSync(file, { force: true });
    process.exit(0);
  };
  const ownsFile = (): boolean => {
    try {
      return (JSON.parse(readFileSync(file as string, 'utf8')) as { instanceId?: string }).instanceId === served.instanceId;
    } catch {
      return false;
    }
  };
  const watch = setInterval(() => {
    if (file && (!existsSync(file) || !ownsFile())) void stop(`${file} is gone or names another provider`);
  }, 2000);
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`provider: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
