import { describe, expect, it } from 'vitest';
import { newChargerModel, wantsEnergy, type ChargerWiring } from '../../balancer/balancer-model.js';
import { onChargerEvent, onLiveStatus } from '../../balancer/charger-events.js';
import { EventOrder } from '../../balancer/event-order.js';
import type { ChargerEvent } from '../../core/events.js';
import type { ChargerLiveStatus } from '../../core/model.js';

const wiring: ChargerWiring = { id: 'C1', phases: 3, phaseRotation: 'L1L2L3', gridPhase: 'L1', minCurrent: 6, maxCurrent: 32, priority: 0, offlineCurrent: 'lastLimit' };
const meter = { thresholdA: 2, slackA: 0 };
const at = new Date(0).toISOString();
/** The node's answer, taken when the request reached it: a car charging on connector 1, connector 2 free. */
const live = {
  connectors: [
    { connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: at },
    { connectorId: 2, status: 'Available', errorCode: 'NoError', updatedAt: at },
  ],
  measured: { t1: 16, t2: 16, t3: 16, at },
  activeTransactions: [{ transactionId: 7, connectorId: 1, idTag: 'T', meterStart: 0, startedAt: at }],
} as unknown as ChargerLiveStatus;
const status = (connectorId: number, s: string): ChargerEvent => ({ kind: 'status', chargerId: 'C1', installationId: 'I', connectorId, status: s, errorCode: 'NoError', timestamp: at });
const reading: ChargerEvent = { kind: 'meter', chargerId: 'C1', installationId: 'I', currents: { t1: 8, t2: 8, t3: 8 }, timestamp: at } as ChargerEvent;

/** A new leader's sync with `events` arriving between its request and the reply. */
function syncWith(events: ChargerEvent[]) {
  const order = new EventOrder();
  let c = newChargerModel(wiring, 0);
  const mark = order.mark();
  for (const e of events) {
    order.saw(e);
    c = onChargerEvent(c, e, 1, meter);
  }
  return onLiveStatus(c, live, 2, meter, order.overtaken('C1', mark)).model;
}

describe('a live-status reply overtaken by events', () => {
  it('applies whole when nothing overtook it', () => {
    const c = syncWith([]);
    expect(c.connectors).toEqual({ 1: 'Charging', 2: 'Available' });
    expect(c.measured?.t1).toBe(16);
  });

  it('keeps a newer status of one connector, and the reply for the others', () => {
    const c = syncWith([status(2, 'Preparing')]);
    expect(c.connectors).toEqual({ 1: 'Charging', 2: 'Preparing' });
    expect(wantsEnergy(c)).toBe(true);
  });

  it('a newer reading does not drop the connectors of the reply: the charging car stays wanted', () => {
    const c = syncWith([reading]);
    expect(c.connectors).toEqual({ 1: 'Charging', 2: 'Available' });
    expect(c.measured?.t1).not.toBe(16);
    expect(wantsEnergy(c)).toBe(true);
  });
});
