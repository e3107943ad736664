import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../src/sandbox/launcher';
import { deploymentMetadata } from '../../src/lib/metadata';
import { sampleEntry } from './fixtures/metadata';
import { assertBuilt as assertDistBuilt } from '../helpers/dist';
import { sha256File, startWmlFixture, writeRandomFile, type WmlFixture } from './wml-helpers';

// `runbook assets` and `runbook metadata` as users run them: bin/runbook.js → dist/ (built by `npm test`),
// against an in-process sandbox found through RUNBOOK_SANDBOX_URL by the sandbox profile.
const ROOT = projectRoot();
const BIN = join(ROOT, 'bin', 'runbook.js');

let fx: WmlFixture;
let space: string;

function assertBuilt(): void {
  assertDistBuilt(['src/cli/commands/assets.ts', 'src/cli/commands/metadata.ts', 'src/lib/wml', 'src/lib/metadata']);
}

/** Runs the CLI without blocking this process (the sandbox answering it lives here). */
function runbook(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: fx.dir,
      env: { ...process.env, RUNBOOK_PROFILE: '', WML_SPACE_ID: '', SPACE_ID: '', RUNBOOK_SANDBOX_URL: fx.sandbox.url, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Asset ids of the test space, straight from the sandbox. */
async function assetIds(): Promise<string[]> {
  const res = await fx.sandbox.api.post(`/v2/asset_types/data_asset/search?space_id=${space}`, { query: '*:*' });
  return (res.json.results as { metadata: { asset_id: string } }[]).map((r) => r.metadata.asset_id);
}

beforeAll(async () => {
  assertBuilt();
  fx = await startWmlFixture();
  space = await fx.space('cli');
});
afterAll(async () => {
  await fx.close();
});

describe('runbook assets', () => {
  it('uploads a folder, lists, downloads it verified, and deletes (with a plan first)', async () => {
    const root = join(fx.dir, 'deepliif-base');
    await fsp.mkdir(join(root, 'sub'), { recursive: true });
    await writeRandomFile(join(root, 'sub', 'w.bin'), 50_000);

    const up = await runbook(['assets', 'upload', root, '--space', space, '--json']);
    expect(up).toMatchObject({ code: 0, stderr: '' });
    const uploaded = JSON.parse(up.stdout);
    expect(uploaded).toMatchObject({ action: 'uploaded', planned: false, asset: { name: 'deepliif-base.zip', complete: true } });

    const planned = await runbook(['assets', 'upload', root, '--plan'], { WML_SPACE_ID: space });
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(/^wml upload data_asset "deepliif-base.zip" — .*deepliif-base \(zipped\)/m);
    expect(planned.stdout).toMatch(new RegExp(`^wml delete data_asset "deepliif-base.zip \\(${uploaded.asset.id}\\)" — replaced by the new upload`, 'm'));

    const text = await runbook(['assets', 'list', '--space', space]);
    expect(text.stdout).toContain(`${uploaded.asset.id}`);
    expect(text.stdout.trim().split('\n').pop()).toBe('1 asset');

    const down = await runbook(['assets', 'download', 'deepliif-base.zip', '--space', space, '-o', 'copy.zip']);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/^saved deepliif-base.zip .* to .*copy.zip: \d+ bytes, sha256 [0-9a-f]{64} \(verified\)\n$/);
    expect(await sha256File(join(fx.dir, 'copy.zip'))).toBe(uploaded.sha256);

    const dry = await runbook(['assets', 'delete', 'deepliif-base.zip', '--space', space, '--plan', '--json']);
    expect(JSON.parse(dry.stdout)).toMatchObject({ planned: true, deleted: [uploaded.asset.id] });
    expect(await assetIds()).toEqual([uploaded.asset.id]);
    const del = await runbook(['assets', 'delete', uploaded.asset.id, '--id', '--space', space]);
    expect(del.stdout).toBe(`deleted ${uploaded.asset.id}\n`);
    const after = await runbook(['assets', 'list', '--space', space, '--json']);
    expect(JSON.parse(after.stdout)).toEqual([]);
  });

  it('exits with documented codes and one clear line: usage 2, missing asset 9', async () => {
    const noSpace = await runbook(['assets', 'list']);
    expect(noSpace.code).toBe(2);
    expect(noSpace.stderr).toBe('runbook: --space: the deployment space id is required (or set WML_SPACE_ID)\n');
    const badMode = await runbook(['assets', 'upload', fx.dir, '--space', space, '--overwrite', 'sometimes']);
    expect(badMode.code).toBe(2);
    expect(badMode.stderr).toContain('--overwrite: expected replace, keep or error');
    const missing = await runbook(['assets', 'download', 'nope.zip', '--space', space]);
    expect(missing.code).toBe(9);
    expect(missing.stderr).toBe(`runbook: no complete data asset named "nope.zip" in space ${space}\n`);
  });
});

describe('runbook metadata', () => {
  it('shows the document of a space and its history; validates files with paths', async () => {
    const empty = await runbook(['metadata', 'show', '--space', space]);
    expect(empty.stdout).toBe('# deployment_metadata.yml does not exist yet in this space\n');
    await deploymentMetadata(fx.client().wml.assets(space)).add('model-1', sampleEntry() as never);
    const shown = await runbook(['metadata', 'show', '--space', space]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^model-1:\n {2}model_asset: Test_Model_serialized.zip/m);
    const json = JSON.parse((await runbook(['metadata', 'show', '--space', space, '--json'])).stdout);
    expect(Object.keys(json.doc)).toEqual(['model-1']);
    expect(json.revision).toMatch(/^[0-9a-f-]{36}$/);
    const history = await runbook(['metadata', 'history', '--space', space]);
    expect(history.stdout).toMatch(/written +[0-9a-f-]{36} {2}\(based on nothing\)\n1 write\(s\), 0 lost race\(s\) retried\n$/);

    await fsp.writeFile(join(fx.dir, 'good.yml'), shown.stdout);
    expect(await runbook(['metadata', 'validate', 'good.yml'])).toMatchObject({ code: 0, stdout: 'good.yml: valid deployment_metadata.yml, 1 entry: model-1\n' });
    await fsp.writeFile(join(fx.dir, 'bad.yml'), shown.stdout.replace('n_cpus: 8', 'n_cpus: eight'));
    const bad = await runbook(['metadata', 'validate', 'bad.yml']);
    expect(bad.code).toBe(8);
    expect(bad.stderr).toMatch(/model-1\.wmla_deployment\.resource_configs\.n_cpus/);
  });
});
