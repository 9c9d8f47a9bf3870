import type WebSocket from 'ws';
import type { OcppLogger } from './logger.js';

/**
 * WebSocket keep-alive of one connection: a ping every interval, and a peer that has not answered
 * the previous ping by the next one is counted dead. The interval can change while connected
 * (OCPP's WebSocketPingInterval).
 */
export class Pinger {
  private timer: NodeJS.Timeout | undefined;
  private pongSeen = true;

  constructor(
    private intervalMs: number,
    private readonly ws: WebSocket,
    /** Called when the peer missed a pong: the connection terminates itself. */
    private readonly onDead: () => void,
    private readonly identity: string,
    private readonly logger: OcppLogger,
  ) {}

  get interval(): number {
    return this.intervalMs;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Sets the interval; with `restart`, (re)starts the pings at once (0 = off). */
  set(ms: number, restart: boolean): void {
    this.intervalMs = ms;
    if (restart) this.start();
  }

  start(): void {
    this.stop();
    if (this.intervalMs > 0) {
      this.pongSeen = true;
      this.timer = setInterval(this.onTick, this.intervalMs);
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  readonly onPong = (): void => {
    this.pongSeen = true;
  };

  private readonly onTick = (): void => {
    if (!this.pongSeen) {
      this.logger.warn({ identity: this.identity, pingIntervalMs: this.intervalMs }, 'no WebSocket pong since the previous ping: terminating');
      this.onDead();
      return;
    }
    this.pongSeen = false;
    if (this.ws.readyState === 1) this.ws.ping();
  };
}
