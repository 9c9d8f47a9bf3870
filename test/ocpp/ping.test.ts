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
});
