import type { JupyterMessage } from './protocol';
import type { ErrorOutput, MimeBundle, Output, StreamOutput } from './notebook';
import { sourceText } from './notebook';

/**
 * Turns iopub messages into nbformat outputs. One instance per run: `update_display_data` may
 * rewrite a display created by an earlier cell.
 */
export class OutputCollector {
  private readonly displays = new Map<string, Output[]>();
  private clearPending = false;

  /**
   * Applies one iopub message to `outputs` (the cell's output list, changed in place).
   * Returns true if the outputs changed.
   */
  apply(outputs: Output[], msg: JupyterMessage): boolean {
    const content = msg.content as Record<string, unknown>;
    const type = msg.header.msg_type;
    if (type === 'clear_output') {
      if (content.wait) this.clearPending = true;
      else outputs.length = 0;
      return !content.wait;
    }
    if (!['stream', 'display_data', 'update_display_data', 'execute_result', 'error'].includes(type)) return false;
    if (this.clearPending && type !== 'update_display_data') {
      // clear_output(wait=True): clear just before the next output arrives.
      outputs.length = 0;
      this.clearPending = false;
    }
    switch (type) {
      case 'stream': {
        const name = content.name === 'stderr' ? 'stderr' : 'stdout';
        const text = String(content.text ?? '');
        const last = outputs[outputs.length - 1];
        if (last && last.output_type === 'stream' && last.name === name) last.text = sourceText(last.text) + text;
        else outputs.push({ output_type: 'stream', name, text });
        return true;
      }
      case 'display_data': {
        const out: Output = { output_type: 'display_data', data: mimeBundle(content.data), metadata: objectOr(content.metadata) };
        outputs.push(out);
        this.remember(content, out);
        return true;
      }
      case 'update_display_data': {
        const id = displayId(content);
        const targets = id ? this.displays.get(id) : undefined;
        if (!targets) return false;
        for (const t of targets) {
          if (t.output_type === 'display_data' || t.output_type === 'execute_result') {
            t.data = mimeBundle(content.data);
            t.metadata = objectOr(content.metadata);
          }
        }
        return true;
      }
      case 'execute_result': {
        const count = typeof content.execution_count === 'number' ? content.execution_count : null;
        const out: Output = {
          output_type: 'execute_result', execution_count: count, data: mimeBundle(content.data), metadata: objectOr(content.metadata),
        };
        outputs.push(out);
        this.remember(content, out);
        return true;
      }
      case 'error': {
        outputs.push({
          output_type: 'error',
          ename: String(content.ename ?? 'Error'),
          evalue: String(content.evalue ?? ''),
          traceback: Array.isArray(content.traceback) ? content.traceback.map(String) : [],
        });
        return true;
      }
    }
    return false;
  }

  private remember(content: Record<string, unknown>, out: Output): void {
    const id = displayId(content);
    if (!id) return;
    const list = this.displays.get(id) ?? [];
    list.push(out);
    this.displays.set(id, list);
  }
}

function displayId(content: Record<string, unknown>): string | undefined {
  const transient = content.transient as { display_id?: unknown } | undefined;
  return typeof transient?.display_id === 'string' ? transient.display_id : undefined;
}

function objectOr(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
}

/** nbformat: JSON mime types may hold any JSON; every other mime type holds text. */
function mimeBundle(value: unknown): MimeBundle {
  const bundle: MimeBundle = {};
  for (const [mime, data] of Object.entries(objectOr(value))) {
    const isJson = /^application\/(.*\+)?json$/.test(mime);
    if (isJson || typeof data === 'string' || (Array.isArray(data) && data.every((d) => typeof d === 'string'))) bundle[mime] = data;
    else bundle[mime] = JSON.stringify(data);
  }
  return bundle;
}

/** What tslab's process handlers print for errors that escape a cell's own control flow. */
const ESCAPED_ERROR = /^(UnhandledPromiseRejection|UncaughtException): (.*)$/;
/** A Node error header line: `TypeError: msg`, `Error [ERR_X]: msg`, `MyException: msg`. */
const ERROR_HEADER = /^((?:[A-Za-z_$][\w$]*)?(?:Error|Exception))(?: \[[^\]]+\])?(?:: (.*))?$/;
/** A TypeScript diagnostic as tslab prints it: `[file ]line:col - message`. */
const DIAGNOSTIC = /^(?:\S.* )?\d+:\d+ - .+/;

