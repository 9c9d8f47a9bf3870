/**
 * Step 5 of `allocate()`, anti-flap. A change smaller than the deadband keeps the limit in force (not
 * to/from 0); a running session whose increases are held was already filled up to its limit in
 * force. Holds that keep a lower limit are always safe and applied first; holds that keep a higher
 * limit are then accepted in id order only while every constraint they load stays within its limit,
 * or when a session that is being commanded anyway can give up the difference (a donor): when a
 * limit comes down, the session that moves most takes it all rather than every session moving a little.
 */
import { sessionsByConstraint, steadySinceOf, type Session } from './allocate-sessions.js';
import { EPS, take, type Vec } from './allocate-units.js';
import { scratchF64, scratchU8 } from './allocate-scratch.js';

/**
 * The donors on each constraint, in the order they are asked: those chosen before any keep (in id
 * order, held flat: `first[of[i]]` for i in at[k]..at[k+1]), then those the hysteresis adds.
 */
interface Donors {
  readonly first: readonly Session[];
  readonly at: Int32Array;
  readonly of: Int32Array;
  readonly added: (Session[] | undefined)[];
  /** `tryKeep`'s work flags, by position in the kept session's loads (one buffer for every call). */
  readonly isShort: Uint8Array;
}

/** `avail`: per constraint, the unrounded capacity in 0.1 A (offline worst cases taken off). */
export function applyHolds(sessions: readonly Session[], avail: Vec, deadbandA: number): void {
  const deadbandQ = deadbandA * 10;
  const used = scratchF64(avail.length);
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
  // A donor must load every constraint that is short: look only among those on the least shared one.
  const first: Session[] = [];
  if (keepsHigher.length > 0) {
    // Sessions are in id order: the last position bounds every position.
    const keeping = scratchU8((sessions[sessions.length - 1] as Session).pos + 1);
    for (const s of keepsHigher) keeping[s.pos] = 1;
    for (const d of sessions) {
      if (d.out.q > d.minQ && d.out.held === undefined && keeping[d.pos] !== 1 && Math.abs(d.out.q - d.curQ) >= deadbandQ) first.push(d);
    }
  }
  const donorsOn = donorsOf(first, avail.length);
  const unkept: Session[] = [];
  for (const s of keepsHigher) if (!tryKeep(s, used, avail, donorsOn)) unkept.push(s);
  // Decrease hysteresis: when several small decreases must go on one constraint, the one whose limit
  // has been steady longest goes down by all of them and the others keep their limits. Spread fairly,
  // one base-load step would send every charger on the phase a 0.1-0.2 A profile, and the next small
  // rise would again move none of them (deadband); now one charger moves by about the step.
  if (unkept.length > 1) {
    unkept.sort((x, y) => steadySinceOf(x) - steadySinceOf(y) || x.pos - y.pos);
    for (const s of unkept) {
      if (tryKeep(s, used, avail, donorsOn)) continue;
      // Not kept: it is commanded to its lower limit anyway, so it may give for the next ones.
      for (const k of s.loads) {
        const list = donorsOn.added[k];
        if (list) list.push(s);
        else donorsOn.added[k] = [s];
      }
    }
  }
  // A donor that gave so much that it ends less than the deadband above its limit in force keeps that
  // limit (lower: always safe) rather than being sent a small raise. Each donor decides on its own
  // limits alone, and deciding twice changes nothing, so the order of this walk does not matter.
  const settle = (d: Session): void => {
    if (d.out.held !== undefined || d.curQ < d.minQ - EPS || d.curQ > d.maxQ + EPS) return;
    const up = d.out.q - d.curQ;
    if (up > EPS && up < deadbandQ) {
      take(d.loads, used, -up);
      keepInForce(d, 'deadband');
    }
  };
  // (A donor that loads no constraint is on no list: never asked, never settled.)
  for (const d of first) if (d.loads.length > 0) settle(d);
  for (const list of donorsOn.added) if (list !== undefined) for (const d of list) settle(d);
  // A charger that has spent half its change budget and must come down goes half a deadband further:
  // its fair share then sits mid-band, so the next swing of the limit either way, up to half a
  // deadband, needs no profile (a rise is within the deadband, a drop within the margin). Lower is
  // always safe; the room it leaves is the price of not following every base-load step.
  const marginQ = Math.floor(deadbandQ / 2);
  if (marginQ > 0) {
    for (const s of sessions) {
      const o = s.out;
      if (s.charger.budgetLow !== true || o.held !== undefined || o.exactA !== undefined || o.q === 0 || !(o.q < s.curQ - EPS)) continue;
      o.q = Math.max(s.minQ, o.q - marginQ);
    }
  }
}

