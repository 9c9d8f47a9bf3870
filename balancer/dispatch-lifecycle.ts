/**
 * The lifecycle of the balancer's SetChargingProfile commands to one charger, and the limit it
 * counts the charger at meanwhile. Fuse safety lives here, so it is one pure transition function:
 * - an increase counts at its new value from sending (a charger may apply it before answering);
 * - a decrease counts at the old value until accepted and settled (the meter shows it, or the settle
 *   time passed);
 * - unanswered = maybe applied: a timeout, or a disconnect with a command in flight, counts the
 *   higher of the old and the new value;
 * - one command at a time: nothing is sent while one is in flight or its retry wait runs.
 *
 * What may coexist, and why:
 * - `command` is one of idle | settling | inFlight | retryWait. A decrease accepted earlier may still
 *   settle underneath a later command (a further decrease, or the safe default sent again after a
 *   reboot) and under its retry wait: inFlight and retryWait carry it as `settling`.
 * - `online`, `fresh` and `needsProfile` are flags beside any command, with one exclusion: an
 *   offline charger has nothing in flight (the disconnect makes it "maybe applied").
 * - "late" (in flight for `lateAfterMs` or more) is not stored: it follows from the clock
 *   (`isLate`), and the allocator counts a late charger off the top at its worst case.
 */
import { offlineWorstCase, type OfflineCurrent } from './offline-current.js';

export interface Settling {
  readonly value: number;
  readonly acceptedAt: number;
}

export type Command =
  | { readonly kind: 'idle' }
  | { readonly kind: 'settling'; readonly settling: Settling }
  | { readonly kind: 'inFlight'; readonly value: number; readonly sentAt: number; readonly settling?: Settling }
  | { readonly kind: 'retryWait'; readonly until: number; readonly settling?: Settling };

export interface DispatchState {
  readonly online: boolean;
  /** Has reported since this balancer started (a new leader raises nothing before). */
  readonly fresh: boolean;
  /** Send the target even if unchanged (after a (re)connect, a boot or a new transaction). */
  readonly needsProfile: boolean;
  /**
   * The limit counted as in force: the last one that took effect, raised at once to any increase
   * that may have been applied. Undefined = unknown: counted at the charger's maximum.
   */
  readonly granted?: number;
  /** `granted` was raised to the measured draw of a charger above its limit. */
  readonly overLimit: boolean;
  readonly command: Command;
  /**
   * How many limits took effect (an accepted raise, a settled decrease): the model starts its
   * change, run and pause clocks when this moves, not when `granted` moves for a worst case.
   */
  readonly applied: number;
}

export type ProfileOutcome = 'accepted' | 'rejected' | 'timeout';

export type DispatchEvent =
  | { readonly kind: 'connected'; readonly maxCurrent: number; readonly offlineCurrent: OfflineCurrent }
  | { readonly kind: 'disconnected'; readonly maxCurrent: number }
  /** Data since this balancer started: a status, a live-status sync, a meter reading. */
  | { readonly kind: 'reported' }
  /** A boot or a new transaction: the charger may have dropped its profile (also a report). */
  | { readonly kind: 'profileLost' }
  /**
   * The highest current over its phases at `now`; `toleranceA` absorbs meter noise. `offered`: the
   * charger's own Current.Offered, when it reports one.
   */
  | { readonly kind: 'meter'; readonly top: number; readonly toleranceA: number; readonly offered?: number }
  | { readonly kind: 'sent'; readonly value: number }
  /** The answer to the command sent at `sentAt` with `value`. */
  | { readonly kind: 'answered'; readonly value: number; readonly sentAt: number; readonly outcome: ProfileOutcome }
  /**
   * The command marked sent at `sentAt` with `value` never left (its worst case could not be
   * persisted, or the lease lapsed first): the charger cannot have applied it.
   */
  | { readonly kind: 'withdrawn'; readonly value: number; readonly sentAt: number }
  /** Time passed: decreases past their settle time settle, retry waits that ended end. */
  | { readonly kind: 'tick' };