/** The stderr text of a cell and where each stderr output starts in it. */
function stderrOf(outputs: Output[]): { text: string; parts: { output: StreamOutput; start: number }[] } {
  let text = '';
  const parts: { output: StreamOutput; start: number }[] = [];
  for (const o of outputs) {
    if (o.output_type === 'stream' && o.name === 'stderr') {
      parts.push({ output: o, start: text.length });
      text += sourceText(o.text);
    }
  }
  return { text, parts };
}

/** True when tslab reported an unhandled rejection or uncaught exception during this cell. */
export function hasEscapedError(outputs: Output[]): boolean {
  return stderrOf(outputs).text.split('\n').some((line) => ESCAPED_ERROR.test(line));
}

/**
 * Builds the `error` output of a failed cell from its stderr (tslab sends no `error` message: the
 * error is printed). Finds the error block (a Node error with its stack and source context, an
 * escaped rejection, or TypeScript diagnostics), moves it from the stderr stream into the error
 * output, and returns it. `preferEscaped` picks the first unhandled rejection / uncaught exception.
 */
export function errorFromStderr(outputs: Output[], fallback: { ename: string; evalue: string }, preferEscaped = false): ErrorOutput {
  const { text, parts } = stderrOf(outputs);
  const lines = text.split('\n');
  const offsets: number[] = [];
  let pos = 0;
  for (const l of lines) {
    offsets.push(pos);
    pos += l.length + 1;
  }
  let header = -1;
  let ename = fallback.ename;
  let evalue = fallback.evalue;
  const escaped = lines.findIndex((l) => ESCAPED_ERROR.test(l));
  if (preferEscaped && escaped >= 0) {
    header = escaped;
    const [, kind, reason] = ESCAPED_ERROR.exec(lines[escaped])!;
    ename = kind;
    evalue = reason;
  } else {
    for (let i = lines.length - 1; i >= 0; i--) {
      const esc = ESCAPED_ERROR.exec(lines[i]);
      const m = esc ? null : ERROR_HEADER.exec(lines[i]);
      if (esc) {
        header = i;
        ename = esc[1];
        evalue = esc[2];
        break;
      }
      if (m) {
        header = i;
        ename = m[1];
        evalue = m[2] ?? '';
        break;
      }
    }
    if (header < 0) {
      const diag = lines.findIndex((l) => DIAGNOSTIC.test(l));
      if (diag >= 0) {
        header = diag;
        ename = 'CompileError';
        evalue = lines.filter((l) => DIAGNOSTIC.test(l)).join('\n');
      }
    }
  }
  if (header < 0) {
    const first = lines.find((l) => l.trim() !== '');
    return { output_type: 'error', ename: fallback.ename, evalue: first ?? fallback.evalue, traceback: lines.filter((l) => l !== '') };
  }
  // Node prefixes a thrown error with `file:line`, the source line, a caret and a blank line.
  let start = header;
  if (start >= 4 && lines[start - 1] === '' && /^\s*\^+\s*$/.test(lines[start - 2]) && /:\d+$/.test(lines[start - 4])) start -= 4;
  const traceback = lines.slice(start).filter((l, i, all) => !(i === all.length - 1 && l === ''));
  trimStderr(parts, offsets[start], outputs);
  return { output_type: 'error', ename, evalue, traceback };
}

/** Removes stderr text from `from` (an offset into the joined stderr) to the end of that stream output. */
function trimStderr(parts: { output: StreamOutput; start: number }[], from: number, outputs: Output[]): void {
  for (let i = parts.length - 1; i >= 0; i--) {
    const { output, start } = parts[i];
    if (from < start) continue;
    const kept = sourceText(output.text).slice(0, from - start);
    if (kept === '') outputs.splice(outputs.indexOf(output), 1);
    else output.text = kept;
    return;
  }
}
