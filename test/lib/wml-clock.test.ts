import { describe, expect, it } from '@jest/globals';
import { ServerClock } from '../../src/lib/wml';

describe('ServerClock (a lower bound on the service clock)', () => {
  it('advances an observed server time by the local time elapsed since, whatever the local clock reads', () => {
    let local = 5_000_000; // local monotonic ms, unrelated to the server's epoch
    const clock = new ServerClock(() => local);
    expect(clock.lowerBound()).toBe(Number.NEGATIVE_INFINITY);
    expect(clock.msUntil(0)).toBe(Number.POSITIVE_INFINITY);
    clock.observe('2026-01-01T00:00:00.000Z');
    const t = Date.parse('2026-01-01T00:00:00.000Z');
    expect(clock.lowerBound()).toBe(t);
    local += 1500;
    expect(clock.lowerBound()).toBe(t + 1500);
    expect(clock.msUntil(t + 2000)).toBe(500);
    expect(clock.msUntil(t + 1000)).toBe(0);
  });

  it('keeps the larger bound: an older timestamp seen later does not lower it; garbage is ignored', () => {
    let local = 0;
    const clock = new ServerClock(() => local);
    clock.observe(10_000);
    local += 100;
    clock.observe(9_000); // e.g. created_at of an old asset in a listing
    expect(clock.lowerBound()).toBe(10_100);
    clock.observe(20_000);
    expect(clock.lowerBound()).toBe(20_000);
    clock.observe('not a date');
    clock.observe(undefined);
    clock.observe('Thu, 01 Jan 1970 00:00:30 GMT'); // a Date header
    expect(clock.lowerBound()).toBe(30_000);
  });
});
