import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validationError } from './fixtures/metadata';
import { defaultThresholds } from '../../src/lib/thresholds';
import { GENERIC_MONITOR } from '../../src/lib/monitors/definitions';
import {
  DeploymentTemplateVariables,
  deploymentTemplatePath,
  fillTemplate,
  renderDeploymentEntry,
  serializeDeploymentMetadata,
  parseDeploymentMetadata,
} from '../../src/lib/metadata';

function vars(): DeploymentTemplateVariables {
  return {
    model_asset_id: '54b19403-9c10-48e5-b3f3-dc958e2cfbb1',
    model_asset: 'model.zip',
    model_name: 'DeepLIIF: "quoted" {braces} ${not_a_placeholder}',
    deployment_space_id: 'space-1',
    deployment_name: 'deepliif-demo',
    deployment_url: null,
    dependency_filename: 'deepliif-base.zip',
    volume_display_name: 'DeepLIIFData',
    resource_configs: { enable_gpus: 'False', n_cpus: 4, kernel_min: 0, task_execution_timeout: 120 },
    monitors: {
      generic_metrics_v5: {
        dir_gt: 'gt',
        dir_pred: 'pred',
        volume_display_name: 'DeepLIIFData',
        most_recent: 7,
        thresholds: defaultThresholds(GENERIC_MONITOR),
      },
    },
  };
}

describe('fillTemplate', () => {
  it('keeps the type of whole-value placeholders and interpolates text ones', () => {
    const out = fillTemplate('${key}:\n  n: ${n}\n  label: "run ${n} of ${name}"\n  m: ${m}\n', { key: 'k1', n: 3, name: 'x', m: { a: [1, 2] } });
    expect(out).toEqual({ k1: { n: 3, label: 'run 3 of x', m: { a: [1, 2] } } });
  });

  it('never evaluates: a value with YAML or placeholder syntax stays a plain string', () => {
    const out = fillTemplate('a: ${v}\nb: "x ${v}"\n', { v: '${v}: [1] # {{x}}' }) as Record<string, string>;
    expect(out.a).toBe('${v}: [1] # {{x}}');
    expect(out.b).toBe('x ${v}: [1] # {{x}}');
  });

  it('reports missing and unknown variables by name', () => {
    const err = validationError(() => fillTemplate('a: ${one}\nb: ${two}\n', { one: 1, three: 3 }, 't.yml'));
    expect(err.message).toContain('missing two');
    expect(err.message).toContain('unknown three');
    expect(err.issues.map((i) => i.path).sort()).toEqual(['three', 'two']);
  });

  it('rejects a mapping used inside a text', () => {
    expect(() => fillTemplate('a: "x ${m}"\n', { m: { a: 1 } })).toThrow(/needs a string or number/);
  });

  it('supports $${name} for a literal placeholder text', () => {
    expect(fillTemplate('a: "cost $${x}"\n', {})).toEqual({ a: 'cost ${x}' });
  });

  it('rejects two keys that become the same', () => {
    expect(() => fillTemplate('${a}: 1\n${b}: 2\n', { a: 'k', b: 'k' })).toThrow(/two keys become "k"/);
  });
});

describe('renderDeploymentEntry', () => {
  it('fills the project template into a valid entry keyed by the model asset id', () => {
    const { key, entry, doc } = renderDeploymentEntry(vars());
    expect(key).toBe('54b19403-9c10-48e5-b3f3-dc958e2cfbb1');
    expect(entry.model_name).toBe(vars().model_name);
    expect(entry.deployment_id).toBeNull();
    expect(entry.openscale_subscription_id).toBeNull();
    expect(entry.wmla_deployment.resource_configs).toEqual({ enable_gpus: false, n_cpus: 4, kernel_min: 0, task_execution_timeout: 120 });
    expect(entry.openscale_custom_metric_provider.generic_metrics_v5.thresholds).toEqual(defaultThresholds(GENERIC_MONITOR));
    expect(parseDeploymentMetadata(serializeDeploymentMetadata(doc))).toEqual(doc);
  });

  it('rejects an unknown variable and a missing one, naming them', () => {
    const extra = validationError(() => renderDeploymentEntry({ ...vars(), colour: 'blue' } as DeploymentTemplateVariables));
    expect(extra.issues[0].path).toBe('colour');
    expect(extra.issues[0].message).toContain('unknown key');
    const v = vars() as Partial<DeploymentTemplateVariables>;
    delete v.deployment_space_id;
    const missing = validationError(() => renderDeploymentEntry(v as DeploymentTemplateVariables));
    expect(missing.issues[0].path).toBe('deployment_space_id');
    expect(missing.issues[0].message).toMatch(/^required/);
  });

  it('rejects wrongly typed variables with the field path', () => {
    const v = vars();
    (v.resource_configs as Record<string, unknown>).n_cpus = '8';
    const err = validationError(() => renderDeploymentEntry(v));
    expect(err.issues[0]).toMatchObject({ path: 'resource_configs.n_cpus', message: 'expected a positive integer, got "8"' });
  });

  it('validates the filled entry against the entry schema (a bad deployment name is caught)', () => {
    const err = validationError(() => renderDeploymentEntry({ ...vars(), deployment_name: 'has space' }));
    expect(err.issues[0].path).toBe('54b19403-9c10-48e5-b3f3-dc958e2cfbb1.wmla_deployment.deployment_name');
  });

  it('uses another template when given, with the same checks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tpl-'));
    const path = join(dir, 't.yml');
    writeFileSync(path, '${model_asset_id}:\n  model_asset: ${model_asset}\n');
    const err = validationError(() => renderDeploymentEntry(vars(), { templatePath: path }));
    expect(err.message).toContain('unknown');
    expect(err.message).toContain('deployment_space_id');
  });

  it('finds the project template from the module location', () => {
    expect(deploymentTemplatePath()).toMatch(/templates[\\/]deployment_metadata\.yml$/);
  });
});
