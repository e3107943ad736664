/**
 * Static checks of the notebooks' TypeScript that tslab would only reveal at run time.
 */
import ts from 'typescript';

/** The code cells of a notebook file, as source text, in order. */
export function codeCells(notebook: { cells: { cell_type: string; source: string | string[] }[] }): string[] {
  return notebook.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
}

/** Names a cell declares at its top level (variables, functions, classes, imports). */
export function topLevelNames(source: string): Set<string> {
  const sf = ts.createSourceFile('cell.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const names = new Set<string>();
  const bind = (n: ts.BindingName) => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) names.add(st.name.text);
    else if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) names.add(c.name.text);
      const b = c.namedBindings;
      if (b && ts.isNamespaceImport(b)) names.add(b.name.text);
      if (b && ts.isNamedImports(b)) for (const e of b.elements) names.add(e.name.text);
    }
  }
  return names;
}

/**
 * Shorthand properties (`{ name }`) naming a variable of an earlier cell: tslab 1.0.22 does not
 * rewrite them to the earlier cell's variable, so they fail at run time with "name is not defined".
 */
export function shorthandsOfEarlierCells(cells: readonly string[]): { cell: number; name: string }[] {
  const earlier = new Set<string>();
  const found: { cell: number; name: string }[] = [];
  cells.forEach((source, i) => {
    const own = topLevelNames(source);
    const sf = ts.createSourceFile('cell.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const visit = (node: ts.Node) => {
      if (ts.isShorthandPropertyAssignment(node) && earlier.has(node.name.text) && !own.has(node.name.text)) found.push({ cell: i + 1, name: node.name.text });
      ts.forEachChild(node, visit);
    };
    visit(sf);
    for (const n of own) earlier.add(n);
  });
  return found;
}

/** Module specifiers of the `./src/…` imports of a cell (value and type imports). */
export function localImports(source: string): string[] {
  const sf = ts.createSourceFile('cell.ts', source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  return sf.statements
    .filter(ts.isImportDeclaration)
    .map((s) => (s.moduleSpecifier as ts.StringLiteral).text)
    .filter((m) => m.startsWith('./'));
}
