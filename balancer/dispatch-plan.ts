/**
 * Which SetChargingProfile calls go now, given the allocator's targets: the fuse-safety rules of
 * dispatch. Decreases go at once. An increase goes only if, with every unsettled decrease still
 * counted at its old value and every increase in flight (or late, or unanswered) at its new value,
 * no phase exceeds its limit. Pure; the shell sends what it returns.
 */
import type { Phase } from './allocation-types.js';
import { circuitBudget } from './circuit-dispatch.js';
import { committedLoad, countedAs, countedPhases, countedValue, markSent, type BalancerModel, type ChargerModel } from './balancer-model.js';
import { canSend, settlingOf } from './dispatch-lifecycle.js';
import { PHASES } from './phases.js';

export interface ProfileCommand {
  chargerId: string;
  limit: number;
}

export type Targets = ReadonlyMap<string, { limit: number; phases: readonly Phase[] }>;

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
    if (target.limit < reference || (c.dispatch.needsProfile && target.limit <= reference)) commands.push({ chargerId: id, limit: target.limit });
  }

  const increases = ids
    .map((id) => ({ id, c: model.chargers[id]!, t: targets.get(id) }))
    .filter(({ c, t }) => t && ready(c) && c.dispatch.fresh && !settlingOf(c.dispatch) && t.limit > countedValue(c))
    .sort((a, b) => b.c.wiring.priority - a.c.wiring.priority || (a.id < b.id ? -1 : 1));
  for (const { id, c, t } of increases) {
    const oldValue = countedValue(c);
    const oldPhases = countedPhases(c, now);
    const next = { ...committed };
    for (const p of oldPhases) next[p] -= oldValue;
    for (const p of t!.phases) next[p] += t!.limit;
    if (PHASES.every((p) => next[p] <= limits[p] + 1e-9 || next[p] <= committed[p]) && circuits.tryRaise(c.wiring.circuitId, oldValue, oldPhases, t!.limit, t!.phases)) {
      commands.push({ chargerId: id, limit: t!.limit });
      Object.assign(committed, next);
    }
  }
  // A charger that (re)connected must hold some profile even while its raise waits for room: it
  // gets the limit it is counted at, so a rebooted charger cannot run at its hardware maximum.
  for (const id of ids) {
    const c = model.chargers[id]!;
    const granted = c.dispatch.granted;
    if (c.dispatch.needsProfile && ready(c) && granted !== undefined && !commands.some((x) => x.chargerId === id)) commands.push({ chargerId: id, limit: granted });
  }
  return commands;
}

/** The model with `commands` marked sent (counted, paid for from the change budget): before sending them. */
export function withSent(model: BalancerModel, commands: readonly ProfileCommand[], now: number): BalancerModel {
  if (commands.length === 0) return model;
  const chargers = { ...model.chargers };
  for (const cmd of commands) chargers[cmd.chargerId] = markSent(chargers[cmd.chargerId]!, cmd.limit, now, model.settings);
  return { ...model, chargers };
}
