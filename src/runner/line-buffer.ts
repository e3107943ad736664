/**
 * Collects streamed text and hands out whole lines, so a secret split across two output chunks is
 * still redacted when printed live.
 */
export class LineBuffer {
  private pending = '';

  /** Adds text; returns the complete lines it finished (with their newlines), or ''. */
  push(text: string): string {
    this.pending += text;
    const cut = this.pending.lastIndexOf('\n');
    if (cut < 0) return '';
    const lines = this.pending.slice(0, cut + 1);
    this.pending = this.pending.slice(cut + 1);
    return lines;
  }

  /** The unfinished last line, if any (at the end of a cell). */
  flush(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }
}
