import type * as TS from 'typescript';
import { typescript } from './compiler';

/** One parameter declared in a notebook's `parameters` cell. */
export interface ParameterDeclaration {
  name: string;
  keyword: 'const' | 'let' | 'var';
  exported: boolean;
  /** The type annotation as written (`Mode`, `number`), if any. */
  annotation?: string;
  /** The initializer as written. */
  defaultSource?: string;
  /** The default's value when the initializer is a literal (`3`, `"dev"`, `{"a": [1]}`). */
  defaultValue?: unknown;
  hasLiteralDefault: boolean;
  /** The comment on the declaration's line or the `//` lines right above it, without `@secret`. */
  comment?: string;
  /** Marked `// @secret`: the value is replaced by `***` in everything the runner saves or prints. */
  secret: boolean;
}

const SECRET_MARK = /@secret\b/;

type Literal = { ok: true; value: unknown } | { ok: false };
const NOT_LITERAL: Literal = { ok: false };

/** The value of a literal expression (JSON-like, plus `undefined`, `-1`, `x as T`), if it is one. */
function literalValue(ts: typeof TS, node: TS.Expression): Literal {
  if (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isTypeAssertionExpression(node)) {
    return literalValue(ts, node.expression);
  }
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return { ok: true, value: node.text };
  if (ts.isNumericLiteral(node)) return { ok: true, value: Number(node.text) };
  if (ts.isPrefixUnaryExpression(node) && node.operator === ts.SyntaxKind.MinusToken && ts.isNumericLiteral(node.operand)) {
    return { ok: true, value: -Number(node.operand.text) };
  }
  if (node.kind === ts.SyntaxKind.TrueKeyword) return { ok: true, value: true };
  if (node.kind === ts.SyntaxKind.FalseKeyword) return { ok: true, value: false };
  if (node.kind === ts.SyntaxKind.NullKeyword) return { ok: true, value: null };
  if (ts.isIdentifier(node) && node.text === 'undefined') return { ok: true, value: undefined };
  if (ts.isArrayLiteralExpression(node)) {
    const items: unknown[] = [];
    for (const el of node.elements) {
      const v = literalValue(ts, el);
      if (!v.ok) return NOT_LITERAL;
      items.push(v.value);
    }
    return { ok: true, value: items };
  }
  if (ts.isObjectLiteralExpression(node)) {
    const obj: Record<string, unknown> = {};
    for (const p of node.properties) {
      if (!ts.isPropertyAssignment(p)) return NOT_LITERAL;
      const key = ts.isIdentifier(p.name) || ts.isStringLiteral(p.name) || ts.isNumericLiteral(p.name) ? p.name.text : undefined;
      if (key === undefined) return NOT_LITERAL;
      const v = literalValue(ts, p.initializer);
      if (!v.ok) return NOT_LITERAL;
      obj[key] = v.value;
    }
    return { ok: true, value: obj };
  }
  return NOT_LITERAL;
}

function commentText(raw: string): string {
  return raw
    .replace(/^\/\/\s?/gm, '')
    .replace(/^\/\*+|\*+\/$/g, '')
    .replace(/^\s*\*\s?/gm, '')
    .trim();
}

/** Comments on the statement's last line, and `//` lines directly above it (no blank line in between). */
function commentsOf(ts: typeof TS, text: string, stmt: TS.Statement): string[] {
  const comments: string[] = [];
  const leading = ts.getLeadingCommentRanges(text, stmt.pos) ?? [];
  // Only the run of comments that ends right above the statement.
  const attached: TS.CommentRange[] = [];
  let end = stmt.getStart();
  for (let i = leading.length - 1; i >= 0; i--) {
    const gap = text.slice(leading[i].end, end);
    if ((gap.match(/\n/g) ?? []).length > 1) break;
    attached.unshift(leading[i]);
    end = leading[i].pos;
  }
  for (const c of attached) comments.push(text.slice(c.pos, c.end));
  for (const c of ts.getTrailingCommentRanges(text, stmt.end) ?? []) comments.push(text.slice(c.pos, c.end));
  return comments;
}

/**
 * The parameters declared by a `parameters` cell: each top-level
 * `[export] const|let|var name[: Type] = value; // comment` (values may span lines).
 * Destructuring patterns and `declare` statements are not parameters.
 */
export function parseDeclarations(source: string): ParameterDeclaration[] {
  const ts = typescript();
  const sf = ts.createSourceFile('parameters.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: ParameterDeclaration[] = [];
  for (const stmt of sf.statements) {
    if (!ts.isVariableStatement(stmt)) continue;
    const modifiers = ts.canHaveModifiers(stmt) ? ts.getModifiers(stmt) ?? [] : [];
    if (modifiers.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) continue;
    const exported = modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    const flags = stmt.declarationList.flags;
    const keyword = flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
    const comments = commentsOf(ts, source, stmt);
    const secret = comments.some((c) => SECRET_MARK.test(c));
    const comment = comments.map((c) => commentText(c.replace(SECRET_MARK, ''))).filter(Boolean).join(' ');
    for (const decl of stmt.declarationList.declarations) {
      if (!ts.isIdentifier(decl.name)) continue;
      const literal = decl.initializer ? literalValue(ts, decl.initializer) : NOT_LITERAL;
      found.push({
        name: decl.name.text,
        keyword,
        exported,
        annotation: decl.type?.getText(sf),
        defaultSource: decl.initializer?.getText(sf),
        defaultValue: literal.ok ? literal.value : undefined,
        hasLiteralDefault: literal.ok,
        comment: comment || undefined,
        secret,
      });
    }
  }
  return found;
}