/**
 * Keeps `s` at its higher limit in force if every constraint it loads has the room, or a donor on
 * the short constraints can give the difference (never below its minimum).
 */
function tryKeep(s: Session, used: Vec, avail: Vec, donorsOn: Donors): boolean {
  const extra = s.curQ - s.a;
  let short = 0;
  // The short constraints: the loads whose flag is set (a session loads each constraint once).
  let nShort = 0;
  for (let i = 0; i < s.loads.length; i++) {
    const k = s.loads[i] as number;
    const over = (used[k] ?? 0) + extra - (avail[k] ?? 0);
    if (over > EPS) {
      short = Math.max(short, over);
      donorsOn.isShort[i] = 1;
      nShort++;
    } else donorsOn.isShort[i] = 0;
  }
  if (short > 0) {
    const shortQ = Math.ceil(short - EPS);
    const { first, at, of, added, isShort } = donorsOn;
    let on = -1;
    let fewest = Infinity;
    for (let i = 0; i < s.loads.length; i++) {
      if (isShort[i] !== 1) continue;
      const k = s.loads[i] as number;
      const n = (at[k + 1] as number) - (at[k] as number) + (added[k]?.length ?? 0);
      if (n < fewest) {
        fewest = n;
        on = k;
      }
    }
    let donor: Session | undefined;
    for (let i = at[on] as number; i < (at[on + 1] as number) && donor === undefined; i++) {
      const d = first[of[i] as number] as Session;
      if (gives(d, s, shortQ, isShort, nShort)) donor = d;
    }
    const later = added[on];
    if (later !== undefined) for (let i = 0; i < later.length && donor === undefined; i++) if (gives(later[i] as Session, s, shortQ, isShort, nShort)) donor = later[i];
    if (!donor) return false;
    donor.out.q -= shortQ;
    take(donor.loads, used, shortQ);
  }
  keepInForce(s, intervalHeld(s) ? s.raiseHold : 'deadband');
  take(s.loads, used, -extra);
  return true;
}

/** `d` can give `shortQ` for `s`: above its minimum after, and on every short constraint of `s`. */
function gives(d: Session, s: Session, shortQ: number, isShort: Uint8Array, nShort: number): boolean {
  if (d === s || !(d.out.q - shortQ >= d.minQ)) return false;
  let on = 0;
  for (let i = 0; i < s.loads.length; i++) if (isShort[i] === 1 && d.loads.includes(s.loads[i] as number)) on++;
  return on === nShort;
}

/** The first donors listed per constraint, flat. */
function donorsOf(first: readonly Session[], k: number): Donors {
  const { at, of } = sessionsByConstraint(first, k);
  return { first, at, of, added: new Array<Session[] | undefined>(k), isShort: scratchU8(k) };
}

function keepInForce(s: Session, held: Session['raiseHold']): void {
  s.out.exactA = s.charger.currentLimit;
  s.out.held = held;
}

/** The fill stopped this session at the limit in force because its increases are held. */
function intervalHeld(s: Session): boolean {
  return s.raiseHold !== undefined && s.a === s.fillMax;
}
