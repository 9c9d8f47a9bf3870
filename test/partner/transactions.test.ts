import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestPartner } from './partner-server.js';
import { connectCharger, meter, PARTNER_PASSWORD, startTx, stopTx, usePartnerTestEnv, type Charger } from './support.js';

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
const chargers: Charger[] = [];

beforeAll(async () => {
  usePartnerTestEnv();
  nats = await startTestNats();
  partner = await TestPartner.start();
  node = await startTestNode(nats.url);
  const ocpp = { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD };
  await node.stores.installations.create(anInstallation({ id: 'inst-default', ocpp: { ...ocpp, defaultIdTag: 'DEFAULT-TAG' } }));
  await node.stores.installations.create(anInstallation({ id: 'inst-empty', ocpp }));
  await node.stores.installations.create(anInstallation({ id: 'inst-auth', ocpp, authorization: { required: true, idTags: ['LOCAL-TAG'] } }));
});

afterAll(async () => {
  await Promise.all(chargers.map((c) => c.client.close({ force: true })));
  await node?.stop();
  await partner?.down();
  await nats?.cleanup();
});

async function charger(installationId: string, id: string, serial: string): Promise<Charger> {
  await node.stores.chargers.put(installationId, id, aCharger({ serial }));
  await waitFor(() => node.cache.chargers.get(id));
  const c = await connectCharger(node, id);
  chargers.push(c);
  await waitFor(() => partner.callsOf(serial, 'StatusNotification').length > 0, 5_000, `${serial} accepted at the partner`);
  return c;
}

const txCalls = (serial: string) => partner.callsOf(serial).filter((c) => ['StartTransaction', 'MeterValues', 'StopTransaction'].includes(c.action));

