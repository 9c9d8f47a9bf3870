import type { NodeConfig } from '../core/config.js';
import type { Charger, Installation } from '../core/model.js';
import type { BalancerModel, ChargerWiring } from './balancer-model.js';

/** The node's balancer settings (core/config.ts, documented there); the lease belongs to the manager. */
export type BalancerTuning = Omit<NodeConfig['balancer'], 'leaseTtlMs'>;

/** The wiring the balancer model needs from a configured charger. */
export function chargerWiring(c: Charger): ChargerWiring {
  return { id: c.id, phases: c.phases, phaseRotation: c.phaseRotation, gridPhase: c.gridPhase, minCurrent: c.minCurrent, maxCurrent: c.maxCurrent, priority: c.priority, offlineCurrent: c.offlineCurrent ?? 'lastLimit', ...(c.circuitId !== undefined ? { circuitId: c.circuitId } : {}), ...(c.phaseSwitching === true ? { phaseSwitching: true } : {}), ...(c.profilePurpose === 'TxProfile' || c.resendProfileOnTransaction === true ? { resendOnTransaction: true } : {}) };
}

/** An installation's balancer settings with the node's tuning. */
export function modelSettings(i: Installation, t: BalancerTuning): BalancerModel['settings'] {
  const { safetyMarginA: _margin, ...b } = i.balancer;
  return {
    ...b,
    // A probe longer than the interval would never let the car sleep.
    wakeProbeMs: Math.min(b.wakeProbeMs, b.wakeProbeIntervalMs),
    reclaimAfterMs: t.reclaimAfterMs,
    reclaimHeadroomA: t.reclaimHeadroomA,
    reclaimThresholdA: t.reclaimThresholdA,
    retryMs: t.retryMs,
    lateAfterMs: t.lateAfterMs,
  };
}
