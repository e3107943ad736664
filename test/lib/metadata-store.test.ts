import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TimeoutError, ValidationError } from '../../src/lib/errors';
import {
  ConflictError,
  DeploymentEntry,
  DeploymentMetadata,
  FileMetadataStore,
  addEntry,
  contentRevision,
  deepMerge,
  deleteEntry,
  deploymentMetadata,
  deploymentMetadataCodec,
  monitorMetadataCodec,
  updateEntry,
  updateWithRetry,
  type MetadataStore,
} from '../../src/lib/metadata';
import { Plan } from '../../src/lib/plan';
import { sampleEntry } from './fixtures/metadata';

const run = promisify(execFile);
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'metadata-store-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

describe('pure entry operations', () => {
  const entry = DeploymentEntry.parse(sampleEntry());

  it('add: returns a new document, refuses to replace unless overwrite, never mutates', () => {
    const doc = deepFreeze({ a: entry }) as DeploymentMetadata;
    const added = addEntry(doc, 'b', entry);
    expect(Object.keys(added)).toEqual(['a', 'b']);
    expect(Object.keys(doc)).toEqual(['a']);
    added.b.model_name = 'changed';
    expect(doc.a.model_name).toBe(entry.model_name);
    expect(() => addEntry(doc, 'a', entry)).toThrow(/already exists; pass overwrite/);
    const replaced = addEntry<DeploymentEntry>(doc, 'a', { ...entry, model_name: 'new' }, { overwrite: true });
    expect(replaced.a.model_name).toBe('new');
  });

  it('add with a schema validates the entry and reports paths under the key', () => {
    let err: unknown;
    try {
      addEntry({}, 'k', { ...entry, deployment_space_id: 'has space' }, { schema: DeploymentEntry });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0].path).toBe('k.deployment_space_id');
  });

  it('update: deep-merges mappings, replaces lists and scalars, keeps other keys, never mutates', () => {
    const doc = deepFreeze({ a: entry }) as DeploymentMetadata;
    const out = updateEntry(
      doc,
      'a',
      {
        openscale_subscription_id: 'sub-1',
        openscale_custom_metric_provider: { segmentation_metrics: { thresholds: { precision: { threshold: [70, 'lower'] } } } },
        wmla_deployment: { resource_configs: { n_cpus: 16 } },
      },
      { schema: DeploymentEntry },
    );
    expect(out.a.openscale_subscription_id).toBe('sub-1');
    expect(out.a.wmla_deployment.resource_configs).toEqual({ ...entry.wmla_deployment.resource_configs, n_cpus: 16 });
    const seg = out.a.openscale_custom_metric_provider.segmentation_metrics;
    expect(seg.thresholds).toEqual({ precision: { threshold: [70, 'lower'] }, Dice_positive: { threshold: [0.2, 'lower'] } });
    expect(seg.dir_gt).toBe(entry.openscale_custom_metric_provider.segmentation_metrics.dir_gt);
    expect(doc.a.openscale_subscription_id).toBeNull();
  });

  it('update: null sets a field to null; an invalid result is refused; a missing key is an error', () => {
    const doc = { a: entry };
    expect(updateEntry(doc, 'a', { wmla_deployment: { deployment_name: null } }).a.wmla_deployment.deployment_name).toBeNull();
    expect(() => updateEntry(doc, 'a', { wmla_deployment: { resource_configs: { n_cpus: -1 } } }, { schema: DeploymentEntry })).toThrow(/a\.wmla_deployment\.resource_configs\.n_cpus/);
    expect(() => updateEntry(doc, 'zz', { model_name: 'x' })).toThrow(/no entry "zz" to update \(entries: a\)/);
  });

  it('delete: removes one entry; a missing key is an error unless missingOk', () => {
    const doc = deepFreeze({ a: entry, b: entry }) as DeploymentMetadata;
    expect(Object.keys(deleteEntry(doc, 'a'))).toEqual(['b']);
    expect(Object.keys(doc)).toEqual(['a', 'b']);
    expect(() => deleteEntry(doc, 'c')).toThrow(/no entry "c"/);
    expect(Object.keys(deleteEntry(doc, 'c', { missingOk: true }))).toEqual(['a', 'b']);
  });

  it('deepMerge ignores undefined in the patch', () => {
    expect(deepMerge({ a: 1, b: { c: 2 } }, { a: undefined, b: { c: 3 } })).toEqual({ a: 1, b: { c: 3 } });
  });
});

