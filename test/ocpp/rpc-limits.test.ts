import { afterEach, describe, expect, it } from 'vitest';
import { OcppBusyError, OcppTimeoutError } from '../../ocpp/errors.js';
import type { CallHandler, RpcConnection, RpcLimits } from '../../ocpp/rpc-connection.js';
import { csHandler, RawPeer, startTestServer, waitFor, type TestServer } from './helpers.js';

/** Issue 16: one charger must not exhaust a node (lengths, queues, rate, unread send buffer). */

let server: TestServer | undefined;

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function setup(opts: { handler?: CallHandler; limits?: Partial<RpcLimits> } = {}): Promise<{ peer: RawPeer; rpc: RpcConnection }> {
  server = await startTestServer({ handler: opts.handler ?? csHandler, ...(opts.limits ? { limits: opts.limits } : {}) });
  const accepted = server.nextConnection();
  const peer = await RawPeer.connect(server.url, 'CP-limits');
  const { rpc } = await accepted;
  return { peer, rpc };
}

describe('message id and action lengths', () => {
  it('a message id longer than 36 characters is a FormationViolation, not echoed', async () => {
    const { peer } = await setup();
    const longId = 'x'.repeat(5_000);
    const answer = await peer.request(longId, 'Heartbeat', {});
    expect(answer.slice(0, 3)).toEqual([4, '-1', 'FormationViolation']);
    expect(JSON.stringify(answer).length).toBeLessThan(200);
  });

  it('an action name longer than 64 characters is a FormationViolation, not echoed', async () => {
    const { peer } = await setup();
    const answer = await peer.request('a1', 'A'.repeat(10_000), {});
    expect(answer.slice(0, 3)).toEqual([4, 'a1', 'FormationViolation']);
    expect(JSON.stringify(answer).length).toBeLessThan(200);
  });
});

describe('incoming calls', () => {
  it('beyond the queue bound are answered GenericError at once, and the socket stays', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { peer } = await setup({
      limits: { maxQueuedIncoming: 3 },
      handler: async (a, p, c) => {
        await gate;
        return csHandler(a, p, c);
      },
    });
    // One in the handler, three queued, the fifth is refused.
    for (let i = 0; i < 5; i++) peer.send([2, `q${i}`, 'Heartbeat', {}]);
    const refused = (await peer.next()) as unknown[];
    expect(refused.slice(0, 3)).toEqual([4, 'q4', 'GenericError']);
    release();
    const answered = new Set<unknown>();
    for (let i = 0; i < 4; i++) answered.add(((await peer.next()) as unknown[])[1]);
    expect(answered).toEqual(new Set(['q0', 'q1', 'q2', 'q3']));
  });

  it('over the rate limit are answered GenericError naming the limit; the socket stays and later calls pass', async () => {
    const { peer } = await setup({ limits: { callsPerSecond: 5, callBurst: 5 } });
    for (let i = 0; i < 12; i++) peer.send([2, `r${i}`, 'Heartbeat', {}]);
    const answers: unknown[][] = [];
    for (let i = 0; i < 12; i++) answers.push((await peer.next()) as unknown[]);
    const ok = answers.filter((a) => a[0] === 3);
    const limited = answers.filter((a) => a[0] === 4);
    expect(ok.length).toBeGreaterThanOrEqual(5);
    expect(ok.length).toBeLessThanOrEqual(6);
    expect(limited.length).toBe(12 - ok.length);
    for (const a of limited) {
      expect(a[2]).toBe('GenericError');
      expect(String(a[3])).toContain('Rate limit');
    }
    expect(peer.ws.readyState).toBe(peer.ws.OPEN);
    // Tokens come back at 5 per second.
    let n = 0;
    let passed = false;
    await waitFor(() => {
      if (passed) return true;
      void peer.request(`later-${n++}`, 'Heartbeat', {}).then((a) => (passed ||= a[0] === 3));
      return false;
    }, 3_000);
    expect(passed).toBe(true);
  });
});

/** Collects the CALLs the platform sends to the raw peer, unanswered unless the test answers them. */
function callsSeen(peer: RawPeer): unknown[][] {
  const seen: unknown[][] = [];
  peer.ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as unknown[];
    if (msg[0] === 2) seen.push(msg);
  });
  return seen;
}

