import type { AvailableCurrent } from '../core/available-current-store.js';
import type { ActiveTransaction, Charger, ConnectorState, Installation, Phase, PhaseCurrents } from '../core/model.js';
import { PHASES } from '../core/model.js';
import type { MeterStatus } from '../core/meter-reading.js';
import { ROOT_CIRCUIT_ID } from '../core/circuits.js';
import { PARTNER_DISABLED, type PartnerConnectionState } from '../core/partner-connection.js';
import type { BalancerStatusReply, LiveState } from './live-status.js';

type Nullable<T> = { [K in keyof T]: T[K] | null };

export interface PhaseStatus {
  fuse: number;
  dynamicLimit: number | null;
  allocated: number | null;
  measured: number;
}

export interface ChargerStatus {
  id: string;
  connected: boolean;
  nodeId: string | null;
  lastSeen: string | null;
  connectors: ConnectorState[];
  currentLimit: number | null;
  /** Why the balancer gave that limit (charging, capped, reclaimed, paused, idle, offline, misconfigured, asleep). */
  limitReason: string | null;
  /** What the balancer counts the charger at (A per phase) and why; null when no balancer answered. */
  countedA: number | null;
  countedBecause: string | null;
  /** Chargers with `phaseSwitching` only: the phases it was last told to charge on, and this session's switches. */
  phaseMode?: 1 | 3;
  phaseSwitches?: number;
  measured: Nullable<PhaseCurrents> | null;
  activeTransactions: ActiveTransaction[];
  /** The charger's connection to the partner Central System (`disabled` when the installation has none). */
  partner: PartnerConnectionState;
}

/** Whether the installation runs on its failsafe current (the energy manager's limit expired), since when, and why that value. */
export interface FailsafeStatus {
  inForce: boolean;
  since: string | null;
  source: string | null;
  current: PhaseCurrents | null;
}

export interface InstallationStatus {
  installationId: string;
  at: string;
  dynamicLimitExpiresAt: string | null;
  balancerReachable: boolean;
  /** Null when no balancer answered. */
  failsafe: FailsafeStatus | null;
  /** The node running the installation's balancer (its lease holder), null while no node leads it. */
  balancerNodeId: string | null;
  /** The balancer's node cannot renew its lease (NATS or the lease bucket unavailable): it changes no limit until renewed. */
  balancerPaused: boolean;
  phases: Record<Phase, PhaseStatus>;
  chargers: ChargerStatus[];
  /** Present when the installation has circuits or a grid meter: the root (`main`) first. */
  circuits?: CircuitStatus[];
}

type NullablePhases = { L1: number | null; L2: number | null; L3: number | null };

export interface CircuitStatus {
  id: string;
  name: string;
  parentId: string | null;
  /** The fuse per phase (null: not wired to that phase). */
  fuse: NullablePhases;
  /** What its chargers may draw now (fuse - margin - other load, or the failsafe); null when no balancer answered. */
  limits: NullablePhases | null;
  /** The balancer's allocation below it; null when no balancer answered. */
  allocated: NullablePhases | null;
  chargerIds: string[];
  meter: MeterStatus | null;
}

const nullablePhases = (v: Partial<PhaseCurrents> | undefined, wired: Partial<PhaseCurrents> = { L1: 0, L2: 0, L3: 0 }): NullablePhases => ({
  L1: wired.L1 === undefined ? null : (v?.L1 ?? 0),
  L2: wired.L2 === undefined ? null : (v?.L2 ?? 0),
  L3: wired.L3 === undefined ? null : (v?.L3 ?? 0),
});

function circuitStatus(installation: Installation, chargers: readonly Charger[], balancer: BalancerStatusReply | undefined): CircuitStatus[] {
  const meterOf = (id: string): MeterStatus | null => balancer?.meters?.find((m) => m.circuitId === id) ?? null;
  const root: CircuitStatus = {
    id: ROOT_CIRCUIT_ID,
    name: installation.name,
    parentId: null,
    fuse: { ...installation.fuse },
    limits: balancer?.limits ? { ...balancer.limits } : null,
    allocated: balancer ? { ...balancer.allocated } : null,
    chargerIds: chargers.filter((c) => c.circuitId === undefined).map((c) => c.id),
    meter: meterOf(ROOT_CIRCUIT_ID),
  };
  const rest = (installation.circuits ?? []).map((c): CircuitStatus => {
    const fromBalancer = balancer?.circuits?.find((x) => x.id === c.id);
    return {
      id: c.id,
      name: c.name,
      parentId: c.parentId ?? ROOT_CIRCUIT_ID,
      fuse: nullablePhases(c.limits, c.limits),
      limits: fromBalancer ? nullablePhases(fromBalancer.limits, c.limits) : null,
      allocated: fromBalancer?.allocated ? nullablePhases(fromBalancer.allocated, c.limits) : null,
      chargerIds: chargers.filter((x) => x.circuitId === c.id).map((x) => x.id),
      meter: meterOf(c.id),
    };
  });
  return [root, ...rest];
}

