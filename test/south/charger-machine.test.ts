import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import { callAllowed, chargerMachine, livenessPeriodMs, liveStatus, registrationOf, type ChargerEmitted, type ChargerInput } from '../../south/charger-machine.js';

const input = (over: Partial<ChargerInput> = {}): ChargerInput => ({
  chargerId: 'CP-1',
  installationId: 'inst',
  nodeId: 'n1',
  now: 0,
  heartbeatIntervalS: 60,
  needsPasswordRotation: false,
  ...over,
});

function start(over: Partial<ChargerInput> = {}, rotate: () => Promise<void> = async () => undefined) {
  const clock = new SimulatedClock();
  const emitted: ChargerEmitted[] = [];
  const actor = createActor(chargerMachine.provide({ actors: { rotatePassword: fromPromise(rotate) } }), { input: input(over), clock });
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  return { actor, clock, emitted };
}

describe('charger machine', () => {
  it('decides BootNotification answers: Pending while provisioning, Rejected without an installation, else Accepted', async () => {
    let provisioned!: () => void;
    const rotation = new Promise<void>((resolve) => (provisioned = resolve));
    const { actor, emitted } = start({ needsPasswordRotation: true }, () => rotation);
    expect(registrationOf(actor.getSnapshot())).toBe('Unknown');
    actor.send({ type: 'BOOT', installationKnown: true, at: 1 });
    expect(actor.getSnapshot().matches({ registration: 'pending' })).toBe(true);
    actor.send({ type: 'BOOT', installationKnown: false, at: 2 });
    expect(registrationOf(actor.getSnapshot())).toBe('Rejected');
    expect(callAllowed(actor.getSnapshot(), 'Heartbeat')).toBe(false);
    expect(callAllowed(actor.getSnapshot(), 'BootNotification')).toBe(true);
    provisioned();
    await new Promise((r) => setTimeout(r, 0));
    actor.send({ type: 'BOOT', installationKnown: true, at: 3 });
    expect(registrationOf(actor.getSnapshot())).toBe('Accepted');
    expect(callAllowed(actor.getSnapshot(), 'Heartbeat')).toBe(true);
    expect(emitted.filter((e) => e.type === 'registrationChanged').map((e) => (e as { registration: string }).registration)).toEqual(['Pending', 'Rejected', 'Accepted']);
  });

  it('turns silent within two heartbeat intervals plus grace without a word, alive again on any message', () => {
    const { actor, emitted } = start();
    // Checked every 90 s (interval + grace; the node sends the checks): seen at 60 s, so the check at
    // 90 s re-arms, the one at 180 s finds nothing new.
    expect(livenessPeriodMs(input())).toBe(90_000);
    actor.send({ type: 'SEEN', at: 60_000 });
    actor.send({ type: 'LIVENESS_CHECK', at: 90_000 });
    expect(actor.getSnapshot().matches({ liveness: 'alive' })).toBe(true);
    actor.send({ type: 'LIVENESS_CHECK', at: 180_000 });
    expect(actor.getSnapshot().matches({ liveness: 'silent' })).toBe(true);
    expect(emitted).toContainEqual({ type: 'silent', lastSeen: 60_000 });
    actor.send({ type: 'STATUS', connector: { connectorId: 1, status: 'Available', errorCode: 'NoError', updatedAt: 'x' }, at: 300_000 });
    expect(actor.getSnapshot().matches({ liveness: 'alive' })).toBe(true);
    expect(emitted.at(-1)).toEqual({ type: 'alive' });
  });

  it('tracks connectors, transactions and meter values', () => {
    const { actor } = start();
    actor.send({ type: 'STATUS', connector: { connectorId: 0, status: 'Available', errorCode: 'NoError', updatedAt: 'a' }, at: 1 });
    actor.send({ type: 'STATUS', connector: { connectorId: 1, status: 'Charging', errorCode: 'NoError', updatedAt: 'b' }, at: 2 });
    actor.send({ type: 'TX_STARTED', tx: { transactionId: 7, connectorId: 1, idTag: 'T', meterStartWh: 0, startedAt: 'c' }, at: 3 });
    actor.send({ type: 'METER', measured: { t1: 10, at: 'd' }, energyWh: 500, at: 4 });
    actor.send({ type: 'METER', measured: { t2: 9 }, at: 5 });
    let live = liveStatus(actor.getSnapshot());
    expect(live.connectors.map((c) => c.status)).toEqual(['Available', 'Charging']);
    expect(live.measured).toEqual({ t1: 10, t2: 9, at: 'd' });
    expect(live.energyWh).toBe(500);
    expect(live.activeTransactions).toHaveLength(1);
    actor.send({ type: 'TX_STOPPED', transactionId: 7, at: 6 });
    live = liveStatus(actor.getSnapshot());
    expect(live.activeTransactions).toEqual([]);
    expect(live.lastSeen).toBe(new Date(6).toISOString());
    // A periodic call forwarded late (SEEN, at the next check) does not move lastSeen back; a later
    // one the actor has not heard of yet shows in the status.
    actor.send({ type: 'SEEN', at: 5 });
    expect(liveStatus(actor.getSnapshot()).lastSeen).toBe(new Date(6).toISOString());
    expect(liveStatus(actor.getSnapshot(), 9).lastSeen).toBe(new Date(9).toISOString());
  });

  it('keeps several active transactions by id, whatever order they start and stop in', () => {
    const { actor } = start();
    const tx = (transactionId: number, connectorId: number) => ({ transactionId, connectorId, idTag: 'T', meterStartWh: 0, startedAt: 'c' });
    actor.send({ type: 'TX_STARTED', tx: tx(600, 2), at: 1 });
    actor.send({ type: 'TX_STARTED', tx: tx(7, 1), at: 2 });
    // A repeated start (a retried StartTransaction) replaces, not duplicates.
    actor.send({ type: 'TX_STARTED', tx: { ...tx(600, 2), meterStartWh: 5 }, at: 3 });
    expect(liveStatus(actor.getSnapshot()).activeTransactions.map((t) => [t.transactionId, t.meterStartWh])).toEqual([[7, 0], [600, 5]]);
    actor.send({ type: 'TX_STOPPED', transactionId: 7, at: 4 });
    expect(liveStatus(actor.getSnapshot()).activeTransactions.map((t) => t.transactionId)).toEqual([600]);
    actor.send({ type: 'TX_STOPPED', transactionId: 999, at: 5 });
    actor.send({ type: 'TX_STOPPED', transactionId: 600, at: 6 });
    expect(liveStatus(actor.getSnapshot()).activeTransactions).toEqual([]);
  });

  it('rotates the password when the charger used the initial one', async () => {
    let calls = 0;
    const { actor, emitted } = start({ needsPasswordRotation: true }, async () => {
      calls++;
    });
    expect(actor.getSnapshot().matches({ credentials: 'rotating' })).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(1);
    expect(actor.getSnapshot().matches({ credentials: 'settled' })).toBe(true);
    expect(emitted).toContainEqual({ type: 'passwordRotated' });
  });

  it('reports a failed rotation and settles', async () => {
    const { actor, emitted } = start({ needsPasswordRotation: true }, async () => {
      throw new Error('Rejected');
    });
    await new Promise((r) => setTimeout(r, 0));
    expect(actor.getSnapshot().matches({ credentials: 'settled' })).toBe(true);
    expect(emitted.some((e) => e.type === 'passwordRotationFailed')).toBe(true);
    expect(start().actor.getSnapshot().matches({ credentials: 'settled' })).toBe(true);
  });
});
