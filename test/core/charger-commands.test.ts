import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChargerCommands, type LocalCommandTarget } from '../../core/charger-commands.js';
import type { ChargerCommand, CommandReply } from '../../core/commands.js';
import { PlatformError } from '../../core/errors.js';
import { decodeJson, encodeJson } from '../../core/nats.js';
import { subjects } from '../../core/subjects.js';
import { startTestNats } from '../support/nats.js';

/**
 * ChargerCommands on a real nats-server: a charger registered with it (its session is on this node)
 * is served in process, with copies both ways; any other goes over NATS, where "not connected" and
 * "timeout" differ; an older session's stop leaves a newer session's registration in place.
 */

let nats: Awaited<ReturnType<typeof startTestNats>>;
/** This node's connection, and another node's. */
let here: NatsConnection;
let elsewhere: NatsConnection;

beforeAll(async () => {
  nats = await startTestNats();
  here = await connect({ servers: nats.url, ...nats.auth });
  elsewhere = await connect({ servers: nats.url, ...nats.auth });
});
afterAll(async () => {
  await here?.close();
  await elsewhere?.close();
  await nats?.cleanup();
});

/** A session as the router sees it: records what it is asked, answers with its name. */
function aSession(name: string): LocalCommandTarget & { asked: ChargerCommand[]; answer: { from: string } } {
  const asked: ChargerCommand[] = [];
  const answer = { from: name };
  return { asked, answer, command: (cmd) => (asked.push(cmd), Promise.resolve({ ok: true, response: answer })) };
}

/** Answers `cmd.charger.<id>` on `nc` as the node holding the socket does; records what came over the bus. */
function answerOnBus(nc: NatsConnection, chargerId: string, from: string): { asked: ChargerCommand[]; stop(): void } {
  const asked: ChargerCommand[] = [];
  const sub = nc.subscribe(subjects.chargerCommand(chargerId), {
    callback: (err, msg) => {
      if (err) return;
      asked.push(decodeJson<ChargerCommand>(msg.data));
      msg.respond(encodeJson({ ok: true, response: { from } } satisfies CommandReply));
    },
  });
  return { asked, stop: () => sub.unsubscribe() };
}

describe('ChargerCommands', () => {
  it('serves a charger registered with it in process, on copies of the command and the reply; another node reaches it over NATS', async () => {
    const commands = new ChargerCommands(here);
    const session = aSession('session');
    commands.serveLocally('CC-LOCAL', session);
    // The session answers on the bus too, as a real one does.
    const bus = answerOnBus(here, 'CC-LOCAL', 'bus');
    await here.flush();

    const cmd: ChargerCommand = { action: 'GetConfiguration', payload: { key: ['HeartbeatInterval'] } };
    const reply = await commands.send('CC-LOCAL', cmd);
    expect(reply).toEqual({ ok: true, response: { from: 'session' } });
    expect(bus.asked).toEqual([]);
    expect(session.asked).toEqual([{ ...cmd, timeoutMs: 30_000 }]);
    // Neither side holds the other's objects.
    expect(session.asked[0]).not.toBe(cmd);
    expect(session.asked[0]!.payload).not.toBe(cmd.payload);
    expect(reply.ok && reply.response).not.toBe(session.answer);

    const fromElsewhere = await new ChargerCommands(elsewhere).send('CC-LOCAL', cmd);
    expect(fromElsewhere).toEqual({ ok: true, response: { from: 'bus' } });
    expect(bus.asked).toEqual([{ ...cmd, timeoutMs: 30_000 }]);
    expect(session.asked).toHaveLength(1);
    bus.stop();
  });

  it('sends a charger it does not hold over NATS: the answer, NOT_CONNECTED with no node for it, TIMEOUT with one that does not answer', async () => {
    const commands = new ChargerCommands(here);
    const remote = answerOnBus(elsewhere, 'CC-REMOTE', 'remote node');
    const silent = elsewhere.subscribe(subjects.chargerCommand('CC-SILENT'));
    await elsewhere.flush();

    expect(await commands.send('CC-REMOTE', { action: 'Reset', payload: { type: 'Soft' }, timeoutMs: 1_000 })).toEqual({ ok: true, response: { from: 'remote node' } });
    expect(remote.asked).toEqual([{ action: 'Reset', payload: { type: 'Soft' }, timeoutMs: 1_000 }]);
    expect(await commands.send('CC-NOBODY', { action: 'Reset', payload: { type: 'Soft' }, timeoutMs: 1_000 })).toMatchObject({ ok: false, error: { code: 'NOT_CONNECTED' } });
    // The NATS timeout is the command's plus 2 s: the node reports an OCPP timeout itself if it can.
    expect(await commands.send('CC-SILENT', { action: 'Reset', payload: { type: 'Soft' }, timeoutMs: 100 })).toMatchObject({ ok: false, error: { code: 'TIMEOUT' } });
    remote.stop();
    silent.unsubscribe();
  });

  it("keeps a newer session's registration when an older session of the charger stops", async () => {
    const commands = new ChargerCommands(here);
    const older = aSession('older');
    const newer = aSession('newer');
    commands.serveLocally('CC-TWICE', older);
    commands.serveLocally('CC-TWICE', newer);
    commands.stopServingLocally('CC-TWICE', older);

    expect(await commands.send('CC-TWICE', { action: 'GetConfiguration', payload: {} })).toEqual({ ok: true, response: { from: 'newer' } });
    expect(older.asked).toEqual([]);
    // Its own stop does unregister it: the command goes to the bus, where nobody holds the charger.
    commands.stopServingLocally('CC-TWICE', newer);
    expect(await commands.send('CC-TWICE', { action: 'GetConfiguration', payload: {}, timeoutMs: 1_000 })).toMatchObject({ ok: false, error: { code: 'NOT_CONNECTED' } });
    expect(newer.asked).toHaveLength(1);
  });

  it('reports a session that throws as an internal error, as a failed request over NATS is', async () => {
    const commands = new ChargerCommands(here);
    commands.serveLocally('CC-BROKEN', { command: () => Promise.reject(new Error('boom')) });
    const err = await commands.send('CC-BROKEN', { action: 'GetConfiguration', payload: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformError);
    expect(err).toMatchObject({ code: 'INTERNAL', cause: new Error('boom') });
  });
});
