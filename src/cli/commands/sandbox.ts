import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, RunbookError, ValidationError } from '../../lib/errors';
import {
  defaultStateDir,
  ensureSandbox,
  findRunningSandbox,
  resetSandbox,
  sandboxStatus,
  setSandboxFaults,
  stopSandbox,
  SANDBOX_DEMO_IAM_API_KEY,
  SANDBOX_DEMO_USER,
  addSandboxVolume,
} from '../../sandbox/launcher';
import { parsePort } from '../option-parsers';

interface CommonOptions {
  state?: string;
  json?: boolean;
}

function stateDirOf(opts: CommonOptions): string {
  return resolve(opts.state ?? defaultStateDir());
}

function out(opts: CommonOptions, json: unknown, text: string): void {
  process.stdout.write(opts.json ? JSON.stringify(json, null, 2) + '\n' : text.endsWith('\n') ? text : text + '\n');
}

function banner(url: string, stateDir: string, pid: number, note: string): string {
  return [
    `Sandbox ${note} at ${url} (pid ${pid})`,
    `  state:     ${stateDir}`,
    `  demo user: ${SANDBOX_DEMO_USER.username} / api key ${SANDBOX_DEMO_USER.apiKey} / password ${SANDBOX_DEMO_USER.password}`,
    `  IAM key:   ${SANDBOX_DEMO_IAM_API_KEY}`,
  ].join('\n');
}

