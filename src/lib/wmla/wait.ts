export { sleep } from '../util/sleep';

/** A deadline measured on the monotonic clock. */
export class Deadline {
  private readonly start = performance.now();
  constructor(readonly timeoutMs: number) {}
  get elapsedMs(): number {
    return Math.round(performance.now() - this.start);
  }
  get leftMs(): number {
    return Math.max(0, this.timeoutMs - (performance.now() - this.start));
  }
  get expired(): boolean {
    return this.leftMs <= 0;
  }
}

/** `95 s`, `12 min 5 s`: a duration for messages. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  return s % 60 === 0 ? `${m} min` : `${m} min ${s % 60} s`;
}
