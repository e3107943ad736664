import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, exitCodeFor } from '../../src/cli/exit-codes';
import { ediDeploy, ediInfer, ediProfile, ediStatus, register as registerEdi } from '../../src/cli/commands/edi';
import { register as registerTrain, trainStatus, trainSubmit } from '../../src/cli/commands/train';
import { pairsFlag, type CliContext } from '../../src/cli/commands/wmla-cli';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { writeTree } from '../sandbox/wmla-fixtures';
import { startWmlaFixture, type WmlaFixture } from './wmla-helpers';

/**
 * `runbook train` and `runbook edi`: help texts, and the command functions against the sandbox
 * through the `env` profile (what a cluster profile looks like), with output captured.
 */

let fx: WmlaFixture;
beforeAll(async () => {
  fx = await startWmlaFixture();
});
afterAll(async () => {
  await fx.close();
});

function context(extraEnv: Record<string, string> = {}): CliContext & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    tty: false,
    env: {
      CPD_URL: fx.sandbox.url,
      WMLA_CONSOLE_URL: fx.sandbox.url,
      WMLA_INFERENCE_URL: fx.sandbox.url,
      CPD_USERNAME: SANDBOX_DEMO_USER.username,
      CPD_API_KEY: SANDBOX_DEMO_USER.apiKey,
      ...extraEnv,
    },
    stdout: () => out,
    stderr: () => err,
  };
}

const env = { profile: 'env' };

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as Error,
  );
}

describe('runbook train / edi: help', () => {
  const find = (parent: Command, name: string): Command => parent.commands.find((c) => c.name() === name)!;
  it('every subcommand has a description and help; mutating ones offer --plan; all offer --profile', () => {
    const program = new Command('runbook');
    registerTrain(program);
    registerEdi(program);
    const expectations: Record<string, Record<string, string[]>> = {
      train: { submit: ['--plan', '--json', '--follow', '--secret-env'], status: ['--follow', '--json'], list: ['--json'], logs: ['--type'], stop: ['--plan', '--json'], delete: ['--plan', '--stop-first'], result: [] },
      edi: { deploy: ['--plan', '--json', '--dependency-folder', '--write-url'], status: ['--json'], start: ['--plan', '--no-wait'], stop: ['--plan'], undeploy: ['--plan', '--stop'], profile: ['--plan', '--resources', '--stop'], infer: ['--data', '--data-file'] },
    };
    for (const [group, subs] of Object.entries(expectations)) {
      const parent = find(program, group);
      expect(parent.description()).not.toBe('');
      expect(parent.commands.map((c) => c.name()).sort()).toEqual(Object.keys(subs).sort());
      for (const [name, flags] of Object.entries(subs)) {
        const cmd = find(parent, name);
        const help = cmd.helpInformation();
        expect(cmd.description()).not.toBe('');
        for (const flag of [...flags, '--profile']) expect({ cmd: `${group} ${name}`, has: help.includes(flag) }).toEqual({ cmd: `${group} ${name}`, has: true });
      }
    }
  });
});

describe('NAME=VALUE flags', () => {
  it('become a record over the base, later pairs winning; a pair without a name is a usage error naming the flag', () => {
    expect(pairsFlag(['A=1', 'B=x=y', 'A=2', 'C='], '--msd-env', { A: 'file', D: 'd' })).toEqual({ A: '2', B: 'x=y', C: '', D: 'd' });
    expect(pairsFlag(undefined, '--custom-arg')).toEqual({});
    for (const bad of ['NOEQUALS', '=value']) {
      let error: unknown;
      try {
        pairsFlag([bad], '--custom-arg');
      } catch (err) {
        error = err;
      }
      expect(exitCodeFor(error)).toBe(ExitCode.usage);
      expect((error as Error).message).toMatch(/^--custom-arg: expected NAME=VALUE/);
    }
  });
});

describe('runbook train', () => {
  it('submits a folder with a secret from the environment, follows it, and finds it on a second run', async () => {
    const src = join(fx.dir, 'train-src');
    writeTree(src, { 'train.py': 'import os, sys\nprint("token length", len(os.environ["MY_TOKEN"]), sys.argv[1:])\n' });
    const ctx = context({ MY_TOKEN: 'cli-secret-token-value' });
    const flags = { ...env, framework: 'PyTorch', main: 'train.py', file: [join(src, '*.py')], secretEnv: ['MY_TOKEN'], follow: true, json: true, timeout: '60' };
    await trainSubmit(flags, ['--lr', '0.1'], ctx);
    const result = JSON.parse(ctx.stdout());
    expect(result.outcome).toBe('submitted');
    expect(result.exec.state).toBe('FINISHED');
    expect(ctx.stdout() + ctx.stderr()).not.toContain('cli-secret-token-value');
    const log = (await fx.sandbox.api.get(`/platform/rest/deeplearning/v1/execs/${result.exec.id}/log`)).text;
    expect(log).toContain("token length 22 ['--lr', '0.1']");

    const again = context({ MY_TOKEN: 'cli-secret-token-value' });
    await trainSubmit({ ...flags, json: false, follow: false }, ['--lr', '0.1'], again);
    expect(again.stdout()).toMatch(new RegExp(`^already submitted: ${result.exec.id} +FINISHED`));
    const status = context();
    const exec = await trainStatus(result.exec.id, { ...env }, status);
    expect(exec.state).toBe('FINISHED');
    expect(status.stdout()).toContain('(ended)');

    const missing = await failure(trainSubmit({ ...flags, secretEnv: ['NOT_SET_ANYWHERE'] }, [], context()));
    expect(missing.message).toMatch(/--secret-env NOT_SET_ANYWHERE: the environment variable NOT_SET_ANYWHERE is not set/);
    expect(exitCodeFor(missing)).toBe(ExitCode.usage);
    const leak = await failure(trainSubmit({ ...flags, secretEnv: [], msdEnv: ['API_TOKEN=abc-123-456'] }, [], context()));
    expect(exitCodeFor(leak)).toBe(ExitCode.invalidInput);
    expect(leak.message).not.toContain('abc-123-456');
    const plan = context();
    await trainSubmit({ ...flags, appName: 'cli-planned', plan: true, follow: false, json: false, secretEnv: [] }, [], plan);
    expect(plan.stdout()).toMatch(/^wmla-training submit exec "cli-planned"/);
  });
});

