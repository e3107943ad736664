import { join } from 'node:path';
import type * as TS from 'typescript';
import type { ParameterDeclaration } from './declarations';
import { typescript } from './compiler';
import { textToValue, type ParameterOverrides } from './sources';
import { toLiteral, isLiteralValue } from './literal';

/** A declared parameter with its type as the kernel will see it. */
export interface TypedParameter extends ParameterDeclaration {
  /** The annotation, or the widened type of the default (`number` for `= 3`). */
  type: string;
  /** The type with aliases expanded (`"dev" | "prod"` for `Mode`), when that differs from `type`. */
  expandedType?: string;
}

export interface ParameterIssue {
  path: string;
  message: string;
}

export interface ParameterAnalysis {
  parameters: TypedParameter[];
  /** The override values, converted and checked (only valid when `issues` is empty). */
  values: Record<string, unknown>;
  issues: ParameterIssue[];
}

const VIRTUAL_FILE = '__runbook_parameters__.ts';
/** Globals and syntax that need @types/node to type the parameters cell (otherwise skipped: it is slow to load). */
const NEEDS_NODE_TYPES = /\b(process|Buffer|NodeJS|require|global|setTimeout|setInterval|URL|TextEncoder|TextDecoder|console)\b|^\s*import\b/m;

/** Parsed lib and @types files, shared by every check in this process (they never change during a run). */
const libCache = new Map<string, TS.SourceFile>();

function compilerOptions(ts: typeof TS, source: string): TS.CompilerOptions {
  return {
    // What tslab compiles cells with, but with null checks so `null` is not accepted for `number`.
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    resolveJsonModule: true,
    strictNullChecks: true,
    skipLibCheck: true,
    noEmit: true,
    lib: ['lib.es2022.d.ts'],
    types: NEEDS_NODE_TYPES.test(source) ? ['node'] : [],
  };
}

function createProgram(ts: typeof TS, cwd: string, text: string): { program: TS.Program; file: TS.SourceFile } {
  const fileName = join(cwd, VIRTUAL_FILE).replace(/\\/g, '/');
  const options = compilerOptions(ts, text);
  const host = ts.createCompilerHost(options, true);
  host.getCurrentDirectory = () => cwd;
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (f) => f === fileName || fileExists(f);
  host.readFile = (f) => (f === fileName ? text : readFile(f));
  host.getSourceFile = (f, languageVersion, onError) => {
    if (f === fileName) return ts.createSourceFile(f, text, languageVersion, true, ts.ScriptKind.TS);
    const shared = f.includes('/node_modules/');
    const cached = shared ? libCache.get(f) : undefined;
    if (cached) return cached;
    const sf = getSourceFile(f, languageVersion, onError);
    if (sf && shared) libCache.set(f, sf);
    return sf;
  };
  const program = ts.createProgram([fileName], options, host);
  return { program, file: program.getSourceFile(fileName)! };
}

function topLevelDeclarations(ts: typeof TS, file: TS.SourceFile): Map<string, TS.VariableDeclaration> {
  const byName = new Map<string, TS.VariableDeclaration>();
  for (const stmt of file.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    for (const d of stmt.declarationList.declarations) if (ts.isIdentifier(d.name) && !byName.has(d.name.text)) byName.set(d.name.text, d);
  }
  return byName;
}

function isStringLike(ts: typeof TS, type: TS.Type): boolean {
  if (type.flags & ts.TypeFlags.StringLike) return true;
  return type.isUnion() && type.types.every((t) => (t.flags & ts.TypeFlags.StringLike) !== 0);
}

function describeValue(value: unknown, secret: boolean): string {
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  if (secret) return `${kind === 'null' ? 'null' : `a ${kind}`} (secret value not shown)`;
  if (value === null || value === undefined) return String(value);
  const shown = toLiteral(value);
  return `${kind} ${shown.length > 60 ? shown.slice(0, 57) + '...' : shown}`;
}

/**
 * Types every declaration of the parameters cell and checks override values against the declared
 * types with the TypeScript compiler: a synthetic file holds the cell followed by one
 * `const __check: <DeclaredType> = <value>;` line per override, and the diagnostics on those lines
 * become messages naming the parameter and the expected type.
 */
