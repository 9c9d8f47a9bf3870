/**
 * The circuit tree as `allocate()` sees it: circuit 0 is the installation (its `phaseLimits`), the
 * others are `input.circuits` in id order (so the result never depends on their input order). Each
 * phase of each circuit is one constraint (allocate-units.ts); a charger loads its counted phases
 * on every circuit from its own up to the installation.
 *
 * Inputs are assumed validated (the API refuses cycles and unknown parents); here a bad tree still
 * degrades to the safe side: an unknown parent or circuit is the installation, a cycle is cut where
 * it closes, and every circuit of the chain walked so far still counts.
 */
import type { AllocationInput, CircuitInput, PhaseCurrents } from './allocation-types.js';
import { PHASES } from './phases.js';

export interface CircuitTree {
  /** Sub-circuits by index - 1 (index 0 is the installation). */
  readonly circuits: readonly CircuitInput[];
  /** Amperes per constraint (3 * circuit + phase): the limits, and the recent lows for admission. */
  readonly limits: readonly number[];
  readonly stable: readonly number[];
  /** Circuit indices from the charger's circuit up to the installation (last). */
  chainOf(circuitId: string | undefined): readonly number[];
}

const ROOT_CHAIN: readonly number[] = Object.freeze([0]);

export function circuitTree(input: AllocationInput): CircuitTree {
  const circuits = [...(input.circuits ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const index = new Map<string, number>();
  circuits.forEach((c, i) => {
    if (index.has(c.id)) throw new RangeError(`allocate: duplicate circuit id ${c.id}`);
    index.set(c.id, i + 1);
  });
  const rootStable = input.admissionLimits ?? input.phaseLimits;
  const limits = perPhase(input.phaseLimits);
  const stable = perPhase(rootStable);
  for (const c of circuits) {
    limits.push(...perPhase(c.limits));
    stable.push(...perPhase(c.admissionLimits ?? c.limits));
  }
  const idsOf = circuitChains(circuits);
  const chains = new Map<string, readonly number[]>();
  const chainOf = (circuitId: string | undefined): readonly number[] => {
    if (circuitId === undefined) return ROOT_CHAIN;
    let chain = chains.get(circuitId);
    if (!chain) chains.set(circuitId, (chain = [...idsOf(circuitId).map((id) => index.get(id)!), 0]));
    return chain;
  };
  return { circuits, limits, stable, chainOf };
}

/** A limit that is absent (a phase the circuit lacks) or not a number counts as 0 A: never guess capacity. */
function perPhase(l: Partial<PhaseCurrents>): number[] {
  return PHASES.map((p) => {
    const a = l[p];
    return a !== undefined && Number.isFinite(a) ? a : 0;
  });
}

/**
 * The one walk up the tree: for a circuit id, the circuit ids from it up to (not including) the
 * installation, remembered per id. An unknown id or parent ends the chain (the charger counts on the
 * installation only), and a cycle ends at its first repeat.
 */
export function circuitChains(circuits: readonly CircuitInput[]): (circuitId: string | undefined) => readonly string[] {
  const byId = new Map(circuits.map((c) => [c.id, c]));
  const chains = new Map<string | undefined, string[]>();
  return (circuitId) => {
    let chain = chains.get(circuitId);
    if (chain) return chain;
    chain = [];
    for (let c = circuitId === undefined ? undefined : byId.get(circuitId); c !== undefined && !chain.includes(c.id); c = c.parentId === undefined ? undefined : byId.get(c.parentId)) {
      chain.push(c.id);
    }
    chains.set(circuitId, chain);
    return chain;
  };
}
