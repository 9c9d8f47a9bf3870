import type { AllocationResult } from './allocation-types.js';
import { committedLoad, countedAs, countedPhases, countedValue, phaseSwitchOf, type BalancerModel } from './balancer-model.js';
import type { CircuitLimits } from './circuit-limits.js';
import type { Failsafe } from './phase-limits.js';

/** What the balancer knows at `now`, for its status view. */
export interface StatusInput {
  model: BalancerModel;
  lastResult: AllocationResult | undefined;
  computedAt: number | undefined;
  failsafe: Failsafe | undefined;
  circuitLimits: CircuitLimits | undefined;
  /** The node running the balancer (its lease holder). */
  nodeId?: string | undefined;
  /** The lease ran out unrenewed: the balancer sends nothing until it is renewed. */
  paused?: boolean;
}

/** The live view the API's status route asks for: also what it assumes (counted values, failsafe) and why. */
export function balancerStatus({ model, lastResult, computedAt, failsafe: f, circuitLimits: limits, nodeId, paused = false }: StatusInput, now: number) {
  const chargers: Record<string, { limit: number; target?: number; reason?: string; phases: readonly string[]; online: boolean; counted: number; countedBecause: string; phaseMode?: 1 | 3; phaseSwitches?: number }> = {};
  for (const [id, c] of Object.entries(model.chargers)) {
    const allocation = lastResult?.allocations.find((a) => a.id === id);
    const counted = countedAs(c);
    const ps = phaseSwitchOf(c);
    chargers[id] = {
      limit: countedValue(c),
      ...(allocation ? { target: allocation.limit, reason: allocation.reason } : {}),
      phases: countedPhases(c, now),
      online: c.dispatch.online,
      counted: counted.value,
      countedBecause: counted.basis,
      ...(ps ? { phaseMode: ps.mode, phaseSwitches: ps.switches } : {}),
    };
  }
  const failsafe = f ? { inForce: true, since: new Date(f.since).toISOString(), source: f.source, current: f.current } : { inForce: false };
  const circuits = (model.circuits ?? []).map((c) => ({ id: c.id, limits: c.limits, allocated: lastResult?.circuits?.find((x) => x.id === c.id)?.load ?? null }));
  const sites = limits && (circuits.length > 0 || limits.meters.length > 0) ? { circuits, meters: limits.meters } : {};
  return { allocated: committedLoad(model, now), limits: model.phaseLimits, chargers, failsafe, ...sites, ...(computedAt !== undefined ? { computedAt } : {}), ...(nodeId !== undefined ? { nodeId } : {}), paused };
}