describe('runbook edi', () => {
  it('deploys from a metadata file and writes the URL back; status, profile, infer; a second run and a plan', async () => {
    const dep = join(fx.dir, 'edi-dep');
    writeTree(dep, {
      'kernel.py': readFileSync(join(__dirname, '..', '..', 'templates', 'edi-kernel', 'kernel.py'), 'utf8'),
    });
    const file = join(fx.dir, 'deployment_metadata.yml');
    const yaml = (cpus: number) => `asset-1:
  model_asset: deepliif-base.zip
  deployment_space_id: space-1
  openscale_custom_metric_provider: {}
  wmla_deployment:
    deployment_name: cli-demo
    deployment_url: null
    dependency_filename: deepliif-deploy.zip
    resource_configs:
      enable_gpus: 'False'
      n_cpus: ${cpus}
      memory_allocation: 1024
      n_min_kernels: 1
`;
    writeFileSync(file, yaml(1));
    const ctx = context();
    await ediDeploy(file, { ...env, dependencyFolder: dep, writeUrl: true }, ctx);
    expect(ctx.stdout()).toMatch(/^cli-demo: deploy created, profile updated \(.*\), started; ready at http:\/\/127\.0\.0\.1:\d+\/dlim\/v1\/inference\/cli-demo\n/);
    expect(ctx.stderr()).toContain('waiting until ready: enabled');
    const written = readFileSync(file, 'utf8');
    expect(written).toMatch(/deployment_url: http:\/\/127\.0\.0\.1:\d+\/dlim\/v1\/inference\/cli-demo/);
    expect(written).toContain('n_cpus: 1');

    const status = context();
    await ediStatus('cli-demo', env, status);
    expect(status.stdout()).toContain('State:       started (instance enabled)');
    expect(status.stdout()).toContain('Kernels:     IDLE');
    expect(status.stdout()).toContain('ncpus=1,ncpus_limit=1,mem=1024,mem_limit=1024');
    const list = context();
    await ediStatus(undefined, { ...env, json: true }, list);
    expect(JSON.parse(list.stdout()).map((m: { name: string }) => m.name)).toContain('cli-demo');

    const infer = context();
    expect(await ediInfer('cli-demo', { ...env, data: '{"ping": 1}' }, infer)).toEqual({ ping: 1 });
    expect(infer.stdout()).toBe('{"ping":1}\n');
    expect(exitCodeFor(await failure(ediInfer('cli-demo', { ...env, data: '{nope' }, context())))).toBe(ExitCode.invalidInput);
    expect(exitCodeFor(await failure(ediInfer('no-such-model', { ...env, data: '{}' }, context())))).toBe(ExitCode.remote);

    const second = context();
    await ediDeploy(file, { ...env, dependencyFolder: dep, json: true }, second);
    expect(JSON.parse(second.stdout())).toMatchObject({ name: 'cli-demo', deploy: 'unchanged', profile: 'unchanged', start: 'already-started', planned: false });

    writeFileSync(file, yaml(2));
    const plan = context();
    await ediDeploy(file, { ...env, dependencyFolder: dep, plan: true }, plan);
    expect(plan.stdout().trim().split('\n').map((l) => l.split(' "')[0])).toEqual(['wmla-edi stop edi_model', 'wmla-edi update app_profile', 'wmla-edi start edi_model']);
    const refused = await failure(ediProfile('cli-demo', { ...env, metadata: file }, context()));
    expect(refused.message).toMatch(/stop it first/);
    expect(exitCodeFor(refused)).toBe(ExitCode.remote);
    const applied = context();
    await ediProfile('cli-demo', { ...env, resources: '{enable_gpus: true, n_cpus: 2}', stop: true }, applied);
    expect(applied.stdout()).toMatch(/cli-demo: profile updated: .*kernel\.gpu: "no" → "exclusive".*\(the model was stopped; start it again\)/);
    const shown = context();
    await ediProfile('cli-demo', env, shown);
    expect(JSON.parse(shown.stdout()).kernel.gpu).toBe('exclusive');

    const bad = await failure(ediDeploy(file, { ...env, dependencyFolder: dep, assetId: 'nope' }, context()));
    expect(bad.message).toMatch(/has no entry for model asset id nope \(it has: asset-1\)/);
    expect(exitCodeFor(bad)).toBe(ExitCode.invalidInput);
    await fx.client().edi.undeployModel('cli-demo', { stopIfRunning: true });
  });
});
