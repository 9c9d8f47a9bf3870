import type { ChargerEvent } from '../core/events.js';

/** What of a live-status reply newer events overtook: those connectors' states, the reading. */
export interface Overtaken {
  connector(connectorId: number): boolean;
  readonly reading: boolean;
}

/**
 * The order of a balancer's charger events, to tell which parts of a live-status reply (taken by the
 * charger's node before they were sent) are older than the model: a connector whose status event
 * arrived while the request was out, and the reading, if a meter event did. The rest of the reply
 * stands (a reading overtaking the reply must not drop the state of the connector with its car).
 */
export class EventOrder {
  private seq = 0;
  private readonly last = new Map<string, { reading: number; connectors: Map<number, number> }>();

  saw(e: ChargerEvent): void {
    if (e.kind !== 'status' && e.kind !== 'meter') return;
    const seq = ++this.seq;
    let last = this.last.get(e.chargerId);
    if (!last) this.last.set(e.chargerId, (last = { reading: 0, connectors: new Map() }));
    if (e.kind === 'status') last.connectors.set(e.connectorId, seq);
    else last.reading = seq;
  }

  /** A mark taken when a request goes out. */
  mark(): number {
    return this.seq;
  }

  overtaken(chargerId: string, mark: number): Overtaken {
    const last = this.last.get(chargerId);
    return { connector: (id) => (last?.connectors.get(id) ?? 0) > mark, reading: (last?.reading ?? 0) > mark };
  }
}
