import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canSend,
  countedLimit,
  dispatchDeadlines,
  holdsItsLimit,
  initialDispatch,
  isLate,
  lastCommanded,
  transition,
  type Command,
  type DispatchEvent,
  type DispatchState,
} from '../../balancer/dispatch-lifecycle.js';

const T = { settleMs: 1_000, retryMs: 500 };
const MAX = 32;
const S = { value: 8, acceptedAt: 100 };

/** Online, reported, 16 A in force, nothing pending, unless told otherwise. */
const aState = (over: Partial<DispatchState> = {}): DispatchState => ({ online: true, fresh: true, needsProfile: false, overLimit: false, granted: 16, command: { kind: 'idle' }, applied: 0, ...over });
const cmd = (command: Command, over: Partial<DispatchState> = {}): DispatchState => aState({ ...over, command });

const idle = aState();
const settling = cmd({ kind: 'settling', settling: S });
const inFlight = cmd({ kind: 'inFlight', value: 20, sentAt: 100 });
const inFlightDown = cmd({ kind: 'inFlight', value: 10, sentAt: 100 });
const inFlightOverSettling = cmd({ kind: 'inFlight', value: 6, sentAt: 200, settling: S });
const retryWait = cmd({ kind: 'retryWait', until: 600 });
const retryWaitOverSettling = cmd({ kind: 'retryWait', until: 600, settling: S });
const offline = aState({ online: false, fresh: false });

const connected = (offlineCurrent: 'lastLimit' | 'max' | number = 'lastLimit'): DispatchEvent => ({ kind: 'connected', maxCurrent: MAX, offlineCurrent });
const disconnected: DispatchEvent = { kind: 'disconnected', maxCurrent: MAX };
const meter = (top: number, offered?: number): DispatchEvent => ({ kind: 'meter', top, toleranceA: 1, ...(offered !== undefined ? { offered } : {}) });
const sent = (value: number): DispatchEvent => ({ kind: 'sent', value });
const answered = (value: number, outcome: 'accepted' | 'rejected' | 'timeout', sentAt = 100): DispatchEvent => ({ kind: 'answered', value, sentAt, outcome });
const withdrawn = (value: number, sentAt = 100): DispatchEvent => ({ kind: 'withdrawn', value, sentAt });
const tick: DispatchEvent = { kind: 'tick' };

/** [case, from, event, now, expected state or 'ignored' (the same state back)] */
type Row = [string, DispatchState, DispatchEvent, number, DispatchState | 'ignored'];

