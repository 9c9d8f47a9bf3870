/**
 * The fair fill (balancer/allocate-fill.ts) against the rule it implements, written out the slow way:
 * repeatedly give 0.1 A to the smallest unfrozen session of the highest priority class (ties by id);
 * a session at its maximum, or one that a constraint it loads cannot give the unit, is frozen. The
 * fill jumps whole levels and keeps each constraint's room lazily; this checks it lands on the same
 * allocation and the same room left, on random constraint sets shared by random sessions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fill } from '../../balancer/allocate-fill.js';
import type { Session } from '../../balancer/allocate-sessions.js';

const RUNS = Number(process.env.ALLOC_PROPERTY_RUNS ?? 500);

interface Case {
  room: number[];
  sessions: { loads: number[]; minQ: number; fillMax: number; priority: number }[];
}

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 12 }).chain((k) =>
  fc.record({
    room: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: k, maxLength: k }),
    sessions: fc.array(
      fc.record({
        loads: fc.uniqueArray(fc.integer({ min: 0, max: k - 1 }), { minLength: 1, maxLength: Math.min(k, 9) }),
        minQ: fc.constantFrom(0, 60, 60, 60, 61, 80),
        extra: fc.oneof(fc.constantFrom(0, 1, 40, 100), fc.integer({ min: -5, max: 260 })),
        priority: fc.constantFrom(0, 0, 1, 2),
      }).map(({ extra, ...s }) => ({ ...s, fillMax: s.minQ + extra })),
      { maxLength: 24 },
    ),
  }),
);

/** What `admit` leaves for `fill`: admitted sessions at their minimum, in id order. */
function sessionsOf(c: Case): Session[] {
  return c.sessions.map((s, pos) => ({ ...s, pos, a: s.minQ, admitted: true, growing: false }) as unknown as Session);
}

function reference(c: Case): { a: number[]; room: number[] } {
  const room = c.room.slice();
  const a = c.sessions.map((s) => s.minQ);
  for (const priority of [...new Set(c.sessions.map((s) => s.priority))].sort((x, y) => y - x)) {
    const frozen = c.sessions.map((s) => s.priority !== priority);
    for (;;) {
      let next = -1;
      for (let i = 0; i < a.length; i++) if (!frozen[i] && (next < 0 || (a[i] as number) < (a[next] as number))) next = i;
      if (next < 0) break;
      const s = c.sessions[next]!;
      if ((a[next] as number) >= s.fillMax || s.loads.some((k) => (room[k] as number) < 1)) {
        frozen[next] = true;
        continue;
      }
      a[next] = (a[next] as number) + 1;
      for (const k of s.loads) room[k] = (room[k] as number) - 1;
    }
  }
  return { a, room };
}

describe('fair fill', () => {
  it('gives what the unit-step greedy gives, and leaves the same room', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const sessions = sessionsOf(c);
        const room = Float64Array.from(c.room);
        fill(sessions, room);
        const want = reference(c);
        expect(sessions.map((s) => s.a)).toEqual(want.a);
        expect([...room]).toEqual(want.room);
      }),
      { numRuns: RUNS },
    );
  });
});
