import { sourceText, type Notebook } from '../notebook';
import { analyzeParameters, type TypedParameter } from './check';
import { parseDeclarations, type ParameterDeclaration } from './declarations';
import { ParameterError } from './errors';
import { findParametersCell } from './inject';
import type { ParameterOverrides } from './sources';

export { ParameterError } from './errors';
export type { ParameterDeclaration } from './declarations';
export type { TypedParameter, ParameterIssue } from './check';
export { collectOverrides, emptyOverrides, parseAssignment, parseParametersYaml, type ParameterOverrides } from './sources';
export { findParametersCell, injectParametersCell, renderInjectedSource, INJECTED_TAG, PARAMETERS_TAG } from './inject';

export function hasOverrides(o: ParameterOverrides): boolean {
  return Object.keys(o.values).length > 0 || Object.keys(o.texts).length > 0;
}

/** The declarations of the notebook's `parameters` cell (no type-checking; cheap). */
export function declaredParameters(notebook: Notebook): ParameterDeclaration[] {
  const at = findParametersCell(notebook);
  return at < 0 ? [] : parseDeclarations(sourceText(notebook.cells[at].source));
}

/** Every parameter with its type, default and comment: what `runbook run --help-notebook` lists. */
export function inspectParameters(notebook: Notebook, cwd: string): TypedParameter[] {
  const at = findParametersCell(notebook);
  if (at < 0) return [];
  const source = sourceText(notebook.cells[at].source);
  return analyzeParameters(source, parseDeclarations(source), { values: {}, texts: {} }, cwd).parameters;
}

/**
 * Checks overrides against the parameters cell before any kernel starts: unknown names and values
 * of the wrong type throw a ParameterError listing every problem.
 */
export function resolveParameters(
  notebook: Notebook,
  overrides: ParameterOverrides,
  cwd: string,
): { parameters: TypedParameter[]; values: Record<string, unknown> } {
  const at = findParametersCell(notebook);
  if (at < 0) {
    const names = [...Object.keys(overrides.values), ...Object.keys(overrides.texts)];
    throw new ParameterError(
      `the notebook has no cell tagged 'parameters', so it takes no parameters (got ${names.join(', ')})`,
      names.map((n) => ({ path: n, message: 'unknown parameter' })),
    );
  }
  const source = sourceText(notebook.cells[at].source);
  const analysis = analyzeParameters(source, parseDeclarations(source), overrides, cwd);
  if (analysis.issues.length > 0) {
    const summary = analysis.issues.map((i) => i.message).join('; ');
    throw new ParameterError(`bad notebook parameters: ${summary}`, analysis.issues);
  }
  return { parameters: analysis.parameters, values: analysis.values };
}