export function analyzeParameters(
  cellSource: string,
  declarations: readonly ParameterDeclaration[],
  overrides: ParameterOverrides,
  cwd: string,
): ParameterAnalysis {
  const issues: ParameterIssue[] = [];
  const byName = new Map(declarations.map((d) => [d.name, d]));
  const known = declarations.map((d) => d.name).join(', ') || '(none)';
  const requested = [...new Set([...Object.keys(overrides.values), ...Object.keys(overrides.texts)])];
  for (const name of requested) {
    if (!byName.has(name)) issues.push({ path: name, message: `unknown parameter '${name}': the parameters cell declares ${known}` });
  }
  for (const [name, value] of Object.entries(overrides.values)) {
    if (byName.has(name) && !isLiteralValue(value)) {
      issues.push({ path: name, message: `parameter ${name}: the value cannot be written as a literal (only strings, numbers, booleans, null, arrays and plain objects)` });
    }
  }

  const ts = typescript();
  // Probes give unannotated parameters the widened type of their default (`let x = n` widens 3 to number).
  const lines: string[] = [cellSource, ';', 'export {};'];
  const probe = new Map<string, string>();
  declarations.forEach((d, i) => {
    if (!d.annotation) {
      probe.set(d.name, `__runbook_probe_${i}`);
      lines.push(`let __runbook_probe_${i} = ${d.name};`);
    }
  });
  const targetOf = (d: ParameterDeclaration) => d.annotation ?? `typeof ${probe.get(d.name)}`;
  // One check line per candidate value; -p text gets a raw-string and a JSON candidate.
  const checks: { name: string; variant: 'value' | 'text' | 'json'; line: number; value: unknown }[] = [];
  const addCheck = (name: string, variant: 'value' | 'text' | 'json', value: unknown) => {
    // 0-based line of the check in the joined text (the cell source spans several lines).
    const line = lines.reduce((n, l) => n + l.split('\n').length, 0);
    checks.push({ name, variant, line, value });
    lines.push(`const __runbook_check_${checks.length}: ${targetOf(byName.get(name)!)} = ${toLiteral(value)};`);
  };
  for (const name of requested) {
    if (!byName.has(name)) continue;
    if (name in overrides.texts) {
      const text = overrides.texts[name];
      addCheck(name, 'text', text);
      const parsed = textToValue(text, false);
      if (parsed !== text) addCheck(name, 'json', parsed);
    } else if (isLiteralValue(overrides.values[name])) {
      addCheck(name, 'value', overrides.values[name]);
    }
  }

  const text = lines.join('\n');
  const { program, file } = createProgram(ts, cwd, text);
  const checker = program.getTypeChecker();
  const declNodes = topLevelDeclarations(ts, file);

  const typeOf = (d: ParameterDeclaration): TS.Type | undefined => {
    if (d.annotation) {
      const node = declNodes.get(d.name)?.type;
      return node ? checker.getTypeFromTypeNode(node) : undefined;
    }
    const p = declNodes.get(probe.get(d.name)!);
    return p ? checker.getTypeAtLocation(p.name) : undefined;
  };
  const flags = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseSingleQuotesForStringLiteralType;
  const parameters: TypedParameter[] = declarations.map((d) => {
    const t = typeOf(d);
    const written = d.annotation ?? (t ? checker.typeToString(t, undefined, flags) : 'any');
    const expanded = t ? checker.typeToString(t, undefined, flags | ts.TypeFormatFlags.InTypeAlias) : undefined;
    return { ...d, type: written, expandedType: expanded && expanded !== written ? expanded : undefined };
  });
  const typed = new Map(parameters.map((p) => [p.name, p]));

  // Diagnostics per generated line (line numbers are 0-based in the synthetic file).
  const diagnosticsByLine = new Map<number, TS.Diagnostic[]>();
  for (const diag of [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]) {
    if (diag.file !== file || diag.start === undefined) continue;
    const line = file.getLineAndCharacterOfPosition(diag.start).line;
    diagnosticsByLine.set(line, [...(diagnosticsByLine.get(line) ?? []), diag]);
  }

  const values: Record<string, unknown> = {};
  for (const name of requested) {
    const decl = byName.get(name);
    if (!decl) continue;
    let chosen = checks.find((c) => c.name === name && c.variant === 'value');
    if (name in overrides.texts) {
      const t = typeOf(decl);
      const stringTyped = t ? isStringLike(ts, t) : false;
      chosen = checks.find((c) => c.name === name && c.variant === (stringTyped ? 'text' : 'json'))
        ?? checks.find((c) => c.name === name && c.variant === 'text');
    }
    if (!chosen) continue;
    values[name] = chosen.value;
    const diags = diagnosticsByLine.get(chosen.line);
    if (!diags?.length) continue;
    const p = typed.get(name)!;
    const expected = p.expandedType ? `${p.type} (${p.expandedType})` : p.type;
    const detail = ts.flattenDiagnosticMessageText(diags[0].messageText, ' ');
    const hint = /Did you mean ('.*?')\?/.exec(detail);
    let message = `parameter ${name}: expected ${expected}, got ${describeValue(chosen.value, decl.secret)}`;
    if (hint && !decl.secret) message += ` (did you mean ${hint[1].replace(/^'|'$/g, '')}?)`;
    else if (chosen.value !== null && typeof chosen.value === 'object' && !decl.secret) message += ` (${detail})`;
    issues.push({ path: name, message });
  }
  return { parameters, values, issues };
}
