import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OcppLogger } from '../../ocpp/logger.js';
import { Pinger, type PingOwner } from '../../ocpp/ping.js';

const quiet: OcppLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** A connection as the pinger sees it: counts pings and whether it was found dead. */
function owner(identity: string): PingOwner & { pings: number; dead: number } {
  return {
    identity,
    logger: quiet,
    pings: 0,
    dead: 0,
    sendPing() {
      this.pings += 1;
    },
    onNoPong() {
      this.dead += 1;
    },
  };
}

describe('Pinger', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('connections with one interval share one timer; one without a pong by the next tick is dead, the others go on', () => {
    const a = owner('A');
    const b = owner('B');
    const pa = new Pinger(100, a);
    const pb = new Pinger(100, b);
    pa.start();
    pb.start();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect([a.pings, b.pings]).toEqual([1, 1]);
    pa.onPong();
    vi.advanceTimersByTime(100);
    expect([a.pings, a.dead, b.pings, b.dead]).toEqual([2, 0, 1, 1]);
    pb.stop();
    pa.onPong();
    vi.advanceTimersByTime(100);
    expect([a.pings, b.pings]).toEqual([3, 1]);
    pa.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('another interval gets its own timer; set() moves a connection between them; 0 stops it', () => {
    const a = owner('A');
    const pa = new Pinger(100, a);
    const pb = new Pinger(50, owner('B'));
    pa.start();
    pb.start();
    expect(vi.getTimerCount()).toBe(2);
    pa.set(50, true);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(50);
    expect(a.pings).toBe(1);
    expect(pa.interval).toBe(50);
    pa.set(0, true);
    expect(pa.running).toBe(false);
    pb.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a long interval pings its connections in slices: never all in one tick, each once per interval, a dead one found within two', () => {
    const intervalMs = 60_000;
    const owners = Array.from({ length: 320 }, (_, i) => owner(`C${i}`));
    const pingers = owners.map((o) => new Pinger(intervalMs, o));
    for (const p of pingers) p.start();
    expect(vi.getTimerCount()).toBe(1);
    const total = (): number => owners.reduce((n, o) => n + o.pings, 0);
    // Tick by tick through one interval: no tick pings more than an even share (320 over 240 slices of 250 ms).
    let before = 0;
    let ticks = 0;
    let largest = 0;
    for (let t = 0; t < intervalMs; t += 100) {
      vi.advanceTimersByTime(100);
      const sent = total() - before;
      before = total();
      if (sent > 0) ticks++;
      largest = Math.max(largest, sent);
    }
    expect(ticks).toBe(240);
    expect(largest).toBe(2);
    expect(owners.every((o) => o.pings === 1)).toBe(true);
    // Every connection but one answers; the silent one is dropped by the end of the second interval, no other is.
    for (const p of pingers.slice(1)) p.onPong();
    vi.advanceTimersByTime(intervalMs);
    expect(owners[0]!.dead).toBe(1);
    expect(owners.slice(1).every((o) => o.dead === 0 && o.pings === 2)).toBe(true);
    // A connection that joins later gets its first ping within one interval, in the emptiest slice.
    pingers[0]!.stop();
    const late = owner('late');
    const lateP = new Pinger(intervalMs, late);
    lateP.start();
    vi.advanceTimersByTime(intervalMs);
    expect(late.pings).toBe(1);
    for (const p of [...pingers, lateP]) p.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