const rows: Row[] = [
  // connected: online, needs its profile; counted at what it may run offline until it accepts again
  ['connect keeps the last limit (lastLimit)', offline, connected(), 0, aState({ online: true, fresh: false, needsProfile: true })],
  ['connect of a charger that drops its profiles counts its maximum', offline, connected('max'), 0, aState({ online: true, fresh: false, needsProfile: true, granted: MAX })],
  ['connect of a charger with its own failsafe counts the higher of both', aState({ online: false, granted: 6 }), connected(10), 0, aState({ online: true, needsProfile: true, granted: 10 })],
  ['connect with no known limit stays unknown', initialDispatch(undefined), connected('max'), 0, { ...initialDispatch(undefined), online: true, needsProfile: true }],
  ['connect again (a live-status sync) when idle: the profile goes again', idle, connected('max'), 0, aState({ needsProfile: true, granted: MAX })],
  ['connect (a live-status sync) while in flight keeps the command', inFlight, connected(), 0, { ...inFlight, needsProfile: true }],
  ['connect while settling keeps the settling', settling, connected(), 0, { ...settling, needsProfile: true }],
  ['connect in a retry wait keeps the wait', retryWait, connected(), 0, { ...retryWait, needsProfile: true }],
  // disconnected: offline, not fresh; what was in flight is maybe applied
  ['disconnect when idle', idle, disconnected, 0, aState({ online: false, fresh: false })],
  ['disconnect with a raise in flight counts the raise', inFlight, disconnected, 0, aState({ online: false, fresh: false, granted: 20 })],
  ['disconnect with a decrease in flight keeps the old value', inFlightDown, disconnected, 0, aState({ online: false, fresh: false, granted: 16 })],
  ['disconnect with no known limit and a command in flight counts the maximum', cmd({ kind: 'inFlight', value: 20, sentAt: 0 }, { granted: undefined }), disconnected, 0, initialDispatch(MAX)],
  ['disconnect over a settling decrease keeps the settling', inFlightOverSettling, disconnected, 0, cmd({ kind: 'settling', settling: S }, { online: false, fresh: false })],
  ['disconnect while settling', settling, disconnected, 0, { ...settling, online: false, fresh: false }],
  ['disconnect in a retry wait keeps the wait', retryWait, disconnected, 0, { ...retryWait, online: false, fresh: false }],
  // reported / profileLost
  ['a report makes a charger fresh', aState({ fresh: false }), { kind: 'reported' }, 0, idle],
  ['a report from a fresh charger changes nothing', idle, { kind: 'reported' }, 0, 'ignored'],
  ['a report while in flight', cmd(inFlight.command, { fresh: false }), { kind: 'reported' }, 0, inFlight],
  ['a report while settling', cmd(settling.command, { fresh: false }), { kind: 'reported' }, 0, settling],
  ['a report in a retry wait', cmd(retryWait.command, { fresh: false }), { kind: 'reported' }, 0, retryWait],
  ['a boot or new transaction: fresh, and the profile goes again', aState({ fresh: false }), { kind: 'profileLost' }, 0, aState({ needsProfile: true })],
  ['a boot while in flight keeps the command', inFlight, { kind: 'profileLost' }, 0, { ...inFlight, needsProfile: true }],
  ['a boot while settling keeps the settling', settling, { kind: 'profileLost' }, 0, { ...settling, needsProfile: true }],
  ['a boot in a retry wait keeps the wait', retryWait, { kind: 'profileLost' }, 0, { ...retryWait, needsProfile: true }],
  // meter: settles a decrease the draw shows; catches a charger drawing over its limit
  ['the meter shows the decrease: settled', settling, meter(8.5), 150, cmd({ kind: 'idle' }, { granted: 8, applied: 1 })],
  ['a reading from the instant of acceptance settles nothing', settling, meter(8.5), 100, 'ignored'],
  ['a reading above the decrease settles nothing (and is no over-limit)', settling, meter(12), 150, 'ignored'],
  ['a reading above the decrease with the old offer: ignored by the charger, not settled, sent again', settling, meter(12, 12), 150, aState({ needsProfile: true })],
  ['a reading above the decrease with the new offer: a car slowing down, still settling', settling, meter(12, 8), 150, 'ignored'],
  ['the old offer under a further command in flight: the settling is dropped, the command kept', inFlightOverSettling, meter(12, 12), 250, cmd({ kind: 'inFlight', value: 6, sentAt: 200 }, { needsProfile: true })],
  ['the meter settles the decrease under a further one in flight', inFlightOverSettling, meter(8), 250, cmd({ kind: 'inFlight', value: 6, sentAt: 200 }, { granted: 8, applied: 1 })],
  ['the meter settles the decrease under a retry wait', retryWaitOverSettling, meter(8), 250, cmd({ kind: 'retryWait', until: 600 }, { granted: 8, applied: 1 })],
  ['drawing over the limit when idle: counted at its draw, profile again', idle, meter(19.2), 0, aState({ granted: 20, needsProfile: true, overLimit: true })],
  ['drawing within the tolerance is no over-limit', idle, meter(16.9), 0, 'ignored'],
  ['drawing over the limit in a retry wait', retryWait, meter(20), 0, { ...retryWait, granted: 20, needsProfile: true, overLimit: true }],
  ['no over-limit while a command is in flight', inFlight, meter(25), 0, 'ignored'],
  ['no over-limit with no known limit', aState({ granted: undefined }), meter(40), 0, 'ignored'],
  ['a reading makes a charger fresh', aState({ fresh: false }), meter(10), 0, idle],
  ['a reading while offline (a sync) settles too', { ...settling, online: false }, meter(8), 150, aState({ online: false, granted: 8, applied: 1 })],
  // sent: one command at a time, only online
  ['send when idle', idle, sent(20), 50, cmd({ kind: 'inFlight', value: 20, sentAt: 50 })],
  ['send while settling keeps the settling under it', settling, sent(6), 50, cmd({ kind: 'inFlight', value: 6, sentAt: 50, settling: S })],
  ['send once the retry wait ran out', retryWait, sent(20), 600, cmd({ kind: 'inFlight', value: 20, sentAt: 600 })],
  ['send once the retry wait ran out, over a settling decrease', retryWaitOverSettling, sent(6), 600, cmd({ kind: 'inFlight', value: 6, sentAt: 600, settling: S })],
  ['no send during the retry wait', retryWait, sent(20), 599, 'ignored'],
  ['no send while one is in flight', inFlight, sent(12), 150, 'ignored'],
  ['no send to an offline charger', offline, sent(12), 0, 'ignored'],
  // answered: only the answer to the command in flight counts
  ['an accepted raise takes effect', inFlight, answered(20, 'accepted'), 150, aState({ granted: 20, applied: 1 })],
  ['an accepted raise ends an over-limit count', cmd(inFlight.command, { overLimit: true, needsProfile: true }), answered(20, 'accepted'), 150, aState({ granted: 20, applied: 1 })],
  ['an accepted limit over an unknown one takes effect', cmd(inFlight.command, { granted: undefined }), answered(20, 'accepted'), 150, aState({ granted: 20, applied: 1 })],
  ['an accepted decrease settles first', cmd(inFlightDown.command, { needsProfile: true }), answered(10, 'accepted'), 150, cmd({ kind: 'settling', settling: { value: 10, acceptedAt: 150 } })],
  ['an accepted further decrease replaces the one settling', inFlightOverSettling, answered(6, 'accepted', 200), 250, cmd({ kind: 'settling', settling: { value: 6, acceptedAt: 250 } })],
  ['an accepted resend of the same value over a settling decrease takes effect', cmd({ kind: 'inFlight', value: 16, sentAt: 200, settling: S }), answered(16, 'accepted', 200), 250, aState({ applied: 1 })],
  ['a rejected raise: old limit in force, retry later', inFlight, answered(20, 'rejected'), 150, cmd({ kind: 'retryWait', until: 650 })],
  ['an unanswered raise: maybe applied, retry later', inFlight, answered(20, 'timeout'), 150, cmd({ kind: 'retryWait', until: 650 }, { granted: 20 })],
  ['an unanswered decrease: the old limit stays counted', inFlightDown, answered(10, 'timeout'), 150, cmd({ kind: 'retryWait', until: 650 })],
  ['an unanswered limit over an unknown one counts it', cmd(inFlight.command, { granted: undefined }), answered(20, 'timeout'), 150, cmd({ kind: 'retryWait', until: 650 }, { granted: 20 })],
  // withdrawn: marked sent, never sent (its worst case not persisted, or the lease lapsed first)
  ['a withdrawn raise: as before it was marked sent', inFlight, withdrawn(20), 150, idle],
  ['a withdrawn further decrease keeps the one settling', inFlightOverSettling, withdrawn(6, 200), 250, settling],
  ['a withdrawal of another command is ignored', inFlight, withdrawn(20, 40), 150, 'ignored'],
  ['a withdrawal with nothing in flight is ignored', retryWait, withdrawn(20), 150, 'ignored'],
  ['a rejected further decrease keeps the one settling', inFlightOverSettling, answered(6, 'rejected', 200), 250, cmd({ kind: 'retryWait', until: 750, settling: S })],
  ['an answer for another value than in flight is ignored', inFlight, answered(12, 'rejected'), 150, 'ignored'],
  ['an answer to an earlier command of the same value is ignored', inFlight, answered(20, 'rejected', 40), 150, 'ignored'],
  ['an answer with nothing in flight (the disconnect counted it) is ignored', idle, answered(20, 'accepted'), 150, 'ignored'],
  ['an answer while settling is ignored', settling, answered(8, 'timeout'), 150, 'ignored'],
  ['an answer in a retry wait is ignored', retryWait, answered(20, 'accepted'), 150, 'ignored'],
  ['an answer to an offline charger is ignored', offline, answered(20, 'timeout'), 150, 'ignored'],
  // tick: settle time, end of a retry wait
  ['before the settle time nothing settles', settling, tick, 1_099, 'ignored'],
  ['at the settle time the decrease takes effect', settling, tick, 1_100, aState({ granted: 8, applied: 1 })],
  ['the settle time passes under a command in flight', inFlightOverSettling, tick, 1_100, cmd({ kind: 'inFlight', value: 6, sentAt: 200 }, { granted: 8, applied: 1 })],
  ['the retry wait ends', retryWait, tick, 600, idle],
  ['the retry wait runs', retryWait, tick, 599, 'ignored'],
  ['the retry wait ends over a settling decrease', retryWaitOverSettling, tick, 600, settling],
  ['both end', retryWaitOverSettling, tick, 1_100, aState({ granted: 8, applied: 1 })],
  ['time alone does nothing when idle', idle, tick, 10_000, 'ignored'],
  ['time alone does not answer a command in flight', inFlight, tick, 10_000, 'ignored'],
];