/**
 * Maps a charger's terminal currents to grid phases through its wiring: for a 3-phase charger t1 is
 * the first phase of `phaseRotation`, t2 the second, t3 the third; a 1-phase charger's t1 is its
 * `gridPhase`. Phases the charger does not load are 0, terminals it did not report are null.
 */
export function terminalsToGrid(charger: Pick<Charger, 'phases' | 'phaseRotation' | 'gridPhase'>, measured: { t1?: number; t2?: number; t3?: number }): Nullable<PhaseCurrents> {
  const out: Nullable<PhaseCurrents> = { L1: 0, L2: 0, L3: 0 };
  if (charger.phases === 1) {
    out[charger.gridPhase] = finiteOrNull(measured.t1);
    return out;
  }
  const order = charger.phaseRotation.match(/L[123]/g) as Phase[];
  const terminals = [measured.t1, measured.t2, measured.t3];
  order.forEach((phase, i) => (out[phase] = finiteOrNull(terminals[i])));
  return out;
}

function finiteOrNull(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The status document of one installation, from what was gathered; pure, so it is tested without NATS. */
export function buildInstallationStatus(input: {
  installation: Installation;
  chargers: readonly Charger[];
  live: ReadonlyMap<string, LiveState>;
  dynamicLimit: AvailableCurrent | undefined;
  balancer: BalancerStatusReply | undefined;
  /** Partner connection states by charger; a charger missing here is shown `disabled`. */
  partner?: ReadonlyMap<string, PartnerConnectionState>;
  /** The balancer lease as stored in KV: who leads when no balancer answered (one starting, say). */
  balancerLease?: { nodeId: string; expiresAt: number } | undefined;
  now: Date;
}): InstallationStatus {
  const measuredSum: PhaseCurrents = { L1: 0, L2: 0, L3: 0 };
  const chargers = input.chargers.map((c): ChargerStatus => {
    const live = input.live.get(c.id) ?? { state: 'not-connected' };
    const status = live.state === 'connected' ? live.status : undefined;
    const measured = status?.measured ? terminalsToGrid(c, status.measured) : null;
    if (measured) for (const p of PHASES) measuredSum[p] += measured[p] ?? 0;
    const fromBalancer = input.balancer?.chargers[c.id];
    const limit = fromBalancer?.limit;
    return {
      id: c.id,
      connected: live.state !== 'not-connected',
      nodeId: status?.nodeId ?? null,
      lastSeen: status?.lastSeen ?? null,
      connectors: status?.connectors ?? [],
      currentLimit: typeof limit === 'number' ? limit : null,
      limitReason: typeof fromBalancer?.reason === 'string' ? fromBalancer.reason : null,
      countedA: typeof fromBalancer?.counted === 'number' ? fromBalancer.counted : null,
      countedBecause: typeof fromBalancer?.countedBecause === 'string' ? fromBalancer.countedBecause : null,
      ...(fromBalancer?.phaseMode === 1 || fromBalancer?.phaseMode === 3 ? { phaseMode: fromBalancer.phaseMode } : {}),
      ...(typeof fromBalancer?.phaseSwitches === 'number' ? { phaseSwitches: fromBalancer.phaseSwitches } : {}),
      measured,
      activeTransactions: status?.activeTransactions ?? [],
      partner: input.partner?.get(c.id) ?? PARTNER_DISABLED,
    };
  });
  const phase = (p: Phase): PhaseStatus => {
    const allocated = input.balancer?.allocated[p];
    return {
      fuse: input.installation.fuse[p],
      dynamicLimit: input.dynamicLimit ? input.dynamicLimit[p] : null,
      allocated: typeof allocated === 'number' ? allocated : null,
      measured: Math.round(measuredSum[p] * 1000) / 1000,
    };
  };
  return {
    installationId: input.installation.id,
    at: input.now.toISOString(),
    dynamicLimitExpiresAt: input.dynamicLimit?.expiresAt ?? null,
    balancerReachable: input.balancer !== undefined,
    failsafe: failsafeStatus(input.balancer),
    balancerNodeId: input.balancer?.nodeId ?? (input.balancerLease && input.balancerLease.nodeId !== '' && input.balancerLease.expiresAt > input.now.getTime() ? input.balancerLease.nodeId : null),
    balancerPaused: input.balancer?.paused === true,
    phases: { L1: phase('L1'), L2: phase('L2'), L3: phase('L3') },
    chargers,
    ...(input.installation.circuits || input.installation.meter ? { circuits: circuitStatus(input.installation, input.chargers, input.balancer) } : {}),
  };
}

function failsafeStatus(balancer: BalancerStatusReply | undefined): FailsafeStatus | null {
  if (!balancer) return null;
  const f = balancer.failsafe;
  if (!f?.inForce) return { inForce: false, since: null, source: null, current: null };
  return { inForce: true, since: f.since ?? null, source: f.source ?? null, current: f.current ?? null };
}