export interface DispatchTuning {
  readonly settleMs: number;
  readonly retryMs: number;
}

export const initialDispatch = (granted: number | undefined): DispatchState => ({
  online: false,
  fresh: false,
  needsProfile: false,
  overLimit: false,
  command: { kind: 'idle' },
  applied: 0,
  ...(granted !== undefined ? { granted } : {}),
});

/** The accepted decrease waiting to settle, whatever the command above it. */
export function settlingOf(d: DispatchState): Settling | undefined {
  return d.command.kind === 'idle' ? undefined : d.command.settling;
}

export function inFlightOf(d: DispatchState): { value: number; sentAt: number } | undefined {
  return d.command.kind === 'inFlight' ? d.command : undefined;
}

/** A failed command's retry wait still runs at `now`. */
export function isRetrying(d: DispatchState, now: number): boolean {
  return d.command.kind === 'retryWait' && d.command.until > now;
}

/** In flight for `lateAfterMs` or more: the charger is counted off the top until it answers. */
export function isLate(d: DispatchState, now: number, lateAfterMs: number): boolean {
  return d.command.kind === 'inFlight' && now - d.command.sentAt >= lateAfterMs;
}

/** Online, nothing in flight, no retry wait running: a command may go. */
export function canSend(d: DispatchState, now: number): boolean {
  return d.online && d.command.kind !== 'inFlight' && !isRetrying(d, now);
}

/**
 * Online, and a limit it accepted on this connection is in force: nothing owed since the (re)connect
 * or boot (`needsProfile` is set by both and cleared only by an accepted answer), not drawing above
 * it. After a disconnect, a boot or a new leader's sync it holds nothing until it accepts again.
 */
export function holdsItsLimit(d: DispatchState): boolean {
  return d.online && !d.needsProfile && !d.overLimit && d.granted !== undefined;
}

/** The worst current the charger may draw now (online), per phase. */
export function countedLimit(d: DispatchState, maxCurrent: number): number {
  const base = d.granted ?? maxCurrent;
  return d.command.kind === 'inFlight' && d.command.value > base ? d.command.value : base;
}

/** The limit the charger was last told: in flight, else settling, else in force. */
export function lastCommanded(d: DispatchState, maxCurrent: number): number {
  return inFlightOf(d)?.value ?? settlingOf(d)?.value ?? countedLimit(d, maxCurrent);
}

/** When time alone next changes the state (settle, late, retry), after `now`. */
export function dispatchDeadlines(d: DispatchState, t: DispatchTuning & { lateAfterMs: number }): number[] {
  const out: number[] = [];
  const s = settlingOf(d);
  if (s) out.push(s.acceptedAt + t.settleMs);
  if (d.command.kind === 'inFlight') out.push(d.command.sentAt + t.lateAfterMs);
  if (d.command.kind === 'retryWait') out.push(d.command.until);
  return out;
}

/** The command with its settling decrease gone (it took effect). */
function withoutSettling(c: Command): Command {
  if (c.kind === 'settling') return { kind: 'idle' };
  if (c.kind === 'idle' || !c.settling) return c;
  const { settling: _s, ...rest } = c;
  return rest;
}

/** A limit took effect: it is what the charger draws at most from now. */
function apply(d: DispatchState, value: number, command: Command): DispatchState {
  return { ...d, granted: value, overLimit: false, command, applied: d.applied + 1 };
}

/**
 * The one transition. Events that do not fit the state are ignored (the state is returned as is):
 * a send while offline, in flight or in a retry wait; an answer with nothing in flight or to another
 * command than the one in flight (one the disconnect already counted as maybe applied: it must not
 * end the count of the command in flight now).
 */
