import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import {
  ConflictError,
  DeploymentEntry,
  FileMetadataStore,
  deploymentMetadata,
  deploymentMetadataCodec,
  formatLogEntry,
  MetadataStoreError,
  monitorMetadata,
  parseDeploymentMetadata,
  replayLog,
  SpaceMetadataStore,
  updateEntry,
  updateWithRetry,
} from '../../src/lib/metadata';
import { ValidationError } from '../../src/lib/errors';
import { Plan } from '../../src/lib/plan';
import { bytesSource } from '../../src/lib/wml';
import { sampleEntry } from './fixtures/metadata';
import { startWmlFixture, type WmlFixture } from './wml-helpers';

const FILE = 'deployment_metadata.yml';
const LOG = 'deployment_metadata.yml.revisions';

let fx: WmlFixture;
beforeAll(async () => {
  fx = await startWmlFixture();
});
afterAll(async () => {
  await fx.close();
});

/** Names of the assets in a space, sorted, straight from the sandbox's search. */
async function assetNames(space: string): Promise<string[]> {
  const res = await fx.sandbox.api.post(`/v2/asset_types/data_asset/search?space_id=${space}`, { query: '*:*' });
  return (res.json.results as { metadata: { name: string } }[]).map((r) => r.metadata.name).sort();
}

function entry(name = 'DeepLIIF demo'): Record<string, any> {
  return { ...sampleEntry(), model_name: name };
}

describe('replayLog (the decision rule)', () => {
  const rev = (id: number, msg: string) => ({ revision_id: id, commit_message: msg, created_at: new Date(1000 * id).toISOString() });

  it('accepts an entry only when its base is the head so far, in revision order', () => {
    const state = replayLog([
      rev(3, formatLogEntry({ base: 'a', head: 'c' })), // given out of order on purpose
      rev(1, formatLogEntry({ base: null, head: 'a' })),
      rev(2, formatLogEntry({ base: 'a', head: 'b' })),
      rev(4, formatLogEntry({ base: 'b', head: 'd' })),
    ]);
    expect(state.head).toBe('d');
    expect(state.entries.map((e) => [e.head, e.accepted])).toEqual([
      ['a', true],
      ['b', true],
      ['c', false], // same base as b but later: the loser of that race
      ['d', true],
    ]);
  });

  it('ignores foreign and malformed messages, and a duplicated append cannot win twice', () => {
    const state = replayLog([
      rev(1, 'a commit by hand'),
      rev(2, formatLogEntry({ base: null, head: 'a' })),
      rev(3, 'cpd-runbook metadata v1 {not json'),
      rev(4, formatLogEntry({ base: null, head: 'a' })), // the client re-sent the POST after a lost answer
      rev(5, 'cpd-runbook metadata v1 {"base":5,"head":"x"}'),
    ]);
    expect(state.head).toBe('a');
    expect(state.entries.map((e) => e.accepted)).toEqual([true, false]);
  });

  it('an empty log has no head', () => {
    expect(replayLog([])).toEqual({ head: null, entries: [] });
  });
});

