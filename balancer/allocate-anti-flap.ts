/**
 * Step 5 of `allocate()`, anti-flap. A change smaller than the deadband keeps the limit in force (not
 * to/from 0); a running session whose increases are held was already filled up to its limit in
 * force. Holds that keep a lower limit are always safe and applied first; holds that keep a higher
 * limit are then accepted in id order only while every constraint they load stays within its limit,
 * or when a session that is being commanded anyway can give up the difference (a donor): when a
 * limit comes down, the session that moves most takes it all rather than every session moving a little.
 */
import type { Session } from './allocate-sessions.js';
import { EPS, take } from './allocate-units.js';

/** `avail`: per constraint, the unrounded capacity in 0.1 A (offline worst cases taken off). */
export function applyHolds(sessions: readonly Session[], avail: readonly number[], deadbandA: number): void {
  const deadbandQ = deadbandA * 10;
  const used = new Array<number>(avail.length).fill(0);
  for (const s of sessions) {
    s.out.q = s.a;
    s.out.held = s.startHold;
    take(s.loads, used, -s.a);
  }
  const keepsHigher: Session[] = [];
  for (const s of sessions) {
    // Only a limit that is itself a valid offer this round may be kept.
    if (s.a === 0 || s.curQ === 0 || s.curQ < s.minQ - EPS || s.curQ > s.maxQ + EPS) continue;
    // A limit in force on the grid is the allocation itself, not a hair above or below it.
    const raw = s.a - s.curQ;
    const diff = Math.abs(raw) < EPS ? 0 : raw;
    if (diff > 0 && diff < deadbandQ) {
      keepInForce(s, 'deadband');
      take(s.loads, used, diff);
    } else if (diff === 0 && intervalHeld(s)) {
      s.out.held = s.raiseHold;
    } else if (diff < 0 && (-diff < deadbandQ || intervalHeld(s))) {
      // Interval-held: the fill stopped at the limit in force rounded down to 0.1 A; keep it exactly.
      keepsHigher.push(s);
    }
  }
  // Donors: sessions commanded anyway (a change of at least the deadband, no hold). A session that
  // may itself be kept is none: its limit is about to be overwritten.
  const keeping = new Set(keepsHigher);
  const donors =
    keepsHigher.length === 0
      ? []
      : sessions.filter((d) => d.out.q > d.minQ && d.out.held === undefined && !keeping.has(d) && Math.abs(d.out.q - d.curQ) >= deadbandQ);
  // A donor must load every constraint that is short: look only among those on the least shared one.
  const donorsOn = new Map<number, Session[]>();
  for (const d of donors) {
    for (const k of d.loads) {
      const list = donorsOn.get(k);
      if (list) list.push(d);
      else donorsOn.set(k, [d]);
    }
  }
  for (const s of keepsHigher) {
    const extra = s.curQ - s.a;
    let short = 0;
    const shortOn: number[] = [];
    for (const k of s.loads) {
      const over = (used[k] ?? 0) + extra - (avail[k] ?? 0);
      if (over > EPS) {
        short = Math.max(short, over);
        shortOn.push(k);
      }
    }
    if (short > 0) {
      const shortQ = Math.ceil(short - EPS);
      let candidates: readonly Session[] | undefined;
      for (const k of shortOn) {
        const list = donorsOn.get(k) ?? [];
        if (candidates === undefined || list.length < candidates.length) candidates = list;
      }
      const donor = (candidates ?? []).find((d) => d.out.q - shortQ >= d.minQ && shortOn.every((k) => d.loads.includes(k)));
      if (!donor) continue;
      donor.out.q -= shortQ;
      take(donor.loads, used, shortQ);
    }
    keepInForce(s, intervalHeld(s) ? s.raiseHold : 'deadband');
    take(s.loads, used, -extra);
  }
}

function keepInForce(s: Session, held: Session['raiseHold']): void {
  s.out.exactA = s.charger.currentLimit;
  s.out.held = held;
}

/** The fill stopped this session at the limit in force because its increases are held. */
function intervalHeld(s: Session): boolean {
  return s.raiseHold !== undefined && s.a === s.fillMax;
}
