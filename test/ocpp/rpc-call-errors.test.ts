import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotSupportedError } from '../../ocpp/errors.js';
import type { CallHandler } from '../../ocpp/rpc-connection.js';
import { csHandler, RawPeer, startTestServer, type TestServer } from './helpers.js';

/**
 * Every CALLERROR path, driven by a plain `ws` client sending hand-made frames to our server.
 * After each error the socket must still be open and a valid call must still work.
 */

let behaviour: CallHandler = csHandler;
let server: TestServer;
let peer: RawPeer;
let seq = 0;

beforeAll(async () => {
  server = await startTestServer({ handler: (action, payload, ctx) => behaviour(action, payload, ctx) });
});
afterAll(async () => {
  await server.stop();
});
afterEach(async () => {
  behaviour = csHandler;
  // The socket survived whatever the test sent, and a valid call still works.
  expect(peer.ws.readyState).toBe(peer.ws.OPEN);
  const id = `hb-${++seq}`;
  const answer = await peer.request(id, 'Heartbeat', {});
  expect(answer[0]).toBe(3);
  expect(answer[1]).toBe(id);
  expect(answer[2]).toHaveProperty('currentTime');
  peer.close();
});

async function connect(chargerId = 'CP-raw'): Promise<RawPeer> {
  peer = await RawPeer.connect(server.url, chargerId);
  return peer;
}

function expectCallError(frame: unknown, id: string, code: string, descriptionPart?: string): void {
  expect(Array.isArray(frame)).toBe(true);
  const [type, gotId, gotCode, description, details] = frame as unknown[];
  expect(type).toBe(4);
  expect(gotId).toBe(id);
  expect(gotCode).toBe(code);
  expect(typeof description).toBe('string');
  expect(typeof details).toBe('object');
  if (descriptionPart) expect(description).toContain(descriptionPart);
}

describe('FormationViolation', () => {
  it('malformed JSON -> id "-1"', async () => {
    await connect();
    peer.send('[2, "a", "Heartbeat", {');
    expectCallError(await peer.next(), '-1', 'FormationViolation', 'JSON');
  });

  it('not an array -> id "-1"', async () => {
    await connect();
    peer.send({ messageType: 2, id: 'x' });
    expectCallError(await peer.next(), '-1', 'FormationViolation', 'array');
  });

  it('non-string id -> id "-1"', async () => {
    await connect();
    peer.send([2, 17, 'Heartbeat', {}]);
    expectCallError(await peer.next(), '-1', 'FormationViolation', 'id');
  });

  it('unknown message type -> with the message id', async () => {
    await connect();
    peer.send([7, 'm1', 'Heartbeat', {}]);
    expectCallError(await peer.next(), 'm1', 'FormationViolation', 'message type');
  });

  it('CALL of the wrong length', async () => {
    await connect();
    peer.send([2, 'm2', 'Heartbeat']);
    expectCallError(await peer.next(), 'm2', 'FormationViolation', '4 elements');
    peer.send([2, 'm3', 'Heartbeat', {}, {}]);
    expectCallError(await peer.next(), 'm3', 'FormationViolation', '4 elements');
  });

  it('non-string action', async () => {
    await connect();
    peer.send([2, 'm4', 5, {}]);
    expectCallError(await peer.next(), 'm4', 'FormationViolation', 'action');
  });

  it('payload that is not an object (array, string, null)', async () => {
    await connect();
    for (const [i, payload] of [[], 'hello', null].entries()) {
      peer.send([2, `p${i}`, 'Heartbeat', payload]);
      expectCallError(await peer.next(), `p${i}`, 'FormationViolation', 'object');
    }
  });
});

