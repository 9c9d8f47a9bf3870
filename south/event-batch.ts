import type { NatsConnection } from '@nats-io/transport-node';
import { publishChargerEvent, type ChargerEvent } from '../core/events.js';

/**
 * The charger events of a node's sessions, published once per event-loop turn. The NATS client
 * writes what was published before its next microtask, so an event published from each charger's
 * message was a socket write of its own; queued until the turn's check phase, the events of every
 * message read in that turn go out in one write. Order is kept (one queue), and a charger's next
 * message is read in a later turn, after its events went out.
 */
export class EventBatch {
  private queue: ChargerEvent[] = [];
  private scheduled: NodeJS.Immediate | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly onDropped: (err: unknown, count: number) => void,
  ) {}

  publish(event: ChargerEvent): void {
    this.queue.push(event);
    this.scheduled ??= setImmediate(this.flush);
  }

  /** Publishes what is queued now (also on the node's stop, before its NATS connection closes). */
  readonly flush = (): void => {
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const events = this.queue;
    if (events.length === 0) return;
    this.queue = [];
    if (this.nc.isClosed()) return this.onDropped(new Error('NATS connection closed'), events.length);
    for (let i = 0; i < events.length; i++) {
      try {
        publishChargerEvent(this.nc, events[i]!);
      } catch (err) {
        this.onDropped(err, 1);
      }
    }
  };
}
