import { afterAll, beforeAll, expect, it } from 'vitest';
import { streams, subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, startTestNode, waitFor } from '../support/platform.js';
import { TestPartner } from './partner-server.js';
import { connectCharger, meter, PARTNER_PASSWORD, startTx, stopTx, usePartnerTestEnv, type Charger } from './support.js';

/** Issue 16: a given-up StartTransaction must not make the bridge throw away the rest of the transaction. */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let partner: TestPartner;
let cp: Charger;
const SERIAL = 'GU-1';

beforeAll(async () => {
  usePartnerTestEnv();
  nats = await startTestNats();
  partner = await TestPartner.start();
  node = await startTestNode(nats.url, { PARTNER_TX_MESSAGE_ATTEMPTS: '1' });
  await node.stores.installations.create(anInstallation({ id: 'inst-gu', ocpp: { partnerEnabled: true, url: partner.url('/ocpp/{deviceId}'), initialPassword: PARTNER_PASSWORD } }));
  await node.stores.chargers.put('inst-gu', 'CP-GU', aCharger({ serial: SERIAL }));
  await waitFor(() => node.cache.chargers.get('CP-GU'));
  cp = await connectCharger(node, 'CP-GU');
  await waitFor(() => partner.callsOf(SERIAL, 'StatusNotification').length > 0, 5_000, 'accepted at the partner');
});

afterAll(async () => {
  await cp?.client.close({ force: true });
  await node?.stop();
  await partner?.down();
  await nats?.cleanup();
});

async function givenUp(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${node.apiPort}/metrics`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
  return (await res.text())
    .split('\n')
    .filter((l) => l.startsWith('cp_partner_messages_given_up_total{'))
    .join('\n');
}

it('the give-up is counted, and the start and the later messages of its transaction stay in the queue stream', async () => {
  partner.behaviour.failNext.set('StartTransaction', 1);
  const tx = await startTx(cp, 'TAG-GU');
  await meter(cp, tx.transactionId, 1500);
  await stopTx(cp, tx.transactionId, 2000);
  const metrics = await waitFor(async () => {
    const text = await givenUp();
    return text.includes('kind="stop"') ? text : undefined;
  }, 8_000, `three given-up messages: ${await givenUp()} calls: ${JSON.stringify(partner.callsOf(SERIAL).map((c) => c.action))}`);
  expect(metrics).toContain('cp_partner_messages_given_up_total{kind="start",reason="attempts"} 1');
  expect(metrics).toContain('cp_partner_messages_given_up_total{kind="meter",reason="undeliverable"} 1');
  expect(metrics).toContain('cp_partner_messages_given_up_total{kind="stop",reason="undeliverable"} 1');
  const info = await node.bus.jsm.streams.info(streams.northQueue, { subjects_filter: subjects.northQueue('CP-GU') });
  expect(info.state.messages).toBe(3);
  expect(partner.callsOf(SERIAL, 'StopTransaction')).toEqual([]);
});
