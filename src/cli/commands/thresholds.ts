import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { RunbookError, ValidationError } from '../../lib/errors';
import { dumpYaml, loadYaml } from '../../lib/metadata/yaml';
import { lintDeploymentThresholds, type LocatedFinding } from '../../lib/metadata/lint';
import { BUILTIN_MONITORS } from '../../lib/monitors/definitions';
import { defaultThresholds, findMonitorSpec, lintThresholds } from '../../lib/thresholds';

/** Options of `runbook thresholds lint`. */
export interface LintOptions {
  readonly monitor?: string;
  readonly json?: boolean;
  readonly strict?: boolean;
}

/**
 * Lints FILE: a deployment metadata YAML (every monitor of every entry), or with `--monitor` a
 * thresholds mapping of that monitor. Errors exit 8; warnings too with `--strict`.
 */
export function thresholdsLint(file: string, opts: LintOptions, write: (text: string) => void): LocatedFinding[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunbookError('usage', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const doc = loadYaml(text, file);
  let findings: LocatedFinding[];
  if (opts.monitor) {
    const body = doc && typeof doc === 'object' && 'thresholds' in (doc as object) ? (doc as { thresholds: unknown }).thresholds : doc;
    findings = lintThresholds(opts.monitor, body).map((f) => ({ ...f, path: f.metric || '(thresholds)' }));
  } else {
    if (!JSON.stringify(doc ?? null).includes('"openscale_custom_metric_provider"')) {
      throw new RunbookError('usage', `${file} has no openscale_custom_metric_provider section: give --monitor <id> to lint a thresholds mapping`);
    }
    findings = lintDeploymentThresholds(doc);
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.length - errors;
  if (opts.json) write(JSON.stringify({ file, errors, warnings, findings }, null, 2) + '\n');
  else {
    for (const f of findings) write(`${file}: ${f.severity}: ${f.path}: ${f.message}\n`);
    write(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
  }
  if (errors || (opts.strict && warnings)) {
    throw new ValidationError(`${file}: thresholds have ${errors} error${errors === 1 ? '' : 's'} and ${warnings} warning${warnings === 1 ? '' : 's'}`, findings.map((f) => ({ path: f.path, message: f.message })));
  }
  return findings;
}

/** `runbook thresholds lint|defaults`. */
export function register(program: Command): void {
  const cmd = program.command('thresholds').description('monitor thresholds: lint units and names, print defaults');
  cmd
    .command('lint <file>')
    .description('check the thresholds in a deployment metadata YAML (or, with --monitor, a thresholds mapping) for unknown metrics and unit mistakes')
    .option('-m, --monitor <id>', 'the file is a thresholds mapping of this monitor (e.g. segmentation_metrics_v22)')
    .option('--strict', 'fail on warnings too')
    .option('--json', 'print the findings as JSON')
    .addHelpText(
      'after',
      `
Segmentation metrics: unsuffixed ones (precision, Dice, IOU, ...) are percentages 0-100; the
_positive/_negative ones are fractions 0-1, so "precision: 0.6" and "precision_positive: 60" are flagged.
Exit status: 0 no errors (warnings are printed), 8 errors found (or warnings with --strict).`,
    )
    .action((file: string, opts: LintOptions) => {
      thresholdsLint(file, opts, (t) => process.stdout.write(t));
    });
  cmd
    .command('defaults <monitor>')
    .description(`print a monitor's default thresholds as YAML (monitors: ${Object.keys(BUILTIN_MONITORS).join(', ')})`)
    .action((monitor: string) => {
      const spec = findMonitorSpec(monitor);
      if (!spec) throw new RunbookError('usage', `unknown monitor "${monitor}": built-in monitors are ${Object.keys(BUILTIN_MONITORS).join(', ')}`);
      process.stdout.write(dumpYaml({ thresholds: defaultThresholds(spec) }, `default thresholds of ${spec.name} (${spec.id})`));
    });
}