/** `runbook sandbox …`: start, inspect, stop and reset the local CPD sandbox. */
export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description('Run the local CPD sandbox (WML spaces and assets, storage volumes, WMLA, OpenScale) used by the sandbox profile.');

  sandbox
    .command('start')
    .description('Start the sandbox (in the foreground unless --detach; Ctrl-C stops it cleanly).')
    .option('--port <n>', 'port to listen on (0 = any free port)', parsePort, 0)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--state <dir>', 'state directory (default: RUNBOOK_SANDBOX_STATE or <project>/.sandbox)')
    .option('--detach', 'start a background server (or reuse the running one) and return')
    .option('--json', 'print machine-readable output')
    .action(async (opts: CommonOptions & { port: number; host: string; detach?: boolean }) => {
      const stateDir = stateDirOf(opts);
      if (opts.detach) {
        if (opts.host !== '127.0.0.1') throw new ValidationError('--host: a detached sandbox always binds 127.0.0.1; run it in the foreground to choose');
        const ep = await ensureSandbox({ stateDir, port: opts.port });
        out(opts, ep, banner(ep.url, ep.stateDir, ep.pid, ep.startedNow ? 'started' : 'already running'));
        return;
      }
      const running = existsSync(stateDir) ? await findRunningSandbox(stateDir) : undefined;
      if (running) throw new ConfigError(`a sandbox already runs for ${stateDir} at ${running.url} (pid ${running.pid})`);
      // Loaded here: the server code is only needed for a foreground start.
      const { runSandboxProcess } = await import('../../sandbox/process');
      const log = (line: string): void => {
        if (!opts.json) process.stdout.write(`${new Date().toISOString()} ${line}\n`);
      };
      const { sandbox: sb, stopped } = await runSandboxProcess({ stateDir, port: opts.port, host: opts.host, log });
      out(opts, { url: sb.url, pid: sb.pid, stateDir: sb.stateDir, startedNow: true }, banner(sb.url, sb.stateDir, sb.pid, 'listening') + '\nPress Ctrl-C to stop.');
      const signal = await stopped;
      if (!opts.json) process.stdout.write(`Sandbox stopped (${signal}).\n`);
    });

  sandbox
    .command('status')
    .description('Show whether the sandbox runs and what it holds (spaces, assets, volumes, deployments, …).')
    .option('--state <dir>', 'state directory')
    .option('--json', 'print machine-readable output')
    .action(async (opts: CommonOptions) => {
      const report = await sandboxStatus({ stateDir: stateDirOf(opts) });
      if (!report.running) {
        out(opts, report, `No sandbox runs for ${report.stateDir}. Start one with \`runbook sandbox start --detach\`.`);
        return;
      }
      const lines = [`Sandbox at ${report.url} (pid ${report.pid}, since ${report.startedAt})`, `  state: ${report.stateDir}`];
      for (const section of report.sections) {
        lines.push('', `${section.title}`);
        if (section.lines.length === 0) lines.push('  (none)');
        for (const line of section.lines) lines.push(`  ${line}`);
      }
      out(opts, report, lines.join('\n'));
    });

  sandbox
    .command('stop')
    .description('Stop the sandbox of the state directory (SIGTERM, then SIGKILL after 10 s).')
    .option('--state <dir>', 'state directory')
    .option('--json', 'print machine-readable output')
    .action(async (opts: CommonOptions) => {
      const stateDir = stateDirOf(opts);
      const result = await stopSandbox(stateDir);
      out(opts, { stateDir, ...result }, result.stopped ? `Stopped the sandbox (pid ${result.pid}).` : `No sandbox runs for ${stateDir}.`);
    });

  sandbox
    .command('reset')
    .description('Delete all sandbox state (keeps config.json). Refuses while the sandbox runs unless --force, which stops it first.')
    .option('--state <dir>', 'state directory')
    .option('--yes', 'really delete (required)')
    .option('--force', 'stop a running sandbox first')
    .option('--json', 'print machine-readable output')
    .action(async (opts: CommonOptions & { yes?: boolean; force?: boolean }) => {
      const stateDir = stateDirOf(opts);
      if (!opts.yes) throw new RunbookError('usage', `reset deletes every space, asset, volume file and deployment in ${stateDir}: add --yes to confirm`);
      const removed = await resetSandbox(stateDir, { force: opts.force });
      out(opts, { stateDir, removed }, removed.length ? `Reset ${stateDir} (removed ${removed.join(', ')}).` : `Nothing to reset in ${stateDir}.`);
    });

  sandbox
    .command('faults')
    .description('Show or change the fault injection of the running sandbox (runtime only; config.json holds the start-up rules).')
    .option('--state <dir>', 'state directory')
    .option('--set <json>', 'rules as JSON ({"seed":1,"faults":[{"route":"POST /v2/assets","errorRate":0.2}]}) or @file.json')
    .option('--clear', 'remove every rule')
    .option('--json', 'print machine-readable output')
    .action(async (opts: CommonOptions & { set?: string; clear?: boolean }) => {
      const stateDir = stateDirOf(opts);
      let settings: { seed?: number; faults: unknown[] } | undefined;
      if (opts.clear) settings = { faults: [] };
      if (opts.set) {
        const text = opts.set.startsWith('@') ? readFileSync(opts.set.slice(1), 'utf8') : opts.set;
        try {
          const parsed = JSON.parse(text) as unknown;
          settings = Array.isArray(parsed) ? { faults: parsed } : (parsed as { seed?: number; faults: unknown[] });
        } catch (err) {
          throw new ValidationError(`--set: not valid JSON (${(err as Error).message})`);
        }
      }
      let result: unknown;
      if (settings) {
        result = await setSandboxFaults(stateDir, settings);
      } else {
        const report = await findRunningSandbox(stateDir);
        if (!report) throw new ConfigError(`no sandbox runs for ${stateDir}`);
        const { sandboxAdminToken } = await import('../../sandbox/launcher');
        const res = await fetch(`${report.url}/sandbox/v1/faults`, { headers: { authorization: `Bearer ${sandboxAdminToken(stateDir)}` } });
        result = await res.json();
      }
      const r = result as { seed: number; faults: { route: string; errorRate: number; dropRate: number; latencyMs: number; hits: number }[] };
      const text = r.faults.length
        ? [`seed ${r.seed}`, ...r.faults.map((f) => `  ${f.route}: errors ${f.errorRate}, drops ${f.dropRate}, latency ${f.latencyMs} ms, hits ${f.hits}`)].join('\n')
        : `No fault rules (seed ${r.seed}).`;
      out(opts, result, text);
    });

  const volume = sandbox.command('volume').description('Manage the storage volumes the sandbox serves under /zen-volumes/{name}.');
  volume
    .command('add <name>')
    .description('Add a volume backed by a folder (default <state>/volumes/<name>); applied at once when the sandbox runs, else at its next start.')
    .option('--path <dir>', 'backing folder (absolute, or relative to the current directory)')
    .option('--state <dir>', 'state directory')
    .option('--json', 'print machine-readable output')
    .action(async (name: string, opts: CommonOptions & { path?: string }) => {
      const stateDir = stateDirOf(opts);
      const result = await addSandboxVolume(stateDir, name, opts.path === undefined ? undefined : resolve(opts.path));
      out(opts, result, `Volume '${result.name}' → ${result.path ?? '<state>/volumes/' + result.name} (${result.appliedTo}).`);
    });
}
