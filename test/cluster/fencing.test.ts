import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_ACTION } from '../../core/commands.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

/** The node holding a charger refuses limits from a balancer epoch older than the newest it has seen. */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
});
afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

const profile = (limit: number) => ({
  connectorId: 0,
  csChargingProfiles: {
    chargingProfileId: 1,
    stackLevel: 1,
    chargingProfilePurpose: 'TxDefaultProfile',
    chargingProfileKind: 'Absolute',
    chargingSchedule: { startSchedule: new Date().toISOString(), chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit }] },
  },
});

describe('fencing of balancer limits (real NATS, real socket, strict charger)', () => {
  it('a SetChargingProfile from an older epoch never reaches the charger once a newer leader has spoken', async () => {
    await node.stores.installations.create(anInstallation({ id: 'fence-1' }));
    await node.stores.chargers.put('fence-1', 'FENCE-1', aCharger());
    await waitFor(() => node.cache.chargers.has('FENCE-1'));
    const { client, state } = strictCharger(node, 'FENCE-1', INITIAL_PASSWORD);
    await client.connect();
    await ocppCall(client, 'BootNotification', { chargePointVendor: 'T', chargePointModel: 'M' });
    // Ours carry profile id 1 (the node's own balancer uses its own ids and may send one too).
    const profiles = () =>
      state.calls.filter((c) => c.action === 'SetChargingProfile' && (c.params as ReturnType<typeof profile>).csChargingProfiles.chargingProfileId === 1);

    expect(await node.commands.send('FENCE-1', { action: 'SetChargingProfile', payload: profile(10), epoch: 100 })).toMatchObject({ ok: true });
    // A successor (epoch 200) announces itself with its status request.
    expect(await node.commands.send('FENCE-1', { action: STATUS_ACTION, payload: {}, epoch: 200 })).toMatchObject({ ok: true });
    expect(await node.commands.send('FENCE-1', { action: 'SetChargingProfile', payload: profile(16), epoch: 100 })).toMatchObject({ ok: false, error: { code: 'FENCED' } });
    expect(await node.commands.send('FENCE-1', { action: 'SetChargingProfile', payload: profile(8), epoch: 200 })).toMatchObject({ ok: true });
    expect(profiles().map((p) => (p.params as ReturnType<typeof profile>).csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0]!.limit)).toEqual([10, 8]);
    await client.close({ force: true });
  });
});