describe('SpaceMetadataStore on the sandbox', () => {
  it('reads an empty document without creating anything, then add/get/update/delete keep one copy', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const meta = deploymentMetadata(wml.assets(space));
    expect(await meta.load()).toEqual({});
    expect(await meta.get('m1')).toBeUndefined();
    expect(await assetNames(space)).toEqual([]);

    const added = await meta.add('m1', entry() as never);
    expect(added).toMatchObject({ changed: true, planned: false, attempts: 1 });
    expect(added.entry!.wmla_deployment.resource_configs.enable_gpus).toBe(true); // 'True' parsed by the schema
    expect(await assetNames(space)).toEqual([FILE, LOG]);

    await expect(meta.add('m1', entry() as never)).rejects.toThrow(/entry "m1" already exists/);
    const updated = await meta.update('m1', { openscale_subscription_id: 'sub-1', wmla_deployment: { resource_configs: { n_cpus: 4 } } });
    expect(updated.entry!.openscale_subscription_id).toBe('sub-1');
    expect(updated.entry!.wmla_deployment.resource_configs).toMatchObject({ n_cpus: 4, memory_allocation: 10000 });
    await meta.add('m2', entry('second') as never);
    await meta.delete('m1');
    await expect(meta.delete('m1')).rejects.toThrow(ValidationError);
    expect(Object.keys(await meta.load())).toEqual(['m2']);

    // Still one copy of each, and the copy under the usual name is the current document.
    expect(await assetNames(space)).toEqual([FILE, LOG]);
    const { content } = await wml.assets(space).readContent({ name: FILE });
    expect(Object.keys(parseDeploymentMetadata(content.toString('utf8')))).toEqual(['m2']);
    expect(content.toString('utf8')).toBe(deploymentMetadataCodec.serialize(await meta.load()));

    const store = meta.store as SpaceMetadataStore<unknown>;
    const history = await store.history();
    expect(history.length).toBe(4);
    expect(history.every((e) => e.accepted)).toBe(true);
  });

  it('refuses a write based on a stale revision and leaves no extra copy', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const store = new SpaceMetadataStore(wml.assets(space), deploymentMetadataCodec);
    const first = await store.write({ m1: DeploymentEntry.parse(entry()) }, null);
    const second = await store.write({ m1: DeploymentEntry.parse(entry('v2')) }, first);
    const err = await store.write({ m1: DeploymentEntry.parse(entry('stale')) }, first).catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err).toMatchObject({ expectedRevision: first, actualRevision: second });
    await expect(store.write({}, null)).rejects.toBeInstanceOf(ConflictError);
    const read = await store.read();
    expect(read.revision).toBe(second);
    expect(read.doc.m1!.model_name).toBe('v2');
    expect(await assetNames(space)).toEqual([FILE, LOG]);
  });

  it('8 parallel updaters (own clients, own stores) lose no update and leave exactly one copy', async () => {
    const space = await fx.space();
    const writers = 8;
    const rounds = 2;
    let conflicts = 0;
    const results = await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const { wml } = fx.client(); // a separate client: no shared cache, its own connections
        const store = new SpaceMetadataStore(wml.assets(space), deploymentMetadataCodec);
        let attempts = 0;
        for (let i = 0; i < rounds; i++) {
          const r = await updateWithRetry(
            store,
            (doc) => {
              // A shared counter (a lost update would show as a smaller total) and one key per writer.
              const next = { ...doc, [`writer-${w}`]: DeploymentEntry.parse(entry(`writer ${w} round ${i + 1}`)) };
              if (!next.shared) return { ...next, shared: DeploymentEntry.parse({ ...entry('counter'), wmla_deployment: { ...entry().wmla_deployment, resource_configs: { enable_gpus: false, n_replicas: 1 } } }) };
              const n = next.shared.wmla_deployment.resource_configs.n_replicas ?? 0;
              return updateEntry(next, 'shared', { wmla_deployment: { resource_configs: { n_replicas: n + 1 } } }, { schema: DeploymentEntry });
            },
            { retries: 60, baseDelayMs: 10, maxDelayMs: 300, onConflict: () => conflicts++ },
          );
          attempts += r.attempts;
        }
        return attempts;
      }),
    );
    const { wml } = fx.client();
    const doc = await deploymentMetadata(wml.assets(space)).load();
    expect(Object.keys(doc).sort()).toEqual(['shared', ...Array.from({ length: writers }, (_, w) => `writer-${w}`)]);
    for (let w = 0; w < writers; w++) expect(doc[`writer-${w}`]!.model_name).toBe(`writer ${w} round ${rounds}`);
    // The first successful update creates the counter at 1; every other one adds 1.
    expect(doc.shared!.wmla_deployment.resource_configs.n_replicas).toBe(writers * rounds);
    expect(await assetNames(space)).toEqual([FILE, LOG]);
    const history = await (deploymentMetadata(wml.assets(space)).store as SpaceMetadataStore<unknown>).history();
    expect(history.filter((e) => e.accepted).length).toBe(writers * rounds);
    expect(conflicts).toBeGreaterThan(0); // they really raced
    process.stdout.write(`8 updaters x ${rounds}: attempts ${results.join(',')}, conflicts ${conflicts}, log entries ${history.length}\n`);
  });

  it('imports a document written before the log (the predecessor\'s file) and replaces it on the first write', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const legacyText = deploymentMetadataCodec.serialize({ old: DeploymentEntry.parse(entry('from the predecessor')) });
    const older = await assets.uploadContent(FILE, 'old: {}\n', { overwrite: 'keep' });
    await assets.uploadNew(bytesSource(FILE, legacyText)); // two pre-log copies: the newest counts
    const meta = deploymentMetadata(assets);
    expect((await meta.get('old'))!.model_name).toBe('from the predecessor');
    await meta.add('new', entry() as never);
    expect(Object.keys(await meta.load()).sort()).toEqual(['new', 'old']);
    expect(await assetNames(space)).toEqual([FILE, LOG]);
    expect(await assets.find(older.asset.id)).toBeUndefined();
  });

  it('plan mode reads, records the change and writes nothing', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const meta = deploymentMetadata(wml.assets(space));
    const plan = new Plan();
    const planned = await meta.add('m1', entry() as never, { plan });
    expect(planned).toMatchObject({ planned: true, changed: true, revision: '(planned)' });
    expect(plan.changes).toEqual([expect.objectContaining({ service: 'metadata', action: 'create', resource: `${FILE} entry`, target: 'm1' })]);
    expect(await assetNames(space)).toEqual([]);

    await meta.add('m1', entry() as never);
    const names = await assetNames(space);
    const plan2 = new Plan();
    await meta.update('m1', { model_name: 'renamed' }, { plan: plan2 });
    await meta.update('m1', { model_name: 'DeepLIIF demo' }, { plan: plan2 }); // no change: not recorded
    await meta.delete('m1', { plan: plan2 });
    expect(plan2.changes.map((c) => c.action)).toEqual(['update', 'delete']);
    expect((await meta.get('m1'))!.model_name).toBe('DeepLIIF demo');
    expect(await assetNames(space)).toEqual(names);
  });

  it('cleans copies left by a crashed writer once they are stale, and keeps fresh ones (in flight)', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const assets = wml.assets(space);
    // staleMs also bounds a write's own upload (staleMs / 2): keep it roomy for a loaded machine.
    const store = new SpaceMetadataStore(assets, deploymentMetadataCodec, { staleMs: 1600 });
    const rev1 = await store.write({}, null);
    // A writer that uploaded its version and died before appending to the log:
    const crashed = await assets.uploadNew(bytesSource(FILE, 'crashed: {}\n'));
    const rev2 = await store.write({ m: DeploymentEntry.parse(entry()) }, rev1);
    expect(await assets.find(crashed.asset.id)).toBeDefined(); // might still be appending: kept
    expect((await store.read()).revision).toBe(rev2); // and never read as the document
    await new Promise((r) => setTimeout(r, 1700));
    await store.write({}, rev2);
    expect(await assets.find(crashed.asset.id)).toBeUndefined();
    expect(await assetNames(space)).toEqual([FILE, LOG]);
  });

  it('survives injected 503s and dropped connections on every step of a write', async () => {
    const space = await fx.space();
    const { wml, retries } = fx.client();
    const meta = deploymentMetadata(wml.assets(space));
    await fx.faults([
      { route: 'GET /v2/assets/*/revisions', errorRate: 0.5, statuses: [503], maxHits: 3 },
      { route: 'POST /v2/assets/*/revisions', errorRate: 1, statuses: [503], maxHits: 2 },
      { route: 'PUT /v2/asset_files/*', errorRate: 1, statuses: [502], maxHits: 1 },
      { route: 'POST /v2/asset_types/data_asset/search', dropRate: 0.3, maxHits: 2 },
    ]);
    try {
      await meta.add('m1', entry() as never);
      await meta.update('m1', { model_name: 'after faults' });
    } finally {
      const hits = await fx.faultHits();
      await fx.faults([]);
      expect(hits[1]).toBe(2);
      expect(hits[2]).toBe(1);
    }
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect((await meta.get('m1'))!.model_name).toBe('after faults');
    expect(await assetNames(space)).toEqual([FILE, LOG]);
    const history = await (meta.store as SpaceMetadataStore<unknown>).history();
    // Re-sent appends may duplicate an entry; the replay accepted each write once.
    expect(history.filter((e) => e.accepted).length).toBe(2);
  });

  it('says what to do when the current version was deleted by hand', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const assets = wml.assets(space);
    const store = new SpaceMetadataStore(assets, deploymentMetadataCodec);
    const rev = await store.write({}, null);
    await assets.delete(rev!);
    const err = await store.read().catch((e) => e);
    expect(err).toBeInstanceOf(MetadataStoreError);
    expect(err.message).toMatch(/deleted it by hand.*delete the log asset "deployment_metadata.yml.revisions"/);
  });

  it('the typed API also works over a local file store (offline work)', async () => {
    const file = join(fx.dir, `local-${Date.now()}.yml`);
    const meta = deploymentMetadata(new FileMetadataStore(file, deploymentMetadataCodec));
    await meta.add('m1', entry() as never);
    await meta.update('m1', { model_name: 'local' });
    expect((await meta.get('m1'))!.model_name).toBe('local');
    expect(parseDeploymentMetadata(await fsp.readFile(file, 'utf8')).m1!.model_name).toBe('local');
  });

  it('monitor metadata: validated entries keyed by monitor id', async () => {
    const space = await fx.space();
    const { wml } = fx.client();
    const monitors = monitorMetadata(wml.assets(space));
    await monitors.add('segmentation_metrics', { integrated_system_id: 'is-1', wml_deployment_id: 'dep-1' });
    await expect(monitors.add('generic_metrics', { integrated_system_id: 'is-2' } as never)).rejects.toThrow(/wml_deployment_id or provider_endpoint/);
    await expect(monitors.add('Bad Id', { integrated_system_id: 'x', wml_deployment_id: 'y' })).rejects.toThrow(ValidationError);
    expect(await monitors.load()).toEqual({ segmentation_metrics: { integrated_system_id: 'is-1', wml_deployment_id: 'dep-1' } });
    expect(await assetNames(space)).toEqual(['monitor_metadata.yml', 'monitor_metadata.yml.revisions']);
  });
});
