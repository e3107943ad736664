/**
 * Adds small, marked blocks of Python to a script: where (after the shebang, the encoding line, the
 * module docstring and any `from __future__` imports, which Python requires first) and only once
 * (a block whose marker is already in the file is not added again).
 */

/** The line that opens the process-group block; its presence makes {@link insertPythonBlock} a no-op. */
export const PROCESS_GROUP_MARKER = '# >>> cpd-runbook: distributed process group >>>';
const PROCESS_GROUP_END = '# <<< cpd-runbook: distributed process group <<<';

/**
 * The distPyTorch snippet. WMLA starts one process per worker with `MASTER_ADDR`, `MASTER_PORT`,
 * `RANK` and `WORLD_SIZE` set; the training script must join the process group itself. NCCL needs
 * CUDA, so CPU-only workers use gloo. It does nothing when the script (or a library) already
 * initialised the group.
 */
export const PROCESS_GROUP_SNIPPET = [
  PROCESS_GROUP_MARKER,
  'import os as _cpd_runbook_os',
  'import torch as _cpd_runbook_torch',
  'import torch.distributed as _cpd_runbook_dist',
  'if not _cpd_runbook_dist.is_initialized():',
  "    print('------ initiate process group... ------', flush=True)",
  '    _cpd_runbook_dist.init_process_group(',
  "        backend='nccl' if _cpd_runbook_torch.cuda.is_available() else 'gloo',",
  "        init_method='tcp://%s:%s' % (_cpd_runbook_os.environ['MASTER_ADDR'], _cpd_runbook_os.environ['MASTER_PORT']),",
  "        rank=int(_cpd_runbook_os.environ['RANK']),",
  "        world_size=int(_cpd_runbook_os.environ['WORLD_SIZE']),",
  '    )',
  PROCESS_GROUP_END,
].join('\n');

/** The line that opens the secret-environment block. */
export const SECRET_ENV_MARKER = '# >>> cpd-runbook: environment from the submission >>>';
const SECRET_ENV_END = '# <<< cpd-runbook: environment from the submission <<<';

/**
 * A block that loads `NAME: value` pairs from a JSON file shipped in the submission folder into
 * `os.environ` (variables already set win). `relativeFile` is the file's path from the script's
 * folder, `/`-separated.
 */
export function secretEnvSnippet(relativeFile: string): string {
  const parts = relativeFile.split('/').map((p) => JSON.stringify(p)).join(', ');
  return [
    SECRET_ENV_MARKER,
    'def _cpd_runbook_load_env():',
    '    import json, os',
    `    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), ${parts})`,
    '    if os.path.isfile(path):',
    '        with open(path) as f:',
    '            for name, value in json.load(f).items():',
    '                os.environ.setdefault(name, value)',
    '_cpd_runbook_load_env()',
    'del _cpd_runbook_load_env',
    SECRET_ENV_END,
  ].join('\n');
}

const ENCODING = /^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+/;
const STRING_START = /^(?:[rRuUbB]|[rR][bB]|[bB][rR])?("""|'''|"|')/;

/** True for a blank or comment-only line. */
function isTrivia(line: string): boolean {
  const t = line.trim();
  return t === '' || t.startsWith('#');
}

/** The index after a statement that starts at `i` and may continue over `(`…`)` or backslashes. */
function statementEnd(lines: readonly string[], i: number): number {
  let depth = 0;
  let j = i;
  for (;;) {
    const line = (lines[j] ?? '').replace(/#.*$/, '');
    for (const c of line) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
    }
    j++;
    if (j >= lines.length) return j;
    if (depth > 0 || /\\\s*$/.test(line)) continue;
    return j;
  }
}

/**
 * The line index where a block may go: after a shebang and an encoding declaration, the module
 * docstring and every `from __future__ import …` (which must stay first), but before other code.
 */
export function insertionLine(lines: readonly string[]): number {
  let i = lines[0]?.startsWith('#!') ? 1 : 0;
  // PEP 263: an encoding declaration counts on line 1 or 2 only, so nothing may go above it.
  for (const n of [0, 1]) if (n < lines.length && ENCODING.test(lines[n]!)) i = Math.max(i, n + 1);
  let after = i;
  // Skip comments and blank lines, then a docstring if there is one.
  let j = i;
  while (j < lines.length && isTrivia(lines[j]!)) j++;
  const m = j < lines.length ? STRING_START.exec(lines[j]!.trimStart()) : null;
  if (m) {
    const quote = m[1]!;
    const text = lines[j]!.trimStart();
    const bodyStart = m[0].length;
    if (quote.length === 3) {
      let close = text.indexOf(quote, bodyStart);
      let k = j;
      while (close < 0 && k + 1 < lines.length) {
        k++;
        close = lines[k]!.indexOf(quote);
      }
      after = k + 1;
    } else {
      after = j + 1;
    }
  }
  // `from __future__` imports (and the trivia between them) must precede the block.
  let k = after;
  for (;;) {
    while (k < lines.length && isTrivia(lines[k]!)) k++;
    if (k < lines.length && /^from\s+__future__\s+import\b/.test(lines[k]!)) {
      k = statementEnd(lines, k);
      after = k;
      continue;
    }
    break;
  }
  return after;
}

/** The result of {@link insertPythonBlock}. */
export interface PatchResult {
  readonly text: string;
  /** False when the block's first line was already in the script (nothing changed). */
  readonly changed: boolean;
}

/**
 * `source` with `block` inserted at {@link insertionLine}, unless the block's first line (its
 * marker) is already present. Line endings (`\n` or `\r\n`) follow the script's.
 */
export function insertPythonBlock(source: string, block: string): PatchResult {
  const marker = block.split('\n')[0]!;
  if (source.split(/\r?\n/).some((l) => l.trim() === marker)) return { text: source, changed: false };
  const eol = source.includes('\r\n') ? '\r\n' : '\n';
  const lines = source.split(/\r?\n/);
  const at = insertionLine(lines);
  const blockLines = block.split('\n');
  const out = [...lines.slice(0, at), ...blockLines, ...lines.slice(at)];
  // A file that ended without a newline and got the block at its end still ends in one.
  return { text: out.join(eol), changed: true };
}