describe('dispatch lifecycle: every transition', () => {
  it.each(rows)('%s', (_name, from, event, now, expected) => {
    const to = transition(from, event, now, T);
    if (expected === 'ignored') expect(to).toBe(from);
    else expect(to).toEqual(expected);
  });

  it('the table has a row for every command kind with every event kind, online and offline', () => {
    const seen = new Set(rows.map(([, from, e]) => `${from.online ? 'on' : 'off'}:${from.command.kind}:${e.kind}`));
    const kinds: Command['kind'][] = ['idle', 'settling', 'inFlight', 'retryWait'];
    const events: DispatchEvent['kind'][] = ['connected', 'disconnected', 'reported', 'profileLost', 'meter', 'sent', 'answered', 'tick'];
    const missing = kinds.flatMap((k) => events.map((e) => `on:${k}:${e}`)).filter((x) => !seen.has(x));
    expect(missing).toEqual([]);
    for (const e of ['connected', 'sent', 'answered', 'meter']) expect(seen.has(`off:idle:${e}`) || seen.has(`off:settling:${e}`)).toBe(true);
  });
});

describe('dispatch lifecycle: what the balancer reads from it', () => {
  it('counts a raise in flight at once and a decrease only once it took effect', () => {
    expect(countedLimit(inFlight, MAX)).toBe(20);
    expect(countedLimit(inFlightDown, MAX)).toBe(16);
    expect(countedLimit(settling, MAX)).toBe(16);
    expect(countedLimit(aState({ granted: undefined }), MAX)).toBe(MAX);
    // The allocator's reference is what the charger was last told.
    expect([lastCommanded(inFlightDown, MAX), lastCommanded(settling, MAX), lastCommanded(retryWaitOverSettling, MAX), lastCommanded(idle, MAX)]).toEqual([10, 8, 8, 16]);
  });

  it('holds its limit only online, with nothing owed since the (re)connect or boot, and not drawing above it', () => {
    expect([holdsItsLimit(idle), holdsItsLimit(settling), holdsItsLimit(inFlight), holdsItsLimit(retryWait)]).toEqual([true, true, true, true]);
    expect(holdsItsLimit(offline)).toBe(false);
    expect(holdsItsLimit(aState({ needsProfile: true }))).toBe(false);
    expect(holdsItsLimit(aState({ overLimit: true }))).toBe(false);
    expect(holdsItsLimit(aState({ granted: undefined }))).toBe(false);
    // A reconnect and a boot both owe the profile again.
    expect(holdsItsLimit(transition(offline, connected(), 0, T))).toBe(false);
    expect(holdsItsLimit(transition(idle, { kind: 'profileLost' }, 0, T))).toBe(false);
  });

  it('is late from lateAfterMs in flight, sends only when nothing is pending, and wakes at every deadline', () => {
    expect([isLate(inFlight, 699, 600), isLate(inFlight, 700, 600), isLate(settling, 10_000, 600)]).toEqual([false, true, false]);
    expect([canSend(idle, 0), canSend(settling, 0), canSend(inFlight, 0), canSend(retryWait, 599), canSend(retryWait, 600), canSend(offline, 0)]).toEqual([true, true, false, false, true, false]);
    expect(dispatchDeadlines(inFlightOverSettling, { ...T, lateAfterMs: 600 })).toEqual([1_100, 800]);
    expect(dispatchDeadlines(retryWait, { ...T, lateAfterMs: 600 })).toEqual([600]);
    expect(dispatchDeadlines(idle, { ...T, lateAfterMs: 600 })).toEqual([]);
  });
});

