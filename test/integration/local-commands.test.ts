import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargerCommands } from '../../core/charger-commands.js';
import { subjects } from '../../core/subjects.js';
import type { PlatformNode } from '../../main.js';
import { startTestNats } from '../support/nats.js';
import { aCharger, anInstallation, INITIAL_PASSWORD, ocppCall, startTestNode, strictCharger, waitFor } from '../support/platform.js';

/**
 * A command to a charger whose socket the sending process holds goes to its session without the bus;
 * one sent from elsewhere (another node's connection) still reaches it over NATS.
 */

let nats: Awaited<ReturnType<typeof startTestNats>>;
let node: PlatformNode;
let other: NatsConnection;

beforeAll(async () => {
  nats = await startTestNats();
  node = await startTestNode(nats.url);
  other = await connect({ servers: nats.url, ...nats.auth });
});
afterAll(async () => {
  await other?.close();
  await node?.stop();
  await nats?.cleanup();
});

describe('command routing', () => {
  it('local chargers are served in process, with copies of the command and reply; other connections go over NATS', async () => {
    await node.stores.installations.create(anInstallation({ id: 'local-1' }));
    await node.stores.chargers.put('local-1', 'LOCAL-1', aCharger());
    await waitFor(() => node.cache.chargers.has('LOCAL-1'));
    const { client, state } = strictCharger(node, 'LOCAL-1', INITIAL_PASSWORD);
    await client.connect();
    await ocppCall(client, 'BootNotification', { chargePointVendor: 'T', chargePointModel: 'M' });
    const onBus: string[] = [];
    const spy = other.subscribe(subjects.chargerCommand('LOCAL-1'), {
      callback: (_err, msg) => {
        onBus.push(msg.subject);
      },
    });
    await other.flush();

    const payload = { key: ['HeartbeatInterval'] };
    const local = await node.commands.send('LOCAL-1', { action: 'GetConfiguration', payload });
    expect(local).toMatchObject({ ok: true, response: { configurationKey: [{ key: 'HeartbeatInterval' }] } });
    // A request on the bus would have reached the spy before the session's reply came back.
    await other.flush();
    expect(onBus).toEqual([]);
    expect(payload).toEqual({ key: ['HeartbeatInterval'] });

    const remote = await new ChargerCommands(other).send('LOCAL-1', { action: 'GetConfiguration', payload });
    expect(remote).toMatchObject({ ok: true, response: { configurationKey: [{ key: 'HeartbeatInterval' }] } });
    expect(onBus).toEqual([subjects.chargerCommand('LOCAL-1')]);
    expect(state.calls.filter((c) => c.action === 'GetConfiguration')).toHaveLength(2);
    spy.unsubscribe();

    // Once the socket is gone the node no longer answers in process: not connected, as over NATS.
    await client.close({ force: true });
    await waitFor(async () => {
      const reply = await node.commands.send('LOCAL-1', { action: 'GetConfiguration', payload, timeoutMs: 1_000 });
      return !reply.ok && reply.error.code === 'NOT_CONNECTED' ? true : undefined;
    });
  });
});
