import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, startTestNode, waitFor } from '../support/platform.js';
import { RawPeer } from './helpers.js';

/** Issue 16: unknown action names must not become Prometheus labels (one `unknown` label instead). */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
  await node.stores.installations.create(anInstallation({ id: 'inst-metrics' }));
  await node.stores.chargers.put('inst-metrics', 'CP-FLOOD', aCharger());
  await waitFor(() => node.cache.chargers.has('CP-FLOOD') || undefined);
});

afterAll(async () => {
  await node?.stop();
  await nats?.cleanup();
});

it('a flood of made-up action names adds one `unknown` label to /metrics, not one per name', async () => {
  const ws = await RawPeerWithPassword(node.ocppPort, 'CP-FLOOD', INITIAL_PASSWORD);
  for (let i = 0; i < 150; i++) {
    ws.send([2, `m${i}`, `MadeUpAction${i}x${'y'.repeat(40)}`, {}]);
    // The platform's own calls (the password rotation) are left unanswered.
    let answer: unknown[];
    do answer = (await ws.next()) as unknown[];
    while (answer[0] === 2);
    expect(answer.slice(0, 3)).toEqual([4, `m${i}`, 'NotImplemented']);
  }
  const res = await fetch(`http://127.0.0.1:${node.apiPort}/metrics`, { headers: { authorization: 'Bearer test-admin-token-0123456789' } });
  const text = await res.text();
  expect(text).not.toContain('MadeUpAction');
  expect(text).toMatch(/cp_ocpp_messages_total\{direction="in",action="unknown",result="NotImplemented"\} 150/);
  ws.close();
});

/** RawPeer with the installation's initial password instead of the unit tests' PASSWORD. */
async function RawPeerWithPassword(port: number, chargerId: string, password: string): Promise<RawPeer> {
  return RawPeer.connect(`ws://127.0.0.1:${port}/ocpp`, chargerId, {
    headers: { authorization: `Basic ${Buffer.from(`${chargerId}:${password}`).toString('base64')}` },
  });
}