describe('schema violations (strict)', () => {
  it('missing required field -> OccurenceConstraintViolation naming the field', async () => {
    await connect();
    expectCallError(await peer.request('s1', 'BootNotification', { chargePointModel: 'M' }), 's1', 'OccurenceConstraintViolation', 'chargePointVendor');
  });

  it('wrong type -> TypeConstraintViolation', async () => {
    await connect();
    const frame = await peer.request('s2', 'StatusNotification', { connectorId: 'one', errorCode: 'NoError', status: 'Available' });
    expectCallError(frame, 's2', 'TypeConstraintViolation', 'connectorId');
  });

  it('bad enum, too long string, additional property -> PropertyConstraintViolation', async () => {
    await connect();
    expectCallError(
      await peer.request('s3', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Sleeping' }),
      's3',
      'PropertyConstraintViolation',
      'status',
    );
    expectCallError(
      await peer.request('s4', 'BootNotification', { chargePointVendor: 'V'.repeat(21), chargePointModel: 'M' }),
      's4',
      'PropertyConstraintViolation',
      'chargePointVendor',
    );
    expectCallError(
      await peer.request('s5', 'BootNotification', { chargePointVendor: 'V', chargePointModel: 'M', colour: 'red' }),
      's5',
      'PropertyConstraintViolation',
      'colour',
    );
  });

  it('the handler never sees an invalid call', async () => {
    let calls = 0;
    behaviour = (a, p, c) => {
      calls += 1;
      return csHandler(a, p, c);
    };
    await connect();
    await peer.request('s6', 'BootNotification', {});
    expect(calls).toBe(0);
  });
});

describe('other CALLERRORs', () => {
  it('unknown action -> NotImplemented, without echoing the name', async () => {
    await connect();
    const answer = await peer.request('u1', 'MakeCoffee', {});
    expectCallError(answer, 'u1', 'NotImplemented', 'not known');
    expect(JSON.stringify(answer)).not.toContain('MakeCoffee');
  });

  it('handler throwing an OcppCallError -> that code and message', async () => {
    behaviour = () => {
      throw new NotSupportedError('Reservations are not supported here', { details: { hint: 'none' } });
    };
    await connect();
    const frame = await peer.request('h1', 'Authorize', { idTag: 'TAG1' });
    expectCallError(frame, 'h1', 'NotSupported', 'Reservations are not supported here');
    expect((frame as unknown[])[4]).toEqual({ hint: 'none' });
  });

  it('handler throwing anything else -> InternalError without the stack, logged', async () => {
    behaviour = async () => {
      throw new Error('database on fire at /srv/secret/path.ts:12');
    };
    await connect();
    const frame = (await peer.request('h2', 'Authorize', { idTag: 'TAG1' })) as unknown[];
    expectCallError(frame, 'h2', 'InternalError');
    expect(JSON.stringify(frame)).not.toContain('database');
    expect(JSON.stringify(frame)).not.toContain('/srv');
    expect(server.logger.find('error', 'handler failed')?.obj).toMatchObject({ identity: 'CP-raw', action: 'Authorize' });
  });

  it('handler returning an invalid response -> InternalError, logged at error level', async () => {
    behaviour = () => ({ idTagInfo: { status: 'Maybe' } });
    await connect();
    expectCallError(await peer.request('h3', 'Authorize', { idTag: 'TAG1' }), 'h3', 'InternalError');
    const line = server.logger.find('error', 'invalid response');
    expect(line?.obj).toMatchObject({ identity: 'CP-raw', action: 'Authorize', code: 'PropertyConstraintViolation' });
  });

  it('a CALLRESULT or CALLERROR for an unknown id is logged and ignored', async () => {
    await connect();
    peer.send([3, 'nobody-asked', {}]);
    peer.send([4, 'nobody-asked-either', 'GenericError', '', {}]);
    expect(await peer.silentFor(100)).toBe(true);
    expect(server.logger.find('warn', 'CALLRESULT for an unknown message id')?.obj).toMatchObject({ id: 'nobody-asked' });
    expect(server.logger.find('warn', 'CALLERROR for an unknown message id')?.obj).toMatchObject({ id: 'nobody-asked-either' });
  });
});

describe('lenient mode', () => {
  it('processes and logs the same invalid payload', async () => {
    const seen: unknown[] = [];
    behaviour = (action, payload, ctx) => {
      seen.push(payload);
      return csHandler(action, payload, ctx);
    };
    await connect('lenient-CP1');
    const payload = { chargePointVendor: 'V'.repeat(30), chargePointModel: 'M', colour: 'red' };
    const frame = (await peer.request('l1', 'BootNotification', payload)) as unknown[];
    expect(frame[0]).toBe(3);
    expect(frame[2]).toMatchObject({ status: 'Accepted' });
    expect(seen).toEqual([payload]);
    expect(server.logger.find('warn', 'lenient')?.obj).toMatchObject({ identity: 'lenient-CP1', action: 'BootNotification', code: 'PropertyConstraintViolation' });
  });

  it('sends an invalid handler response anyway, with a warning', async () => {
    behaviour = () => ({ idTagInfo: { status: 'Maybe' } });
    await connect('lenient-CP2');
    const frame = (await peer.request('l2', 'Authorize', { idTag: 'TAG1' })) as unknown[];
    expect(frame).toEqual([3, 'l2', { idTagInfo: { status: 'Maybe' } }]);
    expect(server.logger.find('warn', 'sent anyway')?.obj).toMatchObject({ identity: 'lenient-CP2' });
  });

  it('still answers unknown actions and malformed frames with CALLERRORs', async () => {
    await connect('lenient-CP3');
    expectCallError(await peer.request('l3', 'MakeCoffee', {}), 'l3', 'NotImplemented');
    peer.send('{not json');
    expectCallError(await peer.next(), '-1', 'FormationViolation');
  });
});
