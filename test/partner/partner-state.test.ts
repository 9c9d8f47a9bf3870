import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { PARTNER_CONNECTION_KINDS } from '../../core/partner-connection.js';
import { partnerMachine, type BootAnswer, type PartnerEvent } from '../../north/partner-machine.js';
import { connectionStateOf, partnerPhase, type PartnerPhase } from '../../north/partner-state.js';
import { reconnectDelayMs } from '../../ocpp/partner-client.js';

const TIMING = { reconnectMinMs: 100, reconnectMaxMs: 1000, defaultHeartbeatS: 300, bootRetryS: 5 };

/** The real partner machine on a simulated clock; `boots` answers BootNotification in turn (an Error fails it). */
function run(boots: (BootAnswer | Error)[], opts: { failConnect?: string } = {}) {
  const clock = new SimulatedClock();
  let sendBack: ((e: PartnerEvent) => void) | undefined;
  const machine = partnerMachine.provide({
    actors: {
      connection: fromCallback(({ sendBack: s }) => {
        sendBack = s as (e: PartnerEvent) => void;
        s(opts.failConnect ? { type: 'CLOSED', reason: opts.failConnect } : { type: 'OPENED' });
        return () => undefined;
      }),
      boot: fromPromise(async () => {
        const next = boots.shift() ?? { status: 'Accepted' as const, interval: 10 };
        if (next instanceof Error) throw next;
        return next;
      }),
      heartbeat: fromPromise(async (): Promise<void> => undefined),
      reportStatus: fromPromise(async (): Promise<void> => undefined),
      deliverQueue: fromCallback(() => () => undefined),
    },
  });
  const actor = createActor(machine, { input: { chargerId: 'CP', timing: TIMING, random: () => 1 }, clock });
  const phases: PartnerPhase[] = [];
  actor.subscribe((s) => {
    const p = partnerPhase(s.value);
    if (phases.at(-1) !== p) phases.push(p);
  });
  actor.start();
  const state = (enteredAt: number) => connectionStateOf(partnerPhase(actor.getSnapshot().value), actor.getSnapshot().context, enteredAt);
  return { actor, clock, phases, state, close: (reason: string) => sendBack?.({ type: 'CLOSED', reason }) };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
const T = Date.parse('2026-12-04T12:00:00.000Z');

describe('partner connection state, from the machine', () => {
  it('connects, boots and is connected since it was Accepted', async () => {
    const m = run([]);
    await flush();
    expect(m.phases).toEqual(['opening', 'booting', 'accepted']);
    expect(m.state(T)).toEqual({ state: 'connected', since: new Date(T).toISOString(), reason: null, retryAt: null, attempt: 0, nodeId: null });
  });

  it('a failed connection backs off: the reason and the retry time the machine will use', async () => {
    const m = run([], { failConnect: 'partner refused the connection: HTTP 401' });
    await flush();
    const first = m.state(T);
    expect(first).toMatchObject({ state: 'backoff', reason: 'partner refused the connection: HTTP 401', attempt: 1 });
    expect(Date.parse(first.retryAt!) - T).toBe(reconnectDelayMs(0, 100, 1000, () => 1));
    // The machine reconnects exactly then (and fails again: the next wait doubles).
    m.clock.increment(99);
    expect(m.actor.getSnapshot().context.attempt).toBe(1);
    m.clock.increment(1);
    expect(m.actor.getSnapshot().context.attempt).toBe(2);
    expect(Date.parse(m.state(T).retryAt!) - T).toBe(200);
  });

  it('Pending and Rejected boot again after the interval the partner gave; a failed boot after bootRetryS', async () => {
    const m = run([{ status: 'Pending', interval: 20 }, { status: 'Rejected', interval: 30 }, new Error('no answer from the partner')]);
    await flush();
    expect(m.state(T)).toMatchObject({ state: 'pending', retryAt: new Date(T + 20_000).toISOString() });
    m.clock.increment(20_000);
    await flush();
    expect(m.state(T)).toMatchObject({ state: 'rejected', reason: 'BootNotification answered Rejected', retryAt: new Date(T + 30_000).toISOString() });
    m.clock.increment(30_000);
    await flush();
    expect(m.state(T)).toMatchObject({ state: 'connecting', reason: 'BootNotification failed: no answer from the partner', retryAt: new Date(T + 5_000).toISOString() });
    m.clock.increment(5_000);
    await flush();
    expect(m.state(T).state).toBe('connected');
    expect(m.phases).toEqual(['opening', 'booting', 'pending', 'booting', 'rejected', 'booting', 'bootFailed', 'booting', 'accepted']);
  });

  it('a close while connected backs off with the close as the reason', async () => {
    const m = run([]);
    await flush();
    m.close('closed 1006');
    expect(m.state(T)).toMatchObject({ state: 'backoff', reason: 'closed 1006', attempt: 1 });
  });

  it('every phase gives a known state; a retry is never before the state began; only Accepted is connected', () => {
    const phases: PartnerPhase[] = ['backoff', 'opening', 'booting', 'bootFailed', 'pending', 'rejected', 'accepted'];
    fc.assert(
      fc.property(
        fc.constantFrom(...phases),
        fc.record({ attempt: fc.nat(50), retryDelayMs: fc.nat(600_000), retryIntervalS: fc.nat(86_400), bootRetryS: fc.nat(3_600), lastError: fc.option(fc.string(), { nil: undefined }) }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        (phase, c, at) => {
          const s = connectionStateOf(phase, { ...c, bootError: undefined, timing: { ...TIMING, bootRetryS: c.bootRetryS } }, at);
          expect(PARTNER_CONNECTION_KINDS).toContain(s.state);
          expect(s.since).toBe(new Date(at).toISOString());
          if (s.retryAt !== null) expect(Date.parse(s.retryAt)).toBeGreaterThanOrEqual(at);
          expect(s.state === 'connected').toBe(phase === 'accepted');
          expect(s.retryAt !== null).toBe(['backoff', 'bootFailed', 'pending', 'rejected'].includes(phase));
        },
      ),
    );
  });
});