describe('FileMetadataStore', () => {
  it('reads a missing file as empty with revision null, and creates it only from revision null', async () => {
    const store = new FileMetadataStore(join(dir, 'new', 'deployment_metadata.yml'), deploymentMetadataCodec);
    const first = await store.read();
    expect(first).toEqual({ doc: {}, revision: null });
    const doc = { x: DeploymentEntry.parse(sampleEntry()) };
    const rev = await store.write(doc, null);
    const text = readFileSync(store.path, 'utf8');
    expect(rev).toBe(contentRevision(text));
    expect((await store.read()).doc).toEqual(doc);
    await expect(store.write(doc, null)).rejects.toBeInstanceOf(ConflictError);
    expect(existsSync(`${store.path}.lock`)).toBe(false);
  });

  it('refuses a write based on a stale revision and leaves the file as it was', async () => {
    const path = join(dir, 'stale.yml');
    const store = new FileMetadataStore(path, monitorMetadataCodec);
    const r1 = await store.write({ m: { integrated_system_id: 'a', wml_deployment_id: 'd' } }, null);
    await store.write({ m: { integrated_system_id: 'b', wml_deployment_id: 'd' } }, r1);
    const before = readFileSync(path, 'utf8');
    let err: unknown;
    try {
      await store.write({ m: { integrated_system_id: 'c', wml_deployment_id: 'd' } }, r1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).expectedRevision).toBe(r1);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('reports a hand-edited invalid file with its path and line', async () => {
    const path = join(dir, 'bad.yml');
    writeFileSync(path, 'm:\n  integrated_system_id: a\n  wml_deployment_id: [1]\n');
    const store = new FileMetadataStore(path, monitorMetadataCodec);
    await expect(store.read()).rejects.toThrow(new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid[\\s\\S]*m\\.wml_deployment_id: .*\\(line 3\\)`));
  });

  it('removes a lock left by a dead process, and times out on a live holder', async () => {
    const path = join(dir, 'locked.yml');
    const store = new FileMetadataStore(path, monitorMetadataCodec, { lockTimeoutMs: 300 });
    const doc = { m: { integrated_system_id: 'a', wml_deployment_id: 'd' } };
    // A pid that cannot exist on Linux (above pid_max).
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 2 ** 22 + 12345, host: require('node:os').hostname(), at: Date.now() }));
    await store.write(doc, null);
    // A live holder: this very test process's parent (jest) stays alive.
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.ppid, host: require('node:os').hostname(), at: Date.now() }));
    const { revision } = await store.read();
    await expect(store.write(doc, revision)).rejects.toBeInstanceOf(TimeoutError);
    rmSync(`${path}.lock`);
  });
});

describe('updateWithRetry', () => {
  it('retries after a conflict with the fresh document', async () => {
    const path = join(dir, 'retry.yml');
    const store = new FileMetadataStore(path, monitorMetadataCodec);
    await store.write({ a: { integrated_system_id: 'a', wml_deployment_id: 'd' } }, null);
    let interfered = false;
    const seen: string[][] = [];
    const result = await updateWithRetry(
      store,
      async (doc, attempt) => {
        seen.push(Object.keys(doc));
        if (!interfered) {
          // Another writer gets in between our read and our write.
          interfered = true;
          const cur = await store.read();
          await store.write({ ...cur.doc, b: { integrated_system_id: 'b', wml_deployment_id: 'd' } }, cur.revision);
        }
        return { ...doc, [`c${attempt}`]: { integrated_system_id: 'c', wml_deployment_id: 'd' } };
      },
      { sleep: async () => undefined },
    );
    expect(result.attempts).toBe(2);
    expect(seen).toEqual([['a'], ['a', 'b']]);
    expect(Object.keys((await store.read()).doc).sort()).toEqual(['a', 'b', 'c2']);
  });

  it('does not write when nothing changes', async () => {
    const path = join(dir, 'same.yml');
    const store = new FileMetadataStore(path, monitorMetadataCodec);
    const rev = await store.write({ a: { integrated_system_id: 'a', wml_deployment_id: 'd' } }, null);
    const r = await updateWithRetry(store, (doc) => doc);
    expect(r).toMatchObject({ changed: false, revision: rev, attempts: 1 });
  });

  it('does not write when only the order of keys differs (the stored form is canonical)', async () => {
    const path = join(dir, 'reordered.yml');
    const store = new FileMetadataStore(path, deploymentMetadataCodec);
    const rev = await store.write({ a: DeploymentEntry.parse(sampleEntry()), b: DeploymentEntry.parse(sampleEntry()) }, null);
    const text = readFileSync(path, 'utf8');
    const r = await updateWithRetry(store, (doc) => reversedKeys(doc));
    expect(r).toMatchObject({ changed: false, revision: rev, attempts: 1 });
    expect(readFileSync(path, 'utf8')).toBe(text);
    // A real change among reordered keys is still one.
    const changed = await updateWithRetry(store, (doc) => {
      const next = reversedKeys(doc);
      next.b.model_name = 'renamed';
      return next;
    });
    expect(changed.changed).toBe(true);
    expect((await store.read()).doc.b.model_name).toBe('renamed');
  });

  it('gives up after the allowed retries with a ConflictError naming the store', async () => {
    let writes = 0;
    const store: MetadataStore<Record<string, number>> = {
      description: 'always-conflicting store',
      read: async () => ({ doc: { n: writes }, revision: String(writes) }),
      write: async (_doc, expected) => {
        writes++;
        throw new ConflictError('always-conflicting store', expected, 'other');
      },
    };
    const delays: number[] = [];
    await expect(
      updateWithRetry(store, (d) => ({ ...d, n: d.n + 1 }), {
        retries: 3,
        baseDelayMs: 10,
        random: () => 0.999,
        sleep: async (ms) => {
          delays.push(ms);
        },
      }),
    ).rejects.toThrow(/always-conflicting store kept changing: gave up after 4 attempts/);
    expect(writes).toBe(4);
    expect(delays).toEqual([9, 19, 39]);
  });

  it('passes other errors through at once', async () => {
    const store = new FileMetadataStore(join(dir, 'invalid-write.yml'), monitorMetadataCodec);
    await expect(updateWithRetry(store, () => ({ m: { integrated_system_id: '' } }) as never)).rejects.toBeInstanceOf(ValidationError);
  });

  it('8 parallel updaters in separate processes lose no update', async () => {
    const path = join(dir, 'parallel', 'deployment_metadata.yml');
    const store = new FileMetadataStore(path, deploymentMetadataCodec);
    const shared = DeploymentEntry.parse(sampleEntry());
    shared.wmla_deployment.resource_configs.n_replicas = 1;
    await store.write({ shared }, null);
    const writers = 8;
    const rounds = 5;
    const script = join(__dirname, 'helpers', 'metadata-updater.ts');
    const register = join(__dirname, 'helpers', 'register-ts.js');
    const outputs = await Promise.all(
      Array.from({ length: writers }, (_, i) => run(process.execPath, ['-r', register, script, path, String(i), String(rounds)], { timeout: 120000 })),
    );
    const stats = outputs.map((o) => JSON.parse(o.stdout) as { attempts: number; conflicts: number });
    const { doc } = await store.read();
    expect(doc.shared.wmla_deployment.resource_configs.n_replicas).toBe(1 + writers * rounds);
    for (let i = 0; i < writers; i++) expect(doc[`writer-${i}`].model_name).toBe(`writer-${i} round ${rounds}`);
    expect(Object.keys(doc)).toHaveLength(writers + 1);
    expect(existsSync(`${path}.lock`)).toBe(false);
    // Conflicts did happen (otherwise the test proves nothing about concurrency); report them.
    const conflicts = stats.reduce((s, x) => s + x.conflicts, 0);
    process.stdout.write(`8 updaters x ${rounds} rounds: ${conflicts} conflicts retried, ${stats.reduce((s, x) => s + x.attempts, 0)} attempts\n`);
  });

  it('parallel async updaters in one process lose no update either', async () => {
    const path = join(dir, 'parallel-async.yml');
    const store = new FileMetadataStore(path, monitorMetadataCodec);
    await store.write({}, null);
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        updateWithRetry(store, (doc) => ({ ...doc, [`m${i}`]: { integrated_system_id: `is-${i}`, wml_deployment_id: 'd' } }), { retries: 100 }),
      ),
    );
    expect(Object.keys((await store.read()).doc).sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  });
});

/** A deep copy with every mapping's keys in reverse order (lists keep theirs). */
function reversedKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map(reversedKeys) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).reverse()) out[k] = reversedKeys((value as Record<string, unknown>)[k]);
  return out as T;
}

describe('MetadataDocument', () => {
  it('an entry written again with its keys in another order is no change, in plan mode too', async () => {
    const path = join(dir, 'document-order.yml');
    const meta = deploymentMetadata(new FileMetadataStore(path, deploymentMetadataCodec));
    const first = await meta.add('m1', sampleEntry() as never);
    expect(first.changed).toBe(true);
    const text = readFileSync(path, 'utf8');
    const stored = (await meta.get('m1'))!;
    const reordered = reversedKeys(stored);
    expect(JSON.stringify(reordered)).not.toBe(JSON.stringify(stored));

    const plan = new Plan();
    const planned = await meta.add('m1', reordered as never, { overwrite: true, plan });
    expect(planned).toMatchObject({ changed: false, planned: true, revision: first.revision });
    expect(plan.changes).toEqual([]);

    const again = await meta.add('m1', reordered as never, { overwrite: true });
    expect(again).toMatchObject({ changed: false, revision: first.revision });
    expect(readFileSync(path, 'utf8')).toBe(text);

    // Whatever order the entry came in, the result is the document as stored.
    const renamed = await meta.update('m1', reversedKeys({ model_name: 'renamed', wmla_deployment: { resource_configs: { n_cpus: 2 } } }) as never);
    expect(renamed.changed).toBe(true);
    expect(JSON.stringify(renamed.doc)).toBe(JSON.stringify((await meta.store.read()).doc));
  });
});
