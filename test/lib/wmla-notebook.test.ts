import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runNotebook } from '../../src/runner/run';
import { SANDBOX_DEMO_USER } from '../../src/sandbox/config';
import { writeNotebook } from '../runner/helpers';
import { startWmlaFixture, type WmlaFixture } from './wmla-helpers';

/**
 * Notebooks import src/lib/wmla/*.ts directly: the modules must load and work in a real tslab kernel
 * through the runner (test/notebooks/tslab-compat.test.ts checks that they compile under tslab's
 * TypeScript 5.0).
 */

const ROOT = join(__dirname, '..', '..');

describe('WMLA modules in a tslab notebook', () => {
  let fx: WmlaFixture;
  beforeAll(async () => {
    fx = await startWmlaFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  it('prepares a folder, submits and follows a training, deploys the template kernel and calls it', async () => {
    const out = join(fx.dir, 'executed.ipynb');
    const input = writeNotebook(
      'wmla.ipynb',
      [
        [
          "import { resolveProfile } from './src/lib/config/profile';",
          "import { connect } from './src/lib/config/connect';",
          "import { prepareSubmissionFolder } from './src/lib/wmla/submission';",
          "import { createTrainingClient } from './src/lib/wmla/training';",
          "import { createEdiClient } from './src/lib/wmla/edi';",
          "import { deployFromMetadata } from './src/lib/wmla/deploy-flow';",
          "const clients = connect(await resolveProfile({ profile: 'env' }));",
        ].join('\n'),
        [
          "const sub = await prepareSubmissionFolder({ files: ['templates/edi-kernel/README.md'], folders: [], name: 'nb_job' });",
          "const training = createTrainingClient(clients, { pollMs: 100 });",
          "const run = await training.submit(undefined, { framework: 'PyTorch', userCmd: ['python3', '-c', 'print(123)'], appName: 'from-notebook' });",
          'const done = await training.follow(run.exec.id);',
          "console.log('training', done.state, (await training.logs(run.exec.id)).trim());",
          'await sub.cleanup();',
        ].join('\n'),
        [
          'const edi = createEdiClient(clients, undefined, { pollMs: 100 });',
          "const entry = { model_asset: 'm.zip', deployment_space_id: 's1', openscale_custom_metric_provider: {}, wmla_deployment: { deployment_name: 'nb-demo', deployment_url: null, dependency_filename: 'd.zip', resource_configs: { enable_gpus: false, n_cpus: 1 } } };",
          "const deployed = await deployFromMetadata(edi, entry, { dependencyFolder: 'templates/edi-kernel' });",
          "console.log('edi', deployed.deploy.outcome, deployed.serviceUri.endsWith('/dlim/v1/inference/nb-demo'), JSON.stringify(await edi.infer('nb-demo', { ping: 'pong' })));",
          "await edi.undeployModel('nb-demo', { stopIfRunning: true });",
          'clients.close();',
        ].join('\n'),
      ],
      fx.dir,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CPD_URL: fx.sandbox.url,
      WMLA_CONSOLE_URL: fx.sandbox.url,
      WMLA_INFERENCE_URL: fx.sandbox.url,
      CPD_USERNAME: SANDBOX_DEMO_USER.username,
      CPD_API_KEY: SANDBOX_DEMO_USER.apiKey,
    };
    delete env.RUNBOOK_PROFILE;
    const result = await runNotebook({ input, output: out, cwd: ROOT, env, ledger: false, timeouts: { cellMs: 90_000 } });
    const nb = JSON.parse(readFileSync(out, 'utf8'));
    const text = nb.cells
      .flatMap((c: { outputs?: { text?: string | string[]; ename?: string; evalue?: string }[] }) => c.outputs ?? [])
      .map((o: { text?: string | string[]; ename?: string; evalue?: string }) => (Array.isArray(o.text) ? o.text.join('') : o.text ?? `${o.ename}: ${o.evalue}`))
      .join('');
    expect({ status: result.status, text }).toEqual({ status: 'ok', text: expect.stringContaining('training FINISHED 123') });
    expect(text).toContain('edi created true {"ping":"pong"}');
    rmSync(out, { force: true });
  });
});