describe('outgoing calls', () => {
  it('have their deadline from the moment they are queued: a call that waited too long is dropped unsent', async () => {
    const { peer, rpc } = await setup();
    const seen = callsSeen(peer);
    const settled: string[] = [];
    const first = rpc.call('Reset', { type: 'Soft' }, { timeoutMs: 400 }).catch((e: unknown) => (settled.push('first'), e));
    const second = rpc.call('UnlockConnector', { connectorId: 1 }, { timeoutMs: 200 }).catch((e: unknown) => (settled.push('second'), e));
    expect(await second).toBeInstanceOf(OcppTimeoutError);
    expect(await first).toBeInstanceOf(OcppTimeoutError);
    // The queued call gave up on its own deadline, while the one ahead of it was still waiting.
    expect(settled).toEqual(['second', 'first']);
    // The next call the charger sees is a new one: the stale UnlockConnector never went out.
    const third = rpc.call('ClearCache', {}, { timeoutMs: 2_000 });
    await waitFor(() => seen.length >= 2);
    expect(seen.map((m) => m[2])).toEqual(['Reset', 'ClearCache']);
    peer.send([3, seen[1]?.[1], { status: 'Accepted' }]);
    expect(await third).toEqual({ status: 'Accepted' });
  });

  it('priority calls (the balancer) go before queued calls without priority', async () => {
    const { peer, rpc } = await setup();
    const seen = callsSeen(peer);
    const first = rpc.call('ClearCache', {});
    const plain = rpc.call('UnlockConnector', { connectorId: 1 });
    const profile = rpc.call(
      'SetChargingProfile',
      {
        connectorId: 0,
        csChargingProfiles: {
          chargingProfileId: 1,
          stackLevel: 0,
          chargingProfilePurpose: 'ChargePointMaxProfile',
          chargingProfileKind: 'Absolute',
          chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] },
        },
      },
      { priority: true },
    );
    await waitFor(() => seen.length >= 1);
    peer.send([3, seen[0]?.[1], { status: 'Accepted' }]);
    await first;
    await waitFor(() => seen.length >= 2);
    expect(seen[1]?.[2]).toBe('SetChargingProfile');
    peer.send([3, seen[1]?.[1], { status: 'Accepted' }]);
    expect(await profile).toEqual({ status: 'Accepted' });
    await waitFor(() => seen.length >= 3);
    peer.send([3, seen[2]?.[1], { status: 'Unlocked' }]);
    expect(await plain).toEqual({ status: 'Unlocked' });
  });

  it('the queue is bounded: a call beyond it is refused at once; a priority call takes the place of the newest plain one', async () => {
    const { rpc } = await setup({ limits: { maxQueuedCalls: 2 } });
    const outstanding = rpc.call('ClearCache', {}).catch((e: unknown) => e);
    const a = rpc.call('ClearCache', {}).catch((e: unknown) => e);
    const b = rpc.call('ClearCache', {}).catch((e: unknown) => e);
    expect(await rpc.call('ClearCache', {}).catch((e: unknown) => e)).toBeInstanceOf(OcppBusyError);
    const p = rpc.call('ClearCache', {}, { priority: true }).catch((e: unknown) => e);
    expect(await b).toBeInstanceOf(OcppBusyError);
    rpc.close();
    expect(await a).not.toBeInstanceOf(OcppBusyError);
    expect(await p).not.toBeInstanceOf(OcppBusyError);
    await outstanding;
  });
});

describe('a peer that does not read', () => {
  it('is dropped once the unsent answers pass maxBufferedBytes', async () => {
    const { peer, rpc } = await setup({ limits: { maxBufferedBytes: 256 * 1024, callsPerSecond: 0, maxQueuedIncoming: 10_000 } });
    const closed = new Promise<string>((resolve) => rpc.once('close', (_code, reason) => resolve(reason)));
    // Stop reading: the platform's answers pile up in its send buffer once the kernel buffers are full.
    (peer.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const data = 'd'.repeat(40_000);
    for (let i = 0; i < 800 && rpc.isOpen; i++) {
      peer.send([2, `b${i}`, 'DataTransfer', { vendorId: 'v', data }]);
      if (i % 50 === 49) await new Promise((r) => setImmediate(r));
    }
    expect(await closed).toContain('does not read');
  }, 20_000);
});