describe('transactions at the partner', () => {
  it('StartTransaction carries the default id tag ("" when unset) when authorization is off; partner ids are mapped', async () => {
    const [def, empty] = await Promise.all([charger('inst-default', 'CP-DEF', 'DEF-1'), charger('inst-empty', 'CP-EMPTY', 'EMP-1')]);
    const tx = await startTx(def, 'RFID-CARD');
    await meter(def, tx.transactionId, 1500);
    await stopTx(def, tx.transactionId, 2000, 'RFID-CARD');
    const txEmpty = await startTx(empty, 'RFID-OTHER');

    const calls = await waitFor(() => {
      const c = txCalls('DEF-1');
      return c.length === 3 ? c : undefined;
    }, 5_000, 'three transaction messages');
    expect(calls.map((c) => c.action)).toEqual(['StartTransaction', 'MeterValues', 'StopTransaction']);
    expect(calls[0]?.params).toMatchObject({ connectorId: 1, idTag: 'DEFAULT-TAG', meterStart: 1000 });
    const partnerTxId = calls[1]?.params.transactionId as number;
    expect(partnerTxId).toBeGreaterThanOrEqual(7000);
    expect(partnerTxId).not.toBe(tx.transactionId);
    expect(calls[2]?.params).toMatchObject({ transactionId: partnerTxId, meterStop: 2000, idTag: 'DEFAULT-TAG' });

    const emptyStart = await waitFor(() => txCalls('EMP-1')[0], 5_000, 'StartTransaction with empty tag');
    expect(emptyStart.params.idTag).toBe('');
    expect(txEmpty.idTagInfo.status).toBe('Accepted');
    expect(partner.failures).toEqual([]);
  });

  it('while the partner is down the charger is answered at once; the messages wait durably and arrive in order, across a platform restart', async () => {
    let c = await charger('inst-default', 'CP-Q', 'Q-1');
    await partner.down();
    const t0 = Date.now();
    const tx = await startTx(c, 'CARD', 10_000);
    await meter(c, tx.transactionId, 10_100);
    await meter(c, tx.transactionId, 10_200);
    expect(Date.now() - t0).toBeLessThan(1_500);

    // Restart the platform while the partner is still down.
    await c.client.close({ force: true });
    await node.stop();
    node = await startTestNode(nats.url);
    c = await connectCharger(node, 'CP-Q', c.password);
    chargers.push(c);
    await meter(c, tx.transactionId, 10_300);
    await stopTx(c, tx.transactionId, 10_400);
    expect(txCalls('Q-1')).toEqual([]);

    await partner.up();
    const calls = await waitFor(() => {
      const got = txCalls('Q-1');
      return got.some((x) => x.action === 'StopTransaction') ? got : undefined;
    }, 8_000, 'queued messages after the partner is back');
    expect(calls.map((x) => x.action)).toEqual(['StartTransaction', 'MeterValues', 'MeterValues', 'MeterValues', 'StopTransaction']);
    const readings = calls
      .filter((x) => x.action === 'MeterValues')
      .map((x) => (x.params.meterValue as { sampledValue: { value: string }[] }[])[0]?.sampledValue[0]?.value);
    expect(readings).toEqual(['10100', '10200', '10300']);
    const partnerTxIds = new Set(calls.slice(1).map((x) => x.params.transactionId));
    expect(partnerTxIds.size).toBe(1);
    expect(partnerTxIds.has(tx.transactionId)).toBe(false);
    // Boot and statuses come first on the new connection, the queue after.
    const afterUp = partner.callsOf('Q-1').map((x) => x.action);
    expect(afterUp.indexOf('BootNotification')).toBeLessThan(afterUp.indexOf('StartTransaction'));
    expect(partner.failures).toEqual([]);
  });

  it('retries a message the partner fails, per TransactionMessageAttempts and TransactionMessageRetryInterval', async () => {
    const c = await charger('inst-default', 'CP-RETRY', 'RETRY-1');
    expect(await partner.command('RETRY-1', 'GetConfiguration', { key: ['TransactionMessageAttempts', 'TransactionMessageRetryInterval'] })).toEqual({
      configurationKey: [
        { key: 'TransactionMessageAttempts', readonly: false, value: '3' },
        { key: 'TransactionMessageRetryInterval', readonly: false, value: '1' },
      ],
    });
    partner.behaviour.failNext.set('StartTransaction', 1);
    const tx = await startTx(c, 'CARD');
    await stopTx(c, tx.transactionId, 1200);
    await waitFor(() => txCalls('RETRY-1').some((x) => x.action === 'StopTransaction'), 6_000, 'stop after a retried start');
    const starts = partner.callsOf('RETRY-1', 'StartTransaction');
    expect(starts).toHaveLength(2);
    expect((starts[1]?.at ?? 0) - (starts[0]?.at ?? 0)).toBeGreaterThanOrEqual(900);

    // Two attempts in all, then the message is given up (1.6 §4.10) and the queue moves on.
    expect(await partner.command('RETRY-1', 'ChangeConfiguration', { key: 'TransactionMessageAttempts', value: '2' })).toEqual({ status: 'Accepted' });
    partner.behaviour.failNext.set('StartTransaction', 5);
    const lost = await startTx(c, 'CARD', 5000);
    await stopTx(c, lost.transactionId, 5100);
    await waitFor(() => partner.callsOf('RETRY-1', 'StartTransaction').filter((x) => x.params.meterStart === 5000).length >= 2, 5_000, 'two attempts');
    partner.behaviour.failNext.set('StartTransaction', 0);
    const next = await startTx(c, 'CARD', 6000);
    await waitFor(() => partner.callsOf('RETRY-1', 'StartTransaction').some((x) => x.params.meterStart === 6000), 8_000, 'queue moved on');
    expect(partner.callsOf('RETRY-1', 'StartTransaction').filter((x) => x.params.meterStart === 5000)).toHaveLength(2);
    // The stop of a transaction the partner never knew is not sent with a made-up id.
    expect(partner.callsOf('RETRY-1', 'StopTransaction').filter((x) => x.params.meterStop === 5100)).toEqual([]);
    expect(next.transactionId).toBeGreaterThan(lost.transactionId);
    expect(partner.failures).toEqual([]);
  });
});

describe('authorization by the partner', () => {
  it("asks the partner and passes its answer back; when it is unreachable: its recent answers, then the installation's list, else Invalid", async () => {
    partner.behaviour.idTags.set('BAD', 'Blocked');
    const c = await charger('inst-auth', 'CP-AUTH', 'AUTH-1');
    expect(await c.client.call('Authorize', { idTag: 'GOOD' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await c.client.call('Authorize', { idTag: 'BAD' })).toEqual({ idTagInfo: { status: 'Blocked' } });
    expect(partner.callsOf('AUTH-1', 'Authorize').map((x) => x.params.idTag)).toEqual(['GOOD', 'BAD']);
    const tx = await startTx(c, 'GOOD');
    expect(tx.idTagInfo.status).toBe('Accepted');
    // With authorization on, the partner sees the real id tag.
    const start = await waitFor(() => partner.callsOf('AUTH-1', 'StartTransaction')[0], 5_000, 'StartTransaction');
    expect(start.params.idTag).toBe('GOOD');

    await partner.down();
    const t0 = Date.now();
    expect(await c.client.call('Authorize', { idTag: 'GOOD' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await c.client.call('Authorize', { idTag: 'BAD' })).toEqual({ idTagInfo: { status: 'Blocked' } });
    expect(await c.client.call('Authorize', { idTag: 'LOCAL-TAG' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await c.client.call('Authorize', { idTag: 'NEVER-SEEN' })).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(Date.now() - t0).toBeLessThan(1_000);
    await partner.up();
    expect(partner.failures).toEqual([]);
  });
});
