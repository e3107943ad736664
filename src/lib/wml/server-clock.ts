/**
 * A lower bound on the service's clock, learnt from timestamps it returned (`created_at`, …) and
 * advanced by the time elapsed locally since each was received. Only server timestamps are compared
 * with server timestamps, so the client's clock may be skewed by any amount; only its rate matters.
 *
 * Why it is sound: a timestamp `T` in a response was stamped before the response was sent, hence
 * before we received it at local time `r`; at any later local time `c` the server's clock reads at
 * least `T + (c - r)`.
 */
export class ServerClock {
  private bound = Number.NEGATIVE_INFINITY;
  private at = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records a server timestamp (ISO 8601 or epoch ms) just received; unreadable values are ignored. */
  observe(timestamp: string | number | undefined): void {
    const t = typeof timestamp === 'number' ? timestamp : timestamp === undefined ? Number.NaN : Date.parse(timestamp);
    if (!Number.isFinite(t)) return;
    const local = this.now();
    if (t > this.bound + (local - this.at)) {
      this.bound = t;
      this.at = local;
    }
  }

  /** The server's time is at least this (epoch ms); -Infinity before any observation. */
  lowerBound(): number {
    return this.bound + (this.now() - this.at);
  }

  /** How long to wait locally until the server's clock has certainly passed `serverTime` (0 if it has). */
  msUntil(serverTime: number): number {
    const lb = this.lowerBound();
    if (lb === Number.NEGATIVE_INFINITY) return Number.POSITIVE_INFINITY;
    return Math.max(0, Math.ceil(serverTime - lb));
  }
}
