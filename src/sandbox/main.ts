/**
 * Entry of the detached sandbox server process: `node dist/src/sandbox/main.js --state DIR [--port N] [--host H]`.
 * The launcher (ensureSandbox) starts it; `runbook sandbox start` runs the same server in the foreground.
 */
import { runSandboxProcess } from './process';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const stateDir = arg('state');
  if (!stateDir) {
    process.stderr.write('usage: main.js --state DIR [--port N] [--host HOST]\n');
    process.exitCode = 2;
    return;
  }
  const port = arg('port') === undefined ? 0 : Number(arg('port'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`--port: expected an integer 0..65535, got ${arg('port')}\n`);
    process.exitCode = 2;
    return;
  }
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  const { stopped } = await runSandboxProcess({ stateDir, port, host: arg('host'), log }, (signal) => log(`stopping (${signal})`));
  await stopped;
  log('stopped');
}

main().catch((err: unknown) => {
  process.stderr.write(`sandbox: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
});