export function transition(d: DispatchState, e: DispatchEvent, now: number, t: DispatchTuning): DispatchState {
  switch (e.kind) {
    case 'connected': {
      // A charger that drops its profiles offline (or runs a failsafe current of its own) may still do
      // so until it accepts its limit again: it stays counted there.
      const worst = e.offlineCurrent !== 'lastLimit' && d.granted !== undefined ? offlineWorstCase(d.granted, e.maxCurrent, e.offlineCurrent).value : d.granted;
      return { ...d, online: true, needsProfile: true, ...(worst !== undefined ? { granted: worst } : {}) };
    }
    case 'disconnected': {
      const base = { ...d, online: false, fresh: false };
      if (d.command.kind !== 'inFlight') return base;
      // Whatever was in flight may or may not have been applied: count the higher value.
      const granted = Math.max(d.granted ?? e.maxCurrent, d.command.value);
      return { ...base, granted, command: d.command.settling ? { kind: 'settling', settling: d.command.settling } : { kind: 'idle' } };
    }
    case 'reported':
      return d.fresh ? d : { ...d, fresh: true };
    case 'profileLost':
      return { ...d, fresh: true, needsProfile: true };
    case 'meter': {
      let next: DispatchState = d.fresh ? d : { ...d, fresh: true };
      const s = settlingOf(next);
      if (s && now > s.acceptedAt && e.top <= s.value + e.toleranceA) next = apply(next, s.value, withoutSettling(next.command));
      // Drawing above a decrease it accepted while its own offer is above it too: the charger did not
      // apply it (firmware that accepts a profile and ignores it). Not settled, so not counted at the
      // new value when the settle time passes, and sent again. A car still slowing down shows the new
      // offer with its old draw, and settles as before.
      else if (s && now > s.acceptedAt && e.offered !== undefined && Math.min(e.offered, e.top) > s.value + e.toleranceA) next = { ...next, needsProfile: true, command: withoutSettling(next.command) };
      // Drawing above what it is counted at: the charger ignores its limit (or lost it). Count what it
      // really draws, and send its profile again.
      const quiet = next.command.kind === 'idle' || (next.command.kind === 'retryWait' && !next.command.settling);
      if (quiet && next.granted !== undefined && e.top > next.granted + e.toleranceA) next = { ...next, granted: Math.ceil(e.top), needsProfile: true, overLimit: true };
      return next;
    }
    case 'sent':
      if (!canSend(d, now)) return d;
      return { ...d, command: { kind: 'inFlight', value: e.value, sentAt: now, ...(settlingOf(d) ? { settling: settlingOf(d)! } : {}) } };
    case 'answered': {
      const c = d.command;
      if (c.kind !== 'inFlight' || c.value !== e.value || c.sentAt !== e.sentAt) return d;
      if (e.outcome === 'accepted') {
        const answered = { ...d, needsProfile: false };
        // A decrease counts only once it shows in the meter or the settle time passed.
        if (d.granted !== undefined && e.value < d.granted) return { ...answered, command: { kind: 'settling', settling: { value: e.value, acceptedAt: now } } };
        return apply(answered, e.value, { kind: 'idle' });
      }
      const retry: DispatchState = { ...d, command: { kind: 'retryWait', until: now + t.retryMs, ...(c.settling ? { settling: c.settling } : {}) } };
      // Rejected: the old limit is still in force. Timeout: the charger may have applied it, or not
      // (most often it did, and answered late). One that lost it on a disconnect is owed its profile
      // by the reconnect. A command that never left is `withdrawn`, not unanswered.
      if (e.outcome === 'timeout' && (d.granted === undefined || e.value > d.granted)) return { ...retry, granted: e.value };
      return retry;
    }
    case 'withdrawn': {
      const c = d.command;
      if (c.kind !== 'inFlight' || c.value !== e.value || c.sentAt !== e.sentAt) return d;
      return { ...d, command: c.settling ? { kind: 'settling', settling: c.settling } : { kind: 'idle' } };
    }
    case 'tick': {
      let next = d;
      const s = settlingOf(next);
      if (s && now >= s.acceptedAt + t.settleMs) next = apply(next, s.value, withoutSettling(next.command));
      const c = next.command;
      if (c.kind === 'retryWait' && c.until <= now) next = { ...next, command: c.settling ? { kind: 'settling', settling: c.settling } : { kind: 'idle' } };
      return next;
    }
  }
}
