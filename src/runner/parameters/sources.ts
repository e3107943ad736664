import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { ParameterError } from './errors';

/**
 * Parameter overrides as the CLI collects them, papermill-style:
 * `-f file.yaml` (in order), then `-y 'yaml'` (in order), then `-r name=value` (always a string),
 * then `-p name=value` (converted by the declared type). Later sources override earlier ones.
 */
export interface ParameterOverrides {
  /** Typed values (YAML, raw strings, or values passed by a calling notebook). */
  values: Record<string, unknown>;
  /** Command-line text: kept as a string for string-typed parameters, else parsed as JSON if it parses. */
  texts: Record<string, string>;
}

export function emptyOverrides(): ParameterOverrides {
  return { values: {}, texts: {} };
}

/** Splits `name=value` at the first `=`. */
export function parseAssignment(arg: string, flag = '-p'): [string, string] {
  const at = arg.indexOf('=');
  const name = at < 0 ? '' : arg.slice(0, at).trim();
  if (at < 0 || !/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new ParameterError(`${flag} ${JSON.stringify(arg)}: expected name=value with a TypeScript identifier as the name`, [
      { path: arg, message: 'expected name=value' },
    ]);
  }
  return [name, arg.slice(at + 1)];
}

/** A YAML mapping of parameters (YAML 1.2 core schema: no dates or binary, values stay JSON-like). */
export function parseParametersYaml(text: string, origin: string): Record<string, unknown> {
  // An empty (or comment-only) file sets nothing; js-yaml 5 refuses to load it.
  if (text.split('\n').every((line) => /^\s*(#.*)?$/.test(line))) return {};
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: yaml.CORE_SCHEMA, filename: origin });
  } catch (err) {
    throw new ParameterError(`${origin}: invalid YAML: ${(err as Error).message.split('\n')[0]}`, [{ path: origin, message: 'invalid YAML' }]);
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ParameterError(`${origin}: expected a mapping of parameter names to values, got ${Array.isArray(doc) ? 'a list' : typeof doc}`, [
      { path: origin, message: 'expected a mapping' },
    ]);
  }
  return { ...(doc as Record<string, unknown>) };
}

export function readParametersFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ParameterError(`${path}: cannot read the parameters file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, [
      { path, message: 'cannot read' },
    ]);
  }
  return parseParametersYaml(text, path);
}

/** Merges the CLI sources in papermill's order (files, YAML strings, raw strings, then -p). */
export function collectOverrides(sources: {
  files?: readonly string[];
  yamls?: readonly string[];
  raw?: readonly string[];
  params?: readonly string[];
}): ParameterOverrides {
  const values: Record<string, unknown> = {};
  for (const f of sources.files ?? []) Object.assign(values, readParametersFile(f));
  for (const y of sources.yamls ?? []) Object.assign(values, parseParametersYaml(y, '-y'));
  for (const r of sources.raw ?? []) {
    const [name, value] = parseAssignment(r, '-r');
    values[name] = value;
  }
  const texts: Record<string, string> = {};
  for (const p of sources.params ?? []) {
    const [name, value] = parseAssignment(p, '-p');
    texts[name] = value;
    delete values[name];
  }
  return { values, texts };
}

/** `-p` text as a value: the raw text for string-typed parameters, else JSON if it parses, else the text. */
export function textToValue(text: string, stringTyped: boolean): unknown {
  if (stringTyped) return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
