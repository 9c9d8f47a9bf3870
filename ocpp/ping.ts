import type { OcppLogger } from './logger.js';

/**
 * WebSocket keep-alive: a ping every interval, and a peer that has not answered the previous ping by
 * the next one is counted dead. The interval can change while connected (OCPP's
 * WebSocketPingInterval). One timer per interval serves every connection of the process: a node
 * holding thousands of chargers keeps no timer per charger. A connection joins at the group's next
 * tick, so its first ping comes within one interval and a dead peer is found within two, as with a
 * timer of its own.
 */

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
  readonly members = new Set<Pinger>();
  private readonly timer: NodeJS.Timeout;

  constructor(readonly intervalMs: number) {
    this.timer = setInterval(() => {
      for (const p of this.members) p.tick();
    }, intervalMs);
  }

  leave(p: Pinger): void {
    this.members.delete(p);
    if (this.members.size > 0) return;
    clearInterval(this.timer);
    if (groups.get(this.intervalMs) === this) groups.delete(this.intervalMs);
  }
}

const groups = new Map<number, PingGroup>();

export class Pinger {
  private group: PingGroup | undefined;
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
    group.members.add(this);
    this.group = group;
  }

  stop(): void {
    this.group?.leave(this);
    this.group = undefined;
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
