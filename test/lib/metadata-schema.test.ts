import { describe, expect, it } from '@jest/globals';
import { dump } from 'js-yaml';
import {
  DeploymentEntry,
  DeploymentMetadata,
  MonitorMetadataEntry,
  ResourceConfigs,
  effectiveResources,
  parseDeploymentMetadata,
  parseMonitorMetadata,
  serializeDeploymentMetadata,
  serializeMonitorMetadata,
  yamlLocations,
  formatYamlPath,
} from '../../src/lib/metadata';
import { ASSET_ID, sampleEntry, validationError } from './fixtures/metadata';

describe('deployment entry schema', () => {
  it('accepts the runbook entry and turns enable_gpus "True" into a boolean', () => {
    const parsed = DeploymentEntry.parse(sampleEntry());
    expect(parsed.wmla_deployment.resource_configs.enable_gpus).toBe(true);
    expect(DeploymentEntry.parse({ ...sampleEntry(), wmla_deployment: { ...sampleEntry().wmla_deployment, resource_configs: { enable_gpus: 'False' } } }).wmla_deployment.resource_configs.enable_gpus).toBe(false);
  });

  it('rejects enable_gpus strings other than True/False/true/false', () => {
    for (const bad of ['yes', 'FALSE', '0', 1]) {
      const r = ResourceConfigs.safeParse({ enable_gpus: bad });
      expect(r.success).toBe(false);
    }
  });

  it('rejects conflicting n_min_kernels and kernel_min, accepts equal ones', () => {
    expect(ResourceConfigs.safeParse({ enable_gpus: true, n_min_kernels: 1, kernel_min: 1 }).success).toBe(true);
    const e = validationError(() => parseDeploymentMetadata(dump({ [ASSET_ID]: { ...sampleEntry(), wmla_deployment: { ...sampleEntry().wmla_deployment, resource_configs: { enable_gpus: true, n_min_kernels: 1, kernel_min: 2 } } } })));
    expect(e.issues).toEqual([expect.objectContaining({ path: `${ASSET_ID}.wmla_deployment.resource_configs.kernel_min` })]);
    expect(e.issues[0].message).toContain('conflicts with n_min_kernels');
  });

  it('rejects kernel_max below the minimum', () => {
    const r = ResourceConfigs.safeParse({ enable_gpus: true, kernel_min: 4, kernel_max: 2 });
    expect(r.success).toBe(false);
  });

  it('fills resource defaults and maps n_min_kernels to the kernel minimum', () => {
    const rc = ResourceConfigs.parse({ enable_gpus: 'false', n_min_kernels: 2, memory_allocation: 4096 });
    expect(effectiveResources(rc)).toEqual({
      enableGpus: false,
      nCpus: 8,
      memoryMb: 4096,
      replicas: 1,
      kernelMin: 2,
      kernelMax: 3,
      kernelDelayReleaseSeconds: 60,
      taskExecutionTimeoutSeconds: 60,
    });
    expect(effectiveResources(ResourceConfigs.parse({ enable_gpus: true, kernel_min: 5 })).kernelMax).toBe(5);
  });

  it('accepts null deployment name and url (after deploy delete) but not an empty model_asset', () => {
    const e = sampleEntry();
    e.wmla_deployment.deployment_name = null;
    e.wmla_deployment.deployment_url = null;
    expect(DeploymentEntry.safeParse(e).success).toBe(true);
    e.model_asset = '';
    expect(DeploymentEntry.safeParse(e).success).toBe(false);
  });

  it('requires monitor ids in OpenScale form', () => {
    const e = sampleEntry();
    e.openscale_custom_metric_provider['Segmentation Metrics'] = e.openscale_custom_metric_provider.segmentation_metrics;
    const err = validationError(() => parseDeploymentMetadata(dump({ [ASSET_ID]: e })));
    expect(err.issues[0].path).toBe(`${ASSET_ID}.openscale_custom_metric_provider["Segmentation Metrics"]`);
    expect(err.issues[0].message).toContain('monitor definition id');
  });
});

