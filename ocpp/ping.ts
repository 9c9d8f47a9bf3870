import type { OcppLogger } from './logger.js';

/**
 * WebSocket keep-alive: a ping every interval, and a peer that has not answered the previous ping by
 * the next one is counted dead. The interval can change while connected (OCPP's
 * WebSocketPingInterval). One timer per interval serves every connection of the process: a node
 * holding thousands of chargers keeps no timer per charger.
 *
 * The group's connections are spread over slices of the interval, and each tick of its timer pings
 * one slice. All at once, a node with 10,000 chargers sent 10,000 pings in one turn and got the
 * pongs back together: its event loop stopped for 283 ms, the chargers' side for 590 ms, and the
 * events in flight waited up to 721 ms for their answer (cluster bench, `--trace-stalls`), once a
 * minute. A connection joins the emptiest slice, so its first ping comes within one interval and a
 * dead peer is found within two, as with a timer of its own.
 */

/** Slices per interval, and the shortest slice: short intervals (tests, a charger's own setting) tick as one. */
const MAX_SLICES = 256;
const MIN_SLICE_MS = 250;

/** What a pinger needs from its connection. */
export interface PingOwner {
  readonly identity: string;
  readonly logger: OcppLogger;
  /** Sends a ping if the socket is open. */
  sendPing(): void;
  /** The peer missed a pong: the connection terminates itself. */
  onNoPong(): void;
}

class PingGroup {
  private readonly slices: Set<Pinger>[];
  private next = 0;
  private members = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly intervalMs: number) {
    const count = Math.max(1, Math.min(MAX_SLICES, Math.floor(intervalMs / MIN_SLICE_MS)));
    this.slices = Array.from({ length: count }, () => new Set<Pinger>());
    this.timer = setInterval(() => {
      const slice = this.slices[this.next]!;
      this.next = (this.next + 1) % count;
      for (const p of slice) p.tick();
    }, intervalMs / count);
  }

  /** Adds `p` to the emptiest slice; returns it, for leave(). */
  join(p: Pinger): Set<Pinger> {
    let slice = this.slices[0]!;
    for (const s of this.slices) if (s.size < slice.size) slice = s;
    slice.add(p);
    this.members++;
    return slice;
  }

  leave(p: Pinger, slice: Set<Pinger>): void {
    if (slice.delete(p)) this.members--;
    if (this.members > 0) return;
    clearInterval(this.timer);
    if (groups.get(this.intervalMs) === this) groups.delete(this.intervalMs);
  }
}

const groups = new Map<number, PingGroup>();

export class Pinger {
  private group: PingGroup | undefined;
  private slice: Set<Pinger> | undefined;
  private pongSeen = true;

  constructor(
    private intervalMs: number,
    private readonly owner: PingOwner,
  ) {}

  get interval(): number {
    return this.intervalMs;
  }

  get running(): boolean {
    return this.group !== undefined;
  }

  /** Sets the interval; with `restart`, (re)starts the pings at once (0 = off). */
  set(ms: number, restart: boolean): void {
    this.intervalMs = ms;
    if (restart) this.start();
  }

  start(): void {
    this.stop();
    if (this.intervalMs <= 0) return;
    this.pongSeen = true;
    let group = groups.get(this.intervalMs);
    if (!group) groups.set(this.intervalMs, (group = new PingGroup(this.intervalMs)));
    this.group = group;
    this.slice = group.join(this);
  }

  stop(): void {
    if (this.group && this.slice) this.group.leave(this, this.slice);
    this.group = undefined;
    this.slice = undefined;
  }

  /** A pong (or any answer to a ping) arrived. */
  onPong(): void {
    this.pongSeen = true;
  }

  tick(): void {
    if (!this.pongSeen) {
      this.owner.logger.warn({ identity: this.owner.identity, pingIntervalMs: this.intervalMs }, 'no WebSocket pong since the previous ping: terminating');
      this.owner.onNoPong();
      return;
    }
    this.pongSeen = false;
    this.owner.sendPing();
  }
}
