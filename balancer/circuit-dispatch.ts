/**
 * Decrease-before-increase at every level of the circuit tree: `planDispatch` lets an increase go only
 * when, with every unsettled decrease still counted at its old value and every raise in flight at its
 * new one, no phase of the installation exceeds its limit; this does the same for every circuit on
 * the charger's way to the fuse. Pure.
 */
import type { CircuitInput, Phase, PhaseCurrents } from './allocation-types.js';
import { circuitChains } from './allocate-circuits.js';
import { PHASES } from './phases.js';

export interface CircuitBudget {
  /** Whether moving a charger of `circuitId` from `old` (on `oldPhases`) to `next` (on `nextPhases`) keeps every circuit safe; commits it if so. */
  tryRaise(circuitId: string | undefined, old: number, oldPhases: readonly Phase[], next: number, nextPhases: readonly Phase[]): boolean;
}

/** `committed`: each charger's circuit and what it is counted at now, on which phases. */
export function circuitBudget(
  circuits: readonly CircuitInput[] | undefined,
  committed: Iterable<{ circuitId: string | undefined; value: number; phases: readonly Phase[] }>,
): CircuitBudget {
  const list = circuits ?? [];
  const load = new Map<string, PhaseCurrents>(list.map((c) => [c.id, { L1: 0, L2: 0, L3: 0 }]));
  const chainOf = circuitChains(list);
  for (const c of committed) {
    if (c.value <= 0) continue;
    for (const id of chainOf(c.circuitId)) for (const p of c.phases) (load.get(id) as PhaseCurrents)[p] += c.value;
  }
  const limitOf = new Map(list.map((c) => [c.id, c.limits]));
  return {
    tryRaise(circuitId, old, oldPhases, next, nextPhases) {
      const chain = chainOf(circuitId);
      const after = chain.map((id) => {
        const now = load.get(id) as PhaseCurrents;
        const moved = { ...now };
        for (const p of oldPhases) moved[p] -= old;
        for (const p of nextPhases) moved[p] += next;
        return { now, moved, limits: limitOf.get(id) ?? {} };
      });
      const safe = after.every(({ now, moved, limits }) => PHASES.every((p) => moved[p] <= (limits[p] ?? 0) + 1e-9 || moved[p] <= now[p]));
      if (safe) for (const { now, moved } of after) Object.assign(now, moved);
      return safe;
    },
  };
}
