/**
 * Which SetChargingProfile calls go now, given the allocator's targets: the fuse-safety rules of
 * dispatch. Decreases go at once. An increase goes only if, with every unsettled decrease still
 * counted at its old value and every increase in flight (or late, or unanswered) at its new value,
 * no phase exceeds its limit. Pure; the shell sends what it returns.
 *
 * 1/3-phase switching (chargers with `phaseSwitching` only; every command to them carries
 * `numberPhases`): 3 -> 1 is a decrease on two phases, sent at once at no more than the limit counted
 * now (a raise on the one phase follows as an ordinary raise once the meter shows one phase); 1 -> 3
 * is a raise on two phases, so it waits for room like any raise (real room: not the "no worse than
 * now" of a phase already counted over its limit), after first lowering the limit on its one phase
 * when three phases get less per phase.
 */
import type { Phase } from './allocation-types.js';
import { circuitBudget } from './circuit-dispatch.js';
import { committedLoad, countedAs, countedPhases, countedValue, phaseSwitchOf, type BalancerModel, type ChargerModel } from './balancer-model.js';
import { markSent } from './charger-events.js';
import { canSend, settlingOf } from './dispatch-lifecycle.js';
import { PHASES } from './phases.js';

export interface ProfileCommand {
  chargerId: string;
  limit: number;
  /** Chargers with `phaseSwitching` only: the phases to charge on. */
  numberPhases?: 1 | 3;
}

export type Targets = ReadonlyMap<string, { limit: number; phases: readonly Phase[]; numberPhases?: 1 | 3 }>;

/** The phases to send and whether they change the charger's mode (a switch); none for chargers that cannot switch. */
function phaseModeOf(c: ChargerModel, target: { limit: number; numberPhases?: 1 | 3 }): { numberPhases?: 1 | 3; to?: 1 | 3 } {
  const mode = phaseSwitchOf(c)?.mode;
  if (mode === undefined) return {};
  // A charger told 0 A switches nothing: it keeps its mode until it charges again.
  const to = target.numberPhases !== undefined && target.numberPhases !== mode && target.limit > 0 ? target.numberPhases : undefined;
  return { numberPhases: mode, ...(to !== undefined ? { to } : {}) };
}

const command = (chargerId: string, limit: number, numberPhases: 1 | 3 | undefined): ProfileCommand => (numberPhases === undefined ? { chargerId, limit } : { chargerId, limit, numberPhases });

export function planDispatch(model: BalancerModel, targets: Targets, now: number): ProfileCommand[] {
  const commands: ProfileCommand[] = [];
  const committed = committedLoad(model, now);
  const limits = model.phaseLimits;
  const ids = Object.keys(model.chargers).sort();
  const ready = (c: ChargerModel): boolean => canSend(c.dispatch, now);
  const circuits = circuitBudget(model.circuits, model.circuits?.length ? Object.values(model.chargers).map((c) => ({ circuitId: c.wiring.circuitId, value: countedAs(c).value, phases: countedPhases(c, now) })) : []);

  for (const id of ids) {
    const c = model.chargers[id]!;
    const target = targets.get(id);
    if (!target || !ready(c)) continue;
    const reference = settlingOf(c.dispatch)?.value ?? countedValue(c);
    const { numberPhases, to } = phaseModeOf(c, target);
    // 3 -> 1 while charging: fewer phases at no more current; 1 -> 3 for less per phase: lower first.
    if (to === 1 && reference > 0) commands.push(command(id, Math.min(target.limit, reference), 1));
    else if (to === 3 && target.limit < reference) commands.push(command(id, target.limit, numberPhases));
    else if (to === undefined && (target.limit < reference || (c.dispatch.needsProfile && target.limit <= reference))) commands.push(command(id, target.limit, numberPhases));
  }
  const sentNow = new Set(commands.map((x) => x.chargerId));

  const increases = ids
    .map((id) => ({ id, c: model.chargers[id]!, t: targets.get(id) }))
    .filter(({ id, c, t }) => t && !sentNow.has(id) && ready(c) && c.dispatch.fresh && !settlingOf(c.dispatch) && (t.limit > countedValue(c) || phaseModeOf(c, t).to === 3))
    .sort((a, b) => b.c.wiring.priority - a.c.wiring.priority || (a.id < b.id ? -1 : 1));
  for (const { id, c, t } of increases) {
    const oldValue = countedValue(c);
    const oldPhases = countedPhases(c, now);
    // Counted where it draws until its meter shows otherwise: a charger told one phase that still
    // draws on three raises on all three (for any other charger the two sets are the same). At 0 A
    // it draws nowhere: it starts on the phases it is told.
    const newPhases = oldValue > 0 ? PHASES.filter((p) => t!.phases.includes(p) || oldPhases.includes(p)) : t!.phases;
    const next = { ...committed };
    for (const p of oldPhases) next[p] -= oldValue;
    for (const p of newPhases) next[p] += t!.limit;
    const { numberPhases, to } = phaseModeOf(c, t!);
    // A phase already over its limit may take a change that adds nothing there, but not a 1 -> 3: it
    // is counted on three phases only until its meter shows one (or since before its 3 -> 1), so on
    // the other two it may add all its current to a phase counted over the limit. It needs real room.
    const fits = (p: Phase): boolean => next[p] <= limits[p] + 1e-9 || (to !== 3 && next[p] <= committed[p]);
    if (PHASES.every(fits) && circuits.tryRaise(c.wiring.circuitId, oldValue, oldPhases, t!.limit, newPhases)) {
      commands.push(command(id, t!.limit, to ?? numberPhases));
      Object.assign(committed, next);
    }
  }
  // A charger that (re)connected must hold some profile even while its raise waits for room: it
  // gets the limit it is counted at, so a rebooted charger cannot run at its hardware maximum.
  for (const id of ids) {
    const c = model.chargers[id]!;
    const granted = c.dispatch.granted;
    if (c.dispatch.needsProfile && ready(c) && granted !== undefined && !commands.some((x) => x.chargerId === id)) commands.push(command(id, granted, phaseSwitchOf(c)?.mode));
  }
  return commands;
}

