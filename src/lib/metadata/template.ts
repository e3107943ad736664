import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ValidationError } from '../errors';
import { projectPath } from '../util/project-root';
import { loadYaml } from './yaml';
import { parseOrThrow } from './yaml-issues';
import { DeploymentEntry, DeploymentMetadata, MonitorConfig, MonitorId, ResourceConfigs } from './schema';

/**
 * Metadata templates: YAML with `${name}` placeholders, filled from typed variables. The template is
 * parsed as YAML first and placeholders are replaced in the parsed values, so a value can never
 * break the YAML structure, and nothing is evaluated (the predecessor `eval`ed a formatted string
 * of every global variable, §8.5).
 */

const PLACEHOLDER = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** The names of the placeholders in a parsed template value (keys included), in first-use order. */
export function templatePlaceholders(value: unknown, found: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    for (const m of value.matchAll(PLACEHOLDER)) if (!m[1]) found.add(m[2]);
  } else if (Array.isArray(value)) {
    for (const v of value) templatePlaceholders(v, found);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      templatePlaceholders(k, found);
      templatePlaceholders(v, found);
    }
  }
  return found;
}

function substituteText(text: string, vars: Readonly<Record<string, unknown>>, where: string): string {
  return text.replace(PLACEHOLDER, (_all, escaped: string | undefined, name: string) => {
    if (escaped) return `\${${name}}`;
    const v = vars[name];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new ValidationError(`template: \${${name}} is used inside the text "${text}" at ${where}, so it needs a string or number, got ${v === null ? 'null' : typeof v}`, [
      { path: name, message: 'expected a string or number here' },
    ]);
  });
}

function substitute(value: unknown, vars: Readonly<Record<string, unknown>>, where: string): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE.exec(value);
    return whole ? structuredClone(vars[whole[1]]) : substituteText(value, vars, where);
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, vars, `${where}[${i}]`));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = substituteText(k, vars, where || '(root)');
      if (Object.prototype.hasOwnProperty.call(out, key)) {
        throw new ValidationError(`template: two keys become "${key}" at ${where || '(root)'}`, [{ path: where || '(root)', message: `duplicate key "${key}"` }]);
      }
      out[key] = substitute(v, vars, where ? `${where}.${key}` : key);
    }
    return out;
  }
  return value;
}

/**
 * Fills a YAML template: every placeholder must have a variable and every variable must be used
 * (both are errors listing the names). Returns the filled, parsed value (not yet validated).
 *
 * @param templateText the YAML template text.
 * @param variables values by placeholder name; `undefined` counts as missing.
 * @param what names the template in errors.
 */
export function fillTemplate(templateText: string, variables: Readonly<Record<string, unknown>>, what = 'template'): unknown {
  const parsed = loadYaml(templateText, what);
  const used = templatePlaceholders(parsed);
  const given = Object.keys(variables).filter((k) => variables[k] !== undefined);
  const missing = [...used].filter((n) => !given.includes(n));
  const extra = given.filter((n) => !used.has(n));
  const issues = [
    ...missing.map((n) => ({ path: n, message: `missing variable: the template uses \${${n}}` })),
    ...extra.map((n) => ({ path: n, message: `unknown variable: the template has no \${${n}}` })),
  ];
  if (issues.length) {
    const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unknown ${extra.join(', ')}` : ''].filter(Boolean);
    throw new ValidationError(`${what}: variables do not match the placeholders (${parts.join('; ')}); placeholders: ${[...used].join(', ')}`, issues);
  }
  return substitute(parsed, variables, '');
}

/**
 * The variables of `templates/deployment_metadata.yml`. `resource_configs` accepts the runbook's
 * keys (see {@link ResourceConfigs}); `monitors` is the `openscale_custom_metric_provider` mapping
 * (monitor id → settings, `{}` for none); `deployment_url` may be null until the deployment exists.
 */
export const DeploymentTemplateVariables = z.strictObject({
  model_asset_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, { error: 'expected a data asset id' }),
  model_asset: z.string().min(1, { error: 'expected the data asset name of the model' }),
  model_name: z.string({ error: 'expected a display name' }),
  deployment_space_id: z.string().min(1, { error: 'expected a deployment space id' }),
  deployment_name: z.string({ error: 'expected a deployment name' }),
  deployment_url: z.string({ error: 'expected a URL or null' }).nullable(),
  dependency_filename: z.string().min(1, { error: 'expected the data asset name of the dependency zip' }),
  volume_display_name: z.string().min(1, { error: 'expected a storage volume display name' }),
  resource_configs: ResourceConfigs,
  monitors: z.record(MonitorId, MonitorConfig),
});
export type DeploymentTemplateVariables = z.input<typeof DeploymentTemplateVariables>;

/** The path of the project's deployment metadata template. */
export function deploymentTemplatePath(): string {
  return projectPath('templates', 'deployment_metadata.yml');
}

/** A filled deployment entry: its key (the model asset id), the entry, and a one-entry document. */
export interface RenderedEntry {
  readonly key: string;
  readonly entry: DeploymentEntry;
  readonly doc: DeploymentMetadata;
}

/**
 * Fills the deployment metadata template from typed variables and validates the result.
 * Variables are checked first (unknown or missing ones, wrong types: a {@link ValidationError}
 * naming them); the filled entry is then checked against {@link DeploymentEntry}.
 *
 * @param options.templatePath another template with the same placeholders (default: templates/deployment_metadata.yml).
 */
export function renderDeploymentEntry(variables: DeploymentTemplateVariables, options: { templatePath?: string } = {}): RenderedEntry {
  const vars = parseOrThrow(DeploymentTemplateVariables, variables, 'deployment template variables');
  const path = options.templatePath ?? deploymentTemplatePath();
  const filled = fillTemplate(readFileSync(path, 'utf8'), vars, path);
  const doc = parseOrThrow(DeploymentMetadata, filled, `deployment entry filled from ${path}`);
  const keys = Object.keys(doc);
  if (keys.length !== 1) throw new ValidationError(`${path}: a deployment template must produce exactly one entry, got ${keys.length}`, []);
  return { key: keys[0], entry: doc[keys[0]], doc };
}