describe('validation messages', () => {
  it('gives the YAML path, the expected form, the value found and the line', () => {
    const e = sampleEntry();
    e.wmla_deployment.resource_configs.n_cpus = '8';
    const text = dump({ [ASSET_ID]: e }, { lineWidth: -1 });
    const err = validationError(() => parseDeploymentMetadata(text, 'space/deployment_metadata.yml'));
    expect(err.issues).toHaveLength(1);
    const issue = err.issues[0] as { path: string; message: string; line?: number };
    expect(issue.path).toBe(`${ASSET_ID}.wmla_deployment.resource_configs.n_cpus`);
    expect(issue.message).toBe('expected a positive integer, got "8"');
    const lineText = text.split('\n')[issue.line! - 1];
    expect(lineText).toMatch(/^\s+n_cpus: '8'$/);
    expect(err.message).toContain('space/deployment_metadata.yml is not valid');
    expect(err.message).toContain(`line ${issue.line}`);
  });

  it('names missing keys as required and points at the parent', () => {
    const e = sampleEntry();
    delete e.wmla_deployment.dependency_filename;
    const text = dump({ [ASSET_ID]: e });
    const err = validationError(() => parseDeploymentMetadata(text));
    const issue = err.issues[0] as { path: string; message: string; line?: number };
    expect(issue.path).toBe(`${ASSET_ID}.wmla_deployment.dependency_filename`);
    expect(issue.message).toMatch(/^required: expected the data asset name/);
    expect(text.split('\n')[issue.line! - 1]).toMatch(/wmla_deployment:/);
  });

  it('lists the accepted keys next to an unknown key', () => {
    const e = sampleEntry();
    e.wmla_deployment.resource_configs.n_cpu = 8;
    const err = validationError(() => parseDeploymentMetadata(dump({ [ASSET_ID]: e })));
    expect(err.issues[0].path).toBe(`${ASSET_ID}.wmla_deployment.resource_configs.n_cpu`);
    expect(err.issues[0].message).toContain('unknown key; expected one of: enable_gpus, n_cpus');
  });

  it('points inside threshold pairs', () => {
    const e = sampleEntry();
    e.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision = { threshold: [60, 'below'] };
    const err = validationError(() => parseDeploymentMetadata(dump({ [ASSET_ID]: e })));
    expect(err.issues[0].path).toBe(`${ASSET_ID}.openscale_custom_metric_provider.segmentation_metrics.thresholds.precision.threshold[1]`);
    expect(err.issues[0].message).toBe(`expected 'lower' or 'upper', got "below"`);
  });

  it('reports YAML syntax errors with the file and line', () => {
    const err = validationError(() => parseDeploymentMetadata('a:\n  b: [1,\n', 'x.yml'));
    expect(err.message).toMatch(/^x\.yml:\d+: not valid YAML/);
  });

  it('rejects duplicate keys instead of keeping the last one', () => {
    expect(() => parseMonitorMetadata('m:\n  integrated_system_id: a\n  integrated_system_id: b\n')).toThrow(/duplicated mapping key/);
  });

  it('reads an empty or comment-only file as an empty document', () => {
    expect(parseDeploymentMetadata('')).toEqual({});
    expect(parseDeploymentMetadata('# nothing yet\n')).toEqual({});
  });

  it('locates keys in flow and block style, quoted keys and list items', () => {
    const src = "a:\n  b: 1\n  'c.d': {e: [1, lower]}\nlist:\n  - x\n  - y\n";
    const loc = yamlLocations(src);
    expect(loc.get(JSON.stringify(['a', 'b']))).toEqual({ line: 2, column: 3 });
    expect(loc.get(JSON.stringify(['a', 'c.d', 'e', 1]))!.line).toBe(3);
    expect(loc.get(JSON.stringify(['list', 1]))).toEqual({ line: 6, column: 5 });
    expect(formatYamlPath(['a', 'c.d', 'e', 1])).toBe('a["c.d"].e[1]');
  });
});

describe('serialization', () => {
  it('round-trips, writes fields in schema order, ids sorted and threshold pairs inline', () => {
    const doc = DeploymentMetadata.parse({ 'b-asset': sampleEntry(), 'a-asset': sampleEntry() });
    const text = serializeDeploymentMetadata(doc);
    expect(parseDeploymentMetadata(text)).toEqual(doc);
    expect(text.indexOf('a-asset:')).toBeLessThan(text.indexOf('b-asset:'));
    expect(text).toMatch(/ precision:\n\s+threshold: \[60, lower\]\n/);
    expect(text).toContain('enable_gpus: true');
    const entryLines = text.split('\n').filter((l) => /^ {2}[a-z_]+:/.test(l)).slice(0, 7).map((l) => l.trim().split(':')[0]);
    expect(entryLines).toEqual(['model_asset', 'model_name', 'deployment_id', 'deployment_space_id', 'openscale_subscription_id', 'openscale_custom_metric_provider', 'wmla_deployment']);
    expect(text.startsWith('# deployment_metadata.yml')).toBe(true);
  });

  it('is stable: the same document in any key order gives the same text', () => {
    const e = sampleEntry();
    const shuffled = Object.fromEntries(Object.entries(e).reverse());
    const a = serializeDeploymentMetadata(DeploymentMetadata.parse({ x: e }));
    const b = serializeDeploymentMetadata(DeploymentMetadata.parse({ x: shuffled }));
    expect(a).toBe(b);
  });

  it('refuses to write an invalid document', () => {
    const bad = { x: { ...DeploymentEntry.parse(sampleEntry()), model_asset: '' } };
    expect(() => serializeDeploymentMetadata(bad)).toThrow(/about to be written/);
  });

  it('keeps strings that look like other types quoted', () => {
    const doc = DeploymentMetadata.parse({ x: { ...sampleEntry(), model_name: 'True', deployment_space_id: '12345' } });
    const text = serializeDeploymentMetadata(doc);
    expect(text).toContain("model_name: 'True'");
    expect(parseDeploymentMetadata(text).x.deployment_space_id).toBe('12345');
  });
});

describe('monitor metadata', () => {
  it('accepts an entry with a WML deployment or a provider endpoint, and requires one of them', () => {
    expect(MonitorMetadataEntry.safeParse({ integrated_system_id: 'is-1', wml_deployment_id: 'dep-1' }).success).toBe(true);
    expect(MonitorMetadataEntry.safeParse({ integrated_system_id: 'is-1', provider_endpoint: 'http://127.0.0.1:9/metrics' }).success).toBe(true);
    const err = validationError(() => parseMonitorMetadata('segmentation_metrics_v22:\n  integrated_system_id: is-1\n'));
    expect(err.issues[0].path).toBe('segmentation_metrics_v22.wml_deployment_id');
    expect(err.issues[0].message).toContain('wml_deployment_id or provider_endpoint');
  });

  it('round-trips', () => {
    const doc = { generic_metrics: { integrated_system_id: 'is-2', wml_deployment_id: 'd-2' }, segmentation_metrics: { integrated_system_id: 'is-1', wml_deployment_id: 'd-1' } };
    expect(parseMonitorMetadata(serializeMonitorMetadata(doc))).toEqual(doc);
  });
});