/** The model with `commands` marked sent (counted, paid for from the change budget): before sending them. */
export function withSent(model: BalancerModel, commands: readonly ProfileCommand[], now: number): BalancerModel {
  if (commands.length === 0) return model;
  const chargers = { ...model.chargers };
  for (const cmd of commands) chargers[cmd.chargerId] = markSent(chargers[cmd.chargerId]!, cmd.limit, now, model.settings, cmd.numberPhases);
  return { ...model, chargers };
}

/**
 * What a successor would read for a charger (stored-allocation.ts): the persisted worst-case limit
 * and, for a charger that switches phases, the mode it is counted in. Nothing persisted reads as
 * the charger's maximum on every phase.
 */
export interface DurableWorstCase {
  limit: number;
  mode?: 1 | 3;
}

/** The durable worst case of a stored record (its limit and, when it switches phases, its mode). */
export const durableOf = (limit: number, phaseSwitch: { mode: 1 | 3 } | undefined): DurableWorstCase => (phaseSwitch ? { limit, mode: phaseSwitch.mode } : { limit });

/** While a write is in flight KV holds the old record or the new one: the lower limit on the fewer phases covers both. */
export function whileWriting(before: DurableWorstCase | undefined, written: DurableWorstCase): DurableWorstCase {
  if (!before) return written;
  const mode = before.mode === 1 || written.mode === 1 ? 1 : (written.mode ?? before.mode);
  return { limit: Math.min(before.limit, written.limit), ...(mode !== undefined ? { mode } : {}) };
}

/**
 * Which of a round's commands may go before the round's worst case is persisted: those that raise
 * nothing, neither in the leader's count (`model`, before the commands are marked sent) nor over
 * what is durable, on no more phases. A successor starts from the persisted record, so a charger may
 * act on a limit before it is written only if that record already covers it: a decrease (its record
 * still holds the higher old value) or a re-sent limit. A raise, a switch to 3 phases, and a charger
 * whose record is unknown or may be lower (a write that failed) wait for the write. The order of
 * `commands` is kept in both lists.
 */
export function splitBeforePersist(model: BalancerModel, commands: readonly ProfileCommand[], durable: ReadonlyMap<string, DurableWorstCase>): { early: ProfileCommand[]; late: ProfileCommand[] } {
  const early: ProfileCommand[] = [];
  const late: ProfileCommand[] = [];
  for (const cmd of commands) {
    const c = model.chargers[cmd.chargerId];
    const d = durable.get(cmd.chargerId);
    const widens = cmd.numberPhases === 3 && (d?.mode === 1 || (c !== undefined && phaseSwitchOf(c)?.mode === 1));
    const covered = c !== undefined && d !== undefined && cmd.limit <= countedValue(c) && cmd.limit <= d.limit && !widens;
    (covered ? early : late).push(cmd);
  }
  return { early, late };
}
