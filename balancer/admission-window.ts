/**
 * The phase limits of the recent past: a session is admitted only under the lowest limit of the
 * admission window, so a limit that swings down and up again does not start and pause cars on
 * every swing. Pure.
 */
import type { PhaseCurrents } from './allocation-types.js';
import type { BalancerModel } from './balancer-model.js';
import { PHASES } from './phases.js';

/** The model with the phase limits in force now, remembered for the admission window. */
export function withPhaseLimits(model: BalancerModel, limits: PhaseCurrents, now: number): BalancerModel {
  const history = model.limitHistory ?? [];
  const last = history[history.length - 1];
  const same = last !== undefined && PHASES.every((p) => last.limits[p] === limits[p]);
  const next = same ? history : [...history, { from: now, limits }];
  const horizon = now - model.settings.admissionWindowMs;
  let drop = 0;
  while (drop + 1 < next.length && next[drop + 1]!.from <= horizon) drop++;
  return { ...model, phaseLimits: limits, limitHistory: drop > 0 ? next.slice(drop) : next };
}

/** The lowest limit per phase over the admission window (the limits in force when there is no history). */
export function admissionLimits(model: BalancerModel, now: number): PhaseCurrents {
  const out = { ...model.phaseLimits };
  const history = model.limitHistory ?? [];
  const horizon = now - model.settings.admissionWindowMs;
  history.forEach((h, i) => {
    const end = history[i + 1]?.from ?? Infinity;
    if (end > horizon) for (const p of PHASES) out[p] = Math.min(out[p], h.limits[p]);
  });
  return out;
}

/** When a low leaves the window (the admission limits may rise then). */
export function admissionDeadlines(model: BalancerModel): number[] {
  const history = model.limitHistory ?? [];
  return history.slice(1).map((h) => h.from + model.settings.admissionWindowMs);
}