const anEvent: fc.Arbitrary<DispatchEvent> = fc.oneof(
  fc.constantFrom<DispatchEvent>(connected(), connected('max'), connected(10), disconnected, { kind: 'reported' }, { kind: 'profileLost' }, tick),
  fc.integer({ min: 0, max: 40 }).map(meter),
  fc.integer({ min: 0, max: 32 }).map(sent),
  // Value -1: the answer to the command in flight (filled in when it is applied); others are stale.
  fc.record({ v: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 32 })), o: fc.constantFrom('accepted' as const, 'rejected' as const, 'timeout' as const) }).map(({ v, o }) => answered(v, o)),
);

describe('dispatch lifecycle (property)', () => {
  it('never holds a command in flight offline, never counts below an unanswered or unsettled limit, and only moves forward', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anEvent, fc.integer({ min: 0, max: 1_500 })), { maxLength: 40 }), (steps) => {
        let d = initialDispatch(0);
        let now = 0;
        for (const [generated, dt] of steps) {
          now += dt;
          const before = d;
          const c = d.command;
          const e = generated.kind === 'answered' && generated.value < 0 && c.kind === 'inFlight' ? { ...generated, value: c.value, sentAt: c.sentAt } : generated;
          d = transition(d, e, now, T);
          expect(d.online || d.command.kind !== 'inFlight').toBe(true);
          expect(d.applied).toBeGreaterThanOrEqual(before.applied);
          // Whatever the charger may have applied stays counted: a value in flight, and the limit
          // before a decrease that has not taken effect.
          if (d.command.kind === 'inFlight') expect(countedLimit(d, MAX)).toBeGreaterThanOrEqual(d.command.value);
          if (c.kind === 'inFlight' && e.kind === 'answered' && e.value === c.value && e.sentAt === c.sentAt && e.outcome !== 'rejected') {
            expect(countedLimit(d, MAX)).toBeGreaterThanOrEqual(Math.min(e.value, countedLimit(before, MAX)));
          }
          if (before.command.kind === 'inFlight' && e.kind === 'disconnected') expect(d.granted).toBeGreaterThanOrEqual(before.command.value);
        }
      }),
      { numRuns: 300 },
    );
  });
});
